"""The 2025 deprivation readers and the LSOA 2021 boundaries on real files with one broken, without a build: each
broken file names itself and the problem (a decile out of range, a truncated workbook, an R frame of another
edition, an unknown WIMD code, a stray column, the same LSOA with two polygons), and a 2021 district whose LSOAs
lie in two 2024 districts stops the build.

Each case links the real raw folder and replaces one file (``raw_with`` from test_pipeline_errors)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from test_pipeline_errors import raw_with

from pipeline import build, deprivation2025, national
from pipeline.readers import RawFiles, SourceError

EXACT = "later/lookups/Exact_LSOA11_to_LSOA21_to_LAD22_EW.csv"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Parsed workbooks and R frames shared by the cases: a broken file has other bytes, so its own entry."""
    return tmp_path_factory.mktemp("parsed")


@pytest.fixture(scope="module")
def lsoa21(raw_dir: Path) -> pd.Index:
    with open(raw_dir / EXACT, newline="", encoding="utf-8-sig") as handle:
        return pd.Index(sorted({r["LSOA21CD"] for r in csv.DictReader(handle)}))


def _workbook(raw_dir: Path, relative: str, sheet: str, row: int, column: int, value: object) -> bytes:
    book = openpyxl.load_workbook(raw_dir / relative)
    book[sheet].cell(row=row, column=column).value = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_decile_out_of_range_in_file_1_is_caught(raw_dir: Path, tmp_path: Path, lsoa21: pd.Index,
                                                   cache: Path) -> None:
    broken = _workbook(raw_dir, deprivation2025.F_FILE1, "IMD25", 2, 6, 11)  # E01000001's decile: 8 -> 11
    raw = raw_with(raw_dir, tmp_path, deprivation2025.F_FILE1, broken)
    with pytest.raises(SourceError) as error:
        deprivation2025.read(RawFiles(raw, cache=cache), lsoa21)
    assert error.value.path == deprivation2025.F_FILE1
    assert "whole numbers 1 to 10" in str(error.value) and "Decile" in str(error.value)


def test_file_3_disagreeing_with_file_1_is_caught(raw_dir: Path, tmp_path: Path, lsoa21: pd.Index,
                                                  cache: Path) -> None:
    broken = _workbook(raw_dir, deprivation2025.F_FILE3, "IoD2025 IDACI & IDAOPI", 2, 5, 26526)
    raw = raw_with(raw_dir, tmp_path, deprivation2025.F_FILE3, broken)
    with pytest.raises(SourceError) as error:
        deprivation2025.read(RawFiles(raw, cache=cache), lsoa21)
    # a rank that repeats (26,526 is another LSOA's) or differs from File 1: File 3 is named either way
    assert error.value.path == deprivation2025.F_FILE3


def test_a_truncated_workbook_is_caught(raw_dir: Path, tmp_path: Path, lsoa21: pd.Index,
                                        cache: Path) -> None:
    text = (raw_dir / deprivation2025.F_FILE1).read_bytes()
    raw = raw_with(raw_dir, tmp_path, deprivation2025.F_FILE1, text[: len(text) // 2])
    with pytest.raises(SourceError) as error:
        deprivation2025.read(RawFiles(raw, cache=cache), lsoa21)
    assert error.value.path == deprivation2025.F_FILE1 and "Excel workbook" in str(error.value)


def test_an_r_frame_of_another_edition_is_caught(raw_dir: Path, tmp_path: Path, lsoa21: pd.Index,
                                                 cache: Path) -> None:
    # The IoD 2025 File 10 frame in place of the LSOA frame: not the LSOA frame the build expects
    other = (raw_dir / deprivation2025.F_LTLA).read_bytes()
    raw = raw_with(raw_dir, tmp_path, deprivation2025.F_RDA, other)
    with pytest.raises(SourceError) as error:
        deprivation2025.read(RawFiles(raw, cache=cache), lsoa21)
    assert error.value.path == deprivation2025.F_RDA and "no object 'imd2025_england_lsoa21'" in str(error.value)


@pytest.mark.parametrize(("old", "new", "problem"), [
    (b"W01000003,Amlwch Port", b"W01999999,Amlwch Port", "do not join"),
    (b"W01000004,Amlwch Rural,Isle of Anglesey,1132,1215,1061,1574,637,263,844,1447,1543,",
     b"W01000004,Amlwch Rural,Isle of Anglesey,1132,1215,1061,1574,637,263,844,1447,1543,9", "not empty"),
    (b"W01000005,Beaumaris,Isle of Anglesey,676,", b"W01000005,Beaumaris,Isle of Anglesey,67.5,", "whole numbers"),
])
def test_a_broken_wimd_file_is_caught(raw_dir: Path, tmp_path: Path, lsoa21: pd.Index, cache: Path, old: bytes,
                                      new: bytes, problem: str) -> None:
    text = (raw_dir / deprivation2025.F_WIMD).read_bytes()
    assert old in text
    raw = raw_with(raw_dir, tmp_path, deprivation2025.F_WIMD, text.replace(old, new, 1))
    with pytest.raises(SourceError) as error:
        deprivation2025.read(RawFiles(raw, cache=cache), lsoa21)
    assert error.value.path == deprivation2025.F_WIMD and problem in str(error.value)


def test_a_2021_district_in_two_2024_districts_stops_the_build() -> None:
    lad24 = pd.Series({"E01000001": "E06000001", "E01000002": "E06000002"})
    lad22 = pd.Series({"E01000001": "E06000001", "E01000002": "E06000001"})
    with pytest.raises(SourceError) as error:
        deprivation2025.district_map(lad24, lad22, pd.Series({"E06000001": "A", "E06000002": "B"}))
    assert "several 2024 districts" in str(error.value)
    merged = deprivation2025.district_map(pd.Series({"a": "E06000065", "b": "E06000065"}),
                                          pd.Series({"a": "E07000163", "b": "E07000164"}),
                                          pd.Series({"E06000065": "North Yorkshire"}))
    assert list(merged["status"]) == ["merged", "merged"] and "E07000164" in merged.at["E07000163", "note"]


def test_the_same_lsoa_with_two_polygons_is_caught(raw_dir: Path, tmp_path: Path) -> None:
    # Sheffield's LSOAs sit in two files (E08000019, E08000039): move one polygon in the second
    relative = f"{build.DRKANE_LSOA21}/E08000039.geojson"
    doc = json.loads((raw_dir / relative).read_text(encoding="utf-8"))
    ring = doc["features"][0]["geometry"]["coordinates"][0]
    ring = ring if isinstance(ring[0][0], float) else ring[0]
    ring[1] = [ring[1][0] + 0.001, ring[1][1]]
    raw = raw_with(raw_dir, tmp_path, relative, json.dumps(doc).encode())
    files = RawFiles(raw)
    lads = build._read_lads(files)
    lsoa11 = build._read_lsoa_lookup(files).index
    rebase = national.read_exact_lookup(files, lsoa11, set(lads["LAD21CD"]))
    with pytest.raises(SourceError) as error:
        build._read_2021(files, lads, rebase)
    assert "with another polygon" in str(error.value) and "E08000039" in str(error.value)
