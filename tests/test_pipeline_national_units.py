"""The national readers on small real subsets, without a build: strict reading of each new format (a
broken file names itself and the problem), the ward join on code and name, and re-basing one district.

Each case links the real raw folder and replaces one file (``raw_with`` from test_pipeline_errors)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from test_pipeline_errors import raw_with

from pipeline import elections, national
from pipeline.readers import RawFiles, SourceError

LAD = "boundaries/lad/Local_Authority_Districts_(December_2021)_UK_BUC.geojson"
BULK = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"


@pytest.fixture(scope="module")
def lsoa11(raw_dir: Path) -> pd.Index:
    with open(raw_dir / BULK, newline="", encoding="utf-8") as handle:
        return pd.Index(sorted(r["geography code"] for r in csv.DictReader(handle)))


@pytest.fixture(scope="module")
def lad21(raw_dir: Path) -> set[str]:
    return {f["properties"]["LAD21CD"] for f in json.loads((raw_dir / LAD).read_text())["features"]}


def _edit(raw_dir: Path, relative: str, old: bytes, new: bytes, count: int = 1) -> bytes:
    text = (raw_dir / relative).read_bytes()
    assert old in text, old
    return text.replace(old, new, count)


# --------------------------------------------------------------------------------------------------
# strict reading: each broken file is named with its problem

def test_a_broken_subtotal_in_the_tenure_table_is_caught(raw_dir: Path, tmp_path: Path, lsoa11: pd.Index) -> None:
    # Darlington 001B: 962 households, 727 owned (322 outright + 405 mortgage): make "owned" 728
    row = b'"2011","Darlington 001B","E01012334",962,'
    broken = _edit(raw_dir, national.F_TENURE, row + b"727,", row + b"728,")
    raw = raw_with(raw_dir, tmp_path, national.F_TENURE, broken)
    with pytest.raises(SourceError) as error:
        national.census2011_datasets(RawFiles(raw), lsoa11)
    assert error.value.path == national.F_TENURE and "is not the sum of" in str(error.value)
    assert "E01012334" in str(error.value)


def test_a_shifted_header_in_a_nomis_download_is_caught(raw_dir: Path, tmp_path: Path, lsoa11: pd.Index) -> None:
    swapped = _edit(raw_dir, national.F_HEATING, b'"No central heating","Gas central heating"',
                    b'"Gas central heating","No central heating"')
    raw = raw_with(raw_dir, tmp_path, national.F_HEATING, swapped)
    with pytest.raises(SourceError) as error:
        national.census2011_datasets(RawFiles(raw), lsoa11)
    assert error.value.path == national.F_HEATING and "unexpected column layout" in str(error.value)


def test_a_truncated_nomis_bulk_file_is_caught(raw_dir: Path, tmp_path: Path, lsoa11: pd.Index) -> None:
    text = (raw_dir / national.F_QUALS).read_bytes()
    raw = raw_with(raw_dir, tmp_path, national.F_QUALS, text[: len(text) // 2])
    with pytest.raises(SourceError) as error:
        national.census2011_datasets(RawFiles(raw), lsoa11)
    assert error.value.path == national.F_QUALS
    assert "empty cells" in str(error.value) or "do not join" in str(error.value)


def test_a_truncated_r_data_file_is_caught(raw_dir: Path, tmp_path: Path, lsoa11: pd.Index) -> None:
    text = (raw_dir / national.F_HH_DEPRIVATION).read_bytes()
    raw = raw_with(raw_dir, tmp_path, national.F_HH_DEPRIVATION, text[:5000])
    with pytest.raises(SourceError) as error:
        national.household_deprivation_dataset(RawFiles(raw), lsoa11)
    assert error.value.path == national.F_HH_DEPRIVATION and "cannot be read as R data" in str(error.value)


def test_a_census2021_cell_that_is_not_a_number_is_caught(raw_dir: Path, tmp_path: Path) -> None:
    relative = f"{national.N21}/census2021-ts045-lsoa.csv"
    first_row = (raw_dir / relative).read_text().splitlines()[1]
    broken = first_row.rsplit(",", 1)[0] + ",n/a"
    raw = raw_with(raw_dir, tmp_path, relative, _edit(raw_dir, relative, first_row.encode(), broken.encode()))
    codes = pd.read_csv(raw_dir / national.F_EXACT, encoding="utf-8-sig", usecols=["LSOA21CD"])["LSOA21CD"]
    with pytest.raises(SourceError) as error:
        national.read_census2021(RawFiles(raw), pd.Index(codes.unique()))
    assert error.value.path == relative and "not numbers" in str(error.value)


def test_a_lookup_whose_change_flags_disagree_with_its_pairs_is_caught(raw_dir: Path, tmp_path: Path,
                                                                        lsoa11: pd.Index, lad21: set[str]) -> None:
    # E01000953 (Camden 022B) was split in two; call one of its rows "unchanged"
    row = b"E01000953,Camden 022B,E01035708,Camden 022F,"
    raw = raw_with(raw_dir, tmp_path, national.F_EXACT, _edit(raw_dir, national.F_EXACT, row + b"S,", row + b"U,"))
    with pytest.raises(SourceError) as error:
        national.read_exact_lookup(RawFiles(raw), lsoa11, lad21)
    assert error.value.path == national.F_EXACT and "more than one CHGIND" in str(error.value)


def test_a_truncated_zip_is_caught(raw_dir: Path, tmp_path: Path) -> None:
    text = (raw_dir / national.F_OAC).read_bytes()
    raw = raw_with(raw_dir, tmp_path, national.F_OAC, text[: len(text) // 3])
    with pytest.raises(SourceError) as error:
        national.oac_datasets(RawFiles(raw), pd.Index(["E00000001"]), pd.Index(["E00000001"]))
    assert error.value.path == national.F_OAC and "zip" in str(error.value)


def test_a_vote_count_that_is_not_a_number_is_caught(raw_dir: Path, tmp_path: Path, lad21: set[str]) -> None:
    relative = elections.RESULTS[2022]
    raw = raw_with(raw_dir, tmp_path, relative, _edit(raw_dir, relative, b'E05013864,Abbey,3,UAT,"6,396"',
                                                      b'E05013864,Abbey,3,UAT,"six thousand"'))
    wards = _wards(raw_dir, lad21, ["E06000038"])
    with pytest.raises(SourceError) as error:
        elections.read_results(RawFiles(raw), 2022, wards)
    assert error.value.path == relative and "E05013864" in str(error.value)


# --------------------------------------------------------------------------------------------------
# the ward join: code AND name

@dataclass(frozen=True)
class _Some(RawFiles):
    """The raw folder, but its ward folder lists only some authorities' files."""

    keep: frozenset[str] = frozenset()

    def glob(self, folder: str, pattern: str) -> list[Path]:
        return [p for p in super().glob(folder, pattern) if p.stem in self.keep]


def _wards(raw_dir: Path, lad21: set[str], authorities: list[str]) -> pd.DataFrame:
    """The December 2022 wards of a few authorities only."""
    return elections.read_wards(_Some(raw_dir, keep=frozenset(authorities)), lad21)


def _subset_results(raw_dir: Path, tmp_path: Path, authorities: set[str],
                    rename: tuple[str, str] | None = None) -> Path:
    """The 2022 results file with only the rows of some authorities (title and header kept)."""
    relative = elections.RESULTS[2022]
    with open(raw_dir / relative, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    kept = [r for r in rows[2:] if r[3] in authorities]
    if rename:
        kept = [[rename[1] if c == rename[0] else c for c in r] for r in kept]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows[:2] + kept)
    return raw_with(raw_dir, tmp_path, relative, out.getvalue().encode())


def test_reused_ward_codes_are_told_apart_by_name(raw_dir: Path, tmp_path: Path, lad21: set[str]) -> None:
    richmond, tower_hamlets = "E09000027", "E09000030"
    wards = _wards(raw_dir, lad21, [richmond, tower_hamlets])
    raw = _subset_results(raw_dir, tmp_path, {richmond, tower_hamlets})
    result = elections.read_results(RawFiles(raw), 2022, wards)
    report = result.report
    assert report.recoded == [("Hampton Wick", "E05013778", "E05013780")]
    assert sorted(report.unresolved) == [("E05009317", "Bethnal Green East"), ("E05009317", "Bethnal Green West")]
    assert result.frame.at["E05013778", "electorate"] == 7353      # Hampton
    assert result.frame.at["E05013780", "electorate"] == 8073      # Hampton Wick -> Hampton Wick & South Teddington
    assert "E05009317" not in result.frame.index and "E05009331" not in result.frame.index
    assert len(result.frame) == 18 + 20 - 2


def test_a_reused_code_whose_names_both_fit_nowhere_is_never_guessed(raw_dir: Path, tmp_path: Path,
                                                                    lad21: set[str]) -> None:
    # Rename Hampton Wick to a name no Richmond ward has: it can no longer be placed, and Hampton keeps its code.
    raw = _subset_results(raw_dir, tmp_path, {"E09000027"}, rename=("Hampton Wick", "Nowhere Green"))
    result = elections.read_results(RawFiles(raw), 2022, _wards(raw_dir, lad21, ["E09000027"]))
    assert ("E05013778", "Nowhere Green") in result.report.unresolved
    assert result.frame.at["E05013778", "electorate"] == 7353


@pytest.mark.parametrize(("a", "b", "agree"), [
    ("St. Marys", "St Mary's", 2), ("Barlby and Ricall", "Barlby & Riccall", 1),
    ("Bodmin St MaryÃ¦s & St Leonard", "Bodmin St Mary's & St Leonard", 2), ("Hampton Wick", "Hampton", 1),
    ("Hampton Wick", "Hampton Wick & South Teddington", 1), ("Hampton Wick", "Hampton North", 0),
    ("Bethnal Green West", "St Peter's", 0), ("Bôn-y-maen", "Bon-y-maen", 2),
])
def test_ward_names_agree(a: str, b: str, agree: int) -> None:
    assert elections.names_agree(a, b) == agree


# --------------------------------------------------------------------------------------------------
# re-basing, on the real lookup

def test_rebase_sums_splits_and_shares_merges(raw_dir: Path, lsoa11: pd.Index, lad21: set[str]) -> None:
    rebase = national.read_exact_lookup(RawFiles(raw_dir), lsoa11, lad21)
    camden21 = rebase.lad22.index[rebase.lad22 == "E09000007"]
    counts = pd.DataFrame({"n": 1.0}, index=rebase.group21.index)  # one of something per 2021 LSOA
    weights = pd.Series(1.0, index=lsoa11)
    weights["E01000864"], weights["E01000865"] = 3.0, 1.0
    got = rebase.apply(counts, weights, "test")["n"]
    assert got["E01000842"] == 1.0                    # unchanged
    assert got["E01000953"] == 2.0                    # split in two: summed back
    assert (got["E01000864"], got["E01000865"]) == (0.75, 0.25)  # merged: shared 3:1
    assert got.sum() == pytest.approx(len(rebase.group21))        # nothing lost, nothing invented
    assert len(camden21) == 130
    with pytest.raises(SourceError, match="cannot apportion"):
        rebase.apply(counts, weights.drop(["E01000864", "E01000865"]), "test")


def test_the_areas_cache_key_follows_boundaries_and_their_code_not_tables() -> None:
    from pipeline import build

    files = {"boundaries/lad/lad.geojson": "a", "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv": "b",
             "national/elections/wd22_by_lad/E06000001.geojson": "c",
             "national/census2021_lsoa21/census2021-ts054-lsoa.csv": "d",
             "later/lookups/Exact_LSOA11_to_LSOA21_to_LAD22_EW.csv": "e"}
    key = build._areas_key(files)
    assert build._areas_key({**files, "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv": "B"}) == key
    assert build._areas_key({**files, "national/census2021_lsoa21/census2021-ts054-lsoa.csv": "D"}) == key
    for changed in ("boundaries/lad/lad.geojson", "national/elections/wd22_by_lad/E06000001.geojson",
                    "later/lookups/Exact_LSOA11_to_LSOA21_to_LAD22_EW.csv"):
        assert build._areas_key({**files, changed: "X"}) != key, changed
