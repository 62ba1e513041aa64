"""A worker's C heap between requests (atlas/heap.py; issue 20, item 4: memory per worker): freed pages given
back after requests, once per burst, and Arrow allocating from that heap under gunicorn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from atlas import heap

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(heap.libc() is None, reason="glibc's malloc only")

# A fresh process makes a heap with freed holes under live blocks (as a request that peaks and frees leaves
# it), then trims. Blocks of 64 KiB are below glibc's mmap threshold (128 KiB): they come from the heap, and
# the small block after each keeps the freed ones from being the heap's top, which free() gives back itself.
_HOLES = """
import json, sys
from atlas import heap

def anon_kb():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1])

heap.limit_arenas()
start = anon_kb()
big, small = [], []
for i in range(1600):  # 100 MiB in 64 KiB blocks, each followed by a small one that stays
    big.append(bytearray(b"x" * 65536))
    small.append(bytearray(b"y" * 1024))
grown = anon_kb()
del big
freed = anon_kb()
released = heap.trim()
print(json.dumps({"start": start, "grown": grown, "freed": freed, "trimmed": anon_kb(), "released": released,
                  "kept": len(small)}))
"""


def test_trim_gives_back_the_pages_freed_under_live_blocks() -> None:
    done = subprocess.run([sys.executable, "-c", _HOLES], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    kb = json.loads(done.stdout.strip().splitlines()[-1])
    grew = kb["grown"] - kb["start"]
    assert grew > 90 * 1024  # the 100 MiB were made in the heap
    # free() kept the holes: without the trim the process would stay this large.
    assert kb["freed"] - kb["start"] > 0.8 * grew
    # The trim gave back at least 90 MB of the 100 MiB freed; the small blocks are still there.
    assert kb["released"] is True and kb["kept"] == 1600
    assert kb["freed"] - kb["trimmed"] > 90 * 1000


class _Counter:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self) -> bool:
        self.calls.append(time.monotonic())
        return True


def _wait_for(predicate, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_burst_of_requests_is_trimmed_once_after_its_last() -> None:
    release = _Counter()
    trimmer = heap.Trimmer(delay=0.5, release=release)
    time.sleep(0.6)
    assert release.calls == []  # nothing before a request
    ended = []
    together = threading.Barrier(4)

    def serve() -> None:
        together.wait()
        for _ in range(25):
            trimmer.request_done()
        ended.append(time.monotonic())

    threads = [threading.Thread(target=serve) for _ in range(4)]  # a worker's four threads at once
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _wait_for(lambda: len(release.calls) == 1)
    assert release.calls[0] >= max(ended)  # after the burst's last request, not during it
    time.sleep(0.8)
    assert len(release.calls) == 1  # one trim for the 100 requests
    assert [t.name for t in threading.enumerate()].count("atlas-heap-trim") >= 1
    trimmer.request_done()  # a later request: trimmed again
    _wait_for(lambda: len(release.calls) == 2)
    assert release.calls[1] - release.calls[0] >= 0.5


def test_requests_that_never_stop_are_trimmed_at_most_once_per_delay() -> None:
    release = _Counter()
    trimmer = heap.Trimmer(delay=0.1, release=release)
    until = time.monotonic() + 1.0
    while time.monotonic() < until:
        trimmer.request_done()
        time.sleep(0.002)
    _wait_for(lambda: len(release.calls) >= 1)
    time.sleep(0.3)
    gaps = [b - a for a, b in zip(release.calls, release.calls[1:], strict=False)]
    assert 4 <= len(release.calls) <= 12, release.calls  # trimmed while they came, not once per request (~500)
    assert all(gap >= 0.1 for gap in gaps)


# Loads gunicorn.conf.py as gunicorn does (a file, not a module), forks nothing but runs its worker hooks, then
# reports Arrow's allocator and whether a request's end trims the heap.
_WORKER = """
import importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("gunicorn_conf", "gunicorn.conf.py")
conf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conf)
conf.post_fork(None, None)
import pyarrow
trimmer = conf._trimmer
conf.post_request(None, None, {}, None)
deadline = time.monotonic() + 10
while trimmer.trims == 0 and time.monotonic() < deadline:
    time.sleep(0.02)
print(json.dumps({"arrow": pyarrow.default_memory_pool().backend_name, "trims": trimmer.trims}))
"""


def test_a_gunicorn_worker_trims_after_requests_and_arrow_allocates_from_the_heap() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run([sys.executable, "-c", _WORKER], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # Without the configuration's setting, Arrow's pool on Linux is mimalloc (or jemalloc): never "system".
    assert report == {"arrow": "system", "trims": 1}
