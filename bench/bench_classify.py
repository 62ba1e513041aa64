"""How long classify() takes per scheme, warm (first call discarded).

Values are real: KS102EW mean age of every LSOA in England and Wales (34,753, the national scope) and a
fixed random 1,500 of them (the size of the largest authority at Output Area level). Run from the
project folder:  python bench/bench_classify.py [--repeat 30] [--via host]

``--via host`` sends mapclassify's arithmetic to a classification process, as a gunicorn worker does
(atlas/classifyd.py), and prints that process's memory: compare with a run without it for the round trip.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from atlas import (
    classify,  # noqa: E402
    classifyd,  # noqa: E402
    settings,  # noqa: E402
)

KS102EW = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
MEAN_AGE = "Age: Mean Age; measures: Value"


def national_mean_age(raw_dir: Path) -> np.ndarray:
    with open(raw_dir / KS102EW, newline="") as f:
        return np.array([float(row[MEAN_AGE]) for row in csv.DictReader(f)])


def timings(values: np.ndarray, scheme: str, k: int, repeat: int, **kwargs: object) -> list[float]:
    classify.classify(values, scheme, k, **kwargs)  # warm: caches filled
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        classify.classify(values, scheme, k, **kwargs)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--via", choices=("process", "host"), default="process",
                        help="classify in this process, or in a classification process (as under gunicorn)")
    args = parser.parse_args()
    service = None
    if args.via == "host":
        service = classifyd.Service().start()
        classifyd.use(service.address, service.authkey)
    try:
        run(args)
    finally:
        if service is not None:
            import psutil  # noqa: PLC0415

            print(f"the classification process: RSS {psutil.Process(service.pid).memory_info().rss / 2**20:.0f} MB; "
                  f"this process: {psutil.Process().memory_info().rss / 2**20:.0f} MB")
            service.stop()


def run(args: argparse.Namespace) -> None:

    national = national_mean_age(settings.load().raw_dir)
    local = np.random.default_rng(1500).choice(national, 1500, replace=False)
    cases = [(s, 5, {}) for s in classify.SCHEMES if s not in classify.GIVEN_BREAKS]
    cases += [("fisher_jenks", 9, {}), ("custom", None, {"custom_breaks": "35, 40, 45"})]

    print(f"classify() warm, in {'a classification process' if args.via == 'host' else 'this process'}, "
          f"ms over {args.repeat} runs: median (p95)")
    print(f"{'scheme':<16}{'k':>3}  {'1,500 values':>16}  {f'{national.size:,} values':>16}  {'1,500 vs national':>18}")
    for scheme, k, kwargs in cases:
        cells = []
        for values, extra in ((local, {}), (national, {}), (local, {"reference": national})):
            t = sorted(timings(values, scheme, k, args.repeat, **kwargs, **extra))
            cells.append(f"{statistics.median(t):7.2f} ({t[int(0.95 * (len(t) - 1))]:6.2f})")
        print(f"{scheme:<16}{k or '-':>3}  {cells[0]:>16}  {cells[1]:>16}  {cells[2]:>18}")

    largest_full = np.random.default_rng(3000).choice(national, classify.FISHER_JENKS_FULL_MAX, replace=False)
    for k in (5, 9):
        t = sorted(timings(largest_full, "fisher_jenks", k, max(3, args.repeat // 5)))
        median = statistics.median(t)
        print(f"fisher_jenks k={k} on {largest_full.size:,} values (the most it runs unsampled): {median:.1f} ms")

    breaks = classify.classify(local, "quantiles", 5).breaks
    start = time.perf_counter()
    for _ in range(args.repeat):
        classify.class_index(national, breaks)
    per = (time.perf_counter() - start) * 1000 / args.repeat
    print(f"class_index of {national.size:,} values: {per:.2f} ms")


if __name__ == "__main__":
    main()
