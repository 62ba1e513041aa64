"""Build time per step, re-run time, extract sizes per level and peak memory of `python -m pipeline build`.

    python bench/bench_build.py            # builds into a temporary folder, prints the figures

Three builds: a cold one (empty data folder, nothing cached), an unchanged re-run (returns early), and a
forced rebuild, which is what a change to any one source costs today (everything is rebuilt, except that
the R data frames parsed before are read back from ATLAS_DATA_DIR/.cache). Also: variables per authority
and level for the authorities named on the command line (default Birmingham and Leeds).

Figures are printed, never asserted: they depend on the machine (measure on the 2-core machines here, and
note the load average printed with them: the machines are shared).
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from atlas import settings  # noqa: E402
from pipeline import build  # noqa: E402


def _mb(n: float) -> str:
    return f"{n / 1e6:8.2f} MB"


def _steps(report: build.BuildReport) -> None:
    print(f"  {'step':<14}{'seconds':>8}")
    for step, seconds in report.steps.items():
        print(f"  {step:<14}{seconds:8.1f}")


def main(authorities: list[str]) -> None:
    conf = settings.load()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        first = build.build(conf.raw_dir, data)
        print(f"full build, cold: {first.seconds:.1f} s (load average {os.getloadavg()[0]:.1f})")
        _steps(first)
        t = time.perf_counter()
        again = build.build(conf.raw_dir, data)
        print(f"re-run, inputs unchanged: {time.perf_counter() - t:.2f} s (skipped={again.skipped})")
        forced = build.build(conf.raw_dir, data, force=True)
        print(f"rebuild after one source changes (forced; R data read from the cache): {forced.seconds:.1f} s "
              f"(load average {os.getloadavg()[0]:.1f})")
        _steps(forced)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(f"peak memory (max RSS): {_mb(peak)}")

        root = (data / "current").resolve()
        per_level: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        files = sorted(root.rglob("*.parquet"), key=lambda p: p.stat().st_size, reverse=True)
        for path in files:
            part = path.relative_to(root).parts
            if part[0] == "values":
                per_level[part[1]]["values"] += path.stat().st_size
            elif part[0] == "areas":
                per_level[path.stem]["areas"] += path.stat().st_size
            else:
                per_level["(tables)"][part[0]] += path.stat().st_size
        total = sum(p.stat().st_size for p in files)
        print(f"extracts: {_mb(total)} in {len(files)} Parquet files")
        print(f"  {'level':<10}{'areas':>12}{'values':>12}{'total':>12}")
        for level, sizes in sorted(per_level.items(), key=lambda kv: -sum(kv[1].values())):
            print(f"  {level:<10}{_mb(sizes.get('areas', 0))}{_mb(sizes.get('values', 0))}"
                  f"{_mb(sum(sizes.values()))}")
        print("largest files:")
        for path in files[:5]:
            print(f"  {str(path.relative_to(root)):<40}{_mb(path.stat().st_size)}")

        catalogue = pd.read_parquet(root / "catalogue.parquet")
        coverage = pd.read_parquet(root / "coverage.parquet")
        print("variables per authority and level (numeric / categorical):")
        for authority in authorities:
            here = coverage[coverage["authority"] == authority]
            for level in sorted(set(here["level"]), key=list(build.LEVELS).index):
                rows = catalogue[catalogue["authorities"].map(lambda a, x=authority: x in a)
                                 & catalogue["levels"].map(lambda lv, x=level: x in lv)
                                 & catalogue["dataset"].isin(here.loc[here["level"] == level, "dataset"])]
                kinds = rows["kind"].value_counts()
                print(f"  {authority} {level:<8}{len(rows):6d}  ({kinds.get('numeric', 0)} / "
                      f"{kinds.get('categorical', 0)})")


if __name__ == "__main__":
    main(sys.argv[1:] or ["E08000025", "E08000035"])
