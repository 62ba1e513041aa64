"""Data API and store: warm latency (p50/p95) and bytes per response, small and large authorities.

    python bench/bench_api.py [--repeat 50] [--gunicorn]

Reads the extracts in ATLAS_DATA_DIR (run `python -m pipeline build` first). Requests go through Flask's
test client on a plain Flask app with the API registered, so the figures are server time without the
network. Each URL is fetched once to warm the caches, then timed ``--repeat`` times.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import flask  # noqa: E402

from atlas import catalogue  # noqa: E402
from web import api  # noqa: E402

CASES = [
    # (label, authority, level, variable)
    ("City of London, LSOA (6)", "E09000001", "lsoa11", "ks102ew0001"),
    ("Lichfield, LSOA (58)", "E07000194", "lsoa11", "imd2019_imd_rank"),
    ("Camden, OA (749)", "E09000007", "oa11", "qs119ew0002_pct"),
    ("Birmingham, LSOA (639)", "E08000025", "lsoa11", "ks102ew0010_pct"),
    ("Liverpool, OA (1,584)", "E08000012", "oa11", None),  # geometry only: no OA indicators here
    ("National overview, LAD (374)", "all", "lad", "ks102ew0002_pct"),
]


def timed(fn, repeat: int) -> tuple[float, float]:
    fn()  # warm
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--gunicorn", action="store_true",
                        help="also time the same URLs over HTTP through gunicorn (2 workers x 4 threads)")
    args = parser.parse_args()
    s = catalogue.build()
    app = flask.Flask(__name__)
    api.init_app(app)
    client = app.test_client()
    print(f"build {s.build_id} in {s.build_dir}; {args.repeat} warm repeats; times in ms, sizes in bytes\n")

    print("store.values() warm lookup (one variable, one authority)")
    print(f"{'case':34} {'rows':>6} {'p50':>7} {'p95':>7}")
    for label, authority, level, variable in CASES:
        if variable is None:
            continue
        rows = len(s.values(authority, level, variable))
        p50, p95 = timed(lambda a=authority, lv=level, v=variable: s.values(a, lv, v), args.repeat)
        print(f"{label:34} {rows:>6} {p50:>7.2f} {p95:>7.2f}")

    print("\nfirst (cold) geometry encode per authority+level, then cached for the build")
    for label, authority, level, _ in CASES:
        start = time.perf_counter()
        s.area_geojson_bytes(authority, level)
        middle = time.perf_counter()
        s.area_pbf(authority, level)
        end = time.perf_counter()
        print(f"{label:34} geojson {1000 * (middle - start):7.1f}   pbf {1000 * (end - middle):7.1f}")

    gz = {"Accept-Encoding": "gzip"}
    print("\nHTTP responses (Flask test client, warm): raw, and as served to a browser accepting gzip "
          "(bodies over 1 KB are gzipped)")
    print(f"{'case':34} {'format':8} {'p50':>7} {'p95':>7} {'gz p50':>7} {'gz p95':>7} {'bytes':>9} {'gzip':>8}")
    for label, authority, level, variable in CASES:
        for fmt, url in _urls(s.build_id, authority, level, variable):
            response = client.get(url)
            assert response.status_code == 200, (url, response.data[:200])
            zipped = client.get(url, headers=gz)
            p50, p95 = timed(lambda u=url: client.get(u).data, args.repeat)
            g50, g95 = timed(lambda u=url: client.get(u, headers=gz).data, args.repeat)
            print(f"{label:34} {fmt:8} {p50:>7.2f} {p95:>7.2f} {g50:>7.2f} {g95:>7.2f} "
                  f"{len(response.data):>9,} {len(zipped.data):>8,}")
        last = _urls(s.build_id, authority, level, variable)[-1][1]
        etag = client.get(last).headers["ETag"]
        p50, p95 = timed(lambda u=last, e=etag: client.get(u, headers={"If-None-Match": e}), args.repeat)
        print(f"{label:34} {'pbf 304':8} {p50:>7.2f} {p95:>7.2f}")
    if args.gunicorn:
        _over_http(s.build_id, args.repeat)
    return 0


def _urls(build_id: str, authority: str, level: str, variable: str | None) -> list[tuple[str, str]]:
    urls = [("json", f"/api/values/{authority}/{level}/{variable}.json"),
            ("csv", f"/api/values/{authority}/{level}/{variable}.csv")] if variable else []
    return urls + [("geojson", f"/api/areas/{authority}/{level}.geojson?v={build_id}"),
                   ("pbf", f"/api/areas/{authority}/{level}.pbf?v={build_id}")]


def _over_http(build_id: str, repeat: int) -> None:
    """The same URLs through gunicorn (2 workers x 4 threads) over loopback, gzip accepted."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "4", "-b", f"127.0.0.1:{port}",
         "--chdir", str(ROOT), "--log-level", "warning", "api:standalone()"])
    base = f"http://127.0.0.1:{port}"

    def get(url: str) -> bytes:
        request = urllib.request.Request(base + url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()

    try:
        for _ in range(100):
            try:
                get("/api")
                break
            except OSError:
                time.sleep(0.1)
        print("\nOver HTTP: gunicorn -w 2 --threads 4, loopback, gzip accepted (8 warm-up requests per URL)")
        print(f"{'case':34} {'format':8} {'p50':>7} {'p95':>7} {'bytes':>9}")
        for label, authority, level, variable in CASES:
            for fmt, url in _urls(build_id, authority, level, variable):
                for _ in range(8):  # very likely reaches both workers before timing
                    body = get(url)
                p50, p95 = timed(lambda u=url: get(u), repeat)
                print(f"{label:34} {fmt:8} {p50:>7.2f} {p95:>7.2f} {len(body):>9,}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
