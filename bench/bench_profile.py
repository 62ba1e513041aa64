"""What a profile and areas like mine cost on the server: the profile of a 300-area custom place spanning
three boroughs and of England (every figure, aggregated by its rule), first in the process (the comparators'
figures read from the build's profiles extract, or computed where the build has none) and warm (cached per
process), and the nearest areas at LSOA (the standardised table and the neighbours index built once, then
each query).

    python bench/bench_profile.py [--repeat 5]

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

from atlas import catalogue, profile, similar  # noqa: E402

BOROUGHS = ("E09000019", "E09000012", "E09000007")  # Islington, Hackney, Camden


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _forget_subjects() -> None:
    """Drop the cached figures of the profiles' subjects (keep the comparators'), to time computing them."""
    profile._cache.discard(lambda key: "subject" in key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    s = catalogue.of_request()
    index = s.area_index("lsoa11")
    codes = tuple(sorted(index[index["authority"].isin(BOROUGHS)]["code"].tolist()[:300]))
    # A saved area as the store opens one (atlas/areas.py registers the database's; here one held in memory).
    catalogue.register_saved(lambda code: ("300 LSOAs", "lsoa11", codes) if code == "A1" else None, lambda: ["A1"])
    custom = profile.Subject(code="A1", name="300 LSOAs of three boroughs", kind="saved", level="lsoa11",
                             codes=codes, authorities=BOROUGHS, place="A1")
    cold, result = _timed(lambda: profile.profile(s, custom))
    figures = sum(len(g["figures"]) for g in result["topics"])
    fresh = []
    for _ in range(args.repeat):
        _forget_subjects()
        fresh.append(_timed(lambda: profile.profile(s, custom))[0])
    again = [_timed(lambda: profile.profile(s, custom))[0] for _ in range(args.repeat)]
    print(f"profile, 300 LSOAs across {len(BOROUGHS)} boroughs ({figures:,} figures, comparators "
          f"{', '.join(c['name'] for c in result['comparators'])}): first {cold:.2f} s (the comparators read); "
          f"its own figures with the comparators cached, median {statistics.median(fresh):.2f} s; asked again "
          f"(cached), median {statistics.median(again) * 1000:.0f} ms")
    england = profile.subject_for(s, profile.ENGLAND, "lsoa11")
    cold, result = _timed(lambda: profile.profile(s, england))
    _forget_subjects()
    fresh, _ = _timed(lambda: profile.profile(s, england))
    print(f"profile, England ({len(england.codes):,} LSOAs): first {cold:.2f} s, again with its figures dropped "
          f"{fresh:.2f} s")
    build, _ = _timed(lambda: similar.model(s, "lsoa11", similar.DEFAULTS["lsoa11"]))
    queries = [_timed(lambda c=c: similar.similar(s, "lsoa11", None, c, 10))[0] for c in codes[:50]]
    print(f"areas like mine, LSOA 2011 ({len(similar.DEFAULTS['lsoa11'])} indicators, 34,753 areas): model built "
          f"in {build:.2f} s once per process; a query (n=10) median {statistics.median(queries) * 1000:.1f} ms, "
          f"max {max(queries) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
