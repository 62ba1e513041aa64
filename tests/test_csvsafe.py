"""No CSV the app writes can carry a formula: hostile text through the one function (atlas/csvsafe.py) and
through each writer (values CSV, datapack CSVs and variables.csv, profile CSV); numbers stay numbers."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import flask
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from atlas import catalogue, compare, csvsafe, datapack
from web import api

CAMDEN = "E09000007"
HOSTILE = ["=1+2", "+SUM(A1:A2)", "-2+3", "@SUM(1)", "\tx", "\r=1", "=HYPERLINK(\"https://evil.example\",\"x\")",
           "=cmd|' /C calc'!A0", "  =1+1", "-", "+", "@", "=", "- 1", "-inf", "+44 20 7946 0000"]
NUMBERS = ["-3.2", "+1", "1e-05", "-1E+10", "0", "-.5", "12.50", " -7 "]
_FORMULA = tuple(csvsafe.FORMULA_STARTS)


def _dangerous(cell: str) -> bool:
    """Would a spreadsheet read this cell as a formula?"""
    return cell.lstrip(" ").startswith(_FORMULA) and not csvsafe.is_number(cell.strip(" "))


@given(st.text(max_size=30) | st.sampled_from(HOSTILE + NUMBERS)
       | st.builds(lambda a, b: a + b, st.sampled_from(list("=+-@\t\r ")), st.text(max_size=10)))
def test_no_text_cell_can_start_a_formula_and_nothing_else_changes(text: str) -> None:
    safe = csvsafe.cell(text)
    assert not _dangerous(safe)
    assert safe == text or safe == "'" + text  # at most one apostrophe added, nothing taken away


@pytest.mark.parametrize("value", [-3.2, 0, 7, None, 1e-5, float("nan")] + NUMBERS)
def test_numbers_stay_numbers(value) -> None:
    assert csvsafe.cell(value) is value


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_gets_an_apostrophe(text: str) -> None:
    assert csvsafe.cell(text) == "'" + text


def _cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def _names(n: int) -> list[str]:
    return [HOSTILE[i % len(HOSTILE)] for i in range(n)]


@pytest.fixture()
def hostile_names(atlas_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every area name is hostile text (as a council's own upload could be); values stay numbers."""
    real = catalogue.Catalogue.values

    def values(self, authority: str, level: str, variable: str) -> pd.DataFrame:
        frame = real(self, authority, level, variable).copy()
        frame["name"] = _names(len(frame))
        return frame

    real_names = catalogue.Catalogue.area_short_names

    def area_short_names(self, authority: str, level: str) -> tuple[list[str], list[str]]:
        codes, _ = real_names(self, authority, level)  # what a datapack names its areas by
        return codes, _names(len(codes))

    monkeypatch.setattr(catalogue.Catalogue, "values", values)
    monkeypatch.setattr(catalogue.Catalogue, "area_short_names", area_short_names)


def test_values_csv_escapes_names_and_keeps_numbers(hostile_names) -> None:
    server = flask.Flask(__name__)
    api.init_app(server)
    text = server.test_client().get(f"/api/values/{CAMDEN}/lsoa11/ks102ew0002.csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(not _dangerous(c) for c in _cells(text))
    assert {r["name"] for r in rows} >= {"'" + h for h in HOSTILE}
    for r in rows:  # numbers are written as numbers
        float(r["value"])
        int(r["rank"])


def test_datapack_csvs_escape_names_and_labels(hostile_names, monkeypatch, tmp_path) -> None:
    real_variables = catalogue.Catalogue.variables

    def variables(self, *args, **kwargs) -> list[dict]:
        rows = real_variables(self, *args, **kwargs)
        return [{**r, "label": HOSTILE[i % len(HOSTILE)], "unit": "=1+1"} for i, r in enumerate(rows)]

    monkeypatch.setattr(catalogue.Catalogue, "variables", variables)
    target = tmp_path / "pack.zip"
    datapack.build_zip(catalogue.build(), "E06000001", target)  # Hartlepool: small, every LSOA dataset
    with zipfile.ZipFile(target) as zf:
        names = [n for n in zf.namelist() if n.endswith(".csv")]
        assert "variables.csv" in names and any(n.startswith("lsoa11/values_") for n in names)
        for name in names:
            text = zf.read(name).decode()
            assert all(not _dangerous(c) for c in _cells(text)), name
        values = list(csv.DictReader(io.StringIO(zf.read(names[0] if names[0] != "variables.csv"
                                                          else names[1]).decode())))
        assert {v["name"] for v in values} & {"'" + h for h in HOSTILE}
        numeric = [c for r in values for k, c in r.items() if k not in ("code", "name") and c]
        assert numeric and all(float(c) == float(c) for c in numeric)  # unquoted numbers, no apostrophes
        definitions = list(csv.DictReader(io.StringIO(zf.read("variables.csv").decode())))
        assert {d["label"] for d in definitions} >= {"'=1+2", "'@SUM(1)"} and definitions[0]["unit"] == "'=1+1"


def test_profile_csv_escapes_every_text_cell_and_keeps_negative_numbers() -> None:
    rows = [{"variable": "=v", "label": "+label", "unit": "@unit", "median": -3.2, "national": -1.5,
             "coverage": "-England", "better": "=better",
             "areas": [{"code": "E01", "value": -3.25, "percentile": 12.5}]}]
    text = compare.profile_csv(rows, {"E01": "=HYPERLINK(\"x\")"}, "@Camden")
    assert all(not _dangerous(c) for c in _cells(text))
    line = list(csv.reader(io.StringIO(text)))
    assert line[0][3:6] == ["E01 value", "E01 percentile in @Camden", "median in @Camden"]  # not at the start
    assert line[1][3] == "'=HYPERLINK(\"x\")"
    assert line[2][:3] == ["'=v", "'+label", "'@unit"]
    assert line[2][3:7] == ["-3.25", "12.5", "-3.2", "-1.5"]  # numbers untouched
    assert line[2][7:] == ["'-England", "'=better"]
