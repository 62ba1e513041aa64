"""What a built indicator (atlas/builder.py) costs on the server: its values for an authority at Output Areas
(Camden, KS105EW) and for every LSOA 2021 of England and Wales (TS054), the first time a code is seen (its
definition checked against the catalogue, then DuckDB sums its cells) and again, beside the published share
of one cell read the same way; and the whole view the map draws (classes, printed figures, ranks).

    python bench/bench_builder.py [--repeat 7]

Reads the extracts in ATLAS_DATA_DIR (as the app does); prints the figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from atlas import catalogue, view, viewstate  # noqa: E402

CASES = (
    ("Camden, Output Areas", "E09000007", "oa11", "b~ks105ew~2-4~1-2-3~Older households {i}", "ks105ew0002_pct"),
    ("England and Wales, LSOA 2021", "all", "lsoa21", "b~ts054~3~2~Owned outright of owned {i}",
     "ts054_owned_owns_outright_pct"),
)


def _ms(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def measure(s: catalogue.Catalogue, title: str, authority: str, level: str, pattern: str, published: str,
            repeat: int) -> str:
    n = s.area_count(authority, level)
    # A new name each time: a code never seen (its row built and checked), as a new link would be.
    first = [_ms(lambda i=i: s.values(authority, level, pattern.format(i=i))) for i in range(repeat)]
    code = pattern.format(i=0)
    again = [_ms(lambda: s.values(authority, level, code)) for _ in range(repeat)]
    one = [_ms(lambda: s.values(authority, level, published)) for _ in range(repeat)]
    state = viewstate.ViewState(authority=authority, level=level, variable=code)
    shown = [_ms(lambda: view.build(s, state).details()) for _ in range(repeat)]
    return (f"{title} ({n:,} areas): values of a new built code median {statistics.median(first):.0f} ms, the same "
            f"code again {statistics.median(again):.0f} ms, a published share {statistics.median(one):.0f} ms; "
            f"the view (classes, printed figures, ranks) {statistics.median(shown):.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    s = catalogue.of_request()
    s.values("E09000007", "oa11", "ks102ew0018")  # areas' names and DuckDB warmed once
    for case in CASES:
        print(measure(s, *case, args.repeat))


if __name__ == "__main__":
    main()
