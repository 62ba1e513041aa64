"""What the build's tables cost a worker: memory held per structure, resident memory, and the hot paths' speed.

    python bench/bench_tables.py [--repeat 20]

Reads the build in ATLAS_DATA_DIR. Each part runs in a fresh process that has imported the app (as a gunicorn
worker has) and opened a DuckDB connection configured as the reader's, so the figures are what opening the
reader adds:

1. Resident memory (RSS, after ``gc.collect()`` and ``malloc_trim``) before and after opening the reader
   (``extracts.current()``: the catalogue of variables, coverage, districts, area counts, places, the LSOA
   lookup), after a round of catalogue listings (every ``variables()`` filter below), and after serving a few
   views (``SERVED``). Run it with PYTHONPATH naming another worktree to compare two versions of the code.
2. The Python objects each of the reader's attributes holds (a deep size: objects reached from it and not
   already counted for an attribute listed before it; numpy arrays and pyarrow buffers by their bytes).
3. Warm times (p50, p95, ms) of the catalogue's hot paths: one variable's row, ``has_data``, where a
   variable has data, and the listings of ``variables()`` the explorer, the API and search use.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAMDEN, BIRMINGHAM, LONDON = "E09000007", "E08000025", "E12000007"

#: ``variables()`` filters timed, and run once each before the RSS after listings is read.
LISTINGS = [
    ("every variable", {}),
    ("Camden, lsoa11", {"authority": CAMDEN, "level": "lsoa11"}),
    ("Camden, any level", {"authority": CAMDEN}),
    ("Birmingham, lsoa11, topic", {"authority": BIRMINGHAM, "level": "lsoa11", "topic": "Population"}),
    ("London (a region), lsoa11", {"authority": LONDON, "level": "lsoa11"}),
    ("national overview (all, lad)", {"authority": "all", "level": "lad"}),
    ("search 'age'", {"q": "age"}),
    ("search 'older people', Camden oa11", {"q": "older people", "authority": CAMDEN, "level": "oa11"}),
]


#: Values read after the listings (a view of each), with their places' listings, area names and where a tenth
#: of the variables have data, before the RSS after serving is read.
SERVED = [
    (CAMDEN, "oa11", "qs119ew0002_pct"), (CAMDEN, "lsoa11", "ks102ew0001"), (BIRMINGHAM, "lsoa11", "ks102ew0010_pct"),
    (LONDON, "lsoa11", "imd2019_imd_rank"), ("all", "lad", "ks102ew0002_pct"), ("all", "lsoa11", "ks102ew0002_pct"),
]


def rss_mb() -> float:
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def deep_size(obj: object, seen: set[int]) -> int:
    """Bytes of the objects reached from ``obj`` that are not in ``seen`` (added to it)."""
    import numpy as np  # noqa: PLC0415
    import pyarrow as pa  # noqa: PLC0415

    total, stack = 0, [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, np.ndarray):
            total += sys.getsizeof(o) + (o.nbytes if o.base is None else 0)
            if o.dtype == object:
                stack.extend(o.ravel().tolist())
        elif isinstance(o, (pa.Array, pa.ChunkedArray, pa.Table)):
            total += o.nbytes
        elif isinstance(o, (dict, list, tuple, set, frozenset)):
            total += sys.getsizeof(o)
            stack.extend(gc.get_referents(o))
        elif type(o).__module__.startswith("atlas."):  # the reader's own helpers: what they hold
            total += sys.getsizeof(o)
            stack.extend(v for v in gc.get_referents(o) if not isinstance(v, type))
        elif isinstance(o, (str, bytes, int, float, bool)) or o is None:
            total += sys.getsizeof(o)
    return total


def child(repeat: int) -> dict:
    import duckdb  # noqa: PLC0415
    import pandas as pd  # noqa: PLC0415

    import app  # noqa: F401, PLC0415 - a worker has imported the app
    from atlas import catalogue, extracts, settings  # noqa: PLC0415

    out: dict = {}
    # DuckDB's own start-up (the library's allocations on a first query) is not the tables': paid first.
    con = duckdb.connect(":memory:", config={"memory_limit": f"{settings.load().duckdb_memory_mb}MB", "threads": 1})
    con.execute("SELECT count(*) FROM read_parquet(?)",
                [str(settings.load().data_dir / "current" / "places.parquet")]).fetchall()
    # pyarrow's memory pool (pandas' strings are Arrow's) reserves its first pages on first use, whoever uses it.
    pd.array([str(i) for i in range(100_000)], dtype="str")
    before = rss_mb()
    start = time.perf_counter()
    reader = extracts.current()
    out["open_s"] = time.perf_counter() - start
    after = rss_mb()
    out["rss"] = {"before": before, "after": after}
    seen: set[int] = set()
    sizes = {}
    for name, value in sorted(vars(reader).items(), key=lambda kv: kv[0] != "rows"):
        if name.startswith("_") and name in ("_lock", "_local", "_con", "_reading", "_pid"):
            continue
        sizes[name] = deep_size(value, seen)
    out["sizes"] = sizes
    s = catalogue.build()
    for _, filters in LISTINGS:
        s.variables(**filters)
    out["rss"]["listed"] = rss_mb()
    for authority, level, variable in SERVED:
        s.values(authority, level, variable)
        s.variables(authority=authority, level=level)
        if authority == "all":
            s.national_values(level, variable)
        s.area_names(authority, level)
    for row in s.variables()[::10]:
        s.variable(row["id"])
        s.places(row["id"])
    out["rss"]["served"] = rss_mb()

    def timed(fn) -> tuple[float, float]:
        fn()
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]

    out["times"] = {
        "variable('ks102ew0001')": timed(lambda: s.variable("ks102ew0001")),
        "has_data(ks102ew0001, Camden, lsoa11)": timed(lambda: s.has_data("ks102ew0001", CAMDEN, "lsoa11")),
        "places('ks102ew0001')": timed(lambda: s.places("ks102ew0001")),
    }
    ids = [r["id"] for r in s.variables()][::97]
    out["times"]["variable(), 50 different ids"] = timed(lambda: [s.variable(r) for r in ids[:50]])
    for label, filters in LISTINGS:
        rows = s.variables(**filters)
        out["times"][f"variables(): {label} ({len(rows):,})"] = timed(lambda f=filters: s.variables(**f))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.repeat)))
        return 0
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))}
    done = subprocess.run([sys.executable, __file__, "--child", "--repeat", str(args.repeat)], env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        print(done.stderr, file=sys.stderr)
        return done.returncode
    got = json.loads(done.stdout.strip().splitlines()[-1])
    rss = got["rss"]
    print(f"opening the reader: {got['open_s'] * 1000:.0f} ms")
    print(f"RSS after import app and DuckDB's start: {rss['before']:.1f} MB; after opening the reader "
          f"+{rss['after'] - rss['before']:.1f} MB; after the listings +{rss['listed'] - rss['before']:.1f} MB; "
          f"after serving views +{rss['served'] - rss['before']:.1f} MB\n")
    print("held by the reader's attributes (deep size, MB)")
    for name, size in sorted(got["sizes"].items(), key=lambda kv: -kv[1]):
        if size >= 10_000:
            print(f"  {name:28} {size / 2**20:8.2f}")
    print(f"  {'total':28} {sum(got['sizes'].values()) / 2**20:8.2f}\n")
    print(f"warm times, {args.repeat} repeats (ms)")
    print(f"  {'':58} {'p50':>7} {'p95':>7}")
    for label, (p50, p95) in got["times"].items():
        print(f"  {label:58} {p50:7.2f} {p95:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
