"""Downloads explain themselves, in standard vocabularies checked by a standard tool.

Every CSV the atlas serves has W3C CSV on the Web metadata beside it (``<csv>-metadata.json``, linked from
the CSV's ``Link: rel="describedby"``), and every datapack a Frictionless ``datapackage.json``: both are read
here and the CSVs validated against them with the ``frictionless`` package (types, missing values, primary
keys, column names in order). The GeoJSON's variable block carries the note, cells and decimals, and the
GeoPackage's columns have titles (``gpkg_data_columns``).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import zipfile
from pathlib import Path

import frictionless
import pytest

BIRMINGHAM, HARTLEPOOL, GWYNEDD, TRAFFORD = "E08000025", "E06000001", "W06000002", "E08000009"
TYPES = {"double": "number", "integer": "integer", "string": "string", "boolean": "boolean"}


@pytest.fixture()
def client(atlas_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ATLAS_CACHE_DIR", str(tmp_path / "cache"))
    import app as app_module

    return app_module.server.test_client()


def _validate_csvw(metadata: dict, csv_bytes: bytes, folder: Path, name: str = "data.csv") -> None:
    """The CSVW metadata is well formed, names the CSV's columns in order, and the CSV validates (frictionless)
    against the schema it states."""
    assert metadata["@context"][0] == "http://www.w3.org/ns/csvw"
    assert metadata["url"] and metadata["dc:title"] and metadata["dc:description"]
    assert "halves away from zero" in metadata["dc:description"]
    columns = metadata["tableSchema"]["columns"]
    header = next(csv.reader(io.StringIO(csv_bytes.decode())))
    assert [c["name"] for c in columns] == header
    for c in columns:
        assert c["titles"] and c["datatype"] in TYPES and c["dc:description"], c
    (folder / name).write_bytes(csv_bytes)
    schema = frictionless.Schema.from_descriptor({
        "fields": [{"name": c["name"], "type": TYPES[c["datatype"]]} for c in columns],
        "missingValues": [c.get("null", "") for c in columns[:1]],
        "primaryKey": [metadata["tableSchema"]["primaryKey"]]})
    report = frictionless.Resource(path=name, basepath=str(folder), schema=schema).validate()
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]


def _kinds(client, authority: str, level: str) -> list[str]:
    """One variable of each kind of figure with data here (unit, method, kind), found from the catalogue."""
    rows = client.get(f"/api/variables?authority={authority}&level={level}").get_json()["variables"]
    seen: dict[tuple, str] = {}
    for r in rows:
        seen.setdefault((r.get("unit"), r.get("method"), r.get("kind"), bool(r.get("rank_variable"))), r["id"])
    return sorted(seen.values())


@pytest.mark.parametrize(("authority", "level"), [(BIRMINGHAM, "lsoa11"), (GWYNEDD, "lsoa11"),
                                                  (HARTLEPOOL, "ward22"), (TRAFFORD, "lsoa21")])
def test_every_kind_of_values_csv_has_valid_csvw_metadata(client, tmp_path, authority, level):
    variables = _kinds(client, authority, level)
    assert len(variables) >= 3
    for variable in variables:
        got = client.get(f"/api/values/{authority}/{level}/{variable}.csv")
        assert got.status_code == 200
        link = re.search(r'<([^>]+)>; rel="describedby"', got.headers["Link"])
        assert link and link.group(1).endswith(f"{variable}.csv-metadata.json")
        meta = client.get(link.group(1))
        assert meta.status_code == 200 and meta.mimetype == "application/csvm+json"
        body = meta.get_json()
        assert body["url"].endswith(f"/api/values/{authority}/{level}/{variable}.csv")
        assert body["dc:license"].startswith("https://") and body["dc:source"]
        value = next(c for c in body["tableSchema"]["columns"] if c["name"] == "value")
        row = client.get(f"/api/variables/{variable}").get_json()
        assert value["titles"] == row["label"]
        if row["kind"] != "categorical":
            assert f"Printed to {row['decimals']} decimal place" in value["dc:description"]
            if row.get("cells") and row["cells"] != row.get("cell"):
                assert row["cells"] in value["dc:description"]
        _validate_csvw(body, got.data, tmp_path, f"{variable}.csv")


def test_datastore_dataset_csv_has_valid_csvw_metadata(client, tmp_path):
    got = client.get(f"/datastore/{BIRMINGHAM}/lsoa11/ks402ew.csv")
    assert got.status_code == 200
    link = re.search(r'<([^>]+)>; rel="describedby"', got.headers["Link"]).group(1)
    body = client.get(link).get_json()
    assert body["url"].endswith(f"/datastore/{BIRMINGHAM}/lsoa11/ks402ew.csv")
    titles = {c["name"]: c["titles"] for c in body["tableSchema"]["columns"]}
    assert titles["ks402ew0002_pct"].startswith("Owned: Owned outright")
    _validate_csvw(body, got.data, tmp_path)


def test_datapack_has_a_valid_datapackage_and_csvw_for_every_csv(client, tmp_path):
    response = client.get(f"/datapack/{HARTLEPOOL}.zip")
    assert response.status_code == 200
    pack = zipfile.ZipFile(io.BytesIO(response.data))
    pack.extractall(tmp_path)
    descriptor = json.loads((tmp_path / "datapackage.json").read_text())
    paths = {r["path"] for r in descriptor["resources"]}
    csvs = {n for n in pack.namelist() if n.endswith(".csv")}
    assert paths == csvs  # every CSV is described, and nothing else is
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:5]
    assert any(lic.get("name") == "OGL-UK-3.0" for lic in descriptor["licenses"])
    for name in csvs - {"variables.csv"} - {n for n in csvs if n.endswith("lsoa11_lsoa21.csv")}:
        metadata = json.loads(pack.read(name[:-4] + ".csv-metadata.json"))
        assert metadata["url"] == Path(name).name
        _validate_csvw(metadata, pack.read(name), tmp_path, "pack.csv")


def test_geojson_and_geopackage_carry_labels(client, tmp_path):
    variable = "ks402ew0002_pct"
    gj = client.get(f"/api/values/{BIRMINGHAM}/lsoa11/{variable}.geojson").get_json()
    about = gj["variable"]
    assert about["note"] is not None and about["cells"] and about["decimals"] == 1
    assert about["columns"]["value"].startswith("Owned: Owned outright") and "rank_national" in about["columns"]
    gpkg = client.get(f"/api/values/{BIRMINGHAM}/lsoa11/{variable}.gpkg")
    path = tmp_path / "v.gpkg"
    path.write_bytes(gpkg.data)
    with sqlite3.connect(path) as con:
        titles = dict(con.execute("SELECT column_name, title FROM gpkg_data_columns"))
        extensions = {r[0] for r in con.execute("SELECT table_name FROM gpkg_extensions "
                                                "WHERE extension_name = 'gpkg_schema'")}
    assert titles["value"].startswith("Owned: Owned outright") and titles["rank"] == "Rank within the place"
    assert "gpkg_data_columns" in extensions
    ds = client.get(f"/datastore/{BIRMINGHAM}/lsoa11/ks402ew.gpkg")
    path.write_bytes(ds.data)
    with sqlite3.connect(path) as con:
        titles = dict(con.execute("SELECT column_name, title FROM gpkg_data_columns"))
    assert titles["ks402ew0002_pct"].startswith("Owned: Owned outright")
