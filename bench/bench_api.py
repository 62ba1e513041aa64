"""Data API and store: warm latency (p50/p95) and bytes per response, small and large authorities.

    python bench/bench_api.py [--repeat 50]

Reads the extracts in ATLAS_DATA_DIR (run `python -m pipeline build` first). Requests go through Flask's
test client on a plain Flask app with the API registered, so the figures are server time without the
network. Each URL is fetched once to warm the caches, then timed ``--repeat`` times.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import flask  # noqa: E402

import api  # noqa: E402
import store  # noqa: E402

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
    args = parser.parse_args()
    s = store.get_store()
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

    print("\nHTTP responses (Flask test client, warm)")
    print(f"{'case':34} {'format':8} {'p50':>7} {'p95':>7} {'bytes':>9} {'gzip':>8}")
    for label, authority, level, variable in CASES:
        urls = [("json", f"/api/values/{authority}/{level}/{variable}.json"),
                ("csv", f"/api/values/{authority}/{level}/{variable}.csv")] if variable else []
        urls += [("geojson", f"/api/areas/{authority}/{level}.geojson?v={s.build_id}"),
                 ("pbf", f"/api/areas/{authority}/{level}.pbf?v={s.build_id}")]
        for fmt, url in urls:
            response = client.get(url)
            assert response.status_code == 200, (url, response.data[:200])
            body = response.data
            p50, p95 = timed(lambda u=url: client.get(u).data, args.repeat)
            zipped = len(gzip.compress(body, 6))
            print(f"{label:34} {fmt:8} {p50:>7.2f} {p95:>7.2f} {len(body):>9,} {zipped:>8,}")
        etag = client.get(urls[-1][1]).headers["ETag"]
        p50, p95 = timed(lambda u=urls[-1][1], e=etag: client.get(u, headers={"If-None-Match": e}),
                         args.repeat)
        print(f"{label:34} {'pbf 304':8} {p50:>7.2f} {p95:>7.2f} {0:>9} {'':>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
