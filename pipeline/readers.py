"""Strict readers, one per publisher format, each reading the file as its publisher released it.

Every reader checks what it relies on (the file exists and parses, the header is the layout expected,
codes are well formed and unique) and raises SourceError naming the file and the problem, so a bad
input stops the build with a message a person can act on.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyogrio

__all__ = [
    "SourceError", "RawFiles", "read_geojson", "read_shapefile", "read_csv", "require_columns",
    "require_codes", "KS102EW_CELLS", "read_ks102ew_bulk", "read_imd2019", "read_wimd2019",
    "read_cdrc_pack", "read_census2021_long", "CdrcTable", "Census2021Topic", "read_text_rows",
    "read_nomis_bulk", "read_nomis_download", "read_rda", "read_xlsx", "read_zip_csv", "to_numbers",
]

CODE = re.compile(r"^[EWSN]\d{8}$")


class SourceError(Exception):
    """A raw file is missing, truncated, malformed or does not join; the message names the file."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class RawFiles:
    """Where each input lives inside ATLAS_RAW_DIR (paths as in the fetch manifest).

    ``cache``, when given, is a folder where slow readers keep what they parsed, keyed by the SHA-256 of
    the file and the reader's version: an unchanged file is not parsed again by the next build (the R data
    frames take most of a build's reading time). ``used`` collects the cache files a build touched, so it
    can remove the others."""

    root: Path
    cache: Path | None = None
    used: set = field(default_factory=set, compare=False)

    def __call__(self, relative: str) -> Path:
        path = self.root / relative
        if not path.exists():
            raise SourceError(relative, f"missing from ATLAS_RAW_DIR={self.root} "
                                        "(run `python -m pipeline fetch` to download it)")
        if path.is_file() and path.stat().st_size == 0:
            raise SourceError(relative, "is empty (0 bytes)")
        return path

    def glob(self, folder: str, pattern: str) -> list[Path]:
        found = sorted(self(folder).glob(pattern))
        if not found:
            raise SourceError(folder, f"holds no files matching {pattern}")
        return found

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))


# --------------------------------------------------------------------------------------------------
# generic readers

def read_geojson(path: Path, columns: Iterable[str], label: str | None = None) -> gpd.GeoDataFrame:
    """A GeoJSON FeatureCollection in CRS84, with the given property columns present.

    Read by GDAL (pyogrio, through Arrow): three times faster than json + shapely for the 700 files here,
    with the same geometries (checked on the LSOA files)."""
    label = label or str(path)
    try:
        frame = pyogrio.read_dataframe(path, use_arrow=True)
    except Exception as exc:  # pyogrio raises DataSourceError and others for a truncated or corrupt file
        raise SourceError(label, f"is not valid JSON (truncated or corrupt?): {exc}") from None
    if frame.empty:
        raise SourceError(label, "is not a GeoJSON FeatureCollection with features")
    crs = frame.crs.to_string() if frame.crs is not None else "OGC:CRS84"
    if crs not in ("EPSG:4326", "OGC:CRS84"):
        raise SourceError(label, f"has CRS {crs}; expected CRS84 (longitude, latitude)")
    require_columns(frame, columns, label)
    if frame.geometry.isna().any():
        raise SourceError(label, f"{int(frame.geometry.isna().sum())} features have no geometry")
    for column in columns:  # codes and names as plain Python text (None where missing), as json gave them
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame.set_crs(4326, allow_override=True)


def read_shapefile(path: Path, columns: Iterable[str], label: str | None = None) -> gpd.GeoDataFrame:
    """A shapefile with a .prj; reprojected to WGS84."""
    label = label or str(path)
    try:
        frame = pyogrio.read_dataframe(path)
    except Exception as exc:
        raise SourceError(label, f"cannot be read as a shapefile: {exc}") from None
    if frame.crs is None:
        raise SourceError(label, "has no coordinate reference system (.prj missing?)")
    require_columns(frame, columns, label)
    return frame.to_crs(4326)


def read_csv(path: Path, label: str | None = None, encoding: str = "utf-8", **kwargs) -> pd.DataFrame:
    """A CSV read as text (codes keep their leading zeros); a BOM is dropped with encoding utf-8-sig."""
    label = label or str(path)
    try:
        frame = pd.read_csv(path, dtype=str, encoding=encoding, keep_default_na=False, **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise SourceError(label, f"cannot be parsed as CSV: {exc}") from None
    if frame.empty:
        raise SourceError(label, "has a header but no rows")
    return frame


def require_columns(frame: pd.DataFrame, columns: Iterable[str], label: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SourceError(label, f"lacks the column(s) {missing}; it has {list(frame.columns)[:12]}")


def require_codes(codes: pd.Series, label: str, prefix: str = "") -> None:
    """Area codes are nine characters (E01000001), unique, and start with one of ``prefix``."""
    bad = codes[~codes.str.match(CODE) | ~codes.str.startswith(tuple(prefix) if prefix else "")]
    if len(bad):
        raise SourceError(label, f"has {len(bad)} malformed area codes, e.g. {list(bad[:3])}")
    dupes = codes[codes.duplicated()]
    if len(dupes):
        raise SourceError(label, f"has duplicate area codes, e.g. {sorted(set(dupes))[:3]}")


def to_numbers(frame: pd.DataFrame, columns: list[str], label: str) -> pd.DataFrame:
    """Text cells to floats; a cell that is not a number stops the build (blank stays missing).

    Arrow parses a whole column at once; only a column it refuses is walked to name the bad cells."""
    out = {}
    for column in columns:
        column_values = frame[column]
        try:
            text = pa.array(column_values, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            text = pa.array(column_values.astype(str).to_numpy(dtype=object), type=pa.string())
        text = pc.if_else(pc.is_null(text), "", text)
        text = pc.utf8_trim_whitespace(text)
        try:
            values = pc.cast(pc.if_else(pc.equal(text, ""), None, text), pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            parsed = pd.to_numeric(pd.Series(text.to_pylist()).replace("", None), errors="coerce")
            bad = [t for t, v in zip(text.to_pylist(), parsed, strict=True) if t and pd.isna(v)]
            raise SourceError(label, f"column {column!r} has {len(bad)} values that are not numbers, "
                                     f"e.g. {bad[:3]}") from None
        out[column] = values.to_numpy(zero_copy_only=False)
    return pd.DataFrame(out, index=frame.index).astype("float64")


def _require_same_codes(codes: pd.Series, label: str, other: pd.Series, other_label: str) -> None:
    """Two files of one release must list the same areas; the message blames the file with odd codes."""
    extra, missing = sorted(set(codes) - set(other)), sorted(set(other) - set(codes))
    if extra or missing:
        raise SourceError(label, f"area codes do not join with {other_label}: {len(extra)} not in it "
                                 f"(e.g. {extra[:3]}), {len(missing)} of it missing here (e.g. {missing[:3]})")


# --------------------------------------------------------------------------------------------------
# Nomis bulk KS102EW, all LSOAs of England and Wales

# ONS cell codes of KS102EW in publication order; the Nomis bulk header must carry these labels in this
# order, so the cells are the same variables as the ONS bulk and CDRC tables (KS102EW0001...).
KS102EW_CELLS: tuple[tuple[str, str, str], ...] = (
    ("KS102EW0001", "All usual residents", "count"),
    ("KS102EW0002", "Age 0 to 4", "count"),
    ("KS102EW0003", "Age 5 to 7", "count"),
    ("KS102EW0004", "Age 8 to 9", "count"),
    ("KS102EW0005", "Age 10 to 14", "count"),
    ("KS102EW0006", "Age 15", "count"),
    ("KS102EW0007", "Age 16 to 17", "count"),
    ("KS102EW0008", "Age 18 to 19", "count"),
    ("KS102EW0009", "Age 20 to 24", "count"),
    ("KS102EW0010", "Age 25 to 29", "count"),
    ("KS102EW0011", "Age 30 to 44", "count"),
    ("KS102EW0012", "Age 45 to 59", "count"),
    ("KS102EW0013", "Age 60 to 64", "count"),
    ("KS102EW0014", "Age 65 to 74", "count"),
    ("KS102EW0015", "Age 75 to 84", "count"),
    ("KS102EW0016", "Age 85 to 89", "count"),
    ("KS102EW0017", "Age 90 and over", "count"),
    ("KS102EW0018", "Mean Age", "years"),
    ("KS102EW0019", "Median Age", "years"),
)


def read_ks102ew_bulk(path: Path, label: str) -> pd.DataFrame:
    """Nomis bulk KS102EW: one row per LSOA, columns ``code`` and the cell codes (floats)."""
    frame = read_csv(path, label)
    expected = ["date", "geography", "geography code", "Rural Urban"]
    for _cell, text, _unit in KS102EW_CELLS:
        expected.append(f"Age: {text}; measures: Value")
    if list(frame.columns) != expected:
        got = list(frame.columns)
        where = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
                     min(len(got), len(expected)))
        raise SourceError(label, f"has an unexpected column layout: column {where + 1} is "
                                 f"{got[where] if where < len(got) else '(missing)'!r}, expected "
                                 f"{expected[where] if where < len(expected) else '(none)'!r}")
    if set(frame["Rural Urban"]) != {"Total"}:
        raise SourceError(label, "column 'Rural Urban' should be 'Total' on every row")
    require_codes(frame["geography code"], label, "EW")
    values = to_numbers(frame, expected[4:], label)
    values.columns = [cell for cell, _, _ in KS102EW_CELLS]
    values.insert(0, "code", frame["geography code"].to_numpy())
    return values


# --------------------------------------------------------------------------------------------------
# English Indices of Deprivation 2019 (MHCLG), data sheets as CSV

IMD_FILES = {
    "File_1": "deprivation/imd2019_england/csv_from_xlsx/File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv",
    "File_2": "deprivation/imd2019_england/csv_from_xlsx/File_2_-_IoD2019_Domains_of_Deprivation.csv",
    "File_3": "deprivation/imd2019_england/csv_from_xlsx/"
              "File_3_-_IoD2019_Supplementary_Indices_-_IDACI_and_IDAOPI.csv",
    "File_6": "deprivation/imd2019_england/csv_from_xlsx/File_6_-_IoD2019_Population_Denominators.csv",
}

# (variable suffix, label, column in the file, unit) per file
IMD_COLUMNS: dict[str, list[tuple[str, str, str, str]]] = {
    "File_2": [
        (f"{key}_{kind}", f"{name} {kind}", f"{name} {kind.title()} ({where})", kind)
        for key, name in [
            ("imd", "Index of Multiple Deprivation (IMD)"), ("income", "Income"), ("employment", "Employment"),
            ("education", "Education, Skills and Training"),
            ("health", "Health Deprivation and Disability"), ("crime", "Crime"),
            ("barriers", "Barriers to Housing and Services"), ("living", "Living Environment")]
        for kind, where in [("rank", "where 1 is most deprived"),
                            ("decile", "where 1 is most deprived 10% of LSOAs")]
    ],
    "File_3": [
        (f"{key}_{kind}", f"{name} {kind}", f"{name} {kind.title()} ({where})", kind)
        for key, name in [("idaci", "Income Deprivation Affecting Children Index (IDACI)"),
                          ("idaopi", "Income Deprivation Affecting Older People (IDAOPI)")]
        for kind, where in [("rank", "where 1 is most deprived"),
                            ("decile", "where 1 is most deprived 10% of LSOAs")]
    ],
    "File_6": [
        ("pop_total", "Total population, mid 2015 (excluding prisoners)",
         "Total population: mid 2015 (excluding prisoners)", "count"),
        ("pop_children", "Dependent children aged 0-15, mid 2015 (excluding prisoners)",
         "Dependent Children aged 0-15: mid 2015 (excluding prisoners)", "count"),
        ("pop_16_59", "Population aged 16-59, mid 2015 (excluding prisoners)",
         "Population aged 16-59: mid 2015 (excluding prisoners)", "count"),
        ("pop_60_plus", "Older population aged 60 and over, mid 2015 (excluding prisoners)",
         "Older population aged 60 and over: mid 2015 (excluding prisoners)", "count"),
        ("pop_working_age", "Working age population 18-59/64, mid 2015 (excluding prisoners)",
         "Working age population 18-59/64: for use with Employment Deprivation Domain (excluding prisoners)",
         "count"),
    ],
}
IMD_KEY = "LSOA code (2011)"
IMD_LSOAS = 32844


def read_imd2019(raw: RawFiles, expected: pd.Series, expected_label: str
                 ) -> tuple[pd.DataFrame, dict[str, tuple[str, str, str, str]]]:
    """IoD2019 ranks, deciles and denominators per English LSOA; and per variable its (label, file, column, unit)."""
    merged: pd.DataFrame | None = None
    meta: dict[str, tuple[str, str, str, str]] = {}
    file1 = raw(IMD_FILES["File_1"])
    first = read_csv(file1, IMD_FILES["File_1"])
    require_columns(first, [IMD_KEY, "Index of Multiple Deprivation (IMD) Rank",
                            "Index of Multiple Deprivation (IMD) Decile"], IMD_FILES["File_1"])
    _require_same_codes(first[IMD_KEY], IMD_FILES["File_1"], expected, expected_label)
    for key, columns in IMD_COLUMNS.items():
        label = IMD_FILES[key]
        frame = read_csv(raw(label), label)
        require_columns(frame, [IMD_KEY] + [c[2] for c in columns], label)
        require_codes(frame[IMD_KEY], label, "E")
        if len(frame) != IMD_LSOAS:
            raise SourceError(label, f"has {len(frame)} LSOAs; the IoD2019 covers {IMD_LSOAS}")
        numbers = to_numbers(frame, [c[2] for c in columns], label)
        numbers.columns = [f"imd2019_{c[0]}" for c in columns]
        numbers.insert(0, "code", frame[IMD_KEY].to_numpy())
        for suffix, text, column, unit in columns:
            meta[f"imd2019_{suffix}"] = (text, label, column, unit)
        _require_same_codes(numbers["code"], label, expected, expected_label)
        merged = numbers if merged is None else merged.merge(numbers, on="code", how="outer", validate="1:1")
    assert merged is not None
    # File_1 is the headline table; its rank must agree with the domains file, or the sheets are mixed up.
    check = first.set_index(IMD_KEY)["Index of Multiple Deprivation (IMD) Rank"].astype(float)
    mismatch = (merged.set_index("code")["imd2019_imd_rank"] != check.reindex(merged["code"]).to_numpy()).sum()
    if mismatch:
        raise SourceError(IMD_FILES["File_1"], f"IMD rank differs from File_2 for {mismatch} LSOAs")
    for column in [c for c in merged.columns if c.endswith("_rank")]:
        ranks = merged[column]
        if ranks.min() != 1 or ranks.max() != IMD_LSOAS:
            raise SourceError(meta[column][1], f"{meta[column][2]!r} should rank 1..{IMD_LSOAS}")
    return merged, meta


WIMD_FILES = {
    "rank": "deprivation/wimd2019_wales/"
            "welsh-index-multiple-deprivation-2019-index-and-domain-ranks-by-small-area.csv",
    "score": "deprivation/wimd2019_wales/wimd-2019-index-and-domain-scores-by-small-area.csv",
}
WIMD_DOMAINS = [("wimd", "WIMD 2019"), ("income", "Income"), ("employment", "Employment"), ("health", "Health"),
                ("education", "Education"), ("access", "Access to Services"), ("housing", "Housing"),
                ("safety", "Community Safety"), ("environment", "Physical Environment")]
WIMD_LSOAS = 1909


def read_wimd2019(raw: RawFiles, expected: pd.Series, expected_label: str
                  ) -> tuple[pd.DataFrame, dict[str, tuple[str, str, str, str]]]:
    """WIMD 2019 index and domain ranks and scores per Welsh LSOA (headers keep the publisher's trailing spaces)."""
    merged: pd.DataFrame | None = None
    meta: dict[str, tuple[str, str, str, str]] = {}
    for kind, label in WIMD_FILES.items():
        frame = read_csv(raw(label), label, encoding="utf-8-sig")
        # The publisher's headers carry trailing spaces on some columns ("WIMD 2019 "): match on the
        # stripped text, but report the real header.
        stripped = {c.strip(): c for c in frame.columns}
        require_columns(pd.DataFrame(columns=list(stripped)), ["LSOA code"] + [d[1] for d in WIMD_DOMAINS], label)
        code = frame[stripped["LSOA code"]]
        require_codes(code, label, "W")
        if len(frame) != WIMD_LSOAS:
            raise SourceError(label, f"has {len(frame)} LSOAs; WIMD 2019 covers {WIMD_LSOAS}")
        numbers = to_numbers(frame, [stripped[d[1]] for d in WIMD_DOMAINS], label)
        numbers.columns = [f"wimd2019_{key}_{kind}" for key, _ in WIMD_DOMAINS]
        numbers.insert(0, "code", code.to_numpy())
        for key, name in WIMD_DOMAINS:
            text = f"{name} {kind}" if key != "wimd" else f"Welsh Index of Multiple Deprivation 2019 {kind}"
            meta[f"wimd2019_{key}_{kind}"] = (text, label, stripped[name], kind)
        _require_same_codes(numbers["code"], label, expected, expected_label)
        merged = numbers if merged is None else merged.merge(numbers, on="code", how="outer", validate="1:1")
    assert merged is not None
    return merged, meta


# --------------------------------------------------------------------------------------------------
# CDRC 2011 Census pack (ONS bulk layout: GeographyCode then cell codes)

CDRC_DIR = "census2011/cdrc_census_pack_camden_E09000007"


@dataclass
class CdrcTable:
    table: str                      # KS101EW
    title: str                      # Usual resident population
    cells: dict[str, tuple[str, str]]  # cell code -> (measurement unit, description)
    levels: dict[str, pd.DataFrame]    # level -> frame with code + cell columns (floats)


def read_cdrc_pack(raw: RawFiles, levels: dict[str, str]) -> list[CdrcTable]:
    """Every table of a CDRC Census pack at the given levels ({'oa11': 'oa11', ...}), labelled from its
    variables_description.csv."""
    variables_label = f"{CDRC_DIR}/variables_description.csv"
    variables = read_csv(raw(variables_label), variables_label)
    require_columns(variables, ["DatasetId", "ColumnVariableCode", "ColumnVariableMeasurementUnit",
                                "ColumnVariableDescription"], variables_label)
    datasets_label = f"{CDRC_DIR}/datasets_description.csv"
    datasets = read_csv(raw(datasets_label), datasets_label)
    require_columns(datasets, ["DatasetId", "DatasetTitle"], datasets_label)
    titles = dict(zip(datasets["DatasetId"], datasets["DatasetTitle"], strict=True))
    cells_by_table: dict[str, dict[str, tuple[str, str]]] = {}
    for row in variables.itertuples(index=False):
        cells_by_table.setdefault(row.DatasetId, {})[row.ColumnVariableCode] = (
            row.ColumnVariableMeasurementUnit, row.ColumnVariableDescription)
    tables: list[CdrcTable] = []
    for table in sorted(cells_by_table):
        frames: dict[str, pd.DataFrame] = {}
        for level, suffix in levels.items():
            relative = f"{CDRC_DIR}/tables/{table}_{suffix}.csv"
            if not (raw.root / relative).exists():
                # Welsh-only tables (KS207WA...) are described in the pack but have no Camden files.
                if table.endswith("WA"):
                    continue
                raise SourceError(relative, f"is missing: {variables_label} describes table {table}")
            frame = read_csv(raw(relative), relative)
            if frame.columns[0] != "GeographyCode":
                raise SourceError(relative, f"first column is {frame.columns[0]!r}, expected 'GeographyCode'")
            unknown = [c for c in frame.columns[1:] if c not in cells_by_table[table]]
            if unknown:
                raise SourceError(relative, f"has cells not described in {variables_label}: {unknown[:5]}")
            require_codes(frame["GeographyCode"], relative, "E")
            numbers = to_numbers(frame, list(frame.columns[1:]), relative)
            numbers.insert(0, "code", frame["GeographyCode"].to_numpy())
            frames[level] = numbers
        if frames:
            tables.append(CdrcTable(table, titles.get(table, table), cells_by_table[table], frames))
    return tables


# --------------------------------------------------------------------------------------------------
# Census 2021 topics in Trafford Data Lab's long (tidy) format

C21_DIR = "census2021/trafford_E08000009_trafforddatalab"
C21_COLUMNS = ["area_code", "area_name", "geography", "period", "indicator"]


@dataclass
class Census2021Topic:
    dataset: str           # c21_general_health
    topic: str             # folder: health_disability_unpaid_care
    title: str             # General health
    universe: str          # Persons / Households
    unit: str              # count, or per km2 for density
    indicator: str         # the indicator text (definition)
    categories: list[str]  # category labels in file order
    files: dict[str, str]  # level -> relative path
    levels: dict[str, pd.DataFrame]  # level -> wide frame: code + one column per category


def read_census2021_long(raw: RawFiles, levels: dict[str, str]) -> list[Census2021Topic]:
    """Pivot every topic file (one row per area x category) to one row per area."""
    topics: dict[str, Census2021Topic] = {}
    suffix_of = {v: k for k, v in levels.items()}
    for path in raw.glob(C21_DIR, "*/2021_*.csv"):
        relative = raw.rel(path)
        match = re.fullmatch(r"2021_(.+)_(lsoa|oa)_trafford\.csv", path.name)
        if not match or match.group(2) not in suffix_of:
            raise SourceError(relative, "does not follow the name pattern 2021_<topic>_<lsoa|oa>_trafford.csv")
        name, level = match.group(1), suffix_of[match.group(2)]
        frame = read_csv(path, relative)
        require_columns(frame, C21_COLUMNS + ["measure", "unit", "value"], relative)
        extra = [c for c in frame.columns if c not in C21_COLUMNS + ["measure", "unit", "value"]]
        if len(extra) > 1:
            raise SourceError(relative, f"has more than one category column: {extra}")
        # Topics with one category column pivot on it; the population files carry the category in
        # `indicator` itself (e.g. "Aged 4 years and under").
        category = extra[0] if extra else "indicator"
        if set(frame["measure"]) != {"Count"}:
            raise SourceError(relative, f"measure should be Count, found {sorted(set(frame['measure']))}")
        values = to_numbers(frame, ["value"], relative)["value"]
        wide = (frame.assign(value=values)
                .pivot_table(index="area_code", columns=category, values="value", aggfunc="first", sort=False))
        counts = frame.groupby("area_code")[category].nunique()
        if frame.duplicated(["area_code", category]).any():
            raise SourceError(relative, f"has more than one row for an area and {category!r}")
        if counts.nunique() != 1:
            raise SourceError(relative, "areas do not all have the same categories")
        categories = list(dict.fromkeys(frame[category]))
        wide = wide[categories].reset_index().rename(columns={"area_code": "code"})
        require_codes(wide["code"], relative, "E")
        dataset = "c21_" + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        universe = frame["unit"].iloc[0]
        indicator = frame["indicator"].iloc[0] if extra else name.replace("_", " ")
        unit = "count"
        if any("per square kilometre" in str(v) for v in frame["indicator"].unique()):
            unit = "per km2"
        topic = topics.setdefault(dataset, Census2021Topic(
            dataset=dataset, topic=raw.rel(path.parent), title=name.replace("_", " ").capitalize(),
            universe=universe, unit=unit, indicator=indicator, categories=categories, files={}, levels={}))
        if categories != topic.categories:
            raise SourceError(relative, f"categories differ from those of {list(topic.files.values())[0]}")
        topic.files[level] = relative
        topic.levels[level] = wide
    return list(topics.values())


def read_text_rows(path: Path, label: str, encoding: str = "utf-8") -> list[list[str]]:
    """Rows of a small CSV (for checks that need the raw text)."""
    try:
        with open(path, newline="", encoding=encoding) as handle:
            return list(csv.reader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(label, f"cannot be read: {exc}") from None


# --------------------------------------------------------------------------------------------------
# Nomis layouts, R data frames and zipped CSVs (the national collection)

NOMIS_HEAD = ["date", "geography", "geography code"]


def read_nomis_bulk(path: Path, label: str, columns: list[str] | None = None, prefix: str = "EW",
                    date: str | None = None) -> pd.DataFrame:
    """A Nomis bulk CSV (``date, geography, geography code`` then one column per cell, labelled): one row
    per area, ``code`` then one float column per cell, named by its label. ``columns`` is the exact list of
    cell labels expected, in order (None: any, but at least one). Every cell must be a number."""
    frame = read_csv(path, label)
    got = list(frame.columns)
    if got[:3] != NOMIS_HEAD:
        raise SourceError(label, f"does not start with the Nomis bulk columns {NOMIS_HEAD}: {got[:3]}")
    cells = got[3:]
    if not cells:
        raise SourceError(label, "has no value columns")
    if columns is not None and cells != columns:
        where = next((i for i, (a, b) in enumerate(zip(cells, columns, strict=False)) if a != b),
                     min(len(cells), len(columns)))
        raise SourceError(label, f"has an unexpected column layout: column {where + 4} is "
                                 f"{cells[where] if where < len(cells) else '(missing)'!r}, expected "
                                 f"{columns[where] if where < len(columns) else '(none)'!r}")
    if date is not None and set(frame["date"]) != {date}:
        raise SourceError(label, f"column 'date' should be {date} on every row, found {sorted(set(frame['date']))[:3]}")
    require_codes(frame["geography code"], label, prefix)
    values = to_numbers(frame, cells, label)
    empty = values.isna().any(axis=1)
    if empty.any():
        raise SourceError(label, f"{int(empty.sum())} rows have empty cells, e.g. "
                                 f"{list(frame.loc[empty, 'geography code'][:3])}")
    values.insert(0, "code", frame["geography code"].to_numpy())
    return values


def read_nomis_download(path: Path, label: str, title: str, columns: list[str]) -> pd.DataFrame:
    """A Nomis table download: a blank line, metadata lines (the first is the table's title), a blank line,
    the header (``Area, mnemonic`` then the cell labels), area rows, disclosure notes. Rows of England and
    Wales LSOAs (mnemonic E01.../W01...) are kept; Scottish data zones (S01) are dropped; any other row of
    the table's width is an error. Returns ``code`` and one float column per cell label."""
    rows = read_text_rows(path, label)
    first = next((r for r in rows if any(c.strip() for c in r)), None)
    if not first or title not in first[0]:
        raise SourceError(label, f"does not start with the title {title!r} (found {first[:1] if first else 'nothing'})")
    header_at = next((i for i, r in enumerate(rows) if r[:2] == ["Area", "mnemonic"]), None)
    if header_at is None:
        raise SourceError(label, "has no header row starting 'Area', 'mnemonic'")
    header = rows[header_at]
    if header[2:] != columns:
        got = header[2:]
        where = next((i for i, (a, b) in enumerate(zip(got, columns, strict=False)) if a != b),
                     min(len(got), len(columns)))
        raise SourceError(label, f"has an unexpected column layout: column {where + 3} is "
                                 f"{got[where] if where < len(got) else '(missing)'!r}, expected "
                                 f"{columns[where] if where < len(columns) else '(none)'!r}")
    kept, other = [], []
    for row in rows[header_at + 1:]:
        if len(row) != len(header):
            continue  # blank lines and the two-cell disclosure notes
        code = row[1]
        if re.fullmatch(r"[EW]01\d{6}", code):
            if not row[0].startswith("lsoa2011:"):
                raise SourceError(label, f"area {code} is labelled {row[0]!r}, not as an LSOA 2011")
            kept.append(row)
        elif not re.fullmatch(r"S01\d{6}", code):
            other.append(code)
    if other:
        raise SourceError(label, f"{len(other)} rows are neither England and Wales LSOAs nor Scottish data "
                                 f"zones, e.g. {other[:3]}")
    if not kept:
        raise SourceError(label, "holds no England and Wales LSOA rows")
    frame = pd.DataFrame(kept, columns=header)
    require_codes(frame["mnemonic"], label, "EW")
    values = to_numbers(frame, columns, label)
    empty = values.isna().any(axis=1)
    if empty.any():
        raise SourceError(label, f"{int(empty.sum())} rows have empty cells, e.g. "
                                 f"{list(frame.loc[empty, 'mnemonic'][:3])}")
    values.insert(0, "code", frame["mnemonic"].to_numpy())
    return values


RDA_READER_VERSION = "1"


def _cached_parse(raw: RawFiles | None, path: Path, name: str, label: str, columns: list[str],
                  parse: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """``parse()``'s frame, kept in ``raw.cache`` as ``name`` (with ``{digest}``, the file's SHA-256) so the next
    build reads it back instead of parsing the same bytes again; written aside and renamed, whole or not at all."""
    cached = None
    if raw is not None and raw.cache is not None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        cached = raw.cache / name.format(digest=digest[:32])
        raw.used.add(cached.name)
        if cached.exists():
            frame = pd.read_parquet(cached)
            require_columns(frame, columns, label)
            return frame
    frame = parse()
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        part = cached.with_name(f".{cached.name}.{os.getpid()}")
        frame.to_parquet(part, index=False)
        os.replace(part, cached)
    return frame


def read_rda(path: Path, label: str, name: str, columns: list[str], raw: RawFiles | None = None) -> pd.DataFrame:
    """One data frame of an R ``save()`` file (read with the ``rdata`` package), with the given columns;
    R's row names (the pandas index) are dropped. With ``raw.cache``, a frame parsed before from the same
    bytes is read back from the cache (parsing R data in Python takes seconds per file)."""
    import rdata  # imported here: only the national tables need it

    def parse() -> pd.DataFrame:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "tbl_df" and similar classes it does not know: harmless
                objects = rdata.read_rda(path)
        except Exception as exc:  # the parser raises many types on a truncated or corrupt file
            raise SourceError(label, f"cannot be read as R data: {type(exc).__name__}: {exc}") from None
        if name not in objects:
            raise SourceError(label, f"holds no object {name!r} (it has {sorted(objects)[:5]})")
        frame = objects[name]
        if not isinstance(frame, pd.DataFrame) or frame.empty:
            raise SourceError(label, f"object {name!r} is not a data frame with rows")
        require_columns(frame, columns, label)
        return frame.reset_index(drop=True)

    return _cached_parse(raw, path, f"rda-{{digest}}-{name}-v{RDA_READER_VERSION}-{rdata.__version__}.parquet",
                         label, columns, parse)


def read_zip_csv(path: Path, label: str, member: str, encoding: str = "utf-8") -> pd.DataFrame:
    """The one CSV member of a zip, read as text like ``read_csv``."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if names != [member]:
                raise SourceError(label, f"should hold the one member {member!r}, holds {names[:5]}")
            data = archive.read(member)
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise SourceError(label, f"is not a readable zip (truncated?): {exc}") from None
    return read_csv(io.BytesIO(data), f"{label} ({member})", encoding=encoding)


XLSX_READER_VERSION = "1"


def read_xlsx(path: Path, label: str, sheet: str, columns: list[str], raw: RawFiles | None = None) -> pd.DataFrame:
    """One sheet of an Excel workbook whose first row is the header (openpyxl, read-only, values as saved):
    the given columns, every cell as Python text (numbers as their shortest text, so ``to_numbers`` and
    code checks treat the sheet like a CSV). With ``raw.cache`` a sheet parsed before from the same bytes
    is read back from the cache (openpyxl takes about 2 s for 33,755 rows)."""

    def parse() -> pd.DataFrame:
        import openpyxl  # noqa: PLC0415 - only the workbooks need it
        from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

        try:
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
            raise SourceError(label, f"cannot be read as an Excel workbook (truncated or corrupt?): {exc}") from None
        try:
            if sheet not in book.sheetnames:
                raise SourceError(label, f"has no sheet {sheet!r} (sheets: {', '.join(book.sheetnames)})")
            rows = book[sheet].iter_rows(values_only=True)
            header = next(rows, None)
            if not header:
                raise SourceError(label, f"sheet {sheet!r} is empty")
            names = ["" if h is None else str(h) for h in header]
            body = [[_cell_text(v) for v in row] for row in rows if any(v is not None and v != "" for v in row)]
        except (zipfile.BadZipFile, KeyError, EOFError, zlib.error) as exc:
            raise SourceError(label, f"cannot be read as an Excel workbook (truncated or corrupt?): {exc}") from None
        finally:
            book.close()
        if not body:
            raise SourceError(label, f"sheet {sheet!r} has a header but no rows")
        if any(len(r) != len(names) for r in body):
            raise SourceError(label, f"sheet {sheet!r} has rows of another width than its header")
        frame = pd.DataFrame(body, columns=names, dtype=object).astype(str)
        require_columns(frame, columns, label)
        return frame

    safe = re.sub(r"[^A-Za-z0-9]+", "_", sheet)
    return _cached_parse(raw, path, f"xlsx-{{digest}}-{safe}-v{XLSX_READER_VERSION}.parquet", label, columns, parse)


def _cell_text(value: object) -> str:
    """A workbook cell as CSV text: empty for none, whole numbers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
