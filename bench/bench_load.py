"""Ordinary requests while a burst of maximum-size map exports runs: latency and the workers' memory.

    python bench/bench_load.py [--app-dir DIR] [--pool process|thread] [--exporters 24] [--seconds 30]

Starts gunicorn (gunicorn.conf.py of ``--app-dir``, 2 workers x 4 threads) on the extracts of ATLAS_DATA_DIR,
then for ``--seconds``: ``--exporters`` clients each ask, one after the other, for a 600 dpi A4 PNG of
Camden's output areas with a bbox of its own every time (34.8 million pixels, never served from a cache;
on a 503 or 429 a client waits what Retry-After says, at most 2 s), while 3 clients loop over ordinary
requests: a values JSON, ``GET /api`` and the explorer's Dash callback. Before the burst the ordinary
requests are timed alone. The RSS of each worker and of everything it started (render processes) is sampled
every half second.

``--app-dir`` runs another checkout (e.g. ``git archive main | tar -x -C /tmp/before``) to measure before a
change: settings it does not know are then not passed. Prints p50/p95/max of each kind of ordinary request,
the exports' outcomes and the memory over time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
CAMDEN = "E09000007"
VIEW = f"authority={CAMDEN}&level=oa11&variable=ks102ew0002&scheme=quantiles&k=5"
CAMDEN_BBOX = (-0.2135, 51.5125, -0.1051, 51.5789)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port: int, method: str, path: str, body: bytes | None = None, timeout: float = 120
            ) -> tuple[int, float, dict[str, str], int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.perf_counter()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    elapsed = (time.perf_counter() - start) * 1000
    conn.close()
    return response.status, elapsed, dict(response.getheaders()), len(data)


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited with {proc.returncode}")
        try:
            if request(port, "GET", "/api", timeout=5)[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not answer in time")


def callback_body(port: int) -> bytes:
    """The explorer's server callback on the URL (its inputs read from /_dash-dependencies), for Camden."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/_dash-dependencies")
    deps = json.loads(conn.getresponse().read())
    conn.close()
    servers = [d for d in deps if not d.get("clientside_function")]
    cb = next((d for d in servers if any(i["id"] == "url" for i in d["inputs"])), servers[0])
    out = cb["output"]
    parts = out[2:-2].split("...") if out.startswith("..") else [out]
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts]
    value = {"search": f"?{VIEW}", "pathname": "/"}
    inputs = [{**i, "value": value.get(i["property"])} for i in cb["inputs"]]
    state = [{**s, "value": None} for s in cb["state"]]
    body = {"output": out, "outputs": outputs if out.startswith("..") else outputs[0], "inputs": inputs,
            "state": state, "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}
    return json.dumps(body).encode()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app-dir", type=Path, default=ROOT)
    parser.add_argument("--pool", choices=["process", "thread"], default=None,
                        help="ATLAS_EXPORT_POOL (not passed when omitted: the app's default)")
    parser.add_argument("--exporters", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--baseline-seconds", type=float, default=8)
    parser.add_argument("--rate-limit", default="", help="ATLAS_EXPORT_RATE_LIMIT (default: off, to load the pool)")
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    data_dir = os.environ.get("ATLAS_DATA_DIR")
    if not data_dir:
        raise SystemExit("set ATLAS_DATA_DIR to built extracts")
    port = free_port()
    settings_text = (args.app_dir / "atlas" / "settings.py").read_text()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    cache_dir = tempfile.mkdtemp(prefix="atlas-bench-cache-")
    env.update({"ATLAS_DATA_DIR": data_dir, "ATLAS_CACHE_TYPE": "FileSystemCache", "ATLAS_CACHE_DIR": cache_dir,
                "ATLAS_LOG_LEVEL": "WARNING", "PYTHONPATH": str(args.app_dir), "PYTHONDONTWRITEBYTECODE": "1",
                "GUNICORN_CMD_ARGS": f"--workers 2 --threads 4 --bind 127.0.0.1:{port} --access-logfile /dev/null"})
    if "ATLAS_EXPORT_POOL" in settings_text:  # the app has the render pool and the rate limit
        env["ATLAS_EXPORT_RATE_LIMIT"] = args.rate_limit
        if args.pool:
            env["ATLAS_EXPORT_POOL"] = args.pool
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:server"],
                            cwd=args.app_dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_ready(port, proc)
        return run(port, proc, args)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def run(port: int, proc: subprocess.Popen, args: argparse.Namespace) -> int:
    master = psutil.Process(proc.pid)
    body = callback_body(port)
    ordinary = [
        ("values JSON", "GET", f"/api/values/{CAMDEN}/oa11/ks102ew0002.json", None),
        ("/api", "GET", "/api", None),
        ("Dash callback", "POST", "/_dash-update-component", body),
    ]
    for _, method, path, b in ordinary:  # warm every worker's caches
        for _ in range(4):
            request(port, method, path, b)

    stop = threading.Event()
    phase = {"name": "baseline"}
    timings: dict[tuple[str, str], list[float]] = defaultdict(list)
    statuses: dict[tuple[str, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    lock = threading.Lock()

    def ordinary_client(seed: int) -> None:
        i = seed
        while not stop.is_set():
            label, method, path, b = ordinary[i % len(ordinary)]
            i += 1
            started_in = phase["name"]  # a request is counted in the phase it was sent in
            status, ms, _, _ = request(port, method, path, b)
            with lock:
                timings[(started_in, label)].append(ms)
                statuses[(started_in, label)][status] += 1

    def exporter(seed: int) -> None:
        rng = random.Random(seed)
        w, s, e, n = CAMDEN_BBOX
        while not stop.is_set() and phase["name"] == "burst":
            dx, dy = rng.uniform(0, 0.02), rng.uniform(0, 0.015)
            bbox = f"{w + dx:.5f},{s + dy:.5f},{e - dx:.5f},{n - dy:.5f}"
            status, ms, headers, size = request(port, "GET", f"/export/map.png?{VIEW}&dpi=600&bbox={bbox}")
            with lock:
                statuses[("burst", "export")][status] += 1
                if status == 200:
                    timings[("burst", "export")].append(ms)
            if status in (429, 503):
                stop.wait(min(2.0, float(headers.get("Retry-After", "1") or 1)))

    memory: list[tuple[float, dict[int, float], float]] = []

    def sampler() -> None:
        start = time.monotonic()
        while not stop.is_set():
            per_worker: dict[int, float] = {}
            total = 0.0
            for worker in master.children():
                try:
                    rss = worker.memory_info().rss
                    # PSS: render processes forked from one fork server share most of their pages.
                    pss = sum(p.memory_full_info().pss for p in [worker, *worker.children(recursive=True)])
                except psutil.Error:
                    continue
                per_worker[worker.pid] = rss / 1e6
                total += pss / 1e6
            memory.append((time.monotonic() - start, per_worker, total))
            stop.wait(0.5)

    threads = [threading.Thread(target=ordinary_client, args=(i,), daemon=True) for i in range(3)]
    mem_thread = threading.Thread(target=sampler, daemon=True)
    mem_thread.start()
    for t in threads:
        t.start()
    time.sleep(args.baseline_seconds)
    phase["name"] = "burst"
    burst_started = time.monotonic()
    exporters = [threading.Thread(target=exporter, args=(i,), daemon=True) for i in range(args.exporters)]
    for t in exporters:
        t.start()
    time.sleep(args.seconds)
    phase["name"] = "after"
    for t in exporters:
        t.join(timeout=180)
    burst_seconds = time.monotonic() - burst_started
    stop.set()
    for t in threads:
        t.join(timeout=60)

    print(f"\n== {args.label or args.app_dir} (pool: {args.pool or 'app default'}), 2 workers x 4 threads, "
          f"{args.exporters} exporters for {args.seconds:g} s (burst lasted {burst_seconds:.1f} s with the "
          "last exports finishing)")
    print(f"{'phase':9} {'request':14} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  statuses")
    for (ph, label), values in sorted(timings.items(), key=lambda kv: (["baseline", "burst", "after"].index(
            kv[0][0]), kv[0][1])):
        if ph == "after":
            continue
        counts = dict(statuses[(ph, label)])
        print(f"{ph:9} {label:14} {len(values):5d} {statistics.median(values):8.0f} {pct(values, 0.95):8.0f} "
              f"{max(values):8.0f}  {counts}")
    counts = dict(statuses[("burst", "export")])
    print(f"exports: {counts} (200: images drawn; 503: pool full, Retry-After; 429: rate limit)")
    peak_worker = max((max(m[1].values(), default=0) for m in memory), default=0)
    peak_total = max((m[2] for m in memory), default=0)
    print(f"memory: peak worker RSS {peak_worker:.0f} MB; peak of workers + their render processes "
          f"{peak_total:.0f} MB (PSS, shared pages counted once)")
    line = []
    for t_, _, total in memory[::10]:
        line.append(f"{t_:.0f}s:{total:.0f}")
    print("workers + render processes over time (s:MB PSS): " + " ".join(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
