"""The national extracts (every authority of England and Wales) checked against the publishers' raw files,
read independently here (csv, zipfile, rdata): counts exact, percentages and groupings recomputed, re-based
2021 figures worked by hand for an unchanged, a split and a merged LSOA, categorical codes exact, and ward
results exact, including the two ward codes the source uses twice."""

from __future__ import annotations

import csv
import io
import json
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

N11 = "national/census2011_lsoa11"
N21 = "national/census2021_lsoa21"
EXACT = "later/lookups/Exact_LSOA11_to_LSOA21_to_LAD22_EW.csv"
RESULTS_2022 = "national/elections/results/local-elections-2022_Wards-results-Table 1.csv"
RESULTS_2021 = "national/elections/results/local_elections_2021_results-2_Wards-results-Table 1.csv"
BIRMINGHAM, LEEDS, CAMDEN = "E08000025", "E08000035", "E09000007"


@pytest.fixture(scope="module")
def build(data_dir: Path) -> Path:
    return (data_dir / "current").resolve()


@pytest.fixture(scope="module")
def catalogue(build: Path) -> pd.DataFrame:
    return pd.read_parquet(build / "catalogue.parquet").set_index("id")


def values(build: Path, level: str, dataset: str) -> pd.DataFrame:
    return pd.read_parquet(build / "values" / level / f"{dataset}.parquet").set_index("code")


def bulk_rows(raw_dir: Path, relative: str) -> dict[str, dict[str, str]]:
    with open(raw_dir / relative, newline="", encoding="utf-8") as handle:
        return {row["geography code"]: row for row in csv.DictReader(handle)}


def rda(raw_dir: Path, relative: str, name: str) -> pd.DataFrame:
    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rdata.read_rda(raw_dir / relative)[name]


# --------------------------------------------------------------------------------------------------
# Census 2011 at LSOA

@pytest.mark.parametrize(("file", "table", "prefix", "cells"), [
    ("sitepredictor--census-2011-tenure--england-wales.csv", "ks402ew", "Tenure",
     {"All households": 1, "Owned: Owned outright": 2, "Owned: Owned with a mortgage or loan": 3,
      "Shared ownership (part owned and part rented)": 4, "Social rented: Rented from council (Local Authority)": 5,
      "Social rented: Other": 6, "Private rented: Private landlord or letting agency": 7, "Private rented: Other": 8,
      "Living rent free": 9}),
    ("sitepredictor--census-2011-qualifications--england-wales.csv", "ks501ew", "Qualifications",
     {"All categories: Highest level of qualification": 1, "No qualifications": 2,
      "Highest level of qualification: Level 4 qualifications and above": 7,
      "Full-time students: Age 18 to 74: Economically inactive": 13}),
    ("sitepredictor--census-2011-occupation--england-wales.csv", "ks608ew", "Occupation",
     {"All categories: Occupation": 1, "1. Managers, directors and senior officials": 2,
      "9. Elementary occupations": 10}),
])
def test_nomis_bulk_tables_counts_exact_and_percentages(raw_dir: Path, build: Path, file: str, table: str,
                                                        prefix: str, cells: dict[str, int]) -> None:
    rows = bulk_rows(raw_dir, f"{N11}/{file}")
    got = values(build, "lsoa11", table)
    assert len(rows) == 34753 and set(got.index) == set(rows)
    for code in list(rows)[::211]:
        row = rows[code]
        total = float(row[f"{prefix}: {next(iter(cells))}; measures: Value"])
        for text, n in cells.items():
            raw = float(row[f"{prefix}: {text}; measures: Value"])
            assert got.at[code, f"{table}{n:04d}"] == raw, (code, text)
            if n > 1:
                expected = raw / total * 100 if total else np.nan
                assert got.at[code, f"{table}{n:04d}_pct"] == pytest.approx(expected, abs=1e-3, nan_ok=True)


def _download(raw_dir: Path, relative: str) -> dict[str, list[str]]:
    """A Nomis table download: rows of E&W LSOAs by code (header on the row starting Area, mnemonic)."""
    with open(raw_dir / relative, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    start = next(i for i, r in enumerate(rows) if r[:2] == ["Area", "mnemonic"])
    return {r[1]: r for r in rows[start + 1:] if len(r) > 2 and r[1][:3] in ("E01", "W01")}


def test_accommodation_and_heating_from_the_uk_downloads(raw_dir: Path, build: Path) -> None:
    accommodation = _download(raw_dir, f"{N11}/cenus2011_QS402UK_LSOA_Households_AcommodationType.csv")
    heating = _download(raw_dir, f"{N11}/QS415UK - central heating.csv")
    assert len(accommodation) == len(heating) == 34753
    qs402, qs415 = values(build, "lsoa11", "qs402ew"), values(build, "lsoa11", "qs415ew")
    for code in list(accommodation)[::173]:
        cells = [float(v) for v in accommodation[code][2:]]
        assert [qs402.at[code, f"qs402ew{i:04d}"] for i in range(1, 13)] == cells
        assert qs402.at[code, "qs402ew0004_pct"] == pytest.approx(cells[3] / cells[0] * 100, abs=1e-3)
        heat = [float(v) for v in heating[code][2:]]
        assert [qs415.at[code, f"qs415ew{i:04d}"] for i in range(1, 9)] == heat
        # central heating other than gas: electric + oil + solid fuel + other
        assert qs415.at[code, "qs415ew_not_gas_pct"] == pytest.approx(sum(heat[3:7]) / heat[0] * 100, abs=1e-3)
    assert "S01007409" not in qs402.index  # Scottish data zones are not kept


def test_ethnic_group_from_the_r_data_at_lsoa_and_output_area(raw_dir: Path, build: Path) -> None:
    agg = rda(raw_dir, f"{N11}/MLID_aggdata.rda", "aggdata").set_index("LSOA")
    got = values(build, "lsoa11", "ks201ew")
    assert len(agg) == 34753 and set(got.index) == set(agg.index)
    groups = ["WhiteBrit", "Irish", "OtherWhite", "Mixed", "Indian", "Pakistani", "Bangladeshi", "Chinese",
              "OtherAsian", "BlkAfrican", "BlkCaribbean", "OtherBlk", "Arab", "Other"]
    for code in list(agg.index)[::197]:
        row = agg.loc[code]
        assert got.at[code, "ks201ew0001"] == row["Persons"]
        assert got.at[code, "ks201ew0002"] == row["WhiteBrit"] and got.at[code, "ks201ew0016"] == row["BlkCaribbean"]
        assert got.at[code, "ks201ew_mixed"] == row["Mixed"]
        gypsy = row["Persons"] - sum(float(row[g]) for g in groups)
        assert got.at[code, "ks201ew0004"] == gypsy
        assert got.at[code, "ks201ew0011_pct"] == pytest.approx(row["Pakistani"] / row["Persons"] * 100, abs=1e-3)
        white = row["WhiteBrit"] + row["Irish"] + row["OtherWhite"] + gypsy
        assert got.at[code, "ks201ew_white_pct"] == pytest.approx(white / row["Persons"] * 100, abs=1e-3)
    assert got["ks201ew0004"].sum() == 57680  # Gypsy or Irish Traveller, England and Wales (published)
    # Output Areas: all seven authorities with OA polygons; Camden equals the CDRC pack cell for cell
    oa = values(build, "oa11", "ks201ew")
    areas = gpd.read_parquet(build / "areas/oa11.parquet")
    assert set(oa.index[oa["ks201ew0001"].notna()]) == set(areas["code"])
    cdrc = pd.read_csv(raw_dir / "census2011/cdrc_census_pack_camden_E09000007/tables/KS201EW_oa11.csv",
                       dtype={"GeographyCode": str}).set_index("GeographyCode")
    camden = oa.loc[cdrc.index]
    for cell in [f"KS201EW{i:04d}" for i in range(1, 20)]:
        assert (camden[cell.lower()] == cdrc[cell]).all(), cell
    assert (camden["ks201ew_mixed"] == cdrc[[f"KS201EW{i:04d}" for i in range(6, 10)]].sum(axis=1)).all()


def test_household_deprivation_from_the_long_r_table(raw_dir: Path, build: Path) -> None:
    long = rda(raw_dir, f"{N11}/IMD_census11_deprivation_england_wales_lsoa11.rda",
               "census11_deprivation_england_wales_lsoa11")
    wide = long.pivot(index="lsoa11_code", columns="households_number_deprivation_dimensions", values="count")
    got = values(build, "lsoa11", "qs119ew")
    assert set(got.index) == set(wide.index)
    sample = wide.index[::101]
    for dims in range(5):
        assert (got.loc[sample, f"qs119ew{dims + 2:04d}"] == wide.loc[sample, float(dims)]).all()
    total = wide.loc[sample].sum(axis=1)
    assert (got.loc[sample, "qs119ew0001"] == total).all()
    deprived = wide.loc[sample, [1.0, 2.0, 3.0, 4.0]].sum(axis=1) / total * 100
    assert np.allclose(got.loc[sample, "qs119ew_deprived_1plus_pct"], deprived, atol=1e-3)
    # the total is all households: it equals KS402EW0001 everywhere
    assert (got["qs119ew0001"] == values(build, "lsoa11", "ks402ew")["ks402ew0001"].reindex(got.index)).all()


def test_age_bands_and_tenure_groupings_recomputed(raw_dir: Path, build: Path, catalogue: pd.DataFrame) -> None:
    rows = bulk_rows(raw_dir, "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv")
    ks102 = values(build, "lsoa11", "ks102ew")
    birmingham = ks102.index[ks102["authority"] == BIRMINGHAM]
    assert len(birmingham) == 639

    def age(row: dict, band: str) -> float:
        return float(row[f"Age: Age {band}; measures: Value"])

    for code in birmingham[::37]:
        row = rows[code]
        total = float(row["Age: All usual residents; measures: Value"])
        young = sum(age(row, b) for b in ("0 to 4", "5 to 7", "8 to 9", "10 to 14", "15"))
        old = sum(age(row, b) for b in ("65 to 74", "75 to 84", "85 to 89", "90 and over"))
        oldest = age(row, "85 to 89") + age(row, "90 and over")
        assert ks102.at[code, "ks102ew_age_0_15"] == young
        assert ks102.at[code, "ks102ew_age_65_plus_pct"] == pytest.approx(old / total * 100, abs=1e-3)
        assert ks102.at[code, "ks102ew_age_85_plus_pct"] == pytest.approx(oldest / total * 100, abs=1e-3)
        assert ks102.at[code, "ks102ew_age_16_64"] == total - young - old
    tenure = bulk_rows(raw_dir, f"{N11}/sitepredictor--census-2011-tenure--england-wales.csv")
    ks402 = values(build, "lsoa11", "ks402ew")
    for code in birmingham[::41]:
        row = tenure[code]
        owned = float(row["Tenure: Owned; measures: Value"])  # Nomis's subtotal, checked against the sum
        total = float(row["Tenure: All households; measures: Value"])
        assert ks402.at[code, "ks402ew_owned_pct"] == pytest.approx(owned / total * 100, abs=1e-3)
        social = float(row["Tenure: Social rented; measures: Value"])
        assert ks402.at[code, "ks402ew_social_rented"] == social
    row = catalogue.loc["ks402ew_owned_pct"]
    assert row["method"] == "derived" and "KS402EW0002 + KS402EW0003" in row["cells"]
    assert row["decimals"] == 1 and row["unit"] == "percentage" and row["denominator"] == "ks402ew0001"
    assert catalogue.loc["ks102ew_age_75_plus", "cells"].startswith("KS102EW0015 + KS102EW0016 + KS102EW0017")


# --------------------------------------------------------------------------------------------------
# Census 2021: at LSOA 2021 (every authority), and re-based onto 2011 LSOAs everywhere

def test_census2021_at_lsoa21_is_the_published_figure(raw_dir: Path, build: Path) -> None:
    rows = bulk_rows(raw_dir, f"{N21}/census2021-ts054-lsoa.csv")
    got = values(build, "lsoa21", "ts054")
    areas = pd.read_parquet(build / "areas/lsoa21.parquet", columns=["code", "authority"])
    assert set(got.index) == set(areas["code"]) and len(got) == 35672  # every LSOA of 2021 has its polygon
    for code in got.index[::29]:
        row = rows[code]
        total = float(row["Tenure of household: Total: All households"])
        outright = float(row["Tenure of household: Owned: Owns outright"])
        assert got.at[code, "ts054_total"] == total
        assert got.at[code, "ts054_owned_owns_outright"] == outright
        assert got.at[code, "ts054_owned_owns_outright_pct"] == pytest.approx(outright / total * 100, abs=1e-3)
    # a table whose labels end in "; measures: Value"
    ts011 = bulk_rows(raw_dir, f"{N21}/census2021-ts011-lsoa.csv")
    dep = values(build, "lsoa21", "ts011")
    code = dep.index[0]
    assert dep.at[code, "ts011_total"] == float(
        ts011[code]["Household deprivation: Total: All households; measures: Value"])


def test_rebased_2021_hand_worked_unchanged_split_and_merged(build: Path, catalogue: pd.DataFrame) -> None:
    """Camden, TS054 tenure (households) and TS037 health (people), worked by hand from the raw files:

    - unchanged E01000842: 704 households, 183 own outright (TS054 for E01000842 itself);
    - split E01000953 -> E01035708 (736, 114) + E01035709 (635, 53): 1,371 and 167, exact;
    - merged E01000864 + E01000865 -> E01035707 (1,130 households, 219 own outright): shared by the 2011
      households of KS402EW, 717 and 451 of 1,168, so E01000864 gets 219 x 717 / 1168 = 134.4375 and
      E01000865 219 x 451 / 1168 = 84.5625 (both 19.38% of their estimated households, the 2021 share);
    - TS037 (people) is shared by 2011 usual residents instead: 1,537 and 1,505 of 3,042, so very good
      health, 1,413 in E01035707, gives E01000864 1413 x 1537 / 3042 = 713.93...
    """
    tenure = values(build, "lsoa11", "ts054_lsoa11")
    assert tenure.at["E01000842", "ts054_lsoa11_total"] == 704
    assert tenure.at["E01000842", "ts054_lsoa11_owned_owns_outright"] == 183
    assert tenure.at["E01000953", "ts054_lsoa11_total"] == 1371
    assert tenure.at["E01000953", "ts054_lsoa11_owned_owns_outright"] == 167
    assert tenure.at["E01000953", "ts054_lsoa11_owned_owns_outright_pct"] == pytest.approx(167 / 1371 * 100,
                                                                                         abs=1e-4)
    assert tenure.at["E01000864", "ts054_lsoa11_owned_owns_outright"] == pytest.approx(134.4375, abs=1e-4)
    assert tenure.at["E01000865", "ts054_lsoa11_owned_owns_outright"] == pytest.approx(84.5625, abs=1e-4)
    assert tenure.at["E01000864", "ts054_lsoa11_total"] == pytest.approx(1130 * 717 / 1168, abs=1e-4)
    for code in ("E01000864", "E01000865"):
        assert tenure.at[code, "ts054_lsoa11_owned_owns_outright_pct"] == pytest.approx(219 / 1130 * 100, abs=1e-3)
    health = values(build, "lsoa11", "ts037_lsoa11")
    assert health.at["E01000864", "ts037_lsoa11_very_good_health"] == pytest.approx(1413 * 1537 / 3042, abs=1e-4)
    lookup = pd.read_parquet(build / "lookups/lsoa11_lsoa21.parquet").set_index("code")
    assert lookup.at["E01000842", "change"] == "unchanged" and not lookup.at["E01000842", "estimated"]
    assert lookup.at["E01000953", "change"] == "split" and not lookup.at["E01000953", "estimated"]
    assert list(lookup.at["E01000953", "lsoa21"]) == ["E01035708", "E01035709"]
    assert lookup.at["E01000864", "change"] == "merged" and lookup.at["E01000864", "estimated"]
    row = catalogue.loc["ts054_lsoa11_owned_owns_outright"]
    assert row["method"] == "apportioned" and "estimate" in row["note"] and row["levels"].tolist() == ["lsoa11"]


def test_lookup_counts_and_irregular_changes(raw_dir: Path, build: Path) -> None:
    raw = pd.read_csv(raw_dir / EXACT, encoding="utf-8-sig", dtype=str)
    lookup = pd.read_parquet(build / "lookups/lsoa11_lsoa21.parquet")
    assert list(lookup.columns) == ["code", "authority", "change", "estimated", "lsoa21"]
    assert len(lookup) == 34753 and lookup["code"].is_unique
    counts = lookup["change"].value_counts().to_dict()
    per_lsoa = raw.drop_duplicates("LSOA11CD")["CHGIND"].value_counts()
    assert counts == {"unchanged": per_lsoa["U"], "split": per_lsoa["S"], "merged": per_lsoa["M"],
                      "complex": per_lsoa["X"]} == {"unchanged": 33647, "split": 861, "merged": 239, "complex": 6}
    assert (lookup["estimated"] == lookup["change"].isin(["merged", "complex"])).all()
    assert list(lookup.columns[:2]) == ["code", "authority"]
    assert lookup.equals(lookup.sort_values(["authority", "code"]))
    # the irregular group of Gateshead and Northumberland: both 2021 LSOAs' total shared by 2011 residents
    rows = bulk_rows(raw_dir, f"{N21}/census2021-ts001-lsoa.csv")
    ks = bulk_rows(raw_dir, "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv")
    group21 = sum(float(rows[c]["Residence type: Total; measures: Value"]) for c in ("E01035624", "E01035637"))
    w = {c: float(ks[c]["Age: All usual residents; measures: Value"]) for c in ("E01027506", "E01008187")}
    ts001 = values(build, "lsoa11", "ts001_lsoa11")
    for code in w:
        assert ts001.at[code, "ts001_lsoa11_total"] == pytest.approx(group21 * w[code] / sum(w.values()), abs=1e-3)
    assert set(lookup.loc[lookup["change"] == "complex", "code"]) == {
        "E01027506", "E01008187", "E01023964", "E01023508", "E01023768", "E01023679"}


def test_rebased_totals_equal_the_2021_totals_by_district(raw_dir: Path, build: Path) -> None:
    """Re-basing moves people between 2011 LSOAs, never loses or invents them: a district's total is the
    same on either geography (all 2011 LSOAs of an unchanged district map to its 2021 LSOAs)."""
    rows = bulk_rows(raw_dir, f"{N21}/census2021-ts001-lsoa.csv")
    raw = pd.read_csv(raw_dir / EXACT, encoding="utf-8-sig", dtype=str).drop_duplicates("LSOA21CD")
    lad = raw.set_index("LSOA21CD")["LAD22CD"]
    ts001 = values(build, "lsoa11", "ts001_lsoa11")
    for district in (BIRMINGHAM, LEEDS, CAMDEN, "W06000015"):
        published = sum(float(rows[c]["Residence type: Total; measures: Value"]) for c in lad.index[lad == district])
        assert ts001.loc[ts001["authority"] == district, "ts001_lsoa11_total"].sum() == pytest.approx(published)
    assert ts001["ts001_lsoa11_total"].sum() == pytest.approx(
        sum(float(r["Residence type: Total; measures: Value"]) for r in rows.values()))


def test_change_2011_to_2021_recomputed_for_unchanged_lsoas(raw_dir: Path, build: Path,
                                                           catalogue: pd.DataFrame) -> None:
    tenure11 = bulk_rows(raw_dir, f"{N11}/sitepredictor--census-2011-tenure--england-wales.csv")
    tenure21 = bulk_rows(raw_dir, f"{N21}/census2021-ts054-lsoa.csv")
    lookup = pd.read_parquet(build / "lookups/lsoa11_lsoa21.parquet").set_index("code")
    change = values(build, "lsoa11", "change_tenure")
    unchanged = lookup.index[(lookup["change"] == "unchanged") & (lookup["authority"] == LEEDS)]
    for code in unchanged[::23]:
        old, new = tenure11[code], tenure21[code]
        owned11 = float(old["Tenure: Owned; measures: Value"]) / float(old["Tenure: All households; measures: Value"])
        owned21 = float(new["Tenure of household: Owned"]) / float(new["Tenure of household: Total: All households"])
        assert change.at[code, "chg_tenure_owned_pp"] == pytest.approx((owned21 - owned11) * 100, abs=1e-3)
        n11 = float(old["Tenure: Private rented; measures: Value"])
        n21 = float(new["Tenure of household: Private rented"])
        expected = (n21 - n11) / n11 * 100 if n11 else np.nan
        assert change.at[code, "chg_tenure_private_rented_rel"] == pytest.approx(expected, abs=1e-3, nan_ok=True)
    for ident in ("chg_tenure_owned_pp", "chg_heating_gas_pp", "chg_accommodation_flats_rel", "chg_residents_rel"):
        row = catalogue.loc[ident]
        assert row["method"] == "change" and row["palette"] == "RdBu" and row["centre"] == 0.0
        assert row["decimals"] == 1 and row["cells"]
    assert "SOC 2020" in catalogue.loc["chg_occupation_soc2_pp", "note"]
    assert "shared dwellings" in catalogue.loc["chg_accommodation_flats_pp", "note"]
    assert catalogue.loc["chg_tenure_owned_pp", "unit"] == "percentage points"


# --------------------------------------------------------------------------------------------------
# classifications (categorical)

def test_rural_urban_codes_are_exact_and_categories_ordered(raw_dir: Path, build: Path,
                                                            catalogue: pd.DataFrame) -> None:
    path = raw_dir / ("national/classifications/Rural_Urban_Classification_(2011)_of_Lower_Layer_Super_Output_"
                      "Areas_in_England_and_Wales.csv")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        raw = {r["LSOA11CD"]: r["RUC11CD"] for r in csv.DictReader(handle)}
    got = values(build, "lsoa11", "ruc11")
    assert dict(got["ruc11"]) == raw
    assert pq.read_schema(build / "values/lsoa11/ruc11.parquet").field("ruc11").type == "string"
    row = catalogue.loc["ruc11"]
    assert row["kind"] == "categorical" and row["unit"] == "category"
    categories = json.loads(row["categories"])
    assert [c["code"] for c in categories] == ["A1", "B1", "C1", "C2", "D1", "D2", "E1", "E2"]
    assert categories[0] == {"code": "A1", "label": "Urban major conurbation", "colour": None}
    assert (got["ruc11_urban_rural"] == np.where(got["ruc11"].str[0].isin(list("ABC")), "urban", "rural")).all()


def test_output_area_classification_codes_are_exact(raw_dir: Path, build: Path, catalogue: pd.DataFrame) -> None:
    with zipfile.ZipFile(raw_dir / "national/classifications/2011oacclustersandnamescsvv3.zip") as archive:
        text = archive.read("2011 OAC Clusters and Names Excel v3.csv").decode("utf-8")
    raw = {r["Output Area Code"]: r for r in csv.DictReader(io.StringIO(text))}
    got = values(build, "oa11", "oac11")
    areas = gpd.read_parquet(build / "areas/oa11.parquet")
    assert set(got.index) == set(areas["code"])
    for code in got.index:
        assert got.at[code, "oac11_supergroup"] == raw[code]["Supergroup Code"]
        assert got.at[code, "oac11_group"] == raw[code]["Group Code"]
    supergroups = json.loads(catalogue.loc["oac11_supergroup", "categories"])
    assert [c["code"] for c in supergroups] == [str(i) for i in range(1, 9)]
    assert supergroups[0]["label"] == "Rural Residents"
    assert len(json.loads(catalogue.loc["oac11_group", "categories"])) == 26


# --------------------------------------------------------------------------------------------------
# IoD 2019 score and indicators, population, dwellings

def test_imd_score_rebuilt_from_file9_ranks_within_four_places(raw_dir: Path, build: Path,
                                                                catalogue: pd.DataFrame) -> None:
    file9 = pd.read_csv(raw_dir / "national/deprivation_imd2019/File_9_-_IoD2019_Transformed_Scores.csv",
                        encoding="utf-8-sig").set_index("LSOA code (2011)")
    weights = [0.225, 0.225, 0.135, 0.135, 0.093, 0.093, 0.093]
    score = (file9.iloc[:, 3:10] * weights).sum(axis=1)
    got = values(build, "lsoa11", "imd2019_score")["imd2019_score_derived"]
    assert np.allclose(got.reindex(score.index), score, rtol=0, atol=1e-12)  # full precision, rounded for print
    assert got["E01000001"] == pytest.approx(6.208, abs=5e-4)
    published = pd.read_csv(raw_dir / "deprivation/imd2019_england/csv_from_xlsx/"
                                      "File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv")
    published = published.set_index("LSOA code (2011)")
    rank = score.rank(ascending=False, method="min")
    gap = (rank - published["Index of Multiple Deprivation (IMD) Rank"].reindex(rank.index)).abs()
    assert gap.max() == 4
    row = catalogue.loc["imd2019_score_derived"]
    assert row["method"] == "derived" and "up to 4 places" in row["note"] and row["coverage"] == "England"


def test_file8_indicators_population_and_dwellings_exact(raw_dir: Path, build: Path,
                                                          catalogue: pd.DataFrame) -> None:
    file8 = rda(raw_dir, "national/deprivation_imd2019/IMD_imd2019_england_lsoa11_indicators.rda",
                "imd2019_england_lsoa11_indicators").set_index("lsoa11_code")
    got = values(build, "lsoa11", "imd2019_indicators")
    assert len(got) == 32844
    gp = got["imd2019_road_distance_to_a_gp_surgery"]
    assert np.allclose(gp, file8["road_distance_to_a_gp_surgery_indicator_km"].reindex(gp.index), equal_nan=True)
    air = got["imd2019_air_quality"]
    assert np.allclose(air, file8["air_quality_indicator"].reindex(air.index), equal_nan=True)
    assert catalogue.loc["imd2019_road_distance_to_a_gp_surgery", "unit"] == "km"
    assert catalogue.loc["imd2019_road_distance_to_a_gp_surgery", "coverage"] == "England"
    with open(raw_dir / "national/population_lsoa11/Mid-2017 Population Density.csv", newline="") as handle:
        population = {r["Code"]: r for r in csv.DictReader(handle)}
    pop = values(build, "lsoa11", "pop2017")
    assert pop["pop2017_population"].sum() == 58744595
    code = "E01020634"  # County Durham 001A: "1,632" people, 6.50 km², 251 per km²
    assert (pop.at[code, "pop2017_population"], pop.at[code, "pop2017_area_km2"], pop.at[code, "pop2017_density"]) \
        == (1632, 6.5, 251) == tuple(float(population[code][k].replace(",", "")) for k in
                                     ("Mid-2017 population", "Area Sq Km", "People per Sq Km"))
    with open(raw_dir / "national/housing_lsoa11/voapropertyage.csv", newline="") as handle:
        voa = {r["AREA_CODE"]: r for r in csv.DictReader(handle)}
    got_voa = values(build, "lsoa11", "voa_build_period")
    for code in list(voa)[::301]:
        row = voa[code]
        assert got_voa.at[code, "voa_pre_1900"] == float(row["BP_PRE_1900"])
        pre1919 = float(row["BP_PRE_1900"]) + float(row["BP_1900_1918"])
        total = float(row["ALL_PROPERTIES"])
        assert got_voa.at[code, "voa_pre_1919_pct"] == pytest.approx(pre1919 / total * 100 if total else np.nan,
                                                                   abs=1e-3, nan_ok=True)
    assert "rounded to the nearest 10" in catalogue.loc["voa_pre_1900", "note"]


# --------------------------------------------------------------------------------------------------
# local elections on December 2022 wards

def _results(raw_dir: Path, relative: str) -> tuple[list[str], list[dict[str, str]]]:
    """(party columns, rows) of a results table: a title line, the header, then one row per ward."""
    with open(raw_dir / relative, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = [h.strip() for h in rows[1]]
    parties = header[header.index("Turnout (%)") + 1:header.index("Total votes")]
    return parties, [{h: v.strip() for h, v in zip(header, r, strict=True) if h} for r in rows[2:]]


def _n(text: str) -> float:
    return 0.0 if text in ("-", "") else float(text.replace(",", ""))


def test_ward22_level_covers_every_authority_with_valid_polygons(raw_dir: Path, build: Path) -> None:
    wards = gpd.read_parquet(build / "areas/ward22.parquet")
    assert len(wards) == 7665 and wards["code"].is_unique
    assert set(wards["level"]) == {"ward22"} and set(wards["vintage"]) == {"2022"}
    authorities = pd.read_parquet(build / "authorities.parquet").set_index("code")
    ew = authorities[authorities.index.str[0].isin(["E", "W"])]
    assert len(ew) == 331 and (ew["n_ward22"] > 0).all() and all("ward22" in lv for lv in ew["levels"])
    assert shapely.is_valid(np.asarray(wards.geometry.values)).all()
    # the 13 invalid source polygons are repaired, and E05014284 (stored 4 times) is one ward
    for code in ("E05012462", "E05010278", "E05001389", "W05001537", "E05014284"):
        assert wards.set_index("code").geometry[code].area > 0
    # Kirklees' wards tile the district: coverage simplification leaves no overlaps
    kirklees = wards[wards["authority"] == "E08000034"].to_crs(27700)
    geoms = np.asarray(kirklees.geometry.values)
    union = shapely.union_all(geoms)
    assert sum(shapely.area(geoms)) - union.area < union.area * 1e-4


def test_ward_results_2022_exact_including_reused_codes(raw_dir: Path, build: Path,
                                                        catalogue: pd.DataFrame) -> None:
    parties, rows = _results(raw_dir, RESULTS_2022)
    got = values(build, "ward22", "le2022")
    winner = values(build, "ward22", "le2022_winner")["le2022_winner"]
    by_name = {(r["Ward code"], r["Ward name"]): r for r in rows}
    # E05013778 is used for Hampton and for Hampton Wick: each lands on its own ward
    hampton, wick = by_name[("E05013778", "Hampton")], by_name[("E05013778", "Hampton Wick")]
    assert got.at["E05013778", "le2022_electorate"] == _n(hampton["Electorate"]) == 7353
    assert got.at["E05013780", "le2022_electorate"] == _n(wick["Electorate"]) == 8073  # Hampton Wick & S Teddington
    assert got.at["E05013780", "le2022_votes_con"] == _n(wick["CON"])
    wards = gpd.read_parquet(build / "areas/ward22.parquet").set_index("code")
    assert wards.at["E05013780", "name"].startswith("Hampton Wick")
    # E05009317 is used for Bethnal Green East and West, and neither name is a December 2022 ward's
    # (Bethnal Green, St Peter's): which is which cannot be told, so neither ward gets a result
    assert "E05009317" not in got.index and "E05009331" not in got.index
    assert "Bethnal Green East" in catalogue.loc["le2022_electorate", "note"]
    # every other row: exact, on its own code
    checked = 0
    for r in rows[::17]:
        code = r["Ward code"]
        if code in ("NA", "E05013778", "E05009317"):
            continue
        assert got.at[code, "le2022_electorate"] == _n(r["Electorate"])
        assert got.at[code, "le2022_votes_total"] == _n(r["Total votes"])
        assert got.at[code, "le2022_seats"] == _n(r["Vacancies"])
        turnout = np.nan if r["Turnout (%)"] == "NA" else float(r["Turnout (%)"])
        assert got.at[code, "le2022_turnout"] == pytest.approx(turnout, nan_ok=True)
        lab = _n(r["LAB"]) if r["LAB"] not in ("TRUE",) else None
        if lab:
            assert got.at[code, "le2022_votes_lab"] == lab
            assert got.at[code, "le2022_share_lab"] == pytest.approx(lab / _n(r["Total votes"]) * 100, abs=1e-3)
        votes = {p: _n(r[p]) for p in parties if r[p] != "TRUE" and _n(r[p]) > 0}
        if votes and all(r[p] != "TRUE" for p in parties):
            best = max(votes.values())
            leaders = [p for p, v in votes.items() if v == best]
            assert winner[code] == (leaders[0] if len(leaders) == 1 else None)
        checked += 1
    assert checked > 150
    # a cell reading TRUE (Carmarthenshire, Saron: PC) is the total less the other parties
    saron = next(r for r in rows if r["Ward name"] == "Saron")
    assert saron["PC"] == "TRUE"
    assert got.at[saron["Ward code"], "le2022_votes_pc"] == 1683 - (660 + 130 + 225)
    assert winner[saron["Ward code"]] == "PC"
    categories = json.loads(catalogue.loc["le2022_winner", "categories"])
    colours = {c["code"]: c["colour"] for c in categories}
    assert colours["LAB"] == "#E4003B" and colours["CON"] == "#0087DC" and colours["LD"] == "#FAA61A"
    assert catalogue.loc["le2022_winner", "kind"] == "categorical"
    assert pq.read_schema(build / "values/ward22/le2022_winner.parquet").field("le2022_winner").type == "string"


def test_ward_results_2021_where_codes_match(raw_dir: Path, build: Path) -> None:
    _, rows = _results(raw_dir, RESULTS_2021)
    rows = [r for r in rows if r["Ward/ED code"].startswith("E05")]
    got = values(build, "ward22", "le2021")
    wards = set(pd.read_parquet(build / "areas/ward22.parquet", columns=["code"])["code"])
    matching = [r for r in rows if r["Ward/ED code"] in wards]
    assert set(got.index) == {r["Ward/ED code"] for r in matching} and len(got) == 2404
    for r in matching[::13]:
        code = r["Ward/ED code"]
        assert got.at[code, "le2021_electorate"] == _n(r["Electorate"])
        assert got.at[code, "le2021_turnout"] == pytest.approx(float(r["Turnout (%)"]))
        con = _n(r["CON"]) if r["CON"] != "TRUE" else 0
        if con:
            assert got.at[code, "le2021_votes_con"] == con
        else:
            assert np.isnan(got.at[code, "le2021_votes_con"])  # no candidate: no figure, not 0


# --------------------------------------------------------------------------------------------------
# the catalogue contract and the extract layout

def test_catalogue_contract_for_every_variable(build: Path, catalogue: pd.DataFrame) -> None:
    for column in ("kind", "method", "cells", "note", "decimals", "categories", "palette", "centre"):
        assert column in catalogue.columns
    assert set(catalogue["kind"]) == {"numeric", "categorical"}
    assert set(catalogue["method"]) <= {"published", "derived", "re-based", "apportioned", "change"}
    assert catalogue["decimals"].map(lambda d: isinstance(d, (int, np.integer))).all()
    assert (catalogue["cells"].str.len() > 0).all()
    expected = {"percentage": 1, "count": 0, "rank": 0, "decile": 0, "percentage points": 1, "percent": 1}
    for unit, decimals in expected.items():
        assert set(catalogue.loc[catalogue["unit"] == unit, "decimals"]) == {decimals}, unit
    assert catalogue.loc["ks102ew0018", "decimals"] == 1  # mean age
    categorical = catalogue[catalogue["kind"] == "categorical"]
    numeric = catalogue[catalogue["kind"] == "numeric"]
    assert (numeric["categories"] == "").all()
    for ident, row in categorical.iterrows():
        items = json.loads(row["categories"])
        assert items and all(set(c) == {"code", "label", "colour"} for c in items), ident
    change = catalogue[catalogue["method"] == "change"]
    assert (change["palette"] == "RdBu").all() and (change["centre"] == 0).all()
    assert catalogue.loc[catalogue["method"] != "change", "centre"].isna().all()
    # a dataset holds one kind; categorical values are text, numeric ones numbers; code, authority first
    for dataset, rows in catalogue.groupby("dataset"):
        assert rows["kind"].nunique() == 1, dataset
        for level in set().union(*map(set, rows["levels"])):
            schema = pq.read_schema(build / "values" / level / f"{dataset}.parquet")
            assert schema.names[:2] == ["code", "authority"]
            # carried figures (docs/architecture.md) add each area's status and note as text
            names = [n for n in schema.names[2:] if n not in ("__status", "__note")]
            types = {str(schema.field(n).type) for n in names}
            assert types == ({"string"} if rows["kind"].iloc[0] == "categorical" else {"double"}), (dataset, types)
    # old variables too
    assert catalogue.loc["ks102ew0002", "method"] == "published"
    assert catalogue.loc["ks102ew0002_pct", "method"] == "derived"
    assert catalogue.loc["imd2019_imd_rank", "kind"] == "numeric"


def test_values_sorted_and_coverage_lists_the_new_levels(build: Path) -> None:
    for path in [build / "values/lsoa11/ts054_lsoa11.parquet", build / "values/ward22/le2022.parquet"]:
        frame = pd.read_parquet(path, columns=["code", "authority"])
        assert frame.equals(frame.sort_values(["authority", "code"], ignore_index=True))
    coverage = pd.read_parquet(build / "coverage.parquet")
    assert {"ward22", "lsoa21", "lsoa11"} <= set(coverage["level"])
    here = coverage[(coverage["authority"] == BIRMINGHAM) & (coverage["level"] == "lsoa11")]
    assert {"ks402ew", "ts054_lsoa11", "change_tenure", "ruc11", "imd2019_score"} <= set(here["dataset"])
    assert (here["areas"] == 639).all()


def test_birmingham_and_leeds_have_the_national_set(catalogue: pd.DataFrame) -> None:
    for authority in (BIRMINGHAM, LEEDS):
        here = catalogue[catalogue["authorities"].map(lambda a, x=authority: x in a)
                         & catalogue["levels"].map(lambda lv: "lsoa11" in lv)]
        assert len(here) > 600, authority
        assert {"Housing", "Education", "Work", "Identity", "Deprivation", "Classifications"} <= set(here["topic"])
