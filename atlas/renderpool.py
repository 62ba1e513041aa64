"""Map images drawn, and files with geometry and PDF reports written, off the request threads, a few at a time,
with a bounded queue.

Drawing a map at print size is seconds of matplotlib and Agg holding the GIL and a canvas of up to 140 MB
(34.8 million pixels at 4 bytes). Drawn in a request thread, 24 of them at once stalled every other request
of the worker for 22 s and grew it to 3.6 GB. Here only ``export.map_data`` (which reads the store) runs in
the request thread; ``export.render`` takes that plain, picklable data to a pool. Files with geometry
(GeoPackage, GeoJSON, GeoParquet downloads and the datapack zip, ``atlas.datapack``) and the PDF report
(``atlas.report``) go the same way: their writers need geopandas and GDAL (pyogrio), or fpdf2 and matplotlib,
about 160 MB that a worker would import once and keep, so the worker reads the rows and the areas' GeoJSON
and a pool process writes the file (``run``):

- ``process`` (the default): a ``ProcessPoolExecutor`` per gunicorn worker, its processes started by
  ``forkserver`` (a fresh interpreter that has imported ``PRELOAD`` and never DuckDB's threads: never
  ``fork`` a process running DuckDB), each replaced after ``tasks_per_child`` tasks (by default after each)
  so its memory returns to the system, and run at a lower CPU priority (nice 10). The executor forks the
  replacement as soon as one exits, so the next task finds a process ready. Drawing then holds another
  process's GIL, and the worker's threads stay free.
- ``thread``: a ``ThreadPoolExecutor`` in the worker itself (cheaper to start; measured in
  bench/bench_load.py: it still stalls the worker's other requests while it draws).

At most ``workers`` tasks (images and files alike) run at once and ``queue`` more wait; the next one is refused
at once with ``Busy`` (the route answers 503 with ``Retry-After``), so waiting exports never hold every request
thread. A request waits ``timeout`` seconds at most (``Timeout``, also 503), or what its caller asks.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from atlas import export, settings

__all__ = ["Busy", "RenderPool", "Timeout", "get_pool", "reset_pool", "run"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Modules the fork server imports once, so that every pool process forks from it ready to work: the map
#: drawing with matplotlib and its Agg canvas, the files' writers with geopandas and GDAL, the PDF report. A
#: process replaced after each task (ATLAS_EXPORT_TASKS_PER_CHILD=1) then starts its image at once: importing
#: matplotlib in each made every image 0.3 s slower (bench/bench_export.py --pool).
PRELOAD = ("atlas.export", "atlas.datapack", "atlas.report", "geopandas", "pyogrio", "fpdf", "matplotlib",
           "matplotlib.collections", "matplotlib.figure", "matplotlib.patches", "matplotlib.path",
           "matplotlib.backends.backend_agg")


class Busy(RuntimeError):
    """Every slot and queue place of the pool is taken; ``retry_after`` is a fair guess in whole seconds."""

    def __init__(self, retry_after: int, message: str) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class Timeout(Busy):
    """The task was not done within its timeout; ``future`` will still have it when it is done (the export
    route keeps an image for the client's retry)."""

    def __init__(self, retry_after: int, message: str, future: Future | None = None) -> None:
        super().__init__(retry_after, message)
        self.future = future


def _render_in_child(data: export.MapData) -> export.Rendered:
    return export.render(data)


#: How much less CPU priority a render process has than the worker (nice, 0-19): on a busy machine the
#: scheduler then serves the workers' ordinary requests first and images take what is left.
RENDER_NICENESS = 5


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped by its parent, is not running)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the pid now belongs to another user
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()[0] != b"Z"
    except OSError:  # no /proc (not Linux): kill(pid, 0) is all there is
        return True


def _start_render_process(owner: int) -> None:
    """In each render process: a lower priority, and an exit when the worker that owns the pool is gone.

    A render process waits on its call queue, whose write end it holds itself, so it would never see its
    worker die (killed, or exiting while the pool was starting): it would live on, holding the fork server
    alive too. A daemon thread checks every 2 s that the owner still exists."""
    try:
        os.nice(RENDER_NICENESS)
    except OSError:  # not permitted here: draw at the same priority
        pass

    def watch() -> None:
        while True:
            time.sleep(2)
            if not _alive(owner):
                os._exit(0)

    threading.Thread(target=watch, name="atlas-render-owner", daemon=True).start()


def _ready() -> int:
    return os.getpid()


class RenderPool:
    """A bounded pool of processes (or threads) that draws ``export.MapData`` into ``export.Rendered``
    (``render``) and runs the writers of files with geometry and PDF reports (``run``)."""

    def __init__(self, kind: str = "process", workers: int = 1, queue: int = 1, timeout: float = 30,
                 tasks_per_child: int = 1) -> None:
        if kind not in ("process", "thread"):
            raise ValueError(f"unknown pool kind {kind!r}; valid: process, thread")
        self.kind, self.workers, self.queue = kind, workers, queue
        self.timeout, self.tasks_per_child = timeout, tasks_per_child
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._lock = threading.Lock()
        self._executor: Executor | None = None
        self._closed = False
        self._in_flight = 0
        self._seconds = 2.0  # running mean of the time an image takes, for Retry-After

    def _make(self) -> Executor:
        if self.kind == "thread":
            return ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="atlas-render")
        context = multiprocessing.get_context("forkserver")
        # The fork server imports the drawing code once; every render process forks from it ready to draw.
        context.set_forkserver_preload(list(PRELOAD))
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                   max_tasks_per_child=self.tasks_per_child, initializer=_start_render_process,
                                   initargs=(os.getpid(),))

    def _executor_now(self) -> Executor:
        with self._lock:
            if self._closed:
                raise Busy(5, "the server is restarting; try again shortly")
            if self._executor is None:
                self._executor = self._make()
            return self._executor

    def _retry_after(self) -> int:
        waiting = max(1, self._in_flight)
        return max(1, math.ceil(self._seconds * waiting / self.workers))

    @property
    def in_flight(self) -> int:
        """Images being drawn or waiting, in this process."""
        return self._in_flight

    def render(self, data: export.MapData) -> export.Rendered:
        """Draw ``data`` in the pool and wait for it (``run``)."""
        return self.run(_render_in_child, data, what="map image", hint=", or ask for fewer pixels")

    def run(self, fn: Callable[..., T], *args: Any, what: str = "file", hint: str = "",
            timeout: float | None = None) -> T:
        """``fn(*args)`` in the pool (a module-level function and picklable arguments), waited for: ``Busy`` at
        once when the pool and its queue are full, ``Timeout`` after ``timeout`` seconds (the pool's by
        default), ``Busy`` when the process doing it died. ``what`` names the task in those messages."""
        if not self._slots.acquire(blocking=False):
            raise Busy(self._retry_after(), f"the server is making {self._in_flight} map images or files already; "
                       "try again shortly")
        with self._lock:
            self._in_flight += 1
        started = time.monotonic()
        wait = self.timeout if timeout is None else timeout
        try:
            try:
                future = self._executor_now().submit(fn, *args)
            except BrokenProcessPool:
                future = self._replace_broken().submit(fn, *args)
        except BaseException:
            self._release()
            raise
        # The slot is freed when the task is done, even if its request stopped waiting: a task that outlives
        # its request still holds a pool process.
        future.add_done_callback(self._release)
        try:
            done = future.result(timeout=wait)
        except FutureTimeout:
            raise Timeout(self._retry_after(), f"the {what} was not ready within {wait:g} s; try again "
                          f"shortly{hint}", future) from None
        except BrokenProcessPool:
            self._replace_broken()
            raise Busy(self._retry_after(), f"the process making this {what} stopped before it was done; "
                       "try again shortly") from None
        self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - started)
        return done

    def _release(self, _: Any = None) -> None:
        with self._lock:
            self._in_flight -= 1
        self._slots.release()

    def warm(self) -> int:
        """Start the pool (and, for processes, the fork server and one pool process); its pid."""
        return self._executor_now().submit(_ready).result(timeout=60)

    def _replace_broken(self) -> Executor:
        """A pool process died (killed for memory, say): the executor is unusable; start a new one."""
        with self._lock:
            old = self._executor
            if not self._closed:
                self._executor = None
        if old is not None:
            log.error("a pool process died; starting a new pool")
            old.shutdown(wait=False, cancel_futures=True)
        return self._executor_now()

    def shutdown(self) -> None:
        """Stop the pool for good (a worker exiting): a pool still starting in another thread starts nothing."""
        with self._lock:
            self._closed = True
            old, self._executor = self._executor, None
        if old is not None:
            old.shutdown(wait=True, cancel_futures=True)


_pool: RenderPool | None = None
_pool_lock = threading.Lock()


def get_pool(config: Any | None = None) -> RenderPool:
    """This process's pool, made from the settings on first use (after gunicorn's fork)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            c = config or settings.load()
            _pool = RenderPool(c.export_pool, c.export_workers, c.export_queue, c.export_timeout,
                               c.export_tasks_per_child)
        return _pool


def run(fn: Callable[..., T], *args: Any, what: str, timeout: float | None = None) -> T:
    """``fn(*args)`` in this process's pool (``RenderPool.run``): how files with geometry (atlas/datapack.py) and
    PDF reports (atlas/report.py) are written off the web worker, which never imports geopandas, GDAL, fpdf2 or
    matplotlib. Raises ``Busy`` (a 503 with Retry-After) when the pool is full, too slow or its process died."""
    return get_pool().run(fn, *args, what=what, timeout=timeout)


def reset_pool() -> None:
    """Shut this process's pool down (tests; settings changed)."""
    global _pool
    with _pool_lock:
        old, _pool = _pool, None
    if old is not None:
        old.shutdown()
