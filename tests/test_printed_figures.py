"""Figures people quote, recomputed from the publishers' raw files with exact fractions.

The areas checked are found by searching the data, not picked by hand: every LSOA whose share (or change in
share) lies on a rounding boundary at the printed precision (exactly a half, or within 5e-4 of one, where a
value stored at 4 decimal places used to be rounded a second time), and every pair of areas whose shares
differ only past the 4th decimal place (where ranks of 4-dp values tied). The printed value must be the exact
value rounded once, halves away from zero, in the view (map, hover, table, legend class) and its JSON twin;
ranks must tie only equal values; the WIMD score's ranks must be WIMD's own, and the derived IMD score's note
must state the rank difference the app actually shows.
"""

from __future__ import annotations

import csv
import math
import re
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atlas import catalogue
from atlas import view as atlas_view
from atlas import viewstate as state

TENURE = "national/census2011_lsoa11/sitepredictor--census-2011-tenure--england-wales.csv"
TENURE21 = "national/census2021_lsoa21/census2021-ts054-lsoa.csv"
CELLS = {"Owned: Owned outright": 2, "Owned: Owned with a mortgage or loan": 3,
         "Shared ownership (part owned and part rented)": 4, "Social rented: Rented from council (Local Authority)": 5,
         "Social rented: Other": 6, "Private rented: Private landlord or letting agency": 7, "Private rented: Other": 8,
         "Living rent free": 9}
WIMD_RANKS = ("deprivation/wimd2019_wales/"
              "welsh-index-multiple-deprivation-2019-index-and-domain-ranks-by-small-area.csv")
FILE1 = "deprivation/imd2019_england/csv_from_xlsx/File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv"
GWYNEDD = "W06000002"


def half_away(exact: Fraction, decimals: int) -> Fraction:
    """The exact value rounded once to ``decimals`` places, halves away from zero (the publishers' rule)."""
    scale = 10 ** decimals
    scaled = abs(exact) * scale
    whole = math.floor(scaled + Fraction(1, 2))
    return (1 if exact >= 0 else -1) * Fraction(whole, scale)


def near_half(exact: Fraction, decimals: int, within: Fraction = Fraction(5, 10_000)) -> bool:
    """On a rounding boundary at ``decimals`` places: the exact value is within ``within`` (at the value's own
    scale, x 10^-decimals) of a half."""
    scaled = abs(exact) * 10 ** decimals
    return abs(scaled - math.floor(scaled) - Fraction(1, 2)) <= within


@pytest.fixture(scope="module")
def s(data_dir: Path) -> catalogue.Catalogue:
    return catalogue.build(data_dir=data_dir)


@pytest.fixture(scope="module")
def tenure(raw_dir: Path) -> dict[str, dict[str, int]]:
    with open(raw_dir / TENURE, newline="", encoding="utf-8") as handle:
        return {row["geography code"]: {k.split("Tenure: ")[1].split("; measures")[0]: int(v)
                                         for k, v in row.items() if k.startswith("Tenure: ")}
                for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def shares(tenure: dict[str, dict[str, int]]) -> dict[str, dict[str, Fraction]]:
    """Exact shares of every tenure cell in every LSOA: {variable: {code: Fraction}}."""
    out: dict[str, dict[str, Fraction]] = {}
    for text, n in CELLS.items():
        out[f"ks402ew{n:04d}_pct"] = {code: Fraction(100 * row[text], row["All households"])
                                      for code, row in tenure.items() if row["All households"]}
    return out


def _views(s: catalogue.Catalogue, wanted: dict[tuple[str, str], set[str]]) -> dict:
    """(authority, variable) -> (view, {code: index}) for every place holding a boundary area."""
    out = {}
    for (authority, variable) in wanted:
        v = atlas_view.build(s, state.ViewState(authority=authority, level="lsoa11", variable=variable))
        out[(authority, variable)] = (v, {c: i for i, c in enumerate(v.areas.codes)})
    return out


def _printed(text: str) -> Fraction:
    return Fraction(text.replace("%", "").replace(",", "").replace("\u2212", "-").split()[0])


def _check_printed(s: catalogue.Catalogue, exact: dict[str, dict[str, Fraction]], decimals: int,
                   lsoa_authority: dict[str, str]) -> int:
    """Every boundary area's printed value is the exact value rounded once, and lies in its printed class."""
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for variable, by_code in exact.items():
        for code, value in by_code.items():
            if near_half(value, decimals) and code in lsoa_authority:
                wanted[(lsoa_authority[code], variable)].add(code)
    views = _views(s, wanted)
    checked = 0
    for (authority, variable), codes in wanted.items():
        v, at = views[(authority, variable)]
        for code in codes:
            i = at[code]
            expected = half_away(exact[variable][code], decimals)
            assert _printed(v.areas.text[i]) == expected, (code, variable, exact[variable][code], v.areas.text[i])
            assert Fraction(v.areas.values[i]).limit_denominator(10 ** decimals) == expected
            cls = v.classes[v.areas.classes[i]]
            assert cls.lower is None or Fraction(cls.lower).limit_denominator(10 ** decimals) <= expected
            assert expected <= Fraction(cls.upper).limit_denominator(10 ** 6), (code, cls.label)
            checked += 1
    return checked


@pytest.fixture(scope="module")
def lsoa_authority(s: catalogue.Catalogue) -> dict[str, str]:
    index = s.area_index("lsoa11")
    return dict(zip(index["code"], index["authority"], strict=True))


def test_shares_on_rounding_boundaries_print_the_exact_value_rounded_once(
        s: catalogue.Catalogue, shares: dict, lsoa_authority: dict[str, str]) -> None:
    exact_halves = sum(1 for by_code in shares.values() for v in by_code.values() if (v * 20).denominator == 1
                       and (v * 10).denominator != 1)
    assert exact_halves > 100  # the search finds real ties (x.x5 exactly), not only near ones
    checked = _check_printed(s, shares, 1, lsoa_authority)
    assert checked > 300, checked


@pytest.fixture(scope="module")
def owned_change(raw_dir: Path, s: catalogue.Catalogue, tenure: dict) -> dict[str, Fraction]:
    """chg_tenure_owned_pp (2021 share less 2011 share, percentage points), exact, for the LSOAs unchanged in
    2021, where the 2021 figure is the published one."""
    lookup = pd.read_parquet(Path(s.build_dir) / "lookups/lsoa11_lsoa21.parquet").set_index("code")
    unchanged = set(lookup.index[lookup["change"] == "unchanged"])
    with open(raw_dir / TENURE21, newline="", encoding="utf-8") as handle:
        t21 = {row["geography code"]: row for row in csv.DictReader(handle)}
    exact: dict[str, Fraction] = {}
    for code in unchanged & set(t21) & set(tenure):
        old, new = tenure[code], t21[code]
        total21 = int(new["Tenure of household: Total: All households"])
        if old["All households"] and total21:
            exact[code] = (Fraction(100 * int(new["Tenure of household: Owned"]), total21)
                           - Fraction(100 * old["Owned"], old["All households"]))
    return exact


def test_changes_on_rounding_boundaries_including_falls(s: catalogue.Catalogue, owned_change: dict,
                                                        lsoa_authority: dict[str, str]) -> None:
    """Negative halves print away from zero (-0.45 -> -0.5) and sit in the falls' classes."""
    assert sum(1 for v in owned_change.values() if v < 0 and near_half(v, 1)) > 10
    assert _check_printed(s, {"chg_tenure_owned_pp": owned_change}, 1, lsoa_authority) > 30


def test_ranks_tie_only_equal_values(s: catalogue.Catalogue, owned_change: dict, lsoa_authority: dict[str, str]
                                     ) -> None:
    """Areas whose exact changes differ but agree to 4 decimal places (found by searching every unchanged
    LSOA) are ranked apart, in their exact order, nationally and within their authority; in authorities whose
    LSOAs are all unchanged, every local rank is the exact one (1 + the number of greater values)."""
    variable = "chg_tenure_owned_pp"
    ordered = sorted(owned_change.items(), key=lambda kv: kv[1], reverse=True)
    close = [(a, b) for a, b in zip(ordered, ordered[1:], strict=False)
             if a[1] != b[1] and round(float(a[1]), 4) == round(float(b[1]), 4)]
    assert len(close) >= 20, len(close)  # the search found areas the 4-dp extracts had tied
    frames: dict[str, pd.DataFrame] = {}

    def frame(code: str) -> pd.DataFrame:
        authority = lsoa_authority[code]
        if authority not in frames:
            frames[authority] = s.values(authority, "lsoa11", variable).set_index("code")
        return frames[authority]

    for (high, _), (low, _) in close:
        assert frame(high).at[high, "rank_national"] < frame(low).at[low, "rank_national"], (high, low)
        if lsoa_authority[high] == lsoa_authority[low]:
            assert frame(high).at[high, "rank"] < frame(low).at[low, "rank"], (high, low)
    checked = 0
    for df in frames.values():
        if all(c in owned_change for c in df.index):
            for code in df.index:
                assert df.at[code, "rank"] == 1 + sum(owned_change[c] > owned_change[code] for c in df.index)
            checked += 1
    assert checked >= 1


def test_wimd_score_ranks_are_wimd_published_ranks(raw_dir: Path, s: catalogue.Catalogue) -> None:
    with open(raw_dir / WIMD_RANKS, newline="", encoding="utf-8-sig") as handle:
        published = {row["LSOA code"]: int(row["WIMD 2019 "]) for row in csv.DictReader(handle)}
    df = s.values(GWYNEDD, "lsoa11", "wimd2019_wimd_score").set_index("code")
    assert len(df) == 73
    for code in df.index:
        assert df.at[code, "rank_national"] == published[code], code
        assert df.at[code, "rank"] == 1 + sum(published[c] < published[code] for c in df.index), code
    v = atlas_view.build(s, state.ViewState(authority=GWYNEDD, level="lsoa11", variable="wimd2019_wimd_score"))
    assert v.areas.rank_national == [published[c] for c in v.areas.codes]
    assert "publisher's own" in s.variable("wimd2019_wimd_score")["note"]


def test_derived_imd_score_note_states_the_measured_rank_difference(raw_dir: Path, s: catalogue.Catalogue) -> None:
    """The note's "up to N places" is the largest gap between the rank the app shows and File 1's rank."""
    file1 = pd.read_csv(raw_dir / FILE1).set_index("LSOA code (2011)")["Index of Multiple Deprivation (IMD) Rank"]
    gaps = []
    for authority in sorted({a for a in s.area_index("lsoa11")["authority"] if a.startswith("E")}):
        df = s.values(authority, "lsoa11", "imd2019_score_derived")
        gaps.append(np.abs(df["rank_national"].to_numpy(dtype="int64")
                           - file1.reindex(df["code"]).to_numpy(dtype="int64")))
    gap = np.concatenate(gaps)
    note = s.variable("imd2019_score_derived")["note"]
    stated = int(re.search(r"up to (\d+) places", note).group(1))
    assert gap.max() == stated
    differ = int(re.search(r"\(([\d,]+) of", note).group(1).replace(",", ""))
    assert int((gap > 0).sum()) == differ


def test_round_half_away_from_zero_by_example() -> None:
    r = atlas_view.round_half_away
    assert [r(x, 1) for x in (12.45, 12.45003, -0.45, -0.45002, 0.05, -0.04)] == [12.5, 12.5, -0.5, -0.5, 0.1, 0.0]
    assert r(2.5, 0) == 3 and r(-2.5, 0) == -3 and r(249 / 2000 * 100, 1) == 12.5
    assert atlas_view.format_number(-0.45002, 1) == "\u22120.5" and atlas_view.format_number(-0.04, 1) == "0.0"
    assert np.isnan(r(np.array([np.nan]), 1)[0])
