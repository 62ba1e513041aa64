"""What a worker's C heap keeps between requests: glibc's arenas limited, freed pages given back.

A request peaks (the national map of every LSOA builds 34,753 rows; a datapack's bytes pass through), then frees
what it made. glibc keeps freed memory in its arenas for the next allocation, and gives the pages back to the
system only from the top of the heap: a freed region under anything still in use stays resident. Measured in a
worker after each kind of request (``mallinfo2``), 20-80 MB of its heap was free but held; ``malloc_trim`` gave
back 5-56 MB of it in 1.3-3.5 ms.

- ``limit_arenas``: at most ``ARENAS`` arenas, so memory freed by one thread is reused by the next rather than
  stranded in an arena per thread (the MALLOC_ARENA_MAX=2 of threaded Python servers).
- ``Trimmer``: after requests, ``malloc_trim(0)`` in a thread of its own, at most once per ``TRIM_AFTER``
  seconds and always after the last request of a burst, so no request waits for it.
- Arrow's buffers come from the same heap (``ARROW_DEFAULT_MEMORY_POOL=system``, set by gunicorn.conf.py and
  the Dockerfile) rather than from mimalloc's, which keeps its own pages and is not trimmed.

All of it is glibc's; elsewhere (musl, macOS) ``libc()`` is None and every function here does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
import time

#: glibc's malloc arenas a worker may have (``M_ARENA_MAX``). By default glibc gives each thread that contends
#: for the heap an arena of its own, up to 8 per core.
ARENAS = 2

#: Seconds after a request before the heap is trimmed: a burst of requests (a map's tiles) is trimmed once, after
#: its last, and no more than once per this many seconds while requests keep coming.
TRIM_AFTER = 0.25

_M_ARENA_MAX = -8


@functools.cache
def libc() -> ctypes.CDLL | None:
    """glibc, or None where the C library is another (no arenas, no ``malloc_trim``)."""
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    if lib is None or not hasattr(lib, "malloc_trim") or not hasattr(lib, "mallopt"):
        return None
    lib.malloc_trim.argtypes = [ctypes.c_size_t]
    lib.malloc_trim.restype = ctypes.c_int
    lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.mallopt.restype = ctypes.c_int
    return lib


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Allow at most ``arenas`` malloc arenas from now on (before the process starts threads). True when set."""
    lib = libc()
    return bool(lib is not None and lib.mallopt(_M_ARENA_MAX, arenas))


def trim() -> bool:
    """Give the heap's free pages back to the system, in every arena. True when some memory was released."""
    lib = libc()
    return bool(lib is not None and lib.malloc_trim(0))


class Trimmer:
    """Trims the heap ``delay`` seconds after ``request_done``, in a daemon thread: requests that end within
    ``delay`` of each other are followed by one trim."""

    def __init__(self, delay: float = TRIM_AFTER, release=trim) -> None:
        self.delay = delay
        self._release = release
        self._due = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.trims = 0

    def request_done(self) -> None:
        """Called after each request's answer is sent (gunicorn's ``post_request``)."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="atlas-heap-trim", daemon=True)
                    self._thread.start()
        self._due.set()

    def _run(self) -> None:
        while True:
            self._due.wait()
            time.sleep(self.delay)
            # A request ending from here on sets it again and is trimmed after, in the next turn.
            self._due.clear()
            self._release()
            self.trims += 1
