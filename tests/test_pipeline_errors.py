"""Bad raw files stop the build with a message naming the file, and the extracts in use stay intact."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import build
from pipeline.readers import SourceError

PROJECT = Path(__file__).resolve().parent.parent
BULK = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
IMD2 = "deprivation/imd2019_england/csv_from_xlsx/File_2_-_IoD2019_Domains_of_Deprivation.csv"
WIMD = "deprivation/wimd2019_wales/welsh-index-multiple-deprivation-2019-index-and-domain-ranks-by-small-area.csv"
SCILLY = "boundaries/lsoa11_by_lad/E06000053.json"
TENURE = "national/census2011_lsoa11/sitepredictor--census-2011-tenure--england-wales.csv"
HH_DEPRIVATION = "national/census2011_lsoa11/IMD_census11_deprivation_england_wales_lsoa11.rda"


def raw_with(raw_dir: Path, tmp: Path, relative: str, content: bytes | None) -> Path:
    """A raw folder linking to the real files, except ``relative``: replaced by ``content`` (None: removed)."""
    root = tmp / "raw"
    parts = Path(relative).parts
    here, source = root, raw_dir
    here.mkdir()
    for depth, part in enumerate(parts):
        for sibling in source.iterdir():
            if sibling.name != part:
                (here / sibling.name).symlink_to(sibling)
        if depth < len(parts) - 1:
            here, source = here / part, source / part
            here.mkdir()
    if content is not None:
        (here / parts[-1]).write_bytes(content)
    return root


@pytest.fixture()
def previous(data_dir: Path, tmp_path: Path) -> Path:
    """A data folder holding a copy of the session's good build as `current`."""
    good = (data_dir / "current").resolve()
    target = tmp_path / "data"
    shutil.copytree(good, target / "builds" / good.name)
    (target / "current").symlink_to(Path("builds") / good.name)
    return target


def _assert_intact(data: Path) -> None:
    current = (data / "current").resolve()
    manifest = json.loads((current / "build.json").read_text())
    assert current.name == manifest["id"]
    assert (current / "values/lsoa11/ks102ew.parquet").stat().st_size > 0
    assert [p.name for p in (data / "builds").iterdir()] == [current.name]  # nothing half-written beside it


def _edit(raw_dir: Path, relative: str, old: bytes, new: bytes) -> bytes:
    text = (raw_dir / relative).read_bytes()
    assert old in text
    return text.replace(old, new, 1)


CASES = {
    "missing file": (BULK, lambda raw: None, "missing from ATLAS_RAW_DIR"),
    "truncated csv": (BULK, lambda raw: (raw / BULK).read_bytes()[: 3_000_000], "do not join"),
    "truncated geojson": (SCILLY, lambda raw: (raw / SCILLY).read_bytes()[:500], "not valid JSON"),
    "not a number": (IMD2, lambda raw: _edit(raw, IMD2, b"E01000001,City of London 001A,E09000001,City of London,29199",
                                             b"E01000001,City of London 001A,E09000001,City of London,n/a"),
                     "not numbers"),
    "unexpected columns": (BULK, lambda raw: _edit(raw, BULK, b'"Age: Age 5 to 7; measures: Value"',
                                                   b'"Age: Age 5 to 9; measures: Value"'),
                           "unexpected column layout"),
    "codes do not join": (WIMD, lambda raw: _edit(raw, WIMD, b"W01000001,", b"W01999999,"), "do not join"),
    "empty file": (IMD2, lambda raw: b"", "is empty"),
    "a subtotal that is not the sum of its parts": (
        TENURE, lambda raw: _edit(raw, TENURE, b'"E01012334",962,727,', b'"E01012334",962,728,'), "is not the sum"),
    "an empty R data file": (HH_DEPRIVATION, lambda raw: b"", "is empty"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_stops_the_build_and_keeps_previous_extracts(case: str, raw_dir: Path, previous: Path,
                                                              tmp_path: Path) -> None:
    relative, make, message = CASES[case]
    raw = raw_with(raw_dir, tmp_path, relative, make(raw_dir))
    with pytest.raises(SourceError) as error:
        build.build(raw, previous)
    assert error.value.path == relative  # the message blames the file that was broken
    assert message in str(error.value)
    _assert_intact(previous)


def test_command_line_reports_the_file_without_a_traceback(raw_dir: Path, previous: Path, tmp_path: Path) -> None:
    raw = raw_with(raw_dir, tmp_path, WIMD, _edit(raw_dir, WIMD, b"W01000001,", b"W01999999,"))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")},
           "ATLAS_RAW_DIR": str(raw), "ATLAS_DATA_DIR": str(previous)}
    result = subprocess.run([sys.executable, "-m", "pipeline", "build"], cwd=PROJECT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1
    assert WIMD in result.stderr and "W01999999" in result.stderr and "Traceback" not in result.stderr
    assert "extracts in use were not changed" in result.stderr
    _assert_intact(previous)


def test_command_line_rejects_a_bad_setting(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}, "ATLAS_CACHE_TYPE": "Memcache"}
    result = subprocess.run([sys.executable, "-m", "pipeline", "build"], cwd=PROJECT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "ATLAS_CACHE_TYPE" in result.stderr and "SimpleCache" in result.stderr and "Traceback" not in result.stderr
