"""Search: latency (p50/p95) of postcodes and names, the indexes' size on disk, and a worker's memory with them.

    python bench/bench_search.py [--repeat 400]

Reads the extracts in ATLAS_DATA_DIR (run `python -m pipeline build` first). Postcodes are drawn at random from
postcodes.parquet (live ones of England and Wales, typed in a random spacing and case) and looked up through
``atlas.search.search`` (the store's DuckDB query on the file: one row group read) and through GET /api/search
on Flask's test client (server time, no network). Names are drawn from the search index (towns, villages,
wards, districts, Welsh names) and one letter dropped from every fourth (a close spelling). Memory is each
stage's resident set (VmRSS) of a fresh process: the app's modules imported and the store opened, then after
the first postcode look-up, then after the first name search (DuckDB on the names' index, derived on disk
once per host and build), and for
comparison the postcodes loaded whole into pandas (what a table copied into every worker would cost).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import flask  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from atlas import catalogue, search  # noqa: E402
from web import api  # noqa: E402


def percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


def timed(queries: list[str], fn) -> tuple[float, float]:
    out = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - start) * 1000)
    return percentiles(out)


def typed(seven: str, rng: random.Random) -> str:
    compact = seven.replace(" ", "")
    text = rng.choice([compact, compact[:-3] + " " + compact[-3:], compact[:-3] + "  " + compact[-3:]])
    return text.lower() if rng.random() < 0.5 else text


MEMORY = """
import json, os, sys, resource
sys.path.insert(0, {root!r})
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
out = {{}}
import app  # noqa: F401 - the whole app, as a worker has it
from atlas import catalogue, search
s = catalogue.of_request().extracts
out['app and store opened'] = rss()
search.search(s, 'B15 2TT')
out['after a postcode look-up (DuckDB on postcodes.parquet)'] = rss()
search.search(s, 'Hebden Bridge')
out['after a name search (DuckDB on the derived names index)'] = rss()
if {compare}:
    import pyarrow.parquet as pq
    frame = pq.read_table(str(s.build_dir / 'postcodes.parquet')).to_pandas()
    out['for comparison: every postcode loaded into pandas'] = rss()
print(json.dumps(out))
"""


def memory(compare: bool) -> dict:
    done = subprocess.run([sys.executable, "-c", MEMORY.format(root=str(ROOT), compare=compare)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=400, help="queries of each kind (default 400)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    s = catalogue.of_request().extracts  # search reads the extracts alone (atlas/extracts.py)
    build = s.build_dir

    table = pq.read_table(build / "postcodes.parquet", columns=["pc7", "country", "status", "lon_e6"])
    frame = table.to_pandas()
    live = frame[(frame["country"] != "S92000003") & (frame["status"] == "live") & frame["lon_e6"].notna()]
    postcodes = [typed(p, rng) for p in rng.sample(list(live["pc7"]), args.repeat)]
    scottish = [typed(p, rng) for p in rng.sample(list(frame.loc[frame["country"] == "S92000003", "pc7"]),
                                                 max(20, args.repeat // 10))]
    starts = [p.replace(" ", "")[:-2] for p in postcodes[: max(20, args.repeat // 4)]]

    names_table = pq.read_table(build / "search.parquet", columns=["kind", "name"]).to_pandas()
    pool = names_table[names_table["kind"].isin(["place", "ward", "authority"])]["name"].tolist()
    names = []
    for i, name in enumerate(rng.sample(pool, args.repeat)):
        if i % 4 == 3 and len(name) > 5:
            cut = rng.randrange(1, len(name) - 1)
            name = name[:cut] + name[cut + 1:]  # a letter dropped: a close spelling
        names.append(name)

    search.search(s, "B15 2TT")  # the file's footer read once
    derived = search._index_path(s)
    fresh = not derived.exists()
    start = time.perf_counter()
    search.search(s, "Edgbaston")  # the names' index derived from the build's (once per host and build)
    index_ms = (time.perf_counter() - start) * 1000

    app = flask.Flask(__name__)
    api.init_app(app)
    client = app.test_client()

    def http(q: str) -> None:
        response = client.get("/api/search", query_string={"q": q})
        assert response.status_code == 200, response.status_code

    rows = [
        ("postcode, whole (search.search)", timed(postcodes, lambda q: search.search(s, q))),
        ("postcode, whole (GET /api/search)", timed(postcodes, http)),
        ("postcode in Scotland (answered 'not covered')", timed(scottish, lambda q: search.search(s, q))),
        ("postcode's start, e.g. 'B15 2' (district + first postcodes)", timed(starts, lambda q: search.search(s, q))),
        ("name (search.search)", timed(names, lambda q: search.search(s, q))),
        ("name (GET /api/search)", timed(names, http)),
    ]
    print(f"build {s.build_id}; {args.repeat} queries of each kind; first name search {index_ms:.0f} ms "
          + (f"(the names' index derived to {derived}: once per host and build)" if fresh else
             f"(the names' index was already derived: {derived})"))
    print(f"{'query':<62} {'p50 ms':>8} {'p95 ms':>8}")
    for label, (p50, p95) in rows:
        print(f"{label:<62} {p50:>8.1f} {p95:>8.1f}")

    print("\nindexes on disk")
    files = [build / "postcodes.parquet", build / "search.parquet", build / "search_notes.json",
             *sorted((build / "labels").glob("*.json")), derived]
    meta = pq.ParquetFile(build / "postcodes.parquet").metadata
    for path in files:
        extra = (f" ({meta.num_rows:,} rows, {meta.num_row_groups} row groups)"
                 if path.name == "postcodes.parquet" else "")
        name = path.relative_to(build) if path.is_relative_to(build) else f"{path} (derived)"
        print(f"  {name}: {path.stat().st_size / 1e6:.1f} MB{extra}")

    print("\nworker memory (VmRSS of a fresh process)")
    for stage, mb in memory(compare=True).items():
        print(f"  {stage}: {mb:.0f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
