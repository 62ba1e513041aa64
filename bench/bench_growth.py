"""How a worker grows with the data it serves, in two parts (resident memory, MB, each in fresh processes):

    python bench/bench_growth.py [--runs 3] [--idle 3]

Reads the build in ATLAS_DATA_DIR.

1. Variables mapped: a process imports the app and asks ``/api/values`` for Camden's LSOAs of 18 variables of
   KS102EW one after the other (each with national ranks), printing RSS after 1, 6, 12 and 18 of them. What a
   variable leaves is what the reader keeps of its national ranks (``NATIONAL_BYTES``, atlas/extracts.py). Run
   it with PYTHONPATH naming another worktree to compare two versions of the code.
2. DuckDB's allocator: a process imports pandas and pyarrow (as a worker has), opens DuckDB as atlas/extracts.py
   does (160 MB, one thread) with ``allocator_background_threads`` off, then on, reads the whole country's
   areas (34,753 LSOAs' codes, names and labels) three times, waits ``--idle`` seconds and prints its RSS
   after each step: whether jemalloc gives back what the large query freed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

VARIABLES = """
import gc, os, sys
os.environ["ATLAS_TILES_URL"] = ""
os.environ["ATLAS_CACHE_TYPE"] = "NullCache"

def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))

import app
client = app.server.test_client()
client.get("/api/values/E09000007/lsoa11/ks102ew0001.json")
out = [rss()]
for n in range(2, 20):
    got = client.get(f"/api/values/E09000007/lsoa11/ks102ew{n:04d}.json")
    assert got.status_code == 200, got.status_code
    del got
    if n - 1 in (1, 6, 12, 18):
        gc.collect()
        out.append(rss())
print(" ".join(map(str, out)))
"""

CHILD = """
import gc, sys, time
import duckdb, pandas, pyarrow

def rss():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))

path, background, idle = sys.argv[1], sys.argv[2] == "on", float(sys.argv[3])
con = duckdb.connect(":memory:", config={"memory_limit": "160MB", "threads": 1,
                                         "allocator_background_threads": background})
con.execute("SET GLOBAL enable_object_cache = true")
out = [rss()]
for _ in range(3):
    cursor = con.cursor()
    table = cursor.sql("SELECT code, name, label FROM read_parquet(?) ORDER BY code", params=[path]).to_arrow_table()
    del table, cursor
    gc.collect()
    out.append(rss())
time.sleep(idle)
con.execute("SELECT 1").fetchall()
out.append(rss())
print(" ".join(map(str, out)))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=3.0)
    args = parser.parse_args()
    data = Path(os.environ.get("ATLAS_DATA_DIR", ROOT / "data"))
    path = (data / "current" / "areas" / "lsoa11.parquet").resolve()
    if not path.exists():
        raise SystemExit(f"no areas file at {path}: run `python -m pipeline build` (or set ATLAS_DATA_DIR)")
    print("1. RSS in MB: after one of Camden's LSOA maps, then after 1, 6, 12 and 18 more variables")
    for run in range(1, args.runs + 1):
        got = subprocess.run([sys.executable, "-c", VARIABLES], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))})
        print(f"run {run}: {got.stdout.strip()}")
    print(f"2. RSS in MB: opened, after each of three reads of {path.parent.parent.name}'s 34,753 LSOAs, "
          f"after {args.idle:g} s idle")
    for run in range(1, args.runs + 1):
        for background in ("off", "on"):
            got = subprocess.run([sys.executable, "-c", CHILD, str(path), background, str(args.idle)],
                                 capture_output=True, text=True, check=True).stdout.strip()
            print(f"run {run}, background threads {background:3s}: {got}")


if __name__ == "__main__":
    main()
