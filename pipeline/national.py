"""The national collection (``national/`` and ``later/lookups/``): Census 2011 and 2021 tables, their derived
groupings, 2021 figures re-based onto 2011 LSOAs, change 2011 -> 2021, classifications, IoD 2019 score and
indicators, mid-2017 population and VOA dwelling ages, for every authority of England and Wales.

Every reader here checks what it relies on and raises SourceError naming the file: the header is the
layout expected, every cell a number, published subtotals equal the sum of their parts, and the areas are
exactly the LSOAs (or OAs) of England and Wales.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline import datasets as ds
from pipeline import readers
from pipeline.datasets import Dataset, pct
from pipeline.readers import RawFiles, SourceError

__all__ = [
    "CENSUS2011", "CENSUS2021", "SUMMARIES", "CHANGES", "CHANGES_2011_2021", "add_summaries", "census2011_datasets",
    "ethnicity_dataset", "household_deprivation_dataset", "read_census2021", "census2021_datasets",
    "read_exact_lookup", "Rebase", "change_datasets", "ruc_datasets", "oac_datasets",
    "imd_score_dataset", "imd_indicators_dataset", "population_dataset", "voa_dataset", "slug",
]

N11 = "national/census2011_lsoa11"
F_TENURE = f"{N11}/sitepredictor--census-2011-tenure--england-wales.csv"
F_QUALS = f"{N11}/sitepredictor--census-2011-qualifications--england-wales.csv"
F_OCCUPATION = f"{N11}/sitepredictor--census-2011-occupation--england-wales.csv"
F_ACCOMMODATION = f"{N11}/cenus2011_QS402UK_LSOA_Households_AcommodationType.csv"
F_HEATING = f"{N11}/QS415UK - central heating.csv"
F_ETHNIC_LSOA = f"{N11}/MLID_aggdata.rda"
F_ETHNIC_OA = "national/census2011_oa11/MLID_ethnicities.rda"
F_HH_DEPRIVATION = f"{N11}/IMD_census11_deprivation_england_wales_lsoa11.rda"
N21 = "national/census2021_lsoa21"
F_EXACT = "later/lookups/Exact_LSOA11_to_LSOA21_to_LAD22_EW.csv"
F_RUC = ("national/classifications/Rural_Urban_Classification_(2011)_of_Lower_Layer_Super_Output_Areas_in_"
         "England_and_Wales.csv")
F_OAC = "national/classifications/2011oacclustersandnamescsvv3.zip"
OAC_MEMBER = "2011 OAC Clusters and Names Excel v3.csv"
F_FILE9 = "national/deprivation_imd2019/File_9_-_IoD2019_Transformed_Scores.csv"
F_FILE8 = "national/deprivation_imd2019/IMD_imd2019_england_lsoa11_indicators.rda"
F_FILE1 = "deprivation/imd2019_england/csv_from_xlsx/File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv"
F_POPULATION = "national/population_lsoa11/Mid-2017 Population Density.csv"
F_VOA = "national/housing_lsoa11/voapropertyage.csv"

LSOAS_EW = 34753


def slug(text: str, limit: int = 44) -> str:
    """A readable id part; long labels keep their start plus a short hash, so ids stay unique."""
    import hashlib

    out = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if len(out) > limit:
        out = f"{out[:limit - 8].rstrip('_')}_{hashlib.sha1(text.encode()).hexdigest()[:6]}"
    return out


def _require_codes_equal(codes: Iterable[str], expected: pd.Index, label: str, what: str) -> None:
    got = pd.Index(np.asarray(codes, dtype=object)).unique()
    want = pd.Index(np.asarray(expected, dtype=object)).unique()
    if len(got) != len(want) or len(got.difference(want)):
        extra, missing = sorted(got.difference(want)), sorted(want.difference(got))
        raise SourceError(label, f"area codes do not join with {what}: {len(extra)} not in it (e.g. {extra[:3]}), "
                                 f"{len(missing)} of it missing here (e.g. {missing[:3]})")


def _check_sums(frame: pd.DataFrame, checks: list[tuple[str, list[str]]], label: str) -> None:
    """Published totals and subtotals must equal the sum of their parts (a shifted or truncated column
    would not)."""
    for whole, parts in checks:
        differ = frame[whole].to_numpy() != frame[parts].sum(axis=1).to_numpy()
        if differ.any():
            codes = list(frame.loc[differ, "code"][:3])
            raise SourceError(label, f"{whole!r} is not the sum of {parts} in {int(differ.sum())} areas, "
                                     f"e.g. {codes}")


# --------------------------------------------------------------------------------------------------
# Census 2011 tables at LSOA (Nomis bulk and Nomis table downloads)

@dataclass(frozen=True)
class Table2011:
    table: str                     # ONS table whose cell codes the variables carry (KS402EW)
    title: str
    file: str
    layout: str                    # "bulk" (Nomis bulk) or "download" (Nomis table download)
    universe: str                  # what the total counts, for labels: "households"
    topic: str
    columns: tuple[tuple[str, str | None], ...]  # (header label, ONS cell or None for a Nomis-only subtotal)
    sums: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (cell or header label, its parts) checked
    download_title: str = ""       # the title line of a Nomis download
    source_table: str = ""         # the table actually read, where it differs (QS402UK)


def _bulk(table: str, name: str, cells: list[tuple[str, str | None]]) -> tuple[tuple[str, str | None], ...]:
    return tuple((f"{name}: {text}; measures: Value", cell) for text, cell in cells)


CENSUS2011: tuple[Table2011, ...] = (
    Table2011("KS402EW", "Tenure", F_TENURE, "bulk", "households", "Housing", _bulk("KS402EW", "Tenure", [
        ("All households", "KS402EW0001"), ("Owned", None), ("Owned: Owned outright", "KS402EW0002"),
        ("Owned: Owned with a mortgage or loan", "KS402EW0003"),
        ("Shared ownership (part owned and part rented)", "KS402EW0004"), ("Social rented", None),
        ("Social rented: Rented from council (Local Authority)", "KS402EW0005"),
        ("Social rented: Other", "KS402EW0006"), ("Private rented", None),
        ("Private rented: Private landlord or letting agency", "KS402EW0007"),
        ("Private rented: Other", "KS402EW0008"), ("Living rent free", "KS402EW0009")]),
        sums=(("Tenure: Owned; measures: Value", ("KS402EW0002", "KS402EW0003")),
              ("Tenure: Social rented; measures: Value", ("KS402EW0005", "KS402EW0006")),
              ("Tenure: Private rented; measures: Value", ("KS402EW0007", "KS402EW0008")),
              ("KS402EW0001", tuple(f"KS402EW{i:04d}" for i in range(2, 10))))),
    Table2011("KS501EW", "Qualifications and students", F_QUALS, "bulk", "usual residents aged 16 and over",
              "Education", _bulk("KS501EW", "Qualifications", [
                  ("All categories: Highest level of qualification", "KS501EW0001"),
                  ("No qualifications", "KS501EW0002"),
                  ("Highest level of qualification: Level 1 qualifications", "KS501EW0003"),
                  ("Highest level of qualification: Level 2 qualifications", "KS501EW0004"),
                  ("Highest level of qualification: Apprenticeship", "KS501EW0005"),
                  ("Highest level of qualification: Level 3 qualifications", "KS501EW0006"),
                  ("Highest level of qualification: Level 4 qualifications and above", "KS501EW0007"),
                  ("Highest level of qualification: Other qualifications", "KS501EW0008"),
                  ("Schoolchildren and full-time students: Age 16 to 17", "KS501EW0009"),
                  ("Schoolchildren and full-time students: Age 18 and over", "KS501EW0010"),
                  ("Full-time students: Age 18 to 74: Economically active: In employment", "KS501EW0011"),
                  ("Full-time students: Age 18 to 74: Economically active: Unemployed", "KS501EW0012"),
                  ("Full-time students: Age 18 to 74: Economically inactive", "KS501EW0013")]),
              sums=(("KS501EW0001", tuple(f"KS501EW{i:04d}" for i in range(2, 9))),)),
    Table2011("KS608EW", "Occupation", F_OCCUPATION, "bulk", "usual residents aged 16 to 74 in employment",
              "Work", _bulk("KS608EW", "Occupation", [
                  ("All categories: Occupation", "KS608EW0001"),
                  ("1. Managers, directors and senior officials", "KS608EW0002"),
                  ("2. Professional occupations", "KS608EW0003"),
                  ("3. Associate professional and technical occupations", "KS608EW0004"),
                  ("4. Administrative and secretarial occupations", "KS608EW0005"),
                  ("5. Skilled trades occupations", "KS608EW0006"),
                  ("6. Caring, leisure and other service occupations", "KS608EW0007"),
                  ("7. Sales and customer service occupations", "KS608EW0008"),
                  ("8. Process plant and machine operatives", "KS608EW0009"),
                  ("9. Elementary occupations", "KS608EW0010")]),
              sums=(("KS608EW0001", tuple(f"KS608EW{i:04d}" for i in range(2, 11))),)),
    Table2011("QS402EW", "Accommodation type - Households", F_ACCOMMODATION, "download", "households", "Housing", (
        ("All categories: Accommodation type", "QS402EW0001"), ("Unshared dwelling: Total", "QS402EW0002"),
        ("Unshared dwelling: Whole house or bungalow: Total", "QS402EW0003"),
        ("Unshared dwelling: Whole house or bungalow: Detached", "QS402EW0004"),
        ("Unshared dwelling: Whole house or bungalow: Semi-detached", "QS402EW0005"),
        ("Unshared dwelling: Whole house or bungalow: Terraced (including end-terrace)", "QS402EW0006"),
        ("Unshared dwelling: Flat, maisonette or apartment: Total", "QS402EW0007"),
        ("Unshared dwelling: Flat, maisonette or apartment: Purpose-built block of flats or tenement", "QS402EW0008"),
        ("Unshared dwelling: Flat, maisonette or apartment: Part of a converted or shared house (including "
         "bed-sits)", "QS402EW0009"),
        ("Unshared dwelling: Flat, maisonette or apartment: In commercial building", "QS402EW0010"),
        ("Unshared dwelling: Caravan or other mobile or temporary structure", "QS402EW0011"),
        ("Shared dwelling", "QS402EW0012")),
        sums=(("QS402EW0003", ("QS402EW0004", "QS402EW0005", "QS402EW0006")),
              ("QS402EW0007", ("QS402EW0008", "QS402EW0009", "QS402EW0010")),
              ("QS402EW0002", ("QS402EW0003", "QS402EW0007", "QS402EW0011")),
              ("QS402EW0001", ("QS402EW0002", "QS402EW0012"))),
        download_title="QS402UK - Accommodation type - Households", source_table="QS402UK"),
    Table2011("QS415EW", "Central heating", F_HEATING, "download",
              "household spaces with at least one usual resident", "Housing", (
                  ("All categories: Type of central heating in household", "QS415EW0001"),
                  ("No central heating", "QS415EW0002"), ("Gas central heating", "QS415EW0003"),
                  ("Electric (including storage heaters) central heating", "QS415EW0004"),
                  ("Oil central heating", "QS415EW0005"),
                  ("Solid fuel (for example wood, coal) central heating", "QS415EW0006"),
                  ("Other central heating", "QS415EW0007"), ("Two or more types of central heating", "QS415EW0008")),
              sums=(("QS415EW0001", tuple(f"QS415EW{i:04d}" for i in range(2, 9))),),
              download_title="QS415UK - Central heating", source_table="QS415UK"),
)


def _cell_text(spec: Table2011, header: str) -> str:
    text = re.sub(r"; measures: Value$", "", header)
    if spec.layout == "bulk":
        text = text.split(": ", 1)[1]
    return text


def census2011_datasets(raw: RawFiles, lsoa11: pd.Index) -> list[Dataset]:
    """KS402EW, KS501EW, KS608EW, QS402EW (from QS402UK) and QS415EW (from QS415UK) at LSOA 2011 for all of
    England and Wales: every ONS cell as a count and as a percentage of the table's total. Nomis-only
    subtotals (Tenure "Owned"...) are checked against their parts and become derived groupings."""
    out = []
    for spec in CENSUS2011:
        headers = [h for h, _ in spec.columns]
        path = raw(spec.file)
        if spec.layout == "bulk":
            frame = readers.read_nomis_bulk(path, spec.file, headers, "EW", date="2011")
        else:
            frame = readers.read_nomis_download(path, spec.file, spec.download_title, headers)
        _require_codes_equal(frame["code"], lsoa11, spec.file, "the LSOAs of England and Wales (2011)")
        cells = {h: c for h, c in spec.columns if c}
        frame = frame.rename(columns=cells)
        _check_sums(frame, [(w, list(p)) for w, p in spec.sums], spec.file)
        frame = frame[["code", *cells.values()]].rename(columns=str.lower)
        total = spec.columns[0][1]
        assert total is not None
        variables = []
        topic_source = "nomis2011"
        read_from = (f"{spec.source_table} (the UK table; England and Wales rows, the same cells as "
                     f"{spec.table})") if spec.source_table else spec.table
        for header, cell in spec.columns:
            if cell is None:
                continue
            text = _cell_text(spec, header)
            ident = cell.lower()
            label = text if cell == total else f"{text} ({spec.universe})"
            variables.append(ds.variable(
                ident, label, spec.topic, spec.table, spec.title, cell, "count", topic_source, "Census 2011",
                cells=f"{cell} ({text})", note="" if not spec.source_table else f"Read from {read_from}.",
                coverage="England and Wales"))
            if cell != total:
                frame[f"{ident}_pct"] = pct(frame, ident, total.lower())
                variables.append(ds.variable(
                    f"{ident}_pct", f"{text} (% of {spec.universe})", spec.topic, spec.table, spec.title, cell,
                    "percentage", topic_source, "Census 2011", denominator=total.lower(),
                    description=f"Derived here: {cell} / {total} ({spec.universe}) x 100",
                    cells=f"{cell} ({text}) / {total} ({_cell_text(spec, spec.columns[0][0])}) x 100",
                    coverage="England and Wales"))
        out.append(Dataset(spec.table.lower(), {"lsoa11": frame}, variables, ("lsoa11",), "England and Wales"))
    return out


# KS201EW from MLID: its 14 groups, Gypsy or Irish Traveller as the rest of the total, Mixed as one column.
MLID_GROUPS: tuple[tuple[str, str | None, str], ...] = (
    ("WhiteBrit", "KS201EW0002", "White: English/Welsh/Scottish/Northern Irish/British"),
    ("Irish", "KS201EW0003", "White: Irish"),
    ("OtherWhite", "KS201EW0005", "White: Other White"),
    ("Mixed", None, "Mixed/multiple ethnic groups"),
    ("Indian", "KS201EW0010", "Asian/Asian British: Indian"),
    ("Pakistani", "KS201EW0011", "Asian/Asian British: Pakistani"),
    ("Bangladeshi", "KS201EW0012", "Asian/Asian British: Bangladeshi"),
    ("Chinese", "KS201EW0013", "Asian/Asian British: Chinese"),
    ("OtherAsian", "KS201EW0014", "Asian/Asian British: Other Asian"),
    ("BlkAfrican", "KS201EW0015", "Black/African/Caribbean/Black British: African"),
    ("BlkCaribbean", "KS201EW0016", "Black/African/Caribbean/Black British: Caribbean"),
    ("OtherBlk", "KS201EW0017", "Black/African/Caribbean/Black British: Other Black"),
    ("Arab", "KS201EW0018", "Other ethnic group: Arab"),
    ("Other", "KS201EW0019", "Other ethnic group: Any other ethnic group"),
)
ETHNIC_UNIVERSE = "all usual residents"


def _mlid_frame(frame: pd.DataFrame, key: str, label: str) -> pd.DataFrame:
    """MLID counts to ONS cells: Persons -> KS201EW0001, the 13 single groups -> their cells, Mixed (the sum
    of the four mixed cells) -> ks201ew_mixed, and Gypsy or Irish Traveller (left out by MLID) -> KS201EW0004
    as Persons minus the 14 groups."""
    columns = ["Persons", *[g for g, _, _ in MLID_GROUPS]]
    codes = frame[key].astype(str)
    readers.require_codes(codes, label, "EW")
    numbers = {}
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        bad = values.isna() | (values < 0) | (values % 1 != 0)
        if bad.any():
            raise SourceError(label, f"column {column!r} has {int(bad.sum())} values that are not whole counts")
        numbers[column] = values.to_numpy()
    out = pd.DataFrame({"code": codes.to_numpy(), "ks201ew0001": numbers["Persons"]})
    for group, cell, _ in MLID_GROUPS:
        out[cell.lower() if cell else "ks201ew_mixed"] = numbers[group]
    rest = numbers["Persons"] - sum(numbers[g] for g, _, _ in MLID_GROUPS)
    if (rest < 0).any():
        raise SourceError(label, f"the 14 groups exceed Persons in {int((rest < 0).sum())} areas")
    out["ks201ew0004"] = rest
    return out


def ethnicity_dataset(raw: RawFiles, lsoa11: pd.Index, oa11: pd.Index) -> tuple[Dataset, pd.Series]:
    """KS201EW at LSOA 2011 (all of England and Wales, MLID ``aggdata``) and at OA 2011 for the Output Areas
    that have polygons (MLID ``ethnicities``); also the national OA -> LSOA lookup the OA frame carries.
    The OA figures must add up to the LSOA figures exactly."""
    columns = ["Persons", *[g for g, _, _ in MLID_GROUPS]]
    lsoa_raw = readers.read_rda(raw(F_ETHNIC_LSOA), F_ETHNIC_LSOA, "aggdata", ["LSOA", *columns], raw)
    lsoa = _mlid_frame(lsoa_raw, "LSOA", F_ETHNIC_LSOA)
    _require_codes_equal(lsoa["code"], lsoa11, F_ETHNIC_LSOA, "the LSOAs of England and Wales (2011)")
    oa_raw = readers.read_rda(raw(F_ETHNIC_OA), F_ETHNIC_OA, "ethnicities", ["OA", "LSOA", *columns], raw)
    oa = _mlid_frame(oa_raw, "OA", F_ETHNIC_OA)
    oa_lsoa = pd.Series(oa_raw["LSOA"].astype(str).to_numpy(), index=oa["code"].to_numpy(), name="lsoa11")
    unknown = sorted(set(oa_lsoa) - set(lsoa11))
    if unknown:
        raise SourceError(F_ETHNIC_OA, f"{len(unknown)} OAs lie in LSOAs that are not LSOAs of 2011, "
                                       f"e.g. {unknown[:3]}")
    summed = oa.drop(columns="code").groupby(oa_lsoa.to_numpy()).sum()
    mine = lsoa.set_index("code").reindex(summed.index)
    differ = (summed != mine).any(axis=1)
    if differ.any() or len(summed) != len(lsoa):
        raise SourceError(F_ETHNIC_OA, f"Output Area counts do not add up to {F_ETHNIC_LSOA} in "
                                       f"{int(differ.sum()) + abs(len(lsoa) - len(summed))} LSOAs, e.g. "
                                       f"{list(differ[differ].index[:3])}")
    missing = sorted(set(oa11) - set(oa["code"]))
    if missing:
        raise SourceError(F_ETHNIC_OA, f"{len(missing)} Output Areas with polygons are missing, e.g. {missing[:3]}")
    oa = oa[oa["code"].isin(oa11)].reset_index(drop=True)
    frames = {"lsoa11": lsoa, "oa11": oa}
    variables = [ds.variable("ks201ew0001", "All usual residents", "Identity", "KS201EW", "Ethnic group",
                             "KS201EW0001", "count", "mlid", "Census 2011", cells="KS201EW0001 (Persons)",
                             coverage="England and Wales")]
    ordered = [(cell, text) for _, cell, text in MLID_GROUPS if cell]
    ordered.insert(2, ("KS201EW0004", "White: Gypsy or Irish Traveller"))
    for cell, text in ordered:
        ident = cell.lower()
        gypsy = cell == "KS201EW0004"
        note = ("MLID leaves this group out; it is the total less the 14 groups MLID gives (57,680 people in "
                "England and Wales, the published figure)." if gypsy else "")
        cells = ("KS201EW0001 - (the 14 other groups of KS201EW, as given by MLID)" if gypsy
                 else f"{cell} ({text})")
        variables.append(ds.variable(ident, f"{text} ({ETHNIC_UNIVERSE})", "Identity", "KS201EW", "Ethnic group",
                                     cell, "count", "mlid", "Census 2011", method="derived" if gypsy else None,
                                     cells=cells, note=note, coverage="England and Wales"))
        for frame in frames.values():
            frame[f"{ident}_pct"] = pct(frame, ident, "ks201ew0001")
        variables.append(ds.variable(
            f"{ident}_pct", f"{text} (% of {ETHNIC_UNIVERSE})", "Identity", "KS201EW", "Ethnic group", cell,
            "percentage", "mlid", "Census 2011", denominator="ks201ew0001",
            description=f"Derived here: {cell} / KS201EW0001 (all usual residents) x 100",
            cells=f"({cells}) / KS201EW0001 x 100" if gypsy else f"{cell} / KS201EW0001 x 100", note=note,
            coverage="England and Wales"))
    coverage = "England and Wales (LSOA); Output Areas where OA polygons exist"
    return Dataset("ks201ew", frames, variables, ("lsoa11",), coverage), oa_lsoa


def household_deprivation_dataset(raw: RawFiles, lsoa11: pd.Index) -> Dataset:
    """QS119EW from the IMD package's long table (one row per LSOA and number of dimensions 0-4)."""
    label = F_HH_DEPRIVATION
    long = readers.read_rda(raw(label), label, "census11_deprivation_england_wales_lsoa11",
                            ["lsoa11_code", "households_number_deprivation_dimensions", "count", "proportion"], raw)
    dims = pd.to_numeric(long["households_number_deprivation_dimensions"], errors="coerce")
    counts = pd.to_numeric(long["count"], errors="coerce")
    if dims.isna().any() or not set(dims) <= {0, 1, 2, 3, 4}:
        raise SourceError(label, f"number of dimensions should be 0 to 4, found {sorted(set(dims.dropna()))[:8]}")
    if counts.isna().any() or (counts < 0).any() or (counts % 1 != 0).any():
        raise SourceError(label, "column 'count' has values that are not whole counts")
    long = pd.DataFrame({"code": long["lsoa11_code"].astype(str), "dims": dims.astype(int), "count": counts})
    if long.duplicated(["code", "dims"]).any():
        raise SourceError(label, "has more than one row for an LSOA and number of dimensions")
    wide = long.pivot(index="code", columns="dims", values="count")
    if wide.isna().any().any() or list(wide.columns) != [0, 1, 2, 3, 4]:
        raise SourceError(label, "does not give every LSOA all five numbers of dimensions (0 to 4)")
    readers.require_codes(wide.index.to_series(), label, "EW")
    _require_codes_equal(wide.index, lsoa11, label, "the LSOAs of England and Wales (2011)")
    frame = pd.DataFrame({"code": wide.index.to_numpy(), "qs119ew0001": wide.sum(axis=1).to_numpy()})
    texts = ["Household is not deprived in any dimension", "Household is deprived in 1 dimension",
             "Household is deprived in 2 dimensions", "Household is deprived in 3 dimensions",
             "Household is deprived in 4 dimensions"]
    variables = [ds.variable(
        "qs119ew0001", "All households", "Deprivation", "QS119EW", "Households by deprivation dimensions",
        "QS119EW0001", "count", "imdpkg_qs119", "Census 2011", method="derived",
        cells="QS119EW0002 + QS119EW0003 + QS119EW0004 + QS119EW0005 + QS119EW0006",
        note="The source gives the five counts; their sum is the table's total (it equals KS402EW0001, all "
             "households, in every LSOA: checked in the build).", coverage="England and Wales")]
    for i, text in enumerate(texts):
        cell = f"QS119EW{i + 2:04d}"
        ident = cell.lower()
        frame[ident] = wide[i].to_numpy()
        frame[f"{ident}_pct"] = pct(frame, ident, "qs119ew0001")
        variables.append(ds.variable(ident, f"{text} (households)", "Deprivation", "QS119EW",
                                     "Households by deprivation dimensions", cell, "count", "imdpkg_qs119",
                                     "Census 2011", cells=f"{cell} ({text})", coverage="England and Wales"))
        variables.append(ds.variable(
            f"{ident}_pct", f"{text} (% of households)", "Deprivation", "QS119EW",
            "Households by deprivation dimensions", cell, "percentage", "imdpkg_qs119", "Census 2011",
            denominator="qs119ew0001", description=f"Derived here: {cell} / QS119EW0001 (all households) x 100",
            cells=f"{cell} / QS119EW0001 x 100", coverage="England and Wales"))
    return Dataset("qs119ew", {"lsoa11": frame}, variables, ("lsoa11",), "England and Wales")


# --------------------------------------------------------------------------------------------------
# derived groupings: sums of published cells, each stating the cells it sums

@dataclass(frozen=True)
class Summary:
    id: str
    label: str
    dataset: str
    cells: tuple[str, ...]   # column ids summed
    total: str               # column id of the denominator
    words: str               # the cells in words, for the catalogue
    note: str = ""


def _range(table: str, first: int, last: int) -> tuple[str, ...]:
    return tuple(f"{table}{i:04d}" for i in range(first, last + 1))


def _s(ident: str, label: str, table: str, cells: Iterable[str], total: str, words: str, note: str = "",
       dataset: str | None = None) -> Summary:
    return Summary(ident, label, dataset or table.lower(), tuple(c.lower() for c in cells), total.lower(), words,
                   note)


SUMMARIES: list[Summary] = [
    _s("ks102ew_age_0_15", "Aged 0 to 15", "KS102EW", _range("KS102EW", 2, 6), "KS102EW0001",
       "ages 0 to 4, 5 to 7, 8 to 9, 10 to 14 and 15"),
    _s("ks102ew_age_16_64", "Aged 16 to 64", "KS102EW", _range("KS102EW", 7, 13), "KS102EW0001",
       "ages 16 to 17, 18 to 19, 20 to 24, 25 to 29, 30 to 44, 45 to 59 and 60 to 64"),
    _s("ks102ew_age_65_plus", "Aged 65 and over", "KS102EW", _range("KS102EW", 14, 17), "KS102EW0001",
       "ages 65 to 74, 75 to 84, 85 to 89 and 90 and over"),
    _s("ks102ew_age_75_plus", "Aged 75 and over", "KS102EW", _range("KS102EW", 15, 17), "KS102EW0001",
       "ages 75 to 84, 85 to 89 and 90 and over"),
    _s("ks102ew_age_85_plus", "Aged 85 and over", "KS102EW", _range("KS102EW", 16, 17), "KS102EW0001",
       "ages 85 to 89 and 90 and over"),
    _s("ks402ew_owned", "Owner occupied", "KS402EW", _range("KS402EW", 2, 3), "KS402EW0001",
       "owned outright + owned with a mortgage or loan"),
    _s("ks402ew_social_rented", "Social rented", "KS402EW", _range("KS402EW", 5, 6), "KS402EW0001",
       "rented from council + other social rented"),
    _s("ks402ew_private_rented", "Private rented", "KS402EW", _range("KS402EW", 7, 8), "KS402EW0001",
       "private landlord or letting agency + other private rented"),
    _s("ks501ew_level3_plus", "Level 3 qualifications and above", "KS501EW", _range("KS501EW", 6, 7),
       "KS501EW0001", "level 3 + level 4 and above"),
    _s("ks501ew_students", "Schoolchildren and full-time students aged 16 and over", "KS501EW",
       _range("KS501EW", 9, 10), "KS501EW0001", "schoolchildren and full-time students aged 16 to 17 + aged 18 "
       "and over"),
    _s("ks608ew_soc1_3", "Managers, professionals and associate professionals (SOC 1-3)", "KS608EW",
       _range("KS608EW", 2, 4), "KS608EW0001", "occupation groups 1, 2 and 3"),
    _s("ks608ew_soc4_5", "Administrative and skilled trades occupations (SOC 4-5)", "KS608EW",
       _range("KS608EW", 5, 6), "KS608EW0001", "occupation groups 4 and 5"),
    _s("ks608ew_soc6_7", "Caring, leisure, sales and customer service occupations (SOC 6-7)", "KS608EW",
       _range("KS608EW", 7, 8), "KS608EW0001", "occupation groups 6 and 7"),
    _s("ks608ew_soc8_9", "Process, plant and machine operatives and elementary occupations (SOC 8-9)", "KS608EW",
       _range("KS608EW", 9, 10), "KS608EW0001", "occupation groups 8 and 9"),
    _s("qs415ew_not_gas", "Central heating other than gas (one type)", "QS415EW", _range("QS415EW", 4, 7),
       "QS415EW0001", "electric + oil + solid fuel + other central heating"),
    _s("ks201ew_mixed", "Mixed/multiple ethnic groups", "KS201EW", _range("KS201EW", 6, 9), "KS201EW0001",
       "White and Black Caribbean + White and Black African + White and Asian + Other Mixed",
       note="The MLID package gives this sum as one column nationally; the four groups are published apart "
            "only for Camden here (CDRC pack)."),
    _s("ks201ew_white", "White (all groups)", "KS201EW", _range("KS201EW", 2, 5), "KS201EW0001",
       "English/Welsh/Scottish/Northern Irish/British + Irish + Gypsy or Irish Traveller + Other White"),
    _s("ks201ew_asian", "Asian/Asian British (all groups)", "KS201EW", _range("KS201EW", 10, 14), "KS201EW0001",
       "Indian + Pakistani + Bangladeshi + Chinese + Other Asian"),
    _s("ks201ew_black", "Black/African/Caribbean/Black British (all groups)", "KS201EW",
       _range("KS201EW", 15, 17), "KS201EW0001", "African + Caribbean + Other Black"),
    _s("ks201ew_other", "Other ethnic group (all groups)", "KS201EW", _range("KS201EW", 18, 19), "KS201EW0001",
       "Arab + any other ethnic group"),
    _s("ks201ew_not_white_british", "All groups other than White British", "KS201EW",
       ("KS201EW0003", "KS201EW0004", "KS201EW0005", "ks201ew_mixed", *_range("KS201EW", 10, 19)), "KS201EW0001",
       "every group but White: English/Welsh/Scottish/Northern Irish/British"),
    _s("qs119ew_deprived_1plus", "Households deprived in one or more dimensions", "QS119EW",
       _range("QS119EW", 3, 6), "QS119EW0001", "deprived in 1, 2, 3 or 4 dimensions"),
    _s("qs119ew_deprived_2plus", "Households deprived in two or more dimensions", "QS119EW",
       _range("QS119EW", 4, 6), "QS119EW0001", "deprived in 2, 3 or 4 dimensions"),
]


def add_summaries(datasets: dict[str, Dataset], summaries: Iterable[Summary], universe_of: dict[str, str]) -> None:
    """Add each derived grouping (count and % of the table's total) to every frame of its dataset that has
    all of its cells. Where a source already gives the grouping (MLID's Mixed), the two must agree, and the
    source's figure fills areas where the cells are not published."""
    for summary in summaries:
        dataset = datasets.get(summary.dataset)
        if dataset is None:
            continue
        placed = False
        for level, frame in dataset.frames.items():
            if not all(c in frame.columns for c in summary.cells) and summary.id not in frame.columns:
                continue
            if all(c in frame.columns for c in summary.cells):
                computed = frame[list(summary.cells)].sum(axis=1, min_count=len(summary.cells))
                if summary.id in frame.columns:
                    both = computed.notna() & frame[summary.id].notna()
                    differ = both & (computed != frame[summary.id])
                    if differ.any():
                        raise SourceError(f"{summary.dataset} ({level})",
                                          f"{summary.id} given by the source differs from the sum of "
                                          f"{list(summary.cells)} in {int(differ.sum())} areas, e.g. "
                                          f"{list(frame.loc[differ, 'code'][:3])}")
                    computed = frame[summary.id].fillna(computed)
                frame[summary.id] = computed
            frame[f"{summary.id}_pct"] = pct(frame, summary.id, summary.total)
            placed = True
        if not placed:
            continue
        total_row = next(v for v in dataset.variables if v["id"] == summary.total)
        universe = universe_of.get(summary.dataset, "the table's total")
        upper = [c.upper() if c.startswith(("ks", "qs")) and c[-4:].isdigit() else c for c in summary.cells]
        sum_text = " + ".join(upper)
        common = {"topic": total_row["topic"], "table": total_row["table"], "table_title": total_row["table_title"],
                  "source": total_row["source"], "licence": total_row["licence"], "vintage": total_row["vintage"]}
        for row in (
            ds.variable(summary.id, f"{summary.label} ({universe})", common["topic"], common["table"],
                        common["table_title"], sum_text, "count", "nomis2011", common["vintage"], method="derived",
                        cells=f"{sum_text} ({summary.words})", note=summary.note,
                        coverage=total_row.get("coverage")),
            ds.variable(f"{summary.id}_pct", f"{summary.label} (% of {universe})", common["topic"], common["table"],
                        common["table_title"], sum_text, "percentage", "nomis2011", common["vintage"],
                        denominator=summary.total,
                        description=f"Derived here: ({sum_text}) / {summary.total.upper()} x 100",
                        cells=f"({sum_text}) / {summary.total.upper()} x 100 ({summary.words})", note=summary.note,
                        coverage=total_row.get("coverage")),
        ):
            row.update(source=common["source"], licence=common["licence"])
            dataset.variables.append(row)


UNIVERSES_2011 = {"ks102ew": "all usual residents", "ks402ew": "households", "ks501ew": "usual residents aged 16 "
                  "and over", "ks608ew": "usual residents aged 16 to 74 in employment", "qs402ew": "households",
                  "qs415ew": "household spaces with at least one usual resident", "ks201ew": ETHNIC_UNIVERSE,
                  "qs119ew": "households"}


# --------------------------------------------------------------------------------------------------
# Census 2021 topic summaries at LSOA 2021 (Nomis bulk)

@dataclass(frozen=True)
class Table2021:
    table: str                 # TS054
    title: str                 # the label prefix: "Tenure of household"
    universe: str              # what the total counts: "households"
    topic: str
    weight: str                # 2011 column whose shares apportion merged areas (a weights column)
    summaries: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (id part, label, categories summed)

    @property
    def file(self) -> str:
        return f"{N21}/census2021-{self.table.lower()}-lsoa.csv"


_SOC = (("soc1_3", "Managers, professionals and associate professionals (SOC 1-3)",
         ("1. Managers, directors and senior officials", "2. Professional occupations",
          "3. Associate professional and technical occupations")),
        ("soc4_5", "Administrative and skilled trades occupations (SOC 4-5)",
         ("4. Administrative and secretarial occupations", "5. Skilled trades occupations")),
        ("soc6_7", "Caring, leisure, sales and customer service occupations (SOC 6-7)",
         ("6. Caring, leisure and other service occupations", "7. Sales and customer service occupations")),
        ("soc8_9", "Process, plant and machine operatives and elementary occupations (SOC 8-9)",
         ("8. Process, plant and machine operatives", "9. Elementary occupations")))
_DEPRIVED = ("Household is deprived in one dimension", "Household is deprived in two dimensions",
             "Household is deprived in three dimensions", "Household is deprived in four dimensions")

CENSUS2021: tuple[Table2021, ...] = (
    Table2021("TS001", "Residence type", "usual residents", "Population", "ks102ew0001"),
    Table2021("TS011", "Household deprivation", "households", "Deprivation", "ks402ew0001", (
        ("deprived_1plus", "Households deprived in one or more dimensions", _DEPRIVED),
        ("deprived_2plus", "Households deprived in two or more dimensions", _DEPRIVED[1:]))),
    Table2021("TS037", "General health", "usual residents", "Health", "ks102ew0001", (
        ("good_or_very_good", "Good or very good health", ("Very good health", "Good health")),
        ("bad_or_very_bad", "Bad or very bad health", ("Bad health", "Very bad health")))),
    Table2021("TS038", "Disability", "usual residents", "Health", "ks102ew0001"),
    Table2021("TS041", "Number of households", "households", "Housing", "ks402ew0001"),
    Table2021("TS044", "Accommodation type", "households", "Housing", "ks402ew0001", (
        ("houses", "Whole house or bungalow (detached, semi-detached or terraced)",
         ("Detached", "Semi-detached", "Terraced")),
        ("flats", "Flat, maisonette or apartment (any building)",
         ("In a purpose-built block of flats or tenement", "Part of a converted or shared house, including bedsits",
          "Part of another converted building, for example, former school, church or warehouse",
          "In a commercial building, for example, in an office building, hotel or over a shop")))),
    Table2021("TS045", "Number of cars or vans", "households", "Travel", "ks402ew0001", (
        ("cars_2plus", "2 or more cars or vans in household",
         ("2 cars or vans in household", "3 or more cars or vans in household")),)),
    Table2021("TS046", "Type of central heating in household", "households", "Housing", "ks402ew0001", (
        ("gas", "Gas central heating only (mains or tank/bottled)", ("Mains gas only", "Tank or bottled gas only")),)),
    Table2021("TS050", "Number of bedrooms", "households", "Housing", "ks402ew0001", (
        ("bedrooms_3plus", "3 or more bedrooms", ("3 bedrooms", "4 or more bedrooms")),)),
    Table2021("TS051", "Number of rooms (VOA)", "households", "Housing", "ks402ew0001"),
    Table2021("TS054", "Tenure of household", "households", "Housing", "ks402ew0001"),
    Table2021("TS055", "Second address type", "usual residents", "Population", "ks102ew0001"),
    Table2021("TS058", "Distance travelled to work", "usual residents aged 16 and over in employment", "Travel",
              "ks608ew0001", (
                  ("under_5km", "Less than 5km", ("Less than 2km", "2km to less than 5km")),
                  ("30km_plus", "30km and over", ("30km to less than 40km", "40km to less than 60km",
                                                  "60km and over")))),
    Table2021("TS062", "National Statistics Socio-economic Classification (NS-SEC)",
              "usual residents aged 16 and over", "Work", "ks501ew0001", (
                  ("l1_l6", "Managerial, administrative and professional occupations (L1-L6)",
                   ("L1, L2 and L3 Higher managerial, administrative and professional occupations",
                    "L4, L5 and L6 Lower managerial, administrative and professional occupations")),
                  ("l12_l13", "Semi-routine and routine occupations (L12-L13)",
                   ("L12 Semi-routine occupations", "L13 Routine occupations")))),
    Table2021("TS063", "Occupation (current)", "usual residents aged 16 and over in employment", "Work",
              "ks608ew0001", _SOC),
    Table2021("TS065", "Unemployment history", "usual residents aged 16 and over not in employment", "Work",
              "ks501ew0001"),
    Table2021("TS068", "Schoolchild or full-time student indicator", "usual residents aged 5 and over",
              "Education", "age_5_plus"),
)
TABLES_2021 = {t.table: t for t in CENSUS2021}
WEIGHT_WORDS = {"ks102ew0001": "usual residents (KS102EW0001)", "ks402ew0001": "households (KS402EW0001)",
                "ks608ew0001": "usual residents aged 16 to 74 in employment (KS608EW0001)",
                "ks501ew0001": "usual residents aged 16 and over (KS501EW0001)",
                "age_5_plus": "usual residents aged 5 and over (KS102EW0001 - KS102EW0002)"}


@dataclass
class Table2021Data:
    spec: Table2021
    categories: list[str]        # labels after the title, in file order ("Total: All households", ...)
    total: str | None            # the total's label (None for TS041, a single count)
    frame: pd.DataFrame          # index: LSOA 2021 code; columns: category labels (floats)


def read_census2021(raw: RawFiles, lsoa21: pd.Index) -> dict[str, Table2021Data]:
    """The 17 tables, each for exactly the LSOAs of 2021; the categories that are not subtotals of others
    (the leaves) must add up to the table's total in every area."""
    out = {}
    for spec in CENSUS2021:
        frame = readers.read_nomis_bulk(raw(spec.file), spec.file, None, "EW", date="2021")
        labels = [c for c in frame.columns if c != "code"]
        categories = []
        for column in labels:
            text = re.sub(r"; measures: Value$", "", column)
            if not text.startswith(f"{spec.title}: "):
                raise SourceError(spec.file, f"column {column!r} is not a category of {spec.title!r}")
            categories.append(text[len(spec.title) + 2:])
        if len(set(categories)) != len(categories):
            raise SourceError(spec.file, "two columns have the same category")
        _require_codes_equal(frame["code"], lsoa21, spec.file, f"the LSOAs of 2021 in {F_EXACT}")
        wide = frame.set_index("code")
        wide.columns = categories
        total = categories[0] if categories[0].startswith("Total") else None
        if total is None and len(categories) != 1:
            raise SourceError(spec.file, f"its first column should be the table's total, not {categories[0]!r}")
        if total is not None:
            leaves = [c for c in categories[1:] if not any(o != c and o.startswith(f"{c}: ") for o in categories)]
            differ = wide[total].to_numpy() != wide[leaves].sum(axis=1).to_numpy()
            if differ.any():
                raise SourceError(spec.file, f"the categories do not add up to {total!r} in {int(differ.sum())} "
                                             f"areas, e.g. {list(wide.index[differ][:3])}")
        for _, _, parts in spec.summaries:
            missing = [p for p in parts if p not in categories]
            if missing:
                raise SourceError(spec.file, f"lacks the categories {missing}")
        out[spec.table] = Table2021Data(spec, categories, total, wide)
    return out


#: Readable ids for categories whose labels are too long to make one.
SHORT_IDS = {
    "Disabled under the Equality Act: Day-to-day activities limited a lot": "disabled_limited_a_lot",
    "Disabled under the Equality Act: Day-to-day activities limited a little": "disabled_limited_a_little",
    "Not disabled under the Equality Act: Has long term physical or mental health condition but day-to-day "
    "activities are not limited": "not_disabled_condition_not_limiting",
    "Not disabled under the Equality Act: No long term physical or mental health conditions":
        "not_disabled_no_condition",
    "Part of another converted building, for example, former school, church or warehouse":
        "part_of_another_converted_building",
    "In a commercial building, for example, in an office building, hotel or over a shop": "in_a_commercial_building",
    "Two or more types of central heating (not including renewable energy)": "two_or_more_types_not_renewable",
    "Two or more types of central heating (including renewable energy)": "two_or_more_types_with_renewable",
    "Works mainly at an offshore installation, in no fixed place, or outside the UK":
        "offshore_no_fixed_place_or_abroad",
    "L1, L2 and L3 Higher managerial, administrative and professional occupations":
        "l1_l3_higher_managerial_professional",
    "L4, L5 and L6 Lower managerial, administrative and professional occupations":
        "l4_l6_lower_managerial_professional",
}


def _ids_2021(data: Table2021Data, prefix: str) -> dict[str, str]:
    ids = {c: f"{prefix}_{'total' if c == data.total else SHORT_IDS.get(c) or slug(c, 56)}"
           for c in data.categories}
    ids.update({f"summary:{part}": f"{prefix}_{part}" for part, _, _ in data.spec.summaries})
    if len(set(ids.values())) != len(ids):
        raise SourceError(data.spec.file, "two categories have the same id once simplified")
    return ids


def _frame_2021(data: Table2021Data, wide: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """Counts (and percentages of the total) under their variable ids, summaries included."""
    ids = _ids_2021(data, prefix)
    frame = pd.DataFrame({"code": wide.index.to_numpy()})
    for category in data.categories:
        frame[ids[category]] = wide[category].to_numpy()
    for part, _, parts in data.spec.summaries:
        frame[ids[f"summary:{part}"]] = wide[list(parts)].sum(axis=1).to_numpy()
    if data.total is not None:
        total = ids[data.total]
        for ident in ids.values():
            if ident != total:
                frame[f"{ident}_pct"] = pct(frame, ident, total)
    return frame


def _variables_2021(data: Table2021Data, prefix: str, *, method: str, source: str, table_title: str,
                    coverage: str, note: str = "") -> list[dict]:
    spec = data.spec
    ids = _ids_2021(data, prefix)
    out = []
    total_id = ids[data.total] if data.total else None
    words = {c: f'"{c}"' for c in data.categories}
    for key, ident in ids.items():
        if key.startswith("summary:"):
            part = key.split(":", 1)[1]
            _, label, parts = next(s for s in spec.summaries if s[0] == part)
            cells = " + ".join(f"{spec.table} {words[p]}" for p in parts)
            this_method = "derived" if method == "published" else method
        else:
            label = key if key != data.total else data.total.split(": ", 1)[-1]
            if label.strip().lower() == "total":  # TS001's total is headed just "Total": say what it counts
                label = f"All {spec.universe}"
            is_subtotal = any(o.startswith(f"{key}: ") for o in data.categories)
            cells = f"{spec.table} {words[key]}" + (" (published subtotal)" if is_subtotal else "")
            this_method = method
        cell = key.removeprefix("summary:")
        count_label = label if ident == total_id or data.total is None else f"{label} ({spec.universe})"
        out.append(ds.variable(ident, count_label, spec.topic, spec.table, table_title, cell,
                               "count", source, "Census 2021", method=this_method, cells=cells, note=note,
                               coverage=coverage))
        if total_id is not None and ident != total_id:
            total_words = f"{spec.table} {words[data.total]}"
            out.append(ds.variable(
                f"{ident}_pct", f"{label} (% of {spec.universe})", spec.topic, spec.table, table_title,
                cell, "percentage", source, "Census 2021", denominator=total_id,
                description=f"Derived here: {cells.replace(' (published subtotal)', '')} / {total_words} x 100",
                method="derived" if method == "published" else method,
                cells=f"({cells.replace(' (published subtotal)', '')}) / {total_words} x 100", note=note,
                coverage=coverage))
    return out


# --------------------------------------------------------------------------------------------------
# LSOA 2011 <-> LSOA 2021: the ONS exact-fit lookup, and re-basing 2021 counts onto 2011 LSOAs

CHANGES = {"U": "unchanged", "S": "split", "M": "merged", "X": "complex"}


@dataclass
class Rebase:
    """Groups of LSOAs that map onto each other exactly (connected components of the lookup): one 2011
    LSOA and one 2021 LSOA (unchanged), one and several (split), several and one (merged), several and
    several (complex: ONS's irregular 'X' changes)."""

    lookup: pd.DataFrame                    # per LSOA11: code, change, estimated, lsoa21 (list), group
    group11: pd.Series                      # LSOA11 code -> group
    group21: pd.Series                      # LSOA21 code -> group
    lad22: pd.Series                        # LSOA21 code -> LAD22CD
    counts: dict[str, int] = field(default_factory=dict)

    def apply(self, wide21: pd.DataFrame, weight11: pd.Series, label: str) -> pd.DataFrame:
        """2021 counts (index LSOA21) -> counts on LSOA11 (index LSOA11): a group's total goes to its only
        2011 LSOA (exact), or is shared among its 2011 LSOAs by their shares of ``weight11`` (estimate)."""
        missing = wide21.index.difference(self.group21.index)
        if len(missing):
            raise SourceError(label, f"{len(missing)} LSOAs of 2021 are not in {F_EXACT}, "
                                     f"e.g. {list(missing[:3])}")
        sums = wide21.groupby(self.group21.reindex(wide21.index).to_numpy()).sum()
        group = self.group11.to_numpy()
        weights = weight11.reindex(self.group11.index).to_numpy(dtype="float64")
        size = pd.Series(group).map(pd.Series(group).value_counts()).to_numpy()
        totals = pd.Series(weights).groupby(group).transform("sum").to_numpy()
        shared = size > 1
        if np.isnan(weights[shared]).any() or (totals[shared] <= 0).any():
            bad = self.group11.index[shared & (np.isnan(weights) | (totals <= 0))]
            raise SourceError(label, f"cannot apportion merged areas: no 2011 weight for {list(bad[:3])}")
        share = np.where(shared, weights / np.where(totals > 0, totals, 1), 1.0)
        values = sums.reindex(group).to_numpy() * share[:, None]
        return pd.DataFrame(values, index=self.group11.index, columns=wide21.columns)


def read_exact_lookup(raw: RawFiles, lsoa11: pd.Index, lad21: set[str]) -> Rebase:
    label = F_EXACT
    frame = readers.read_csv(raw(label), label, encoding="utf-8-sig")
    readers.require_columns(frame, ["LSOA11CD", "LSOA21CD", "CHGIND", "LAD22CD", "LSOA21NM"], label)
    for column in ("LSOA11CD", "LSOA21CD", "LAD22CD"):
        bad = frame[column][~frame[column].str.match(readers.CODE)]
        if len(bad):
            raise SourceError(label, f"column {column} has malformed codes, e.g. {list(bad[:3])}")
    if frame.duplicated(["LSOA11CD", "LSOA21CD"]).any():
        raise SourceError(label, "lists a pair of LSOAs twice")
    unknown = sorted(set(frame["CHGIND"]) - set(CHANGES))
    if unknown:
        raise SourceError(label, f"CHGIND has values other than U, S, M, X: {unknown[:5]}")
    if (frame.groupby("LSOA11CD")["CHGIND"].nunique() > 1).any():
        raise SourceError(label, "some LSOAs of 2011 have more than one CHGIND")
    _require_codes_equal(frame["LSOA11CD"], lsoa11, label, "the LSOAs of England and Wales (2011)")
    lad22 = frame.drop_duplicates("LSOA21CD").set_index("LSOA21CD")["LAD22CD"]
    if (frame.groupby("LSOA21CD")["LAD22CD"].nunique() > 1).any():
        raise SourceError(label, "an LSOA of 2021 lies in two districts")
    not_current = sorted(set(lad22) - lad21)
    if not_current:
        raise SourceError(label, f"districts {not_current[:5]} are not December 2021 districts")
    # connected components of the bipartite graph LSOA11 - LSOA21 (union-find)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip("11:" + frame["LSOA11CD"], "21:" + frame["LSOA21CD"], strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    roots = {node: find(node) for node in list(parent)}
    group11 = pd.Series({n[3:]: r for n, r in roots.items() if n.startswith("11:")})
    group21 = pd.Series({n[3:]: r for n, r in roots.items() if n.startswith("21:")})
    n11 = group11.value_counts()
    n21 = group21.value_counts()
    shape = pd.DataFrame({"n11": group11.map(n11), "n21": group11.map(n21)})
    change = np.select([(shape.n11 == 1) & (shape.n21 == 1), (shape.n11 == 1) & (shape.n21 > 1),
                        (shape.n11 > 1) & (shape.n21 == 1)], ["unchanged", "split", "merged"], "complex")
    kinds = pd.Series(change, index=group11.index)
    published = frame.drop_duplicates("LSOA11CD").set_index("LSOA11CD")["CHGIND"].map(CHANGES)
    disagree = kinds.index[kinds != published.reindex(kinds.index)]
    if len(disagree):
        raise SourceError(label, f"CHGIND disagrees with how the pairs connect for {len(disagree)} LSOAs of 2011, "
                                 f"e.g. {list(disagree[:3])}")
    same = frame[frame["CHGIND"] == "U"]
    renamed = same.loc[same["LSOA11CD"] != same["LSOA21CD"], "LSOA11CD"]
    if len(renamed):
        raise SourceError(label, f"LSOAs marked unchanged (U) have a new code, e.g. {list(renamed[:3])}")
    targets = frame.sort_values("LSOA21CD").groupby("LSOA11CD")["LSOA21CD"].agg(list)
    order = lsoa11.sort_values()
    lookup = pd.DataFrame({"code": order, "change": kinds.reindex(order).to_numpy(),
                           "lsoa21": targets.reindex(order).to_numpy(),
                           "group": group11.reindex(order).to_numpy()})
    lookup["estimated"] = lookup["change"].isin(["merged", "complex"])
    group11 = group11.reindex(order)
    counts = {k: int(v) for k, v in lookup["change"].value_counts().items()}
    return Rebase(lookup, group11, group21, lad22, counts)


def census2021_datasets(tables: dict[str, Table2021Data], lsoa21_drawn: pd.Index, rebase: Rebase,
                        weights: pd.DataFrame) -> tuple[list[Dataset], list[Dataset], dict[str, pd.DataFrame]]:
    """Each table twice: at LSOA 2021 for the areas that have 2021 polygons (published counts), and
    re-based onto every LSOA 2011 (apportioned where 2011 LSOAs were merged). Also returns the re-based
    counts by category label, for the change variables."""
    at21, at11, rebased = [], [], {}
    coverage21 = "England and Wales"  # every LSOA of 2021 has a polygon
    for data in tables.values():
        spec = data.spec
        name = spec.table.lower()
        drawn = data.frame.loc[data.frame.index.intersection(lsoa21_drawn)]
        at21.append(Dataset(name, {"lsoa21": _frame_2021(data, drawn, name)},
                            _variables_2021(data, name, method="published", source="census2021",
                                            table_title=f"{spec.title} (Census 2021)", coverage=coverage21),
                            ("lsoa21",), coverage21))
        moved = rebase.apply(data.frame, weights[spec.weight], spec.file)
        rebased[spec.table] = moved
        note = (f"Census 2021 counts moved onto the 2011 LSOAs with the ONS exact-fit lookup: an unchanged LSOA "
                f"keeps its figure, the 2021 parts of a split LSOA are summed back to it (both exact); where "
                f"2011 LSOAs were merged into one 2021 LSOA (or changed irregularly, ONS's 'X'), the 2021 figure "
                f"is shared among them by their 2011 shares of {WEIGHT_WORDS[spec.weight]}: an estimate, flagged "
                f"per area in lookups/lsoa11_lsoa21.parquet.")
        prefix = f"{name}_lsoa11"
        at11.append(Dataset(f"{prefix}", {"lsoa11": _frame_2021(data, moved, prefix)},
                            _variables_2021(data, prefix, method="apportioned", source="census2021_rebased",
                                            table_title=f"{spec.title} (Census 2021, on 2011 LSOAs)",
                                            coverage="England and Wales", note=note),
                            ("lsoa11",), "England and Wales"))
    return at21, at11, rebased


# --------------------------------------------------------------------------------------------------
# change 2011 -> 2021 on the 2011 LSOAs

@dataclass(frozen=True)
class Change:
    topic: str            # id part: "tenure"
    title: str            # "Tenure"
    theme: str            # catalogue topic
    dataset2011: str      # "ks402ew"
    total2011: str        # "ks402ew0001"
    table2021: str        # "TS054"
    universe: str
    pairs: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...]  # (id part, label, 2011 ids, 2021 labels)
    note: str = ""


_TENURE = "TS054"
CHANGES_2011_2021: tuple[Change, ...] = (
    Change("tenure", "Tenure", "Housing", "ks402ew", "ks402ew0001", _TENURE, "households", (
        ("owned", "Owner occupied", ("ks402ew0002", "ks402ew0003"), ("Owned",)),
        ("owned_outright", "Owned outright", ("ks402ew0002",), ("Owned: Owns outright",)),
        ("owned_mortgage", "Owned with a mortgage or loan", ("ks402ew0003",), ("Owned: Owns with a mortgage or loan",)),
        ("shared_ownership", "Shared ownership", ("ks402ew0004",), ("Shared ownership",)),
        ("social_rented", "Social rented", ("ks402ew0005", "ks402ew0006"), ("Social rented",)),
        ("council", "Rented from the council (Local Authority)", ("ks402ew0005",),
         ("Social rented: Rents from council or Local Authority",)),
        ("other_social", "Other social rented", ("ks402ew0006",), ("Social rented: Other social rented",)),
        ("private_rented", "Private rented", ("ks402ew0007", "ks402ew0008"), ("Private rented",)),
        ("private_landlord", "Private landlord or letting agency", ("ks402ew0007",),
         ("Private rented: Private landlord or letting agency",)),
        ("other_private", "Other private rented", ("ks402ew0008",), ("Private rented: Other private rented",)),
        ("rent_free", "Living rent free", ("ks402ew0009",), ("Lives rent free",))),
        note="The categories are the same in both censuses (2011 KS402EW, 2021 TS054)."),
    Change("accommodation", "Accommodation type", "Housing", "qs402ew", "qs402ew0001", "TS044", "households", (
        ("houses", "Whole house or bungalow", ("qs402ew0003",), ("Detached", "Semi-detached", "Terraced")),
        ("detached", "Detached", ("qs402ew0004",), ("Detached",)),
        ("semi_detached", "Semi-detached", ("qs402ew0005",), ("Semi-detached",)),
        ("terraced", "Terraced (including end-terrace)", ("qs402ew0006",), ("Terraced",)),
        ("flats", "Flat, maisonette or apartment", ("qs402ew0007",),
         ("In a purpose-built block of flats or tenement", "Part of a converted or shared house, including bedsits",
          "Part of another converted building, for example, former school, church or warehouse",
          "In a commercial building, for example, in an office building, hotel or over a shop")),
        ("purpose_built_flats", "Purpose-built block of flats or tenement", ("qs402ew0008",),
         ("In a purpose-built block of flats or tenement",)),
        ("converted", "Flat in a converted or shared house or other converted building", ("qs402ew0009",),
         ("Part of a converted or shared house, including bedsits",
          "Part of another converted building, for example, former school, church or warehouse")),
        ("commercial", "Flat in a commercial building", ("qs402ew0010",),
         ("In a commercial building, for example, in an office building, hotel or over a shop",)),
        ("caravan", "Caravan or other mobile or temporary structure", ("qs402ew0011",),
         ("A caravan or other mobile or temporary structure",))),
        note="Definitions differ: 2011 counts households in shared dwellings apart (QS402EW0012, not compared), "
             "while 2021 classes every household by its building, so 2021 shares include them; 2021 splits "
             "converted buildings into converted or shared houses and other converted buildings (summed here)."),
    Change("heating", "Central heating", "Housing", "qs415ew", "qs415ew0001", "TS046", "households", (
        ("none", "No central heating", ("qs415ew0002",), ("No central heating",)),
        ("gas", "Gas central heating", ("qs415ew0003",), ("Mains gas only", "Tank or bottled gas only")),
        ("electric", "Electric central heating", ("qs415ew0004",), ("Electric only",)),
        ("oil", "Oil central heating", ("qs415ew0005",), ("Oil only",)),
        ("solid_fuel", "Solid fuel (including wood) central heating", ("qs415ew0006",),
         ("Wood only", "Solid fuel only")),
        ("other", "Other central heating", ("qs415ew0007",),
         ("Renewable energy only", "District or communal heat networks only", "Other central heating only")),
        ("two_or_more", "Two or more types of central heating", ("qs415ew0008",),
         ("Two or more types of central heating (not including renewable energy)",
          "Two or more types of central heating (including renewable energy)"))),
        note="Definitions differ: 2021 records each type 'only' and added renewable energy and heat networks as "
             "answers (compared here with 2011's 'other'), and splits two or more types by whether one is "
             "renewable (summed here); 2011 counts household spaces with at least one usual resident, 2021 "
             "households."),
    Change("occupation", "Occupation", "Work", "ks608ew", "ks608ew0001", "TS063", "residents in employment", tuple(
        (f"soc{n}", text, (f"ks608ew{n + 1:04d}",), (label,)) for n, text, label in [
            (1, "Managers, directors and senior officials", "1. Managers, directors and senior officials"),
            (2, "Professional occupations", "2. Professional occupations"),
            (3, "Associate professional and technical occupations",
             "3. Associate professional and technical occupations"),
            (4, "Administrative and secretarial occupations", "4. Administrative and secretarial occupations"),
            (5, "Skilled trades occupations", "5. Skilled trades occupations"),
            (6, "Caring, leisure and other service occupations", "6. Caring, leisure and other service occupations"),
            (7, "Sales and customer service occupations", "7. Sales and customer service occupations"),
            (8, "Process, plant and machine operatives", "8. Process, plant and machine operatives"),
            (9, "Elementary occupations", "9. Elementary occupations")]),
        note="Definitions differ: 2011 occupations are coded to SOC 2010 and count residents aged 16 to 74 in "
             "employment; 2021 to SOC 2020, counting residents aged 16 and over in employment. ONS advises care "
             "when comparing some groups across the two classifications."),
    Change("deprivation", "Household deprivation", "Deprivation", "qs119ew", "qs119ew0001", "TS011", "households", (
        ("none", "Not deprived in any dimension", ("qs119ew0002",), ("Household is not deprived in any dimension",)),
        ("one", "Deprived in one dimension", ("qs119ew0003",), ("Household is deprived in one dimension",)),
        ("two", "Deprived in two dimensions", ("qs119ew0004",), ("Household is deprived in two dimensions",)),
        ("three", "Deprived in three dimensions", ("qs119ew0005",), ("Household is deprived in three dimensions",)),
        ("four", "Deprived in four dimensions", ("qs119ew0006",), ("Household is deprived in four dimensions",)),
        ("1plus", "Deprived in one or more dimensions", ("qs119ew0003", "qs119ew0004", "qs119ew0005", "qs119ew0006"),
         _DEPRIVED)),
        note="Both censuses classify households on the same four dimensions (employment, education, health and "
             "disability, housing), but ONS notes that some of the underlying definitions changed in 2021, so "
             "compare with care."),
)
# Totals compared as relative change only (counts, no shares).
CHANGE_TOTALS = (("residents", "Usual residents", "Population", "ks102ew", "ks102ew0001", "TS001", "Total",
                  "usual residents"),
                 ("households", "Households", "Housing", "ks402ew", "ks402ew0001", _TENURE, "Total: All households",
                  "households"))


def change_datasets(frames2011: dict[str, pd.DataFrame], tables: dict[str, Table2021Data],
                    rebased: dict[str, pd.DataFrame]) -> list[Dataset]:
    """Per matched category: the change in its share (percentage points) and in its count (% of the 2011
    count), 2011 -> 2021, on the 2011 LSOAs; and the relative change of the totals (residents, households).
    The 2021 side is the re-based figure, so merged areas carry an estimate."""
    estimate = ("The 2021 side is Census 2021 re-based onto 2011 LSOAs: for 2011 LSOAs merged in 2021 (or changed "
                "irregularly) it is an estimate (see lookups/lsoa11_lsoa21.parquet).")
    out = []

    def words(table: str, labels: Iterable[str]) -> str:
        return " + ".join(f'{table} "{c}"' for c in labels)

    for spec in CHANGES_2011_2021:
        old = frames2011[spec.dataset2011].set_index("code")
        new = rebased[spec.table2021]
        data = tables[spec.table2021]
        assert data.total is not None
        new = new.reindex(old.index)
        total11, total21 = old[spec.total2011], new[data.total]
        frame = pd.DataFrame({"code": old.index.to_numpy()})
        variables = []
        title = f"{spec.title}, change 2011 to 2021"
        table = f"{spec.dataset2011.upper()} -> {spec.table2021}"
        for part, label, cells11, cats21 in spec.pairs:
            count11 = old[list(cells11)].sum(axis=1)
            count21 = new[list(cats21)].sum(axis=1)
            share11 = count11 / total11.where(total11 > 0) * 100
            share21 = count21 / total21.where(total21 > 0) * 100
            ident = f"chg_{spec.topic}_{part}"
            frame[f"{ident}_pp"] = (share21 - share11).to_numpy()  # full precision: rounded once, for print
            frame[f"{ident}_rel"] = ((count21 - count11) / count11.where(count11 > 0) * 100).to_numpy()
            c11 = " + ".join(c.upper() for c in cells11)
            c21 = words(spec.table2021, cats21)
            note = " ".join(n for n in (spec.note, estimate) if n)
            variables.append(ds.variable(
                f"{ident}_pp", f"{label}: change in share of {spec.universe}, 2011 to 2021 (percentage points)",
                spec.theme, table, title, part, "percentage points", "change", "Census 2011 and 2021",
                method="change", palette="RdBu", centre=0.0, note=note, coverage="England and Wales",
                cells=f"({c21}) / {spec.table2021} \"{data.total}\" x 100 - ({c11}) / "
                      f"{spec.total2011.upper()} x 100"))
            variables.append(ds.variable(
                f"{ident}_rel", f"{label}: change in number of {spec.universe}, 2011 to 2021 (% of 2011)",
                spec.theme, table, title, part, "percent", "change", "Census 2011 and 2021", method="change",
                palette="RdBu", centre=0.0, note=note + " Empty where the 2011 count is zero.",
                coverage="England and Wales", cells=f"(({c21}) - ({c11})) / ({c11}) x 100"))
        out.append(Dataset(f"change_{spec.topic}", {"lsoa11": frame}, variables, ("lsoa11",), "England and Wales"))
    frame = pd.DataFrame({"code": frames2011["ks102ew"]["code"].to_numpy()})
    variables = []
    for part, label, theme, dataset, cell, table21, category, universe in CHANGE_TOTALS:
        old = frames2011[dataset].set_index("code")[cell].reindex(frame["code"]).to_numpy()
        new = rebased[table21][category].reindex(frame["code"]).to_numpy()
        frame[f"chg_{part}_rel"] = (new - old) / np.where(old > 0, old, np.nan) * 100
        variables.append(ds.variable(
            f"chg_{part}_rel", f"{label}: change in number, 2011 to 2021 (% of 2011)", theme,
            f"{cell.upper()[:7]} -> {table21}", "Totals, change 2011 to 2021", part, "percent", "change",
            "Census 2011 and 2021", method="change", palette="RdBu", centre=0.0, note=estimate,
            coverage="England and Wales",
            cells=f'({table21} "{category}" - {cell.upper()}) / {cell.upper()} x 100 ({universe})'))
    out.append(Dataset("change_totals", {"lsoa11": frame}, variables, ("lsoa11",), "England and Wales"))
    return out


# --------------------------------------------------------------------------------------------------
# classifications: categorical variables (text codes), each in a dataset of its own kind

RUC_ORDER = ("A1", "B1", "C1", "C2", "D1", "D2", "E1", "E2", "F1", "F2")


def _categories(codes: pd.Series, names: pd.Series, order: list[str], label: str, what: str,
                colours: dict[str, str] | None = None) -> list[dict]:
    pairs = pd.DataFrame({"code": codes, "name": names}).drop_duplicates()
    if pairs["code"].duplicated().any():
        dupes = sorted(set(pairs.loc[pairs["code"].duplicated(), "code"]))
        raise SourceError(label, f"{what} codes {dupes[:3]} carry more than one name")
    unknown = sorted(set(pairs["code"]) - set(order))
    if unknown:
        raise SourceError(label, f"unknown {what} codes {unknown[:5]}")
    names_of = dict(zip(pairs["code"], pairs["name"], strict=True))
    return [{"code": c, "label": names_of[c], "colour": (colours or {}).get(c)} for c in order if c in names_of]


def ruc_datasets(raw: RawFiles, lsoa11: pd.Index) -> Dataset:
    label = F_RUC
    frame = readers.read_csv(raw(label), label, encoding="utf-8-sig")
    readers.require_columns(frame, ["LSOA11CD", "RUC11CD", "RUC11"], label)
    readers.require_codes(frame["LSOA11CD"], label, "EW")
    _require_codes_equal(frame["LSOA11CD"], lsoa11, label, "the LSOAs of England and Wales (2011)")
    categories = _categories(frame["RUC11CD"], frame["RUC11"], list(RUC_ORDER), label, "rural-urban")
    urban = frame["RUC11CD"].str[0].isin(["A", "B", "C"])
    out = pd.DataFrame({"code": frame["LSOA11CD"].to_numpy(), "ruc11": frame["RUC11CD"].to_numpy(),
                        "ruc11_urban_rural": np.where(urban, "urban", "rural")})
    variables = [
        ds.variable("ruc11", "Rural-urban classification (2011)", "Classifications", "RUC11",
                    "Rural-Urban Classification 2011 of LSOAs", "RUC11CD", "category", "ruc11", "2011",
                    kind="categorical", categories=categories, cells="RUC11CD (RUC11 names the class)",
                    coverage="England and Wales"),
        ds.variable("ruc11_urban_rural", "Urban or rural (2011 rural-urban classification)", "Classifications",
                    "RUC11", "Rural-Urban Classification 2011 of LSOAs", "RUC11CD", "category", "ruc11", "2011",
                    kind="categorical", method="derived",
                    categories=[{"code": "urban", "label": "Urban (A1, B1, C1, C2)"},
                                {"code": "rural", "label": "Rural (D1, D2, E1, E2)"}],
                    cells="RUC11CD: classes A, B and C are urban, D and E rural", coverage="England and Wales"),
    ]
    return Dataset("ruc11", {"lsoa11": out}, variables, (), "England and Wales")


OAC_COLUMNS = ["Output Area Code", "Supergroup Code", "Supergroup Name", "Group Code", "Group Name"]


def oac_datasets(raw: RawFiles, oa_all: pd.Index, oa11: pd.Index) -> Dataset:
    """2011 OAC supergroup and group for the Output Areas with polygons. The publisher's colour scheme (the
    2011 OAC Colour Scheme of UCL/ONS) is not in the raw collection, so the categories carry no colours."""
    label = F_OAC
    frame = readers.read_zip_csv(raw(label), label, OAC_MEMBER)
    readers.require_columns(frame, OAC_COLUMNS, label)
    ew = frame[frame["Output Area Code"].str[:1].isin(["E", "W"])]
    readers.require_codes(ew["Output Area Code"], label, "EW")
    _require_codes_equal(ew["Output Area Code"], oa_all, label, f"the Output Areas of {F_ETHNIC_OA}")
    supergroups = [str(i) for i in range(1, 9)]
    groups = sorted(set(ew["Group Code"]), key=lambda c: (c[:-1], c[-1:]))
    if not all(re.fullmatch(r"[1-8][a-z]", g) for g in groups):
        raise SourceError(label, f"group codes should be a digit and a letter, found {groups[:5]}")
    bad = ew["Group Code"].str[0] != ew["Supergroup Code"]
    if bad.any():
        raise SourceError(label, f"{int(bad.sum())} Output Areas are in a group outside their supergroup")
    super_cats = _categories(ew["Supergroup Code"], ew["Supergroup Name"], supergroups, label, "supergroup")
    group_cats = _categories(ew["Group Code"], ew["Group Name"], groups, label, "group")
    drawn = ew[ew["Output Area Code"].isin(oa11)]
    out = pd.DataFrame({"code": drawn["Output Area Code"].to_numpy(),
                        "oac11_supergroup": drawn["Supergroup Code"].to_numpy(),
                        "oac11_group": drawn["Group Code"].to_numpy()})
    note = ("The publisher's colour scheme is not in this collection, so no colours are given; "
            "the classification is UK-wide, shown here for Output Areas with polygons.")
    coverage = "Output Areas where OA polygons exist"
    variables = [
        ds.variable("oac11_supergroup", "Output Area Classification 2011: supergroup", "Classifications",
                    "2011 OAC", "2011 Area Classification for Output Areas", "Supergroup Code", "category", "oac11",
                    "2011", kind="categorical", categories=super_cats, note=note, coverage=coverage,
                    cells="Supergroup Code (Supergroup Name)"),
        ds.variable("oac11_group", "Output Area Classification 2011: group", "Classifications", "2011 OAC",
                    "2011 Area Classification for Output Areas", "Group Code", "category", "oac11", "2011",
                    kind="categorical", categories=group_cats, note=note, coverage=coverage,
                    cells="Group Code (Group Name)"),
    ]
    return Dataset("oac11", {"oa11": out}, variables, (), coverage)


# --------------------------------------------------------------------------------------------------
# IoD 2019: the IMD score rebuilt from File 9, and File 8's underlying indicators (England)

FILE9_WEIGHTS = (("Income Score - exponentially transformed", 0.225),
                 ("Employment Score - exponentially transformed", 0.225),
                 ("Education Score - exponentially transformed", 0.135),
                 ("Health Score - exponentially transformed", 0.135),
                 ("Crime Score - exponentially transformed", 0.093),
                 ("Barriers Score - exponentially transformed", 0.093),
                 ("Living Environment Score - exponentially transformed", 0.093))


def imd_score_dataset(raw: RawFiles, english: pd.Index) -> tuple[Dataset, dict]:
    """The IMD 2019 score as the published weighted sum of File 9's exponentially transformed domain scores
    (MHCLG's weights). The inputs are rounded to 3 decimals, so ranking this score differs slightly from the
    published rank: the build measures by how much (against File 1) and says so in the note."""
    label = F_FILE9
    frame = readers.read_csv(raw(label), label, encoding="utf-8-sig")
    key = "LSOA code (2011)"
    readers.require_columns(frame, [key] + [c for c, _ in FILE9_WEIGHTS], label)
    readers.require_codes(frame[key], label, "E")
    _require_codes_equal(frame[key], english, label, "the English LSOAs (2011)")
    numbers = readers.to_numbers(frame, [c for c, _ in FILE9_WEIGHTS], label)
    if numbers.isna().any().any():
        raise SourceError(label, "has empty domain scores")
    score = sum(numbers[c] * w for c, w in FILE9_WEIGHTS)
    out = pd.DataFrame({"code": frame[key].to_numpy(), "imd2019_score_derived": score.to_numpy()})
    published = readers.read_csv(raw(F_FILE1), F_FILE1)
    rank = pd.Series(score.to_numpy(), index=frame[key]).rank(ascending=False, method="min")
    theirs = pd.to_numeric(published.set_index(key)["Index of Multiple Deprivation (IMD) Rank"]).reindex(rank.index)
    gap = (rank - theirs).abs()
    check = {"max_rank_difference": int(gap.max()), "lsoas_with_a_different_rank": int((gap > 0).sum())}
    if check["max_rank_difference"] > 10:
        raise SourceError(label, f"the rebuilt IMD score ranks LSOAs up to {check['max_rank_difference']} places "
                                 f"from the published rank ({F_FILE1}): are the columns or weights wrong?")
    weights = " + ".join(f"{w} x {c.split(' Score')[0]}" for c, w in FILE9_WEIGHTS)
    note = (f"Derived here, not the published IMD score (File 5, not in this collection): MHCLG's weighted sum of "
            f"the seven exponentially transformed domain scores of File 9, which are rounded to 3 decimals. Ranking "
            f"it puts LSOAs up to {check['max_rank_difference']} places from the published IMD rank "
            f"({check['lsoas_with_a_different_rank']:,} of {len(rank):,} LSOAs differ): use the published rank "
            f"and decile to rank areas. Higher = more deprived.")
    variable = ds.variable("imd2019_score_derived", "Index of Multiple Deprivation 2019 score (derived)",
                           "Deprivation", "IoD2019", "File 9: transformed domain scores", "IMD score", "score",
                           "imd2019_file9", "IoD2019", polarity="lower is better", method="derived",
                           cells=weights + " (File 9 columns '<domain> Score - exponentially transformed')",
                           note=note, decimals=3, coverage="England")
    return Dataset("imd2019_score", {"lsoa11": out}, [variable], ("lsoa11",), "England"), check


# (column, id part, label, unit, decimals)
FILE8: tuple[tuple[str, str, str, str, int], ...] = (
    ("income_domain_numerator", "income_numerator", "Income Deprivation Domain numerator (people income deprived)",
     "count", 0),
    ("income_deprivation_affecting_children_index_idaci_numerator", "idaci_numerator",
     "IDACI numerator (children in income-deprived families)", "count", 0),
    ("income_deprivation_affecting_older_people_index_idaopi_numerator", "idaopi_numerator",
     "IDAOPI numerator (older people income deprived)", "count", 0),
    ("employment_domain_numerator", "employment_numerator",
     "Employment Deprivation Domain numerator (people employment deprived)", "count", 0),
    ("staying_on_in_education_post_16_indicator", "staying_on_post_16", "Staying on in education post 16 indicator",
     "proportion", 3),
    ("entry_to_higher_education_indicator", "entry_to_higher_education", "Entry to higher education indicator",
     "score", 3),
    ("adult_skills_and_english_language_proficiency_indicator", "adult_skills",
     "Adult skills and English language proficiency indicator", "proportion", 3),
    ("years_of_potential_life_lost_indicator", "years_of_potential_life_lost",
     "Years of potential life lost indicator", "score", 3),
    ("comparative_illness_and_disability_ratio_indicator", "illness_disability_ratio",
     "Comparative illness and disability ratio indicator", "ratio", 3),
    ("acute_morbidity_indicator", "acute_morbidity", "Acute morbidity indicator", "ratio", 3),
    ("mood_and_anxiety_disorders_indicator", "mood_anxiety", "Mood and anxiety disorders indicator", "score", 3),
    ("road_distance_to_a_post_office_indicator_km", "road_distance_to_a_post_office",
     "Road distance to a post office (km)", "km", 3),
    ("road_distance_to_a_primary_school_indicator_km", "road_distance_to_a_primary_school",
     "Road distance to a primary school (km)", "km", 3),
    ("road_distance_to_general_store_or_supermarket_indicator_km", "road_distance_to_a_general_store",
     "Road distance to a general store or supermarket (km)", "km", 3),
    ("road_distance_to_a_gp_surgery_indicator_km", "road_distance_to_a_gp_surgery",
     "Road distance to a GP surgery (km)", "km", 3),
    ("household_overcrowding_indicator", "overcrowding", "Household overcrowding indicator", "proportion", 3),
    ("homelessness_indicator_rate_per_1000_households", "homelessness",
     "Homelessness indicator (rate per 1,000 households)", "rate", 3),
    ("owner_occupation_affordability_component_of_housing_affordability_indicator",
     "owner_occupation_affordability", "Owner-occupation affordability (component of housing affordability)",
     "score", 3),
    ("private_rental_affordability_component_of_housing_affordability_indicator", "private_rental_affordability",
     "Private rental affordability (component of housing affordability)", "score", 3),
    ("housing_affordability_indicator", "housing_affordability", "Housing affordability indicator", "score", 3),
    ("housing_in_poor_condition_indicator", "housing_in_poor_condition", "Housing in poor condition indicator",
     "proportion", 3),
    ("houses_without_central_heating_indicator", "without_central_heating",
     "Houses without central heating indicator", "proportion", 3),
    ("road_traffic_accidents_indicator", "road_traffic_accidents", "Road traffic accidents indicator", "rate", 3),
    ("nitrogen_dioxide_component_of_air_quality_indicator", "nitrogen_dioxide",
     "Nitrogen dioxide (component of air quality)", "score", 2),
    ("benzene_component_of_air_quality_indicator", "benzene", "Benzene (component of air quality)", "score", 2),
    ("sulphur_dioxide_component_of_air_quality_indicator", "sulphur_dioxide",
     "Sulphur dioxide (component of air quality)", "score", 2),
    ("particulates_component_of_air_quality_indicator", "particulates", "Particulates (component of air quality)",
     "score", 2),
    ("air_quality_indicator", "air_quality", "Air quality indicator", "score", 2),
)


def imd_indicators_dataset(raw: RawFiles, english: pd.Index) -> Dataset:
    label = F_FILE8
    frame = readers.read_rda(raw(label), label, "imd2019_england_lsoa11_indicators",
                             ["lsoa11_code", *[c for c, *_ in FILE8]], raw)
    codes = frame["lsoa11_code"].astype(str)
    readers.require_codes(codes, label, "E")
    _require_codes_equal(codes, english, label, "the English LSOAs (2011)")
    out = pd.DataFrame({"code": codes.to_numpy()})
    variables = []
    for column, part, text, unit, decimals in FILE8:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().sum() != frame[column].isna().sum():
            raise SourceError(label, f"column {column!r} has values that are not numbers")
        ident = f"imd2019_{part}"
        out[ident] = values.astype("float64").to_numpy()
        suppressed = int(values.isna().sum())
        note = "Higher = more deprived (the direction of the IoD's indicators)."
        if suppressed:
            note += f" Empty in {suppressed:,} LSOAs where the publisher suppressed a small numerator."
        variables.append(ds.variable(ident, f"{text}, IoD 2019", "Deprivation", "IoD2019",
                                     "File 8: underlying indicators", column, unit, "imd2019_file8", "IoD2019",
                                     decimals=decimals, note=note,
                                     coverage="England", cells=f"File 8 column {column} (snake case of "
                                                               "MHCLG's header, as in the IMD package)"))
    return Dataset("imd2019_indicators", {"lsoa11": out}, variables, ("lsoa11",), "England")


# --------------------------------------------------------------------------------------------------
# mid-2017 population and density, VOA dwellings by build period

def population_dataset(raw: RawFiles, lsoa11: pd.Index) -> Dataset:
    label = F_POPULATION
    frame = readers.read_csv(raw(label), label)
    columns = ["Code", "Name", "Mid-2017 population", "Area Sq Km", "People per Sq Km"]
    if list(frame.columns[:5]) != columns:
        raise SourceError(label, f"has an unexpected column layout: {list(frame.columns[:5])}, expected {columns}")
    extra = frame.iloc[:, 5:]
    if (extra != "").any().any() or any(not str(c).startswith("Unnamed") for c in extra.columns):
        raise SourceError(label, "its trailing columns should be empty")
    readers.require_codes(frame["Code"], label, "EW")
    _require_codes_equal(frame["Code"], lsoa11, label, "the LSOAs of England and Wales (2011)")
    text = frame[columns[2:]].apply(lambda s: s.str.replace(",", "", regex=False))
    numbers = readers.to_numbers(text, columns[2:], label)
    if numbers.isna().any().any():
        raise SourceError(label, "has empty cells")
    out = pd.DataFrame({"code": frame["Code"].to_numpy(), "pop2017_population": numbers[columns[2]].to_numpy(),
                        "pop2017_area_km2": numbers[columns[3]].to_numpy(),
                        "pop2017_density": numbers[columns[4]].to_numpy()})
    common = ("Population", "SAPE mid-2017", "Lower layer Super Output Area population density, mid-2017")
    variables = [
        ds.variable("pop2017_population", "Population, mid-2017 estimate", *common, "Mid-2017 population", "count",
                    "sape2017", "Mid-2017", coverage="England and Wales"),
        ds.variable("pop2017_area_km2", "Area (km²)", *common, "Area Sq Km", "km", "sape2017", "Mid-2017",
                    decimals=2, note="As published, to 2 decimals.", coverage="England and Wales"),
        ds.variable("pop2017_density", "Population density, mid-2017 (people per km²)", *common, "People per Sq Km",
                    "per km2", "sape2017", "Mid-2017", decimals=0,
                    note="As published: whole people per km² (population / area, rounded by ONS).",
                    coverage="England and Wales"),
    ]
    return Dataset("pop2017", {"lsoa11": out}, variables, ("lsoa11",), "England and Wales")


VOA_BANDS = (("BP_PRE_1900", "Built before 1900"), ("BP_1900_1918", "Built 1900 to 1918"),
             ("BP_1919_1929", "Built 1919 to 1929"), ("BP_1930_1939", "Built 1930 to 1939"),
             ("BP_1945_1954", "Built 1945 to 1954"), ("BP_1955_1964", "Built 1955 to 1964"),
             ("BP_1965_1972", "Built 1965 to 1972"), ("BP_1973_1982", "Built 1973 to 1982"),
             ("BP_1983_1992", "Built 1983 to 1992"), ("BP_1993_1999", "Built 1993 to 1999"),
             ("BP_2000_2009", "Built 2000 to 2009"), ("BP_2010_2015", "Built 2010 to 2015"),
             ("BP_UNKNOWN", "Build period unknown"))
VOA_SUMMARIES = (("voa_pre_1919", "Built before 1919", ("BP_PRE_1900", "BP_1900_1918")),
                 ("voa_1919_1939", "Built 1919 to 1939 (between the wars)", ("BP_1919_1929", "BP_1930_1939")),
                 ("voa_2000_plus", "Built 2000 or later", ("BP_2000_2009", "BP_2010_2015")))


def voa_dataset(raw: RawFiles, lsoa11: pd.Index) -> Dataset:
    label = F_VOA
    frame = readers.read_csv(raw(label), label)
    columns = ["AREA_CODE", *[c for c, _ in VOA_BANDS], "ALL_PROPERTIES"]
    readers.require_columns(frame, columns, label)
    readers.require_codes(frame["AREA_CODE"], label, "EW")
    _require_codes_equal(frame["AREA_CODE"], lsoa11, label, "the LSOAs of England and Wales (2011)")
    numbers = readers.to_numbers(frame, columns[1:], label)
    if numbers.isna().any().any():
        raise SourceError(label, "has empty cells")
    note = ("VOA counts are rounded to the nearest 10 (a 1 appears to mark a small suppressed count), so the "
            "bands need not add up to all properties; percentages use the published total.")
    out = pd.DataFrame({"code": frame["AREA_CODE"].to_numpy(), "voa_all": numbers["ALL_PROPERTIES"].to_numpy()})
    common = ("Housing", "VOA CTSOP", "Dwellings by build period (Council Tax stock)")
    variables = [ds.variable("voa_all", "All domestic properties (Council Tax)", *common, "ALL_PROPERTIES", "count",
                             "voa", "VOA", note=note, coverage="England and Wales")]
    for column, text in VOA_BANDS:
        ident = f"voa_{column.lower().removeprefix('bp_')}"
        out[ident] = numbers[column].to_numpy()
        out[f"{ident}_pct"] = pct(out, ident, "voa_all")
        variables.append(ds.variable(ident, f"{text} (properties)", *common, column, "count", "voa", "VOA",
                                     note=note, coverage="England and Wales"))
        variables.append(ds.variable(f"{ident}_pct", f"{text} (% of all properties)", *common, column, "percentage",
                                     "voa", "VOA", denominator="voa_all",
                                     description=f"Derived here: {column} / ALL_PROPERTIES x 100",
                                     cells=f"{column} / ALL_PROPERTIES x 100", note=note, coverage="England and Wales"))
    for ident, text, parts in VOA_SUMMARIES:
        out[ident] = numbers[list(parts)].sum(axis=1).to_numpy()
        out[f"{ident}_pct"] = pct(out, ident, "voa_all")
        cells = " + ".join(parts)
        variables.append(ds.variable(ident, f"{text} (properties)", *common, cells, "count", "voa", "VOA",
                                     method="derived", cells=cells, note=note, coverage="England and Wales"))
        variables.append(ds.variable(f"{ident}_pct", f"{text} (% of all properties)", *common, cells, "percentage",
                                     "voa", "VOA", denominator="voa_all",
                                     description=f"Derived here: ({cells}) / ALL_PROPERTIES x 100",
                                     cells=f"({cells}) / ALL_PROPERTIES x 100", note=note,
                                     coverage="England and Wales"))
    return Dataset("voa_build_period", {"lsoa11": out}, variables, ("lsoa11",), "England and Wales")
