"""Downloads of data: one view's rows as GeoJSON, GeoPackage and GeoParquet, and an authority's whole
datapack as a zip, each read back with the usual tools and compared with the data API's JSON."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from pathlib import Path

import flask
import geopandas
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
import shapely.geometry

from atlas import datapack
from web import api, downloads, security

TRAFFORD = "E08000009"
CAMDEN = "E09000007"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("atlas-cache")


@pytest.fixture()
def client(atlas_env: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> flask.testing.FlaskClient:
    monkeypatch.setenv("ATLAS_CACHE_DIR", str(cache_dir))
    server = flask.Flask(__name__)
    api.init_app(server)
    downloads.init_app(server)
    security.init_app(server)
    return server.test_client()


def _same(a: object, b: object) -> bool:
    """Equal, with every kind of missing (None, NaN, <NA>) equal to every other."""
    missing = [x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)) for x in (a, b)]
    if any(missing):
        return all(missing)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def _assert_rows(frame: pd.DataFrame, rows: list[dict]) -> None:
    assert list(frame["code"]) == [r["code"] for r in rows]
    for record, row in zip(frame.to_dict("records"), rows, strict=True):
        for key in ("code", "name", "full_name", "value", "rank", "rank_national"):
            assert _same(record[key], row[key]), (row["code"], key, record[key], row[key])


@pytest.mark.parametrize("place,variable", [
    (f"{CAMDEN}/oa11", "ks102ew0018"),  # mean age: decimals
    (f"{TRAFFORD}/lsoa21", "c21_household_tenure_owned_owns_outright_pct"),
    ("all/lad", "ks102ew0001"),  # the national overview, with national ranks
])
@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "parquet"])
def test_view_downloads_read_back_as_the_json(client, tmp_path, place, variable, fmt):
    expected = client.get(f"/api/values/{place}/{variable}.json")
    assert expected.status_code == 200
    body = expected.get_json()
    rows, meta = body["rows"], body["variable"]
    response = client.get(f"/api/values/{place}/{variable}.{fmt}")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    authority, level = place.split("/")
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="{authority}_{level}_{variable}.{fmt}"')
    assert "open-government-licence" in response.headers["Link"] and 'rel="license"' in response.headers["Link"]
    data = io.BytesIO(response.data)
    if fmt == "geojson":
        collection = json.loads(response.data)
        frame = geopandas.GeoDataFrame.from_features(collection["features"], crs="EPSG:4326")
        assert collection["variable"]["licence"] == meta["licence"]
        assert collection["variable"]["source"] == meta["source"]
    elif fmt == "gpkg":
        path = tmp_path / "values.gpkg"  # GDAL wants the extension of a GeoPackage
        path.write_bytes(response.data)
        frame = geopandas.read_file(path, engine="pyogrio")
        info = pyogrio.read_info(path)
        assert info["layer_metadata"]["LICENCE"] == meta["licence"]
    else:
        frame = geopandas.read_parquet(data)
        about = json.loads(pq.read_schema(io.BytesIO(response.data)).metadata[b"atlas"])
        assert about["licence"] == meta["licence"] and about["id"] == variable
    assert frame.crs.to_epsg() == 4326
    _assert_rows(frame, rows)
    # The geometry is the map's own, area by area.
    areas = client.get(f"/api/areas/{authority}/{level}.geojson").get_json()["features"]
    shapes = {f["properties"]["code"]: shapely.geometry.shape(f["geometry"]) for f in areas}
    for code, geom in zip(frame["code"], frame.geometry, strict=True):
        assert shapely.equals_exact(shapely.normalize(geom), shapely.normalize(shapely.geometry.MultiPolygon(
            [shapes[code]]) if shapes[code].geom_type == "Polygon" and geom.geom_type == "MultiPolygon"
            else shapes[code]), tolerance=1e-9), code


def test_unknown_format_lists_the_new_ones(client):
    body = client.get(f"/api/values/{CAMDEN}/oa11/ks102ew0018.shp").get_json()
    assert {"geojson", "gpkg", "parquet"} <= set(body["valid"])


def test_revalidation_of_a_geopackage_is_304(client):
    first = client.get(f"/api/values/{CAMDEN}/lsoa11/ks102ew0001.gpkg")
    again = client.get(f"/api/values/{CAMDEN}/lsoa11/ks102ew0001.gpkg",
                       headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def _zip(client, authority: str) -> zipfile.ZipFile:
    response = client.get(f"/datapack/{authority}.zip")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    return zipfile.ZipFile(io.BytesIO(response.data))


def test_datapack_holds_every_variable_at_every_level_as_the_api_serves_them(client, tmp_path):
    pack = _zip(client, TRAFFORD)
    names = set(pack.namelist())
    build = client.get("/api").get_json()["build"]
    levels = {d["level"] for d in client.get(f"/api/authorities/{TRAFFORD}").get_json()["levels"]}
    definitions = list(csv.DictReader(io.StringIO(pack.read("variables.csv").decode())))
    assert tuple(definitions[0]) == datapack.DEFINITION_FIELDS
    defined = {d["id"]: d for d in definitions}
    readme = pack.read("README.md").decode()
    assert build in readme and "Trafford" in readme
    seen_levels = set()
    for level in sorted(levels):
        catalogue = client.get(f"/api/variables?authority={TRAFFORD}&level={level}").get_json()["variables"]
        if not catalogue:
            continue  # boundaries but no figures at this level
        seen_levels.add(level)
        columns: dict[str, pd.Series] = {}
        codes = None
        for dataset in sorted({v["dataset"] for v in catalogue}):
            parquet = pd.read_parquet(io.BytesIO(pack.read(f"{level}/values_{dataset}.parquet")))
            text = {c: str for c in parquet.columns if parquet[c].dtype == "string"}  # category codes ("6") stay text
            table = pd.read_csv(io.BytesIO(pack.read(f"{level}/values_{dataset}.csv")), dtype={"code": str, **text})
            assert list(table.columns) == list(parquet.columns)
            pd.testing.assert_frame_equal(table[parquet.columns[2:]], parquet[parquet.columns[2:]],
                                          check_dtype=False, rtol=1e-14)
            codes = list(parquet["code"]) if codes is None else codes
            assert list(parquet["code"]) == codes
            for column in parquet.columns[2:]:
                columns[column] = parquet[column]
        # Every variable the API has here, and nothing else; a categorical variable's codes are followed by
        # their labels (<id>_label).
        categorical = {v["id"] for v in catalogue if v["kind"] == "categorical"}
        labels = {c.removesuffix("_label"): columns.pop(c) for c in list(columns)
                  if c.endswith("_label") and c.removesuffix("_label") in categorical}
        assert set(labels) == categorical
        # Figures carried from other areas (IoD 2025 and WIMD 2025 on 2011 LSOAs) bring what each area's
        # figures are, and a split area's range per variable (<id>_low, <id>_high).
        ids = {v["id"] for v in catalogue}
        carried = {c: columns.pop(c) for c in list(columns)
                   if c in ("carried", "carried_note", "parts") or
                   (c.endswith(("_low", "_high")) and c.rsplit("_", 1)[0] in ids)}
        if level == "lsoa11":
            assert {"carried", "carried_note", "parts", "imd2025_imd_decile_low"} <= set(carried)
            split = carried["carried"] == "split"
            # Trafford's one split 2011 LSOA (the lookup's two 'S' rows): a range of ranks, never one figure
            assert split.sum() == 1 and carried["imd2025_imd_rank_low"][split].notna().all()
        assert set(columns) == ids
        for v in catalogue:
            assert defined[v["id"]]["label"] == v["label"] and defined[v["id"]]["licence"] == v["licence"]
            assert f"| {v['id']} |" in readme
        # Values equal the API's JSON, for a spread of variables of each dataset.
        sample = sorted(columns)[:: max(1, len(columns) // 12)] + [sorted(columns)[-1]] + sorted(categorical)
        for variable in sample:
            rows = client.get(f"/api/values/{TRAFFORD}/{level}/{variable}.json").get_json()["rows"]
            assert [r["code"] for r in rows] == codes
            for row, value in zip(rows, columns[variable], strict=True):
                assert _same(value, row["value"]), (level, variable, row["code"])
            for row, label in zip(rows, labels.get(variable, []), strict=False):
                assert _same(label, row["label"]), (level, variable, row["code"])
        (tmp_path / f"{level}.gpkg").write_bytes(pack.read(f"{level}/areas.gpkg"))
        areas = geopandas.read_file(tmp_path / f"{level}.gpkg", engine="pyogrio")
        assert list(areas["code"]) == codes and areas.crs.to_epsg() == 4326
        assert f"{level}/areas.gpkg" in names
    assert seen_levels == {"lsoa11", "oa11", "lsoa21", "oa21", "ward22"}


def test_datapack_is_built_once_and_revalidated(client, monkeypatch):
    first = client.get(f"/datapack/{TRAFFORD}.zip")
    assert first.status_code == 200 and first.headers["ETag"]

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cached datapack should have been served")

    monkeypatch.setattr(datapack, "build_zip", no_rebuild)
    again = client.get(f"/datapack/{TRAFFORD}.zip")
    assert again.status_code == 200 and again.data == first.data
    assert client.get(f"/datapack/{TRAFFORD}.zip",
                      headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    # Nothing half-written is left beside it.
    folder = datapack.cache_path(__import__("atlas.catalogue", fromlist=["build"]).build(), TRAFFORD).parent
    assert not [p for p in folder.iterdir() if p.name.endswith(".part")]


@pytest.mark.parametrize("authority", ["E99999999", "S12000033", "all", "nope"])
def test_no_datapack_without_small_areas(client, authority):
    response = client.get(f"/datapack/{authority}.zip")
    assert response.status_code == 404 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["what"] == "authority" and body["value"] == authority and "E06000001" in body["valid"]
    assert "all" not in body["valid"] and "S12000033" not in body["valid"]
    assert body["valid_count"] == sum(1 for a in client.get("/api/authorities").get_json()["authorities"]
                                      if a["levels"])


def test_simultaneous_requests_build_a_pack_once(atlas_env, tmp_path, monkeypatch):
    import threading

    from atlas import catalogue

    monkeypatch.setenv("ATLAS_CACHE_DIR", str(tmp_path))
    s = catalogue.build()

    class Arrivals:
        """The pack's per-process lock, counting the threads that have come to it."""

        def __init__(self) -> None:
            self._lock = threading.Lock()
            self.count = 0
            self.changed = threading.Condition()

        def __enter__(self) -> None:
            with self.changed:
                self.count += 1
                self.changed.notify_all()
            self._lock.acquire()

        def __exit__(self, *exc) -> None:
            self._lock.release()

    arrivals = Arrivals()
    monkeypatch.setitem(datapack._locks, str(datapack.cache_path(s, "E09000001")), arrivals)
    calls = []
    real = datapack.build_zip

    def build_when_all_wait(s, authority, target):
        calls.append(authority)
        # Build only once the other two threads wait on the lock this one holds: each then finds the pack
        # built when its turn comes, and must not build it again.
        with arrivals.changed:
            assert arrivals.changed.wait_for(lambda: arrivals.count == 3, timeout=60), arrivals.count
        return real(s, authority, target)

    monkeypatch.setattr(datapack, "build_zip", build_when_all_wait)
    paths, errors = [], []

    def ensure() -> None:
        try:
            paths.append(datapack.ensure(s, "E09000001"))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=ensure) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert calls == ["E09000001"] and len(set(paths)) == 1 and paths[0].exists()
    assert zipfile.ZipFile(paths[0]).testzip() is None


def test_a_removed_builds_packs_are_pruned_only_once_idle(tmp_path):
    """Packs of a build the data folder no longer holds are dropped, but not while that folder is still being
    written: a cache folder shared with another data folder (another build) never loses a pack under way."""
    import os
    import time
    from types import SimpleNamespace

    data = tmp_path / "data"
    (data / "builds" / "mine").mkdir(parents=True)
    root = tmp_path / "cache" / "datapacks"
    for name in ("mine", "removed", "elsewhere"):
        (root / name).mkdir(parents=True)
        (root / name / "E09000007.zip").write_bytes(b"pk")
    old = time.time() - datapack.PRUNE_AGE - 60
    os.utime(root / "removed", (old, old))
    datapack._prune_old_builds(SimpleNamespace(data_dir=data, build_id="mine"), root)
    assert sorted(p.name for p in root.iterdir()) == ["elsewhere", "mine"]


def test_reading_a_pack_reads_no_values_beyond_its_datasets(atlas_env, monkeypatch):
    """The request thread reads the areas' codes and names, never a variable's values for them: those would
    read its national ranks (every output area of England and Wales) into the worker for nothing."""
    from atlas import catalogue, extracts

    s = catalogue.build()

    def refused(*_args, **_kwargs):
        raise AssertionError("the pack read a variable's values")

    monkeypatch.setattr(extracts.Extracts, "values", refused)
    monkeypatch.setattr(extracts.Extracts, "national_ranks", refused)
    data = datapack.pack_data(s.anonymous(), "E09000007")
    lsoa = next(lv for lv in data.levels if lv.level == "lsoa11")
    codes, _names, full_names = s.extracts.areas(("E09000007",), "lsoa11")
    assert lsoa.codes == codes.tolist() and len(lsoa.codes) == 133
    assert all(full.startswith(name) for name, full in zip(lsoa.names, full_names, strict=True))
    assert lsoa.names[0].startswith("Camden ")
