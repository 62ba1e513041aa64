"""Build time, re-run time, extract sizes and peak memory of `python -m pipeline build`.

    python bench/bench_build.py            # builds into a temporary folder, prints the figures

Figures are printed, never asserted: they depend on the machine (measure on the 2-core machines here).
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from atlas import settings  # noqa: E402
from pipeline import build  # noqa: E402


def _mb(n: float) -> str:
    return f"{n / 1e6:8.2f} MB"


def main() -> None:
    conf = settings.load()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        first = build.build(conf.raw_dir, data)
        print(f"full build: {first.seconds:.1f} s")
        for step, seconds in first.steps.items():
            print(f"  {step:<14}{seconds:6.1f} s")
        t = time.perf_counter()
        again = build.build(conf.raw_dir, data)
        print(f"re-run, inputs unchanged: {time.perf_counter() - t:.2f} s (skipped={again.skipped})")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(f"peak memory (max RSS): {_mb(peak)}")

        root = (data / "current").resolve()
        sizes: dict[str, int] = defaultdict(int)
        files = sorted(root.rglob("*.parquet"), key=lambda p: p.stat().st_size, reverse=True)
        for path in files:
            part = path.relative_to(root).parts
            sizes["/".join(part[:2]) if part[0] == "values" else part[0]] += path.stat().st_size
        print(f"extracts: {_mb(sum(sizes.values()))} in {len(files)} Parquet files")
        for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<24}{_mb(size)}")
        print("largest files:")
        for path in files[:5]:
            print(f"  {str(path.relative_to(root)):<40}{_mb(path.stat().st_size)}")


if __name__ == "__main__":
    main()
