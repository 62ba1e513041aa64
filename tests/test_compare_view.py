"""The compare view's figures checked against the publishers' raw files, computed here independently
(numpy and pandas on bulk.csv and the IMD CSV), and its URL keys' fallbacks and messages."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from atlas import catalogue, mapview, palettes
from atlas import compare as cv
from atlas import view as atlas_view
from atlas import viewstate as state
from callbacks import compare

CAMDEN = "E09000007"
KS102 = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
IMD = "deprivation/imd2019_england/csv_from_xlsx/File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv"


@pytest.fixture()
def s(atlas_env: Path) -> catalogue.Catalogue:
    return catalogue.build()


@pytest.fixture(scope="module")
def raw(raw_dir: Path) -> pd.DataFrame:
    """Every LSOA of England and Wales: the share aged 65 to 74 and mean age (KS102EW), the IMD rank and
    the district (England only), straight from the publishers' files."""
    ks = pd.read_csv(raw_dir / KS102)
    out = pd.DataFrame({
        "code": ks["geography code"],
        "pct65": ks["Age: Age 65 to 74; measures: Value"] / ks["Age: All usual residents; measures: Value"] * 100,
        "mean_age": ks["Age: Mean Age; measures: Value"],
    })
    imd = pd.read_csv(raw_dir / IMD).rename(columns={
        "LSOA code (2011)": "code", "Local Authority District code (2019)": "lad",
        "Index of Multiple Deprivation (IMD) Rank": "imd_rank"})[["code", "lad", "imd_rank"]]
    return out.merge(imd, on="code", how="left")


def _camden(raw: pd.DataFrame) -> pd.DataFrame:
    return raw[raw["lad"] == CAMDEN].sort_values("code").reset_index(drop=True)


def _resolve(s: catalogue.Catalogue, search: str) -> tuple[state.ViewState, cv.CompareState, list[str]]:
    return compare.compare_view_of(search, s)


# -- correlation ---------------------------------------------------------------------------------------------

def test_correlation_matches_the_raw_files(s: catalogue.Catalogue, raw: pd.DataFrame) -> None:
    base, cmp, messages = _resolve(s, f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct&view=compare"
                                      "&variable_b=imd2019_imd_rank")
    assert messages == [] and cmp.variable_b == "imd2019_imd_rank"
    rel = cv.relation(s, atlas_view.build(s, base), atlas_view.build(s, cv.state_b(s, base, cmp.variable_b)))
    camden = _camden(raw)
    x, y = camden["pct65"].to_numpy(), camden["imd_rank"].to_numpy(dtype=float)
    assert rel["corr"]["n"] == len(camden) == 133 and rel["corr"]["left_out"] == 0
    assert rel["corr"]["r"] == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-4)  # the extract rounds to 4 dp
    ranks_x, ranks_y = pd.Series(x).rank().to_numpy(), pd.Series(y).rank().to_numpy()
    assert rel["corr"]["rho"] == pytest.approx(np.corrcoef(ranks_x, ranks_y)[0, 1], abs=1e-6)


def test_correlation_leaves_out_and_counts_areas_lacking_a_value() -> None:
    a = [1.0, 2.0, np.nan, 4.0, 5.0, None]
    b = [2.0, 4.1, 6.0, np.nan, 9.9, 1.0]
    c = cv.correlation(np.array(a, dtype=float), np.array(b, dtype=float))
    assert (c["n"], c["left_out"]) == (3, 3)
    assert c["r"] == pytest.approx(np.corrcoef([1, 2, 5], [2, 4.1, 9.9])[0, 1])
    assert c["rho"] == pytest.approx(1.0)
    few = cv.correlation(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    assert few["r"] is None and "too few" in few["note"]
    flat = cv.correlation(np.array([1.0, 2.0, 3.0]), np.array([5.0, 5.0, 5.0]))
    assert flat["r"] is None and "same value" in flat["note"]


# -- bivariate classes ------------------------------------------------------------------------------------------

def test_bivariate_classes_are_thirds_of_each(s: catalogue.Catalogue, raw: pd.DataFrame) -> None:
    base, cmp, _ = _resolve(s, f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct&view=compare"
                               "&variable_b=imd2019_imd_rank")
    rel = cv.relation(s, atlas_view.build(s, base), atlas_view.build(s, cv.state_b(s, base, cmp.variable_b)))
    camden = _camden(raw).set_index("code").loc[s.values(CAMDEN, "lsoa11", "ks102ew0014_pct")["code"]]
    # Thirds of the values as printed (a share to 1 decimal place; a rank whole), each break snapped down to
    # a data value, and class i holding b[i-1] < v <= b[i]: worked out here from the publisher's files.
    x = np.round(camden["pct65"].to_numpy() + 1e-9, 1)
    y = camden["imd_rank"].to_numpy(dtype=float)

    def thirds(v: np.ndarray) -> np.ndarray:
        cuts = [v[v <= p].max() for p in np.percentile(v, [100 / 3, 200 / 3])] + [v.max()]
        return np.searchsorted(np.unique(cuts), v, side="left")

    col, row = thirds(x), thirds(y)
    classes = [int(c) for c in rel["cls"]]
    assert classes == (3 * row + col).tolist()
    assert rel["counts"] == np.bincount(3 * row + col, minlength=9).tolist() and rel["missing"] == 0
    assert len(rel["thirds"]["a"]) == 3 and rel["thirds"]["a"][0].endswith("%")
    assert cv.BIVARIATE_COLOURS[0] == "#e8e8e8" and cv.BIVARIATE_COLOURS[8] == "#3b4994"


def test_bivariate_missing_and_two_classes() -> None:
    got = cv.bivariate_classes(np.array([0, 1, -1, 2]), np.array([0, 1, 1, -1]), 3, 2)
    # B has two classes (ties): they go to the bottom and top rows.
    assert got.tolist() == [0, 3 * 2 + 1, -1, -1]


# -- profile ------------------------------------------------------------------------------------------------

def test_profile_values_medians_and_percentiles_from_the_raw_files(s: catalogue.Catalogue, raw: pd.DataFrame) -> None:
    base, _, _ = _resolve(s, f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct&view=compare")
    codes = ["E01000842", "E01000850"]
    rows = {r["variable"]: r for r in cv.profile(s, base, codes, ["ks102ew0014_pct", "imd2019_imd_rank",
                                                                    "ks102ew0018"])}
    camden = _camden(raw).set_index("code")
    every = raw[raw["code"].str[:3].isin(["E01", "W01"])]
    pairs = (("ks102ew0014_pct", "pct65"), ("imd2019_imd_rank", "imd_rank"), ("ks102ew0018", "mean_age"))
    for variable, column in pairs:
        r = rows[variable]
        values = camden[column].to_numpy(dtype=float)
        assert r["median"] == pytest.approx(np.median(values), abs=1e-4)
        for area in r["areas"]:
            v = camden.loc[area["code"], column]
            assert area["value"] == pytest.approx(v, abs=1e-4)
            below, ties = (values < v - 1e-9).sum(), (np.abs(values - v) <= 1e-9).sum()
            assert area["percentile"] == pytest.approx(100 * (below + ties / 2) / len(values), abs=1e-9)
    # National medians: over every LSOA of the nation the variable covers.
    assert rows["ks102ew0014_pct"]["national"] == pytest.approx(np.median(every["pct65"]), abs=1e-4)
    assert rows["ks102ew0014_pct"]["coverage"] == "England and Wales"
    england = raw.dropna(subset=["imd_rank"])
    assert rows["imd2019_imd_rank"]["national"] == pytest.approx(np.median(england["imd_rank"]))
    assert rows["imd2019_imd_rank"]["better"].startswith("Higher is better")
    # E01000842's IMD rank is above Camden's median (less deprived): better, where higher is better.
    imd = {a["code"]: a for a in rows["imd2019_imd_rank"]["areas"]}
    median = np.median(camden["imd_rank"])
    for code in codes:
        expected = "better" if camden.loc[code, "imd_rank"] > median else "worse"
        assert imd[code]["vs_median"] == expected
    assert all(a["vs_median"] is None for a in rows["ks102ew0018"]["areas"])
    assert rows["ks102ew0018"]["better"] == ""  # no polarity: no judgement


def test_versus_the_median_follows_the_polarity() -> None:
    assert cv.versus(5, 3, "higher is better") == "better"
    assert cv.versus(5, 3, "lower is better") == "worse"
    assert cv.versus(3, 3, "higher is better") == "level with"
    assert cv.versus(5, 3, None) is None and cv.versus(None, 3, "higher is better") is None


def test_profile_csv_round_trips(s: catalogue.Catalogue) -> None:
    base, _, _ = _resolve(s, f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct")
    rows = cv.profile(s, base, ["E01000842"], ["ks102ew0014_pct", "imd2019_imd_rank"])
    text = cv.profile_csv(rows, {"E01000842": "Camden 011A"}, "Camden")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][:5] == ["variable", "label", "unit", "E01000842 value", "E01000842 percentile in Camden"]
    assert table[1][3] == "Camden 011A"
    imd = next(r for r in table if r[0] == "imd2019_imd_rank")
    assert float(imd[3]) == rows[1]["areas"][0]["value"] and imd[-1].startswith("Higher is better")


def test_profile_variables_topic_is_capped_and_picks_win(s: catalogue.Catalogue) -> None:
    base, _, _ = _resolve(s, f"?authority={CAMDEN}&level=oa11&variable=ks102ew0014_pct")
    available = mapview.available_variables(s, CAMDEN, "oa11")
    chosen, note = cv.profile_variables(s, base, "ks102ew0018", "Identity", None, available)
    assert len(chosen) == cv.PROFILE_MAX and "first 25" in note
    chosen, note = cv.profile_variables(s, base, "ks102ew0018", "Identity", ["ks102ew0018", "nonsense"], available)
    assert chosen == ["ks102ew0018"] and "no data here" in note


# -- URL keys ----------------------------------------------------------------------------------------------

def test_compare_url_round_trips(s: catalogue.Catalogue) -> None:
    search = (f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct&scheme=quantiles&k=5&scope=local"
              "&palette=YlGnBu&reverse=0&opacity=0.8&view=compare&variable_b=imd2019_imd_rank"
              "&areas=E01000842,E01000850")
    base, cmp, messages = _resolve(s, search)
    assert messages == [] and cmp == cv.CompareState("compare", "imd2019_imd_rank", ("E01000842", "E01000850"))
    assert cv.compare_query(base, cmp) == search
    # The explorer reads the same URL without complaint about the compare keys.
    assert state.parse_query(search)[1] == []


@pytest.mark.parametrize(("query", "words", "check"), [
    ("&variable_b=ks102ew0014_pct", "same as variable A", lambda c: c.variable_b not in ("", "ks102ew0014_pct")),
    ("&level=oa11&variable_b=imd2019_imd_rank", "has no data for Camden", lambda c: c.variable_b == "ks102ew0018"),
    ("&variable_b=nonsense", "no variable 'nonsense'", lambda c: c.variable_b == "ks102ew0018"),
    ("&areas=E01000842,E99999999", "no area 'E99999999'", lambda c: c.areas == ("E01000842",)),
    ("&areas=e01000842", None, lambda c: c.areas == ("E01000842",)),
    ("&areas=E01000842,E01000843,E01000844,E01000845,E01000846", "At most 4", lambda c: len(c.areas) == 4),
    ("&view=sideways", "Unknown view", lambda c: c.view == "explore"),
])
def test_bad_compare_parameters_get_a_clear_message(s: catalogue.Catalogue, query: str, words: str | None,
                                                    check) -> None:
    search = f"?authority={CAMDEN}&variable=ks102ew0014_pct&view=compare" + query
    if "level=" not in query:
        search += "&level=lsoa11"
    _, cmp, messages = _resolve(s, search)
    if words is None:
        assert messages == []
    else:
        assert any(words in m for m in messages), messages
    assert check(cmp), cmp


# -- what a switch sends ------------------------------------------------------------------------------------

def test_switches_send_only_what_changed(s: catalogue.Catalogue) -> None:
    first = f"?authority={CAMDEN}&level=oa11&variable=ks102ew0014_pct&view=compare&variable_b=ks102ew0018"
    r1 = compare.render_compare_view(first, None, s)
    assert r1["payload_b"]["var"] == "ks102ew0018" and r1["relation"]["corr"]["n"] > 700
    n = r1["payload_b"]["n"]
    assert len(r1["payload_b"]["cls"]) == n  # one class digit per area
    assert r1["graph"]["data"][0]["type"] == "scatter" and len(r1["graph"]["data"][0]["x"]) == n
    # A changes: B's paint is not sent again, only the relation (its class digits, counts and words).
    r2 = compare.render_compare_view(first.replace("ks102ew0014_pct", "ks102ew0013_pct"), r1["state"], s)
    assert r2["payload_b"] is None and r2["relation"]["a"] == "ks102ew0013_pct"
    assert len(json.dumps(r2["relation"])) < n + 1500
    # Palette changes: B is repainted (new colours), the relation is unchanged.
    r3 = compare.render_compare_view(first + "&palette=Greens", r1["state"], s)
    assert r3["payload_b"]["c"] == palettes.colours("Greens", r3["payload_b"]["k"]) and r3["relation"] is None
    # Pinning an area sends neither.
    r4 = compare.render_compare_view(first + "&areas=E00004120", r1["state"], s)
    assert r4["payload_b"] is None and r4["relation"] is None and r4["state"]["areas"] == ["E00004120"]
    # The explore view sends nothing of the comparison.
    r5 = compare.render_compare_view(first.replace("view=compare", "view=explore"), r1["state"], s)
    assert r5["payload_b"] is None and r5["relation"] is None and r5["view"] == "explore"


def test_scatter_is_svg_however_many_points(s: catalogue.Catalogue) -> None:
    base, cmp, _ = _resolve(s, "?authority=E08000025&level=lsoa11&variable=ks102ew0014_pct&view=compare")
    view_a, view_b = atlas_view.build(s, base), atlas_view.build(s, cv.state_b(s, base, cmp.variable_b))
    figure = cv.scatter_figure(view_a, view_b)
    assert figure["data"][0]["type"] == "scatter"  # 639 points: SVG
    # and 2,556: never scattergl, whose regl needs the eval that the page's CSP forbids (see
    # tests/test_browser_compare.py::test_cmp006, where London's 4,835 points are drawn)
    many = dataclasses.replace(view_a, areas=dataclasses.replace(view_a.areas, values=view_a.areas.values * 4,
                                                                 codes=view_a.areas.codes * 4,
                                                                 names=list(view_a.areas.names) * 4,
                                                                 text=view_a.areas.text * 4))
    many_b = dataclasses.replace(view_b, areas=dataclasses.replace(view_b.areas, values=view_b.areas.values * 4,
                                                                   text=view_b.areas.text * 4))
    big = cv.scatter_figure(many, many_b)["data"][0]
    assert big["type"] == "scatter" and len(big["x"]) == 4 * len(figure["data"][0]["x"])


def test_england_and_wales_at_lsoa_level_compares_with_a_density(s: catalogue.Catalogue, raw_dir) -> None:
    """England and Wales's 34,753 LSOAs compare like a district: the relation names the tiles the three maps are
    drawn from, and the plot is a density (counts per cell), not 32,844 SVG points. Every LSOA with both values
    is counted once, in the cell holding its values (from the store, read apart from the figure); the Welsh
    LSOAs (no English IMD) are left out, counted from the raw lookup."""
    search = "?authority=all&level=lsoa11&variable=ks102ew0018&view=compare&variable_b=imd2019_imd_rank"
    base, cmp, messages = _resolve(s, search)
    assert cmp.view == "compare" and messages == []
    r = compare.render_compare_view(search, None, s)
    assert r["relation"]["geom"] == "tiles" and r["relation"]["url"].startswith("/api/tiles/lsoa11/")
    assert r["payload_b"]["n"] == 34753
    with open(raw_dir / "lookups/Lower_Layer_Super_Output_Area_(2011)_to_Ward_(2019)_Lookup_in_England_and_Wales.csv",
              newline="", encoding="utf-8-sig") as f:
        welsh = sum(row["LSOA11CD"].startswith("W") for row in csv.DictReader(f))
    heat, marks = r["graph"]["data"]
    assert heat["type"] == "heatmap" and marks["x"] == []
    meta = heat["meta"]
    counted = sum(c or 0 for row in heat["z"] for c in row)
    assert counted == 34753 - welsh == sum(c >= 0 for c in meta["cells"])
    a = s.values(state.ALL, "lsoa11", "ks102ew0018")
    b = s.values(state.ALL, "lsoa11", "imd2019_imd_rank")
    cols = meta["columns"]
    for i in range(0, 34753, 97):
        cell = meta["cells"][i]
        va, vb = a["value"].iloc[i], b["value"].iloc[i]
        if cell < 0:
            assert a["code"].iloc[i].startswith("W") and pd.isna(vb)
            continue
        col, row = cell % cols, cell // cols
        # the cell holds the printed values (A to 1 dp, B whole ranks): within half a printed unit
        assert meta["x0"] + col * meta["dx"] - 0.05 <= va <= meta["x0"] + (col + 1) * meta["dx"] + 0.05
        assert meta["y0"] + row * meta["dy"] - 0.5 <= vb <= meta["y0"] + (row + 1) * meta["dy"] + 0.5
    # A region's LSOAs stay points (London: 4,835, under the density's threshold).
    london = compare.render_compare_view("?authority=E12000007&level=lsoa11&variable=ks102ew0018&view=compare"
                                         "&variable_b=imd2019_imd_rank", None, s)
    assert london["graph"]["data"][0]["type"] == "scatter" and len(london["graph"]["data"][0]["x"]) == 4835
