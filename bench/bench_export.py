"""Exports and datapacks: time and bytes per image format, per-view download format, and whole-authority
datapack (build time, size, peak memory).

    python bench/bench_export.py [--repeat 3] [--skip-packs] [--pool]

Reads the extracts in ATLAS_DATA_DIR. Images are rendered through export.parse_export / map_data /
render (the route's own calls, without its byte cache): "first" includes projecting the geometry (once
per process, authority and level), "warm" is the median of ``--repeat`` renders after it. Datapacks are
built into a temporary cache folder; peak memory is the process's high-water resident set (VmHWM),
measured in a fresh child process per authority, before and after the build. ``--pool`` also times images
drawn through the render pool as deployed (atlas/renderpool.py, processes from a fork server), with each
process replaced after 25 tasks and after every task (``ATLAS_EXPORT_TASKS_PER_CHILD``), and prints the
pool process's resident and unique memory after them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import flask  # noqa: E402

from atlas import catalogue, export  # noqa: E402
from web import api  # noqa: E402

CASES = [
    # (label, authority, level, variable)
    ("Camden, OA (749)", "E09000007", "oa11", "qs119ew0002_pct"),
    ("Birmingham, LSOA (639)", "E08000025", "lsoa11", "ks102ew0010_pct"),
]
FORMATS = [("png 96 dpi", "png", {}), ("png 300 dpi", "png", {"dpi": "300"}), ("svg", "svg", {}),
           ("pdf (A4)", "pdf", {})]
PACKS = [("Camden (most variables)", "E09000007"), ("Birmingham (most LSOAs)", "E08000025")]

PACK_CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from atlas import catalogue, datapack, extracts

def peak_kb():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over execve from the (large) parent process.
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))

s = catalogue.build()
s.authorities(); s.variables(authority=sys.argv[2])
before = peak_kb()
start = time.perf_counter()
path = datapack.ensure(s, sys.argv[2])
seconds = time.perf_counter() - start
after = peak_kb()
import zipfile
with zipfile.ZipFile(path) as z:
    members = len(z.infolist())
print(json.dumps({"seconds": seconds, "bytes": path.stat().st_size, "members": members,
                  "rss_before_mb": before / 1024, "rss_after_mb": after / 1024}))
"""


def _ms(fn, repeat: int) -> tuple[float, float, object]:
    start = time.perf_counter()
    out = fn()
    first = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - start) * 1000)
    return first, statistics.median(times), out


def pool_times(s, repeat: int) -> None:
    """Images through a process pool, with its processes replaced after 25 tasks and after each: the request's
    wait (map_data in this process, drawing in the pool), and what the pool's processes hold afterwards."""
    import psutil

    from atlas import renderpool

    print("\nImages through the render pool (map_data here, drawing in a pool process; ms per image)")
    print(f"{'view':26} {'tasks per process':>18} {'first ms':>9} {'p50 ms':>7} {'max ms':>7} "
          f"{'pool RSS / USS MB after':>24}")
    for label, authority, level, variable in CASES[:1]:
        spec = export.parse_export({"authority": authority, "level": level, "variable": variable}, "png", s)
        for tasks in (25, 1):
            pool = renderpool.RenderPool("process", workers=1, queue=1, timeout=120, tasks_per_child=tasks)
            pool.warm()
            times = []
            for _ in range(repeat + 1):
                start = time.perf_counter()
                pool.render(export.map_data(s, spec))
                times.append((time.perf_counter() - start) * 1000)
                time.sleep(0.3)  # as requests come: a replaced process has time to start
            held = []
            for child in psutil.Process().children(recursive=True):
                info = child.memory_full_info()
                held.append(f"{info.rss / 2**20:.0f}/{info.uss / 2**20:.0f}")
            pool.shutdown()
            print(f"{label:26} {tasks:18} {times[0]:9.0f} {statistics.median(times[1:]):7.0f} "
                  f"{max(times[1:]):7.0f} {' '.join(held):>24}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-packs", action="store_true")
    parser.add_argument("--pool", action="store_true", help="also time images drawn through the render pool")
    args = parser.parse_args()
    s = catalogue.build()
    print(f"build {s.build_id}\n")

    print("Map export (server time, no network)")
    print(f"{'view':26} {'format':12} {'first ms':>9} {'warm ms':>9} {'bytes':>11}")
    for label, authority, level, variable in CASES:
        for name, fmt, extra in FORMATS:
            query = {"authority": authority, "level": level, "variable": variable, **extra}
            spec = export.parse_export(query, fmt, s)
            first, warm, rendered = _ms(lambda spec=spec: export.render(export.map_data(s, spec)), args.repeat)
            print(f"{label:26} {name:12} {first:9.0f} {warm:9.0f} {len(rendered.body):11,}")

    print("\nOne view's rows with geometry (data API, warm, no gzip)")
    app = flask.Flask(__name__)
    api.init_app(app)
    client = app.test_client()
    print(f"{'view':26} {'format':12} {'first ms':>9} {'warm ms':>9} {'bytes':>11}")
    for label, authority, level, variable in CASES:
        for fmt in ("json", "csv", "geojson", "gpkg", "parquet"):
            url = f"/api/values/{authority}/{level}/{variable}.{fmt}"
            first, warm, response = _ms(lambda url=url: client.get(url), args.repeat)
            assert response.status_code == 200, (url, response.status_code)
            print(f"{label:26} {fmt:12} {first:9.0f} {warm:9.0f} {len(response.data):11,}")

    if args.pool:
        pool_times(s, max(args.repeat, 8))
    if args.skip_packs:
        return 0
    print("\nWhole-authority datapack (built once per build, fresh process each)")
    print(f"{'authority':26} {'build s':>8} {'MB':>7} {'files':>6} {'RSS before MB':>14} {'peak RSS MB':>12}")
    with tempfile.TemporaryDirectory(prefix="atlas-bench-packs-") as cache:
        env = {**__import__("os").environ, "ATLAS_CACHE_DIR": cache}
        for label, code in PACKS:
            out = subprocess.run([sys.executable, "-c", PACK_CHILD, str(ROOT), code], env=env, check=True,
                                 capture_output=True, text=True).stdout
            d = json.loads(out.strip().splitlines()[-1])
            print(f"{label:26} {d['seconds']:8.1f} {d['bytes'] / 1e6:7.1f} {d['members']:6} "
                  f"{d['rss_before_mb']:14.0f} {d['rss_after_mb']:12.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
