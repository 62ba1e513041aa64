"""The built extracts, checked against the publishers' raw files read independently here."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

BULK = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
LOOKUP = "lookups/Lower_Layer_Super_Output_Area_(2011)_to_Ward_(2019)_Lookup_in_England_and_Wales.csv"
IMD2 = "deprivation/imd2019_england/csv_from_xlsx/File_2_-_IoD2019_Domains_of_Deprivation.csv"
WIMD_RANKS = "deprivation/wimd2019_wales/welsh-index-multiple-deprivation-2019-index-and-domain-ranks-by-small-area.csv"
LAD = "boundaries/lad/Local_Authority_Districts_(December_2021)_UK_BUC.geojson"
SEVEN = ["E08000012", "E08000003", "E08000009", "E09000007", "E09000030", "E07000194", "W06000015"]


@pytest.fixture(scope="module")
def build(data_dir: Path) -> Path:
    return (data_dir / "current").resolve()


@pytest.fixture(scope="module")
def areas(build: Path) -> dict[str, gpd.GeoDataFrame]:
    return {p.stem: gpd.read_parquet(p) for p in (build / "areas").glob("*.parquet")}


def _features(path: Path) -> list[dict]:
    return json.loads(path.read_text())["features"]


def _bulk(raw_dir: Path) -> list[dict]:
    with open(raw_dir / BULK, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# --------------------------------------------------------------------------------------------------
# areas

def test_lsoa11_counts_match_each_raw_file(raw_dir: Path, areas: dict) -> None:
    lsoa = areas["lsoa11"]
    assert len(lsoa) == 34753 and lsoa["code"].is_unique
    current = {f["properties"]["LAD21CD"] for f in _features(raw_dir / LAD)}
    per_authority = lsoa.groupby("authority").size()
    checked = 0
    for path in sorted((raw_dir / "boundaries/lsoa11_by_lad").glob("*.json")):
        codes = {f["properties"]["LSOA11CD"] for f in _features(path)}
        if path.stem in current:  # districts unchanged since 2011 keep exactly their file's LSOAs
            assert set(lsoa.loc[lsoa["authority"] == path.stem, "code"]) == codes, path.stem
            checked += 1
    assert checked > 300
    assert per_authority["E09000001"] == 6 and per_authority["E06000053"] == 1


def test_merged_and_renamed_districts_follow_the_lookup(raw_dir: Path, areas: dict) -> None:
    lookup = pd.read_csv(raw_dir / LOOKUP, encoding="utf-8-sig", dtype=str)
    by_lad19 = lookup.groupby("LAD19NM")["LSOA11CD"].apply(set)
    lsoa = areas["lsoa11"].set_index("code")
    successors = {
        "E06000060": ["Aylesbury Vale", "Chiltern", "South Bucks", "Wycombe"],                      # Buckinghamshire
        "E06000061": ["Corby", "East Northamptonshire", "Kettering", "Wellingborough"],             # N Northants
        "E06000062": ["Daventry", "Northampton", "South Northamptonshire"],                         # W Northants
    }
    for code, olds in successors.items():
        expected = set().union(*(by_lad19[name] for name in olds))
        assert set(lsoa.index[lsoa["authority"] == code]) == expected, code
    # Gateshead's 2011 file is E08000020; its LSOAs belong to today's E08000037.
    gateshead = {f["properties"]["LSOA11CD"] for f in _features(raw_dir / "boundaries/lsoa11_by_lad/E08000020.json")}
    assert set(lsoa.loc[list(gateshead), "authority"]) == {"E08000037"}
    assert areas["lsoa11"]["authority"].isin(areas["lad"]["code"]).all()


def test_output_areas_and_2021_areas_match_raw_files(raw_dir: Path, areas: dict) -> None:
    for code in SEVEN:
        raw = {f["properties"]["OA11CD"] for f in _features(raw_dir / f"boundaries/oa11_by_lad/{code}.json")}
        assert set(areas["oa11"].loc[areas["oa11"]["authority"] == code, "code"]) == raw
    assert set(areas["oa11"]["authority"]) == set(SEVEN)
    gm = raw_dir / "boundaries/gm_2021_trafforddatalab"
    lsoa21 = {f["properties"]["area_code"] for f in _features(gm / "lsoa/2021/trafford_lsoa_generalised.geojson")}
    oa21 = {f["properties"]["area_code"] for f in _features(gm / "oa/2021/trafford_oa_generalised.geojson")}
    assert (len(lsoa21), len(oa21)) == (139, 738)
    trafford21 = areas["lsoa21"][areas["lsoa21"]["authority"] == "E08000009"]
    assert set(trafford21["code"]) == lsoa21 and set(areas["oa21"]["code"]) == oa21
    # LSOA 2021 polygons of every authority (drkane's 321 files: three pairs hold the same LSOAs under an old
    # and a new district code, taken once), each in the district the exact-fit lookup gives it
    everywhere: dict[str, str] = {}
    for path in sorted((raw_dir / "later/boundaries/lsoa21_all_by_lad_drkane").glob("*.geojson")):
        for f in _features(path):
            everywhere.setdefault(f["properties"]["LSOA21CD"], path.stem)
    assert len(everywhere) == 35672 and len(areas["lsoa21"]) == 35672
    exact = pd.read_csv(raw_dir / "later/lookups/Exact_LSOA11_to_LSOA21_to_LAD22_EW.csv", encoding="utf-8-sig",
                        dtype=str).drop_duplicates("LSOA21CD").set_index("LSOA21CD")["LAD22CD"]
    mine = areas["lsoa21"].set_index("code")["authority"]
    assert set(mine.index) == set(everywhere) and (mine == exact.reindex(mine.index)).all()
    # Sheffield's LSOAs sit in two files (E08000019 and E08000039) and in the 2021 district E08000019 only
    assert (mine[[c for c, f in everywhere.items() if f == "E08000019"]] == "E08000019").all()
    # North Yorkshire's file (2023) holds the LSOAs of seven 2021 districts
    york = {f["properties"]["LSOA21CD"] for f in _features(raw_dir / "later/boundaries/lsoa21_all_by_lad_drkane/"
                                                                      "E06000065.geojson")}
    assert mine[list(york)].nunique() == 7 and mine[list(york)].str.startswith("E07").all()
    # the vintages are kept apart: Trafford 001E exists only in 2011, 001G/H only in 2021
    assert "E01006185" in set(areas["lsoa11"]["code"]) and "E01006185" not in lsoa21
    assert {"E01034000", "E01034001"} <= lsoa21
    for level, frame in areas.items():
        assert set(frame["level"]) == {level}
        assert set(frame["vintage"]) == {{"lsoa21": "2021", "oa21": "2021", "lad": "2021", "ward22": "2022"}
                                         .get(level, "2011")}
        assert frame["authority_name"].notna().all() and frame["name"].notna().all()


def test_authorities_list_every_uk_district_with_its_levels(raw_dir: Path, build: Path) -> None:
    raw = {f["properties"]["LAD21CD"]: f["properties"]["LAD21NM"] for f in _features(raw_dir / LAD)}
    authorities = pd.read_parquet(build / "authorities.parquet").set_index("code")
    assert dict(authorities["name"]) == raw
    assert list(authorities.loc["E09000007", "levels"]) == ["lsoa11", "oa11", "lsoa21", "ward22"]
    assert list(authorities.loc["E08000009", "levels"]) == ["lsoa11", "oa11", "lsoa21", "oa21", "ward22"]
    assert list(authorities.loc["E08000025", "levels"]) == ["lsoa11", "lsoa21", "ward22"]
    assert authorities.loc["E08000009", "n_oa21"] == 738
    scotland = authorities[authorities.index.str.startswith("S")]
    assert len(scotland) == 32 and all(len(v) == 0 for v in scotland["levels"])
    assert authorities.loc["W06000015", "nation"] == "Wales"
    assert authorities.loc["E09000007", "region"] == "London"


# --------------------------------------------------------------------------------------------------
# values

def test_ks102ew_counts_and_percentages_match_nomis_bulk(raw_dir: Path, build: Path) -> None:
    values = pd.read_parquet(build / "values/lsoa11/ks102ew.parquet").set_index("code")
    rows = _bulk(raw_dir)
    assert len(rows) == len(values) == 34753
    headers = [h for h in rows[0] if h.startswith("Age: ")]
    for row in rows[::97]:  # every 97th LSOA, all cells
        got = values.loc[row["geography code"]]
        numbers = [float(row[h]) for h in headers]
        assert [got[f"ks102ew{i + 1:04d}"] for i in range(len(headers))] == numbers
        for i in range(1, 17):  # bands 0 to 4 ... 90 and over, as % of all usual residents
            assert got[f"ks102ew{i + 1:04d}_pct"] == pytest.approx(numbers[i] / numbers[0] * 100, abs=1e-3)


def test_deprivation_ranks_and_deciles_are_exact(raw_dir: Path, build: Path) -> None:
    imd = pd.read_parquet(build / "values/lsoa11/imd2019.parquet").set_index("code")
    raw = pd.read_csv(raw_dir / IMD2, dtype=str).set_index("LSOA code (2011)")
    assert len(imd) == len(raw) == 32844
    pairs = {"imd2019_imd_rank": "Index of Multiple Deprivation (IMD) Rank (where 1 is most deprived)",
             "imd2019_crime_decile": "Crime Decile (where 1 is most deprived 10% of LSOAs)",
             "imd2019_living_rank": "Living Environment Rank (where 1 is most deprived)"}
    for ident, column in pairs.items():
        assert (imd[ident].astype(int) == raw[column].astype(int).reindex(imd.index)).all(), ident
    wimd = pd.read_parquet(build / "values/lsoa11/wimd2019.parquet").set_index("code")
    raw_w = pd.read_csv(raw_dir / WIMD_RANKS, dtype=str, encoding="utf-8-sig").set_index("LSOA code")
    assert len(wimd) == 1909
    assert (wimd["wimd2019_wimd_rank"].astype(int) == raw_w["WIMD 2019 "].astype(int).reindex(wimd.index)).all()
    assert (wimd["wimd2019_income_rank"].astype(int) == raw_w["Income "].astype(int).reindex(wimd.index)).all()
    # separate indices: no Welsh LSOA has an English rank and vice versa
    assert imd.index.str.startswith("E").all() and wimd.index.str.startswith("W").all()


def test_district_overview_covers_every_district_of_england_and_wales(raw_dir: Path, build: Path) -> None:
    lad = pd.read_parquet(build / "values/lad/ks102ew.parquet").set_index("code")
    districts = {f["properties"]["LAD21CD"] for f in _features(raw_dir / LAD)}
    ew = {c for c in districts if c[0] in "EW"}
    assert set(lad.index) == ew and len(ew) == 331
    assert lad["ks102ew0001"].notna().all()
    rows = _bulk(raw_dir)
    total = sum(float(r["Age: All usual residents; measures: Value"]) for r in rows)
    assert lad["ks102ew0001"].sum() == total == 56075912
    # Camden's total from its own LSOAs, read from the raw files
    camden = {f["properties"]["LSOA11CD"] for f in _features(raw_dir / "boundaries/lsoa11_by_lad/E09000007.json")}
    camden_total = sum(float(r["Age: All usual residents; measures: Value"]) for r in rows
                       if r["geography code"] in camden)
    assert lad.loc["E09000007", "ks102ew0001"] == camden_total
    assert lad.loc["E09000007", "ks102ew0014_pct"] == pytest.approx(
        sum(float(r["Age: Age 65 to 74; measures: Value"]) for r in rows if r["geography code"] in camden)
        / camden_total * 100, abs=1e-3)
    assert "ks102ew0019" not in lad.columns  # a median cannot be summed


def test_camden_cdrc_tables_and_derived_percentages(raw_dir: Path, build: Path) -> None:
    tables = raw_dir / "census2011/cdrc_census_pack_camden_E09000007/tables"
    raw = pd.read_csv(tables / "KS402EW_oa11.csv", dtype={"GeographyCode": str}).set_index("GeographyCode")
    got = pd.read_parquet(build / "values/oa11/ks402ew.parquet").set_index("code")
    assert len(got) == 749
    for cell in raw.columns:
        assert np.allclose(got[cell.lower()], raw[cell].reindex(got.index), equal_nan=True), cell
    total = raw["KS402EW0001"].reindex(got.index)
    expected = np.where(total > 0, raw["KS402EW0002"].reindex(got.index) / total * 100, np.nan)
    assert np.allclose(got["ks402ew0002_pct"], expected, atol=1e-3, equal_nan=True)
    # KS102EW at Output Area joins the national KS102EW variables (same ONS cell codes)
    oa = pd.read_parquet(build / "values/oa11/ks102ew.parquet").set_index("code")
    raw_ks = pd.read_csv(tables / "KS102EW_oa11.csv", dtype={"GeographyCode": str}).set_index("GeographyCode")
    assert (oa["ks102ew0018"] == raw_ks["KS102EW0018"].reindex(oa.index)).all()


def test_trafford_census_2021_pivoted_from_long_format(raw_dir: Path, build: Path) -> None:
    path = raw_dir / "census2021/trafford_E08000009_trafforddatalab/health_disability_unpaid_care"
    long = pd.read_csv(path / "2021_general_health_oa_trafford.csv", dtype={"value": float})
    wide = pd.read_parquet(build / "values/oa21/c21_general_health.parquet").set_index("code")
    assert len(wide) == 738
    very_good = long[long["general_health"] == "Very good health"].set_index("area_code")["value"]
    assert (wide["c21_general_health_very_good_health"] == very_good.reindex(wide.index)).all()
    total = long.groupby("area_code")["value"].sum().reindex(wide.index)
    assert np.allclose(wide["c21_general_health_very_good_health_pct"], very_good.reindex(wide.index) / total * 100,
                       atol=1e-3)


def test_catalogue_describes_every_column(build: Path) -> None:
    catalogue = pd.read_parquet(build / "catalogue.parquet")
    assert catalogue["id"].is_unique
    required = ["label", "topic", "table", "cell", "unit", "vintage", "source", "licence", "dataset"]
    assert catalogue[required].notna().all().all()
    assert set(catalogue["unit"]) <= {"count", "percentage", "rank", "decile", "score", "years", "per hectare",
                                      "per km2", "ratio", "sum", "average", "people", "percentage points",
                                      "percent", "km", "proportion", "rate", "category", "average rank",
                                      "µg/m³"}  # the LAEI's modelled concentrations
    schemas: dict[Path, list[str]] = {}
    for row in catalogue.itertuples():
        for level in row.levels:
            path = build / f"values/{level}/{row.dataset}.parquet"
            if path not in schemas:
                schemas[path] = pq.read_schema(path).names
            assert row.id in schemas[path], (row.id, level)
        if row.unit == "percentage" and row.id.endswith("_pct"):
            assert "Derived" in row.description and "%" in row.label
    imd = catalogue.set_index("id").loc["imd2019_imd_rank"]
    assert imd["national"] and list(imd["national_levels"]) == ["lsoa11"] and imd["polarity"] == "higher is better"
    assert imd["coverage"] == "England" and catalogue.set_index("id").loc["wimd2019_wimd_rank", "coverage"] == "Wales"
    ks = catalogue.set_index("id").loc["ks102ew0002_pct"]
    assert list(ks["national_levels"]) == ["lsoa11", "lad"] and ks["denominator"] == "ks102ew0001"
    assert "Open Government Licence" in ks["licence"]
    # Camden's Output Areas come from the CDRC pack, the rest from Nomis: the attribution names both
    assert "Nomis" in ks["source"] and "Consumer Data Research Centre" in ks["source"]


# --------------------------------------------------------------------------------------------------
# geometry

@pytest.mark.parametrize(("level", "authority", "raw_file", "key"), [
    ("oa11", "E09000007", "boundaries/oa11_by_lad/E09000007.json", "OA11CD"),
    ("lsoa11", "E08000012", "boundaries/lsoa11_by_lad/E08000012.json", "LSOA11CD"),
    ("lsoa21", "E08000009", "boundaries/gm_2021_trafforddatalab/lsoa/2021/trafford_lsoa_generalised.geojson",
     "area_code"),
])
def test_display_geometry_is_valid_without_gaps_or_overlaps(raw_dir: Path, areas: dict, level: str,
                                                            authority: str, raw_file: str, key: str) -> None:
    mine = areas[level][areas[level]["authority"] == authority].to_crs(27700)
    raw = gpd.read_file(raw_dir / raw_file).to_crs(27700)
    assert len(mine) == len(raw)
    geoms = np.asarray(mine.geometry.values)
    assert shapely.is_valid(geoms).all()
    union = shapely.union_all(geoms)
    overlap = sum(shapely.area(geoms)) - union.area
    assert overlap < union.area * 1e-4, f"neighbours overlap by {overlap:.0f} m²"
    raw_union = shapely.union_all(shapely.make_valid(np.asarray(raw.geometry.values)))
    gaps = raw_union.difference(union).area
    assert gaps < raw_union.area * 5e-3, f"{gaps:.0f} m² of the authority is not covered"
    # each area stays where the publisher put it
    raw_by_code = raw.set_index(key).geometry
    for code, geom in zip(mine["code"], geoms, strict=True):
        assert shapely.intersects(geom, shapely.make_valid(raw_by_code[code]).representative_point().buffer(25))
    # display geometry is smaller than the raw geometry
    assert shapely.get_num_coordinates(geoms).sum() <= shapely.get_num_coordinates(
        np.asarray(raw.geometry.values)).sum()


def test_invalid_raw_rings_are_repaired(raw_dir: Path, areas: dict) -> None:
    raw = gpd.read_file(raw_dir / "boundaries/lsoa11_by_lad/E08000009.json")
    invalid = set(raw.loc[~raw.is_valid, "LSOA11CD"])
    assert invalid == {"E01006195", "E01006205"}  # as SOURCES.md records
    mine = areas["lsoa11"].set_index("code").loc[sorted(invalid)]
    assert mine.is_valid.all() and (mine.to_crs(27700).area > 0).all()


# --------------------------------------------------------------------------------------------------
# rebuilding

def test_rebuild_with_unchanged_inputs_is_skipped(raw_dir: Path, data_dir: Path) -> None:
    from pipeline import build

    before = json.loads((data_dir / "current" / "build.json").read_text())
    report = build.build(raw_dir, data_dir)
    assert report.skipped and report.id == before["id"]
    assert json.loads((data_dir / "current" / "build.json").read_text()) == before
