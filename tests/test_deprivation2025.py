"""Today's deprivation (issue 18) checked against the publishers' raw files, read independently here (openpyxl,
csv, rdata): the IoD 2025 ranks and deciles of every LSOA from File 1 and File 3, scores, sub-domains and
indicators from the R tables, WIMD 2025 ranks from the CSV (ties kept, no deciles); the rules that carry the
2021 figures onto 2011 LSOAs, on unchanged, merged, split and irregular LSOAs found by searching the lookup; the
move 2019 -> 2025 recomputed from both editions' File 1; File 10's district summaries; LSOAs of 2021 for every
authority and place; defaults; and the API, downloads, datapacks and DCAT carrying it all."""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely.geometry

from atlas import catalogue, view, viewstate
from atlas.viewstate import ViewState

D25 = "later/deprivation_2025/iod2025_england_lsoa21"
FILE1 = f"{D25}/File_1_IoD2025_Index_of_Multiple_Deprivation.xlsx"
FILE3 = f"{D25}/File_3_IoD2025_Supplementary_Indices_IDACI_and_IDAOPI.xlsx"
WIMD = "later/deprivation_2025/wimd2025_wales_lsoa21/wimd-2025-index-and-domain-ranks-by-small-area.csv"
EXACT = "later/lookups/Exact_LSOA11_to_LSOA21_to_LAD22_EW.csv"
IMD2019 = "deprivation/imd2019_england/csv_from_xlsx/File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv"
BIRMINGHAM, CARDIFF, TRAFFORD = "E08000025", "W06000015", "E08000009"


@pytest.fixture(scope="module")
def build(data_dir: Path) -> Path:
    return (data_dir / "current").resolve()


def values(build: Path, level: str, dataset: str) -> pd.DataFrame:
    return pd.read_parquet(build / "values" / level / f"{dataset}.parquet").set_index("code")


def sheet(path: Path, name: str) -> pd.DataFrame:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    rows = list(book[name].iter_rows(values_only=True))
    book.close()
    return pd.DataFrame(rows[1:], columns=rows[0]).set_index("LSOA code (2021)")


def rda(raw_dir: Path, relative: str, name: str) -> pd.DataFrame:
    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rdata.read_rda(raw_dir / relative)[name]


@pytest.fixture(scope="module")
def file1(raw_dir: Path) -> pd.DataFrame:
    return sheet(raw_dir / FILE1, "IMD25")


@pytest.fixture(scope="module")
def lookup(raw_dir: Path) -> pd.DataFrame:
    with open(raw_dir / EXACT, encoding="utf-8-sig", newline="") as handle:
        return pd.DataFrame(list(csv.DictReader(handle)))


# -- IoD 2025 at LSOA 2021, as published ---------------------------------------------------------------------

def test_imd_ranks_and_deciles_are_file_1s_for_every_lsoa(build: Path, file1: pd.DataFrame) -> None:
    got = values(build, "lsoa21", "imd2025")
    assert len(file1) == 33755 and set(got.index) == set(file1.index)
    rank = file1["Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)"]
    # the workbook's decile header is cut short: "... 10% of LSOA"
    decile = file1[next(c for c in file1.columns if str(c).startswith("Index of Multiple Deprivation (IMD) Decile"))]
    assert (got["imd2025_imd_rank"] == rank.reindex(got.index).astype(float)).all()
    assert (got["imd2025_imd_decile"] == decile.reindex(got.index).astype(float)).all()
    assert got.at["E01000001", "imd2025_imd_rank"] == 26525 and got.at["E01000001", "imd2025_imd_decile"] == 8
    assert sorted(got["imd2025_imd_rank"].astype(int)) == list(range(1, 33756))  # never re-ranked: as published


def test_idaci_and_idaopi_are_file_3s_with_their_ties(raw_dir: Path, build: Path) -> None:
    file3 = sheet(raw_dir / FILE3, "IoD2025 IDACI & IDAOPI")
    got = values(build, "lsoa21", "imd2025")
    for key, name in (("idaci", "Income Deprivation Affecting Children Index (IDACI)"),
                      ("idaopi", "Income Deprivation Affecting Older People (IDAOPI)")):
        for kind, words in (("rank", "Rank (where 1 is most deprived)"),
                            ("decile", "Decile (where 1 is most deprived 10% of LSOAs)")):
            raw = file3[f"{name} {words}"].reindex(got.index).astype(float)
            assert (got[f"imd2025_{key}_{kind}"] == raw).all(), (key, kind)
        assert got[f"imd2025_{key}_rank"].duplicated().sum() > 0  # tied ranks, kept as published


def test_scores_domains_subdomains_and_indicators_are_the_r_tables(raw_dir: Path, build: Path) -> None:
    frame = rda(raw_dir, f"{D25}/imd2025_england_lsoa21.rda", "imd2025_england_lsoa21").set_index("lsoa21_code")
    got = values(build, "lsoa21", "imd2025")
    for key, prefix in (("imd", "IMD"), ("income", "Income"), ("employment", "Employment"),
                        ("education", "Education"), ("health", "Health"), ("crime", "Crime"),
                        ("barriers", "Housing_and_Services"), ("living", "Environment")):
        for kind in ("score", "rank", "decile"):
            raw = frame[f"{prefix}_{kind}"].reindex(got.index).astype(float)
            assert np.array_equal(got[f"imd2025_{key}_{kind}"].to_numpy(), raw.to_numpy()), (key, kind)
    sub = rda(raw_dir, f"{D25}/imd2025_england_lsoa21_subdomains.rda",
              "imd2025_england_lsoa21_subdomains").set_index("lsoa21_code")
    mine = values(build, "lsoa21", "imd2025_subdomains")
    for column in sub.columns:
        assert np.array_equal(mine[f"imd2025_{column}"].to_numpy(), sub[column].reindex(mine.index).to_numpy(
            dtype=float)), column
    ind = rda(raw_dir, f"{D25}/imd2025_england_lsoa21_indicators.rda",
              "imd2025_england_lsoa21_indicators").set_index("lsoa21_code")
    mine = values(build, "lsoa21", "imd2025_indicators")
    pairs = {"income_domain_numerator": "imd2025_income_numerator", "mental_health_indicator": "imd2025_mental_health",
             "burglary_rate_per_1_000_at_risk_properties": "imd2025_burglary",
             "patient_to_gp_ratio": "imd2025_patients_per_gp",
             "household_overcrowding_indicator_bedrooms": "imd2025_overcrowding_bedrooms"}
    for column, ident in pairs.items():
        assert np.array_equal(mine[ident].to_numpy(), ind[column].reindex(mine.index).to_numpy(dtype=float),
                              equal_nan=True), column
    assert len(mine.columns) - 1 == len(ind.columns) == 28  # every indicator (beside the authority column)


def test_wimd_ranks_are_the_csvs_with_ties_and_no_deciles(raw_dir: Path, build: Path) -> None:
    with open(raw_dir / WIMD, encoding="utf-8-sig", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["LSOA code"]]
    assert len(rows) == 1917
    got = values(build, "lsoa21", "wimd2025")
    assert set(got.index) == {r["LSOA code"] for r in rows}
    for header, key in (("WIMD 2025 ", "wimd"), ("Income ", "income"), ("Employment", "employment"),
                        ("Housing", "housing"), ("Community Safety", "safety"),
                        ("Physical Environment", "environment")):
        raw = {r["LSOA code"]: float(r[header]) for r in rows}
        assert (got[f"wimd2025_{key}_rank"] == pd.Series(raw).reindex(got.index)).all(), key
    assert got["wimd2025_income_rank"].duplicated().sum() == 3  # ties kept as published
    catalogue = pd.read_parquet(build / "catalogue.parquet").set_index("id")
    wimd = catalogue[catalogue["dataset"] == "wimd2025"]
    assert set(wimd["unit"]) == {"rank"} and len(wimd) == 9  # no deciles, quintiles or groupings
    assert all("band limits" in note and "never ranked or classed with England" in note for note in wimd["note"])
    assert set(wimd["coverage"]) == {"Wales"}
    assert not (catalogue["dataset"].str.contains("wimd") & catalogue["unit"].isin(["decile", "category"])).any()


def test_labels_say_edition_and_direction(build: Path) -> None:
    catalogue = pd.read_parquet(build / "catalogue.parquet").set_index("id")
    assert catalogue.at["imd2025_imd_decile", "label"] == ("Index of Multiple Deprivation (IMD) decile, IoD 2025 (1 is "
                                                           "the most deprived 10%)")
    assert catalogue.at["imd2025_imd_rank", "label"].endswith("IoD 2025 (1 is most deprived)")
    assert catalogue.at["imd2019_imd_rank", "label"].endswith("IoD 2019 (1 is most deprived)")
    assert catalogue.at["wimd2019_wimd_rank", "label"].endswith("WIMD 2019 (1 is most deprived)")
    assert catalogue.at["wimd2025_wimd_rank", "label"].endswith("WIMD 2025 (1 is most deprived)")
    assert list(catalogue.at["imd2025_imd_decile", "levels"]) == ["lsoa11", "lsoa21"]
    assert list(catalogue.at["imd2025_imd_decile", "national_levels"]) == ["lsoa21"]


# -- on 2011 LSOAs: unchanged, merged, split, irregular ----------------------------------------------------

def _examples(lookup: pd.DataFrame, decile: pd.Series) -> dict[str, str]:
    """LSOAs of 2011 of each kind, found by searching the lookup (English, so they have an IMD 2025)."""
    e = lookup[lookup["LSOA11CD"].str.startswith("E")]
    targets = e.groupby("LSOA11CD")["LSOA21CD"].agg(list)
    kind = e.groupby("LSOA11CD")["CHGIND"].first()
    out = {"unchanged": kind[kind == "U"].index[0],
           "merged": kind[kind == "M"].index[0],
           "irregular_one": next(c for c in kind[kind == "X"].index if len(targets[c]) == 1),
           "irregular_many": next(c for c in kind[kind == "X"].index if len(targets[c]) > 1)}
    split = kind[kind == "S"].index
    out["split_differ"] = next(c for c in split if decile.reindex(targets[c]).nunique() > 1)
    out["split_same"] = next(c for c in split if decile.reindex(targets[c]).nunique() == 1)
    return out


def test_carried_onto_2011_lsoas_by_the_rules(build: Path, file1: pd.DataFrame, lookup: pd.DataFrame) -> None:
    rank = file1["Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)"].astype(float)
    decile = file1[next(c for c in file1.columns if str(c).startswith("Index of Multiple Deprivation (IMD) Decile"))]
    decile = decile.astype(float)
    got = values(build, "lsoa11", "imd2025")
    english = set(lookup.loc[lookup["LSOA11CD"].str.startswith("E"), "LSOA11CD"])
    assert set(got.index) == english  # every English LSOA of 2011
    examples = _examples(lookup, decile)
    targets = lookup.groupby("LSOA11CD")["LSOA21CD"].agg(list)
    # unchanged: its own figures
    u = examples["unchanged"]
    assert got.at[u, "__status"] == "unchanged" and got.at[u, "imd2025_imd_decile"] == decile[u]
    # merged: the 2021 area's figures, flagged, naming it
    m = examples["merged"]
    (t,) = targets[m]
    assert got.at[m, "__status"] == "merged" and t in got.at[m, "__note"]
    assert got.at[m, "imd2025_imd_rank"] == rank[t] and got.at[m, "imd2025_imd_decile"] == decile[t]
    # split into areas of different deciles: no single rank or decile, the range of its parts, never an average
    s = examples["split_differ"]
    parts = targets[s]
    assert got.at[s, "__status"] == "split" and np.isnan(got.at[s, "imd2025_imd_decile"])
    assert np.isnan(got.at[s, "imd2025_imd_rank"]) and got.at[s, "__parts"] == len(parts)
    assert got.at[s, "imd2025_imd_decile__lo"] == decile[parts].min()
    assert got.at[s, "imd2025_imd_decile__hi"] == decile[parts].max()
    assert (got.at[s, "imd2025_imd_rank__lo"], got.at[s, "imd2025_imd_rank__hi"]) == (rank[parts].min(),
                                                                                     rank[parts].max())
    # split into areas of one decile: that decile (every part has it), but still no single rank
    same = examples["split_same"]
    assert got.at[same, "imd2025_imd_decile"] == decile[targets[same][0]]
    assert np.isnan(got.at[same, "imd2025_imd_rank"])
    # irregular ('X'): as merged when it touches one 2021 LSOA, as split when several
    one, many = examples["irregular_one"], examples["irregular_many"]
    assert got.at[one, "__status"] == got.at[many, "__status"] == "irregular"
    assert got.at[one, "imd2025_imd_rank"] == rank[targets[one][0]]
    assert np.isnan(got.at[many, "imd2025_imd_rank"]) and got.at[many, "imd2025_imd_rank__lo"] == \
        rank[targets[many]].min()
    counts = Counter(got["__status"])
    assert counts == {"unchanged": 31810, "split": 834, "merged": 194, "irregular": 6}
    # counts are not carried (a merged area's count is not its 2011 LSOA's); rates are
    indicators = values(build, "lsoa11", "imd2025_indicators")
    assert "imd2025_income_numerator" not in indicators and "imd2025_burglary" in indicators


def test_carried_figures_in_view_hover_table_legend_and_api(atlas_env: Path, lookup: pd.DataFrame) -> None:
    s = catalogue.build()
    st = ViewState(authority=BIRMINGHAM, level="lsoa11", variable="imd2025_imd_decile")
    shown = view.build(s, st)
    j = shown.to_json()
    split = [a for a in j["areas"] if a["carried"] == "split" and a["value"] is None]
    assert split and all(a["class"] == -1 and a["text"] == f"deciles {int(a['low'])} and {int(a['high'])}"
                         for a in split if a["parts"] == 2)
    assert not shown.ranked and "not ranked again" in shown.rank_note
    legend = shown.legend()
    assert legend["ranges"]["count"] == len(split) and "No single decile" in legend["ranges"]["label"]
    assert any("carried from the 2021 LSOAs" in n and "split" in n for n in legend["notes"])
    details = shown.details()
    flagged = {int(i): words for i, words in details["carried"].items()}
    codes = [a["code"] for a in j["areas"]]
    assert {codes[i] for i, w in flagged.items() if w[0] == "split"} == {a["code"] for a in j["areas"]
                                                                         if a["carried"] == "split"}
    assert all("Split in 2021 into" in w[1] for w in flagged.values() if w[0] == "split")
    # the API: each row says what its figures are; a split one its range
    from web import api

    client = api.standalone().test_client()
    body = client.get(f"/api/values/{BIRMINGHAM}/lsoa11/imd2025_imd_rank.json").get_json()
    assert body["ranked"] is False and body["carried"]["counts"]["split"] == 21
    row = next(r for r in body["rows"] if r["carried"] == "split")
    assert row["value"] is None and row["low"] < row["high"] and row["rank"] is None
    text = client.get(f"/api/values/{BIRMINGHAM}/lsoa11/imd2025_imd_rank.csv").get_data(as_text=True)
    header = next(csv.reader(io.StringIO(text)))
    assert header[-5:] == ["carried", "carried_note", "parts", "low", "high"]
    geo = client.get(f"/api/values/{BIRMINGHAM}/lsoa11/imd2025_imd_rank.geojson").get_json()
    assert {f["properties"]["carried"] for f in geo["features"]} == {"unchanged", "split", "merged"}
    # the 2021 areas themselves: the publisher's figures, no flags
    native = client.get(f"/api/values/{BIRMINGHAM}/lsoa21/imd2025_imd_rank.json").get_json()
    assert "carried" not in native and all("carried" not in r for r in native["rows"])


def test_district_summaries_are_file_10s(raw_dir: Path, build: Path, file1: pd.DataFrame,
                                         lookup: pd.DataFrame) -> None:
    f10 = rda(raw_dir, f"{D25}/imd2025_england_ltla24.rda", "imd2025_england_ltla24").set_index("ltla24_code")
    got = values(build, "lad", "imd2025_districts")
    lad21 = lookup.drop_duplicates("LSOA21CD").set_index("LSOA21CD")["LAD22CD"]
    english21 = sorted({c for c in lad21 if c.startswith("E")})
    assert sorted(got.index) == english21  # every English district of December 2021
    to24 = pd.DataFrame({"lad21": lad21.reindex(file1.index), "lad24": file1["Local Authority District code (2024)"]})
    pairs = to24.drop_duplicates().set_index("lad21")["lad24"]
    assert pairs.index.is_unique  # no 2021 district lies in two 2024 ones
    columns = {"imd_average_score": "imd2025_lad_imd_average_score",
               "imd_rank_of_average_score": "imd2025_lad_imd_rank_of_average_score",
               "imd_proportion_of_lso_as_in_most_deprived_10_percent_nationally": "imd2025_lad_imd_proportion_10",
               "imd25_extent": "imd2025_lad_imd_extent", "imd25_local_concentration":
                   "imd2025_lad_imd_local_concentration", "income_scale": "imd2025_lad_income_scale",
               "living_environment_rank_of_average_rank": "imd2025_lad_living_rank_of_average_rank"}
    for column, ident in columns.items():
        expected = f10[column].reindex(pairs.reindex(got.index)).to_numpy(dtype=float)
        assert np.array_equal(got[ident].to_numpy(), expected), column
    merged = got[got["__status"] == "merged"]
    assert len(merged) == 17  # Cumbria's 6, North Yorkshire's 7, Somerset's 4 districts
    assert "North Yorkshire (E06000065)" in got.at["E07000163", "__note"]
    assert got.at[BIRMINGHAM, "__status"] == "unchanged"


def test_movement_2019_2025_recomputed(raw_dir: Path, build: Path, file1: pd.DataFrame, lookup: pd.DataFrame) -> None:
    with open(raw_dir / IMD2019, encoding="utf-8", newline="") as handle:
        old = {r["LSOA code (2011)"]: int(r["Index of Multiple Deprivation (IMD) Decile"])
               for r in csv.DictReader(handle)}
    new = file1[next(c for c in file1.columns if str(c).startswith("Index of Multiple Deprivation (IMD) Decile"))]
    same = lookup[(lookup["CHGIND"] == "U") & lookup["LSOA11CD"].str.startswith("E")]
    assert (same["LSOA11CD"] == same["LSOA21CD"]).all()
    codes = list(same["LSOA11CD"])
    change = {c: int(new[c]) - old[c] for c in codes}
    got = values(build, "lsoa21", "imd2019_2025")
    compared = got.dropna(subset=["imd_2019_2025_decile_change"])
    assert set(compared.index) == set(codes) and len(got) == 33755
    assert all(compared.at[c, "imd_2019_2025_decile_change"] == (f"{k:+d}" if k else "0")
               for c, k in list(change.items())[::97])
    for share, top in ((10, 1), (20, 2)):
        expected = {c: ("into" if new[c] <= top < old[c] else "stayed" if new[c] <= top and old[c] <= top
                        else "out_of" if old[c] <= top < new[c] else "neither") for c in codes}
        assert (compared[f"imd_2019_2025_most_deprived_{share}"] == pd.Series(expected).reindex(compared.index)).all()
    # counts per December 2021 district
    lad = same.set_index("LSOA11CD")["LAD22CD"]
    counts = values(build, "lad", "imd2019_2025_counts")
    for district in (BIRMINGHAM, "E08000035", "E06000001", "E07000163"):
        mine = [c for c in codes if lad[c] == district]
        into = sum(1 for c in mine if new[c] == 1 and old[c] > 1)
        out = sum(1 for c in mine if old[c] == 1 and new[c] > 1)
        into20 = sum(1 for c in mine if new[c] <= 2 < old[c])
        worse = sum(1 for c in mine if change[c] < 0)
        assert counts.loc[district, ["imd_2019_2025_compared", "imd_2019_2025_into_10", "imd_2019_2025_out_of_10",
                                     "imd_2019_2025_into_20", "imd_2019_2025_more"]].tolist() == \
            [len(mine), into, out, into20, worse], district
    assert counts["imd_2019_2025_compared"].sum() == len(codes) == 31810


def test_movement_maps_are_diverging_and_say_the_caution(atlas_env: Path) -> None:
    s = catalogue.build()
    row = s.variable("imd_2019_2025_decile_change")
    colours = {c["code"]: c["colour"] for c in row["categories"]}
    assert colours["0"] == "#f7f7f7" and colours["-1"] != colours["+1"]  # no change is the neutral middle
    shown = view.build(s, ViewState(authority=BIRMINGHAM, level="lsoa21", variable="imd_2019_2025_most_deprived_10"))
    assert any("relative deprivation" in n for n in shown.legend()["notes"])
    counts = {c.code: c.count for c in shown.classes}
    assert counts == {"into": 33, "stayed": 224, "neither": 334, "out_of": 25}  # 616 unchanged; 43 not compared
    assert shown.missing == 43


# -- LSOAs of 2021 everywhere ----------------------------------------------------------------------------------

def test_every_authority_and_place_has_its_2021_lsoas(atlas_env: Path, lookup: pd.DataFrame) -> None:
    s = catalogue.build()
    per = lookup.drop_duplicates("LSOA21CD").groupby("LAD22CD").size()
    for a in s.authorities():
        n = {d["level"]: d["areas"] for d in a["levels"]}.get("lsoa21", 0)
        assert n == per.get(a["code"], 0), a["code"]
    wales = s.authority("W92000004")
    assert {d["level"]: d["areas"] for d in wales["levels"]}["lsoa21"] == 1917
    london = s.authority("E12000007")
    assert {d["level"]: d["areas"] for d in london["levels"]}["lsoa21"] == 4994
    assert {d["level"]: d["areas"] for d in s.authority("all")["levels"]}["lsoa21"] == 35672
    assert "lsoa21" in s.tile_levels()
    # Census 2021 on its own areas in an authority that had none before (Birmingham)
    ts054 = s.values(BIRMINGHAM, "lsoa21", "ts054_total")
    assert ts054["value"].notna().all() and len(ts054) == per[BIRMINGHAM]


def test_locate_and_search_return_the_2021_area(atlas_env: Path, raw_dir: Path) -> None:
    from atlas import locate, search
    from web import api

    s = catalogue.build()
    with open(raw_dir / "later/boundaries/lsoa21_all_by_lad_drkane/E08000025.geojson", encoding="utf-8") as f:
        features = json.load(f)["features"]
    for feat in features[::60]:
        geom = shapely.geometry.shape(feat["geometry"])
        inner = geom.buffer(-0.0003)
        point = (inner if not inner.is_empty else geom).representative_point()
        got = locate.locate(s.extracts, point.y, point.x).areas["lsoa21"]
        assert got is not None and got["code"] == feat["properties"]["LSOA21CD"], feat["properties"]["LSOA21CD"]
    body = api.standalone().test_client().get("/api/locate?lat=52.4612&lon=-1.9256").get_json()
    assert body["lsoa21"]["code"].startswith("E01") and body["lsoa21"]["authority"] == BIRMINGHAM
    assert body["url_lsoa21"] == f"/?authority={BIRMINGHAM}&level=lsoa21&area={body['lsoa21']['code']}"
    found = search.search(s.extracts, "E01035188")["results"]
    assert found and found[0]["level"] == "lsoa21" and found[0]["what"] == "LSOA (2021)"


# -- defaults -----------------------------------------------------------------------------------------------------

def test_an_authority_opens_on_its_own_nations_2025_index(atlas_env: Path) -> None:
    from atlas import mapview

    s = catalogue.build()

    def resolve(query: str) -> viewstate.Resolved:
        raw, messages = viewstate.parse_query(query)
        return viewstate.resolve(raw, s, lambda a, lv: mapview.available_variables(s, a, lv), messages)

    english = resolve(f"?authority={BIRMINGHAM}")
    assert (english.state.level, english.state.variable, english.variable_default) == \
        ("lsoa21", "imd2025_imd_decile", True)
    welsh = resolve(f"?authority={CARDIFF}")
    assert (welsh.state.level, welsh.state.variable) == ("lsoa21", "wimd2025_wimd_rank")
    region = resolve("?authority=E12000007")  # London, a place of England
    assert region.state.variable == "imd2025_imd_decile"
    # a level asked for keeps it, with today's index where it is carried there; a variable asked for is kept
    assert resolve(f"?authority={BIRMINGHAM}&level=lsoa11").state.variable == "imd2025_imd_decile"
    chosen = resolve(f"?authority={BIRMINGHAM}&variable=imd2019_imd_decile")
    assert (chosen.state.level, chosen.state.variable, chosen.variable_default) == \
        ("lsoa11", "imd2019_imd_decile", False)
    assert resolve("?").state.variable == "ks102ew0018"  # England and Wales as a whole: no one nation's index


def test_choosing_a_district_from_the_overview_opens_on_its_default(atlas_env: Path) -> None:
    from callbacks import explorer
    from ui import ids

    s = catalogue.build()
    first = explorer.render_view("?", None, s)
    assert first.canonical["variable_default"] is True and first.state.variable == "ks102ew0018"
    controls = {**{k: v for k, v in first.state.as_dict().items() if k in ids.CONTROLS}, "authority": CARDIFF}
    search = explorer.search_from_controls(controls, first.canonical["state"], first.canonical["palette_default"],
                                           first.canonical["variable_default"])
    assert "variable=" not in search
    assert explorer.render_view(search, first.canonical, s).state.variable == "wimd2025_wimd_rank"
    # a variable the person chose is kept across a change of place
    chosen = explorer.render_view(f"?authority={BIRMINGHAM}&level=lsoa11&variable=ks102ew0018", None, s)
    controls = {**{k: v for k, v in chosen.state.as_dict().items() if k in ids.CONTROLS}, "authority": CARDIFF}
    search = explorer.search_from_controls(controls, chosen.canonical["state"], chosen.canonical["palette_default"],
                                           chosen.canonical["variable_default"])
    assert "variable=ks102ew0018" in search


# -- the catalogue, downloads, datapacks and DCAT --------------------------------------------------------------

@pytest.fixture(scope="module")
def site(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The whole app (the datastore's pages and downloads) over a data folder of its own."""
    from city_support import Client, data_folder, environment

    folder = data_folder(data_dir, tmp_path_factory.mktemp("dep25"))
    with environment(folder, None):
        import app as app_module

        yield Client(app_module.server)


def test_catalogue_downloads_and_dcat_carry_the_new_datasets(site) -> None:
    client = site
    dcat = client.get(f"/datastore/{BIRMINGHAM}/catalog.jsonld").get_json()
    keys = {d["dct:identifier"] for d in dcat["dcat:dataset"]}
    # (categorical datasets, such as the movement maps imd2019_2025, are not in the datastore's lists: its
    # downloads are numeric; they are in the API and the datapacks)
    assert {"imd2025", "imd2025_subdomains", "imd2025_indicators"} <= keys
    districts = client.get("/datastore/catalog.jsonld").get_json()
    assert {"imd2025_districts", "imd2019_2025_counts", "wimd2025"} <= {d["dct:identifier"]
                                                                        for d in districts["dcat:dataset"]}
    imd = next(d for d in dcat["dcat:dataset"] if d["dct:identifier"] == "imd2025")
    urls = [x["dcat:downloadURL"]["@id"] for x in imd["dcat:distribution"]]
    assert any(u.endswith(f"/datastore/{BIRMINGHAM}/lsoa21/imd2025.csv") for u in urls)
    wales = client.get(f"/datastore/{CARDIFF}/catalog.jsonld").get_json()
    assert "wimd2025" in {d["dct:identifier"] for d in wales["dcat:dataset"]}
    csv_text = client.get(f"/datastore/{BIRMINGHAM}/lsoa11/imd2025.csv").get_data(as_text=True)
    header = next(csv.reader(io.StringIO(csv_text)))
    assert {"carried", "carried_note", "parts", "imd2025_imd_decile_low", "imd2025_imd_decile_high"} <= set(header)
    page = client.get(f"/datastore/{BIRMINGHAM}").get_data(as_text=True)
    assert "Deprivation today" in page and "38.115" in page  # File 10: Birmingham's IMD average score
    assert "What moved, IoD 2019 to IoD 2025" in page and "relative deprivation" in page
    york = client.get("/datastore/E07000163").get_data(as_text=True)
    assert "Merged in 2023" in york and "North Yorkshire (E06000065)" in york
    cardiff = client.get(f"/datastore/{CARDIFF}").get_data(as_text=True)
    assert "Welsh Index of Multiple Deprivation 2025" in cardiff and "No deciles" in cardiff
