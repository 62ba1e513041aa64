"""Files with geometry and PDF reports written in the worker's pool (atlas/renderpool.py, atlas/datapack.py,
atlas/report.py): a web worker never imports geopandas, GDAL (pyogrio, fiona), fpdf2 or matplotlib; the files
are those the worker wrote itself; a full pool answers 503 with Retry-After; a pool process killed mid-pack
gives a clear 503 and the next request works."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import flask
import psutil
import pytest

from atlas import catalogue, datapack, renderpool
from web import api, downloads

ROOT = Path(__file__).resolve().parent.parent
CAMDEN, HARTLEPOOL, VARIABLE = "E09000007", "E06000001", "ks102ew0002"
#: What a web worker must never import: the files' writers, the PDF report's and the map drawing live in the
#: pool's processes.
NEVER_IN_A_WORKER = ("geopandas", "pyogrio", "fiona", "fpdf", "matplotlib")


@pytest.fixture()
def process_pool(atlas_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The pool as deployed: processes started by forkserver (atlas_env sets threads for the other tests)."""
    monkeypatch.setenv("ATLAS_EXPORT_POOL", "process")
    monkeypatch.setenv("ATLAS_EXPORT_TIMEOUT", "300")  # a fork server starting on a loaded test machine
    monkeypatch.setenv("ATLAS_CACHE_DIR", str(tmp_path / "cache"))
    renderpool.reset_pool()
    yield renderpool.get_pool()
    renderpool.reset_pool()


def _client() -> flask.testing.FlaskClient:
    server = flask.Flask(__name__)
    api.init_app(server)
    downloads.init_app(server)
    return server.test_client()


def _gpkg_rows(data: bytes, tmp_path: Path) -> list[str]:
    """A GeoPackage's SQL dump with GDAL's write time (gpkg_contents.last_change) taken out."""
    path = tmp_path / f"{len(list(tmp_path.iterdir()))}.gpkg"
    path.write_bytes(data)
    with sqlite3.connect(path) as db:
        return [re.sub(r"'\d{4}-\d\d-\d\dT[\d:.]+Z'", "'T'", line) for line in db.iterdump()]


def test_the_pool_writes_the_files_the_worker_wrote(process_pool, tmp_path) -> None:
    """A view's rows and a datastore dataset, in every geographic format, written in a pool process from plain
    data (frames, rows, GeoJSON bytes), are the files written here from the catalogue's objects."""
    s = catalogue.build()
    values, meta = s.values(CAMDEN, "lsoa11", VARIABLE), s.variable(VARIABLE)
    geojson, layer = s.area_geojson_bytes(CAMDEN, "lsoa11"), f"{CAMDEN}_lsoa11_{VARIABLE}"
    here = datapack.values_frame(values, s.area_geojson(CAMDEN, "lsoa11"))
    assert datapack.view_file(values, geojson, meta, "geojson", layer) == datapack.values_geojson(here, meta)
    assert datapack.view_file(values, geojson, meta, "parquet", layer) == datapack.values_parquet(here, meta)
    assert (_gpkg_rows(datapack.view_file(values, geojson, meta, "gpkg", layer), tmp_path)
            == _gpkg_rows(datapack.values_gpkg(here, meta, layer), tmp_path))
    frame, rows = s.dataset_values(CAMDEN, "lsoa11", "ks102ew")
    dataset = {"dataset": "ks102ew", "authority": CAMDEN, "level": "lsoa11",
               "variables": [{k: r.get(k) for k in ("id", "label", "unit", "source", "licence")} for r in rows]}
    for fmt in ("geojson", "parquet", "gpkg"):
        there = datapack.dataset_file(frame, dataset, fmt, geojson, "ds")
        written = datapack._dataset_geo_file(frame, dataset, fmt, geojson, "ds")  # noqa: SLF001 - here, as before
        if fmt == "gpkg":
            assert _gpkg_rows(there, tmp_path) == _gpkg_rows(written, tmp_path)
        else:
            assert there == written, fmt
    assert process_pool.in_flight == 0


SERVE = """
import json, sys
import app
client = app.server.test_client()
before = {{m for m in {never} if m in sys.modules}}
statuses = {{path: client.get(path).status_code for path in {paths}}}
print(json.dumps({{"statuses": statuses, "before": sorted(before),
                  "after": sorted(m for m in {never} if m in sys.modules)}}))
"""


def test_a_web_worker_never_imports_geopandas(atlas_env, tmp_path) -> None:
    """The whole app in a process of its own (as a gunicorn worker), its pool of processes as deployed, serves a
    datapack, downloads with geometry (a view's rows and a datastore dataset) and a PDF report: none of the
    writers' libraries is imported by it, before or after."""
    paths = [f"/datapack/{HARTLEPOOL}.zip", f"/api/values/{CAMDEN}/lsoa11/{VARIABLE}.gpkg",
             f"/api/values/{CAMDEN}/lsoa11/{VARIABLE}.geojson", f"/api/values/{CAMDEN}/lsoa11/{VARIABLE}.parquet",
             f"/datastore/{CAMDEN}/lsoa11/ks102ew.gpkg", f"/datastore/{CAMDEN}/lsoa11/ks102ew.geojson",
             f"/api/profile/{CAMDEN}.pdf"]
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("ATLAS_")}
    env.update({"PYTHONPATH": str(ROOT), "ATLAS_DATA_DIR": str(atlas_env), "ATLAS_TILES_URL": "",
                "ATLAS_CACHE_TYPE": "SimpleCache", "ATLAS_CACHE_DIR": str(tmp_path / "cache"),
                "ATLAS_EXPORT_POOL": "process", "ATLAS_EXPORT_TIMEOUT": "300", "ATLAS_EXPORT_RATE_LIMIT": "",
                "ATLAS_PULL_EVERY": "0"})
    script = SERVE.format(never=NEVER_IN_A_WORKER, paths=paths)
    out = tmp_path / "out.txt"
    with open(out, "w") as handle:  # a file: the pool's processes must not hold a pipe open
        subprocess.run([sys.executable, "-c", script], stdout=handle, stderr=subprocess.DEVNULL, timeout=600,
                       cwd=ROOT, env=env, check=True)
    got = json.loads(out.read_text().strip().splitlines()[-1])
    assert got["statuses"] == {path: 200 for path in paths}
    assert got["before"] == [] and got["after"] == [], got


class _Held:
    """A task that holds the pool's only slot until released."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self) -> None:
        self.started.set()
        assert self.release.wait(timeout=120)


def test_a_full_pool_answers_files_503_with_retry_after(atlas_env, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ATLAS_CACHE_DIR", str(tmp_path / "cache"))
    pool = renderpool.RenderPool("thread", workers=1, queue=0, timeout=60)
    monkeypatch.setattr(renderpool, "get_pool", lambda config=None: pool)
    client, held = _client(), _Held()
    holder = threading.Thread(target=pool.run, args=(held,), kwargs={"what": "test"})
    holder.start()
    try:
        assert held.started.wait(timeout=60)
        for path in (f"/api/values/{CAMDEN}/lsoa11/{VARIABLE}.gpkg", f"/datapack/{HARTLEPOOL}.zip"):
            busy = client.get(path)
            assert busy.status_code == 503 and busy.mimetype == "application/json", path
            body = busy.get_json()
            assert int(busy.headers["Retry-After"]) >= 1 and body["retry_after"] == int(busy.headers["Retry-After"])
            assert "try again" in body["error"] and "Traceback" not in busy.get_data(as_text=True)
        # Nothing half-written is left where the pack would be.
        folder = datapack.cache_path(catalogue.build(), HARTLEPOOL).parent
        assert not [p for p in folder.iterdir() if p.suffix in (".zip", ".part")]
    finally:
        held.release.set()
        holder.join(timeout=60)
    assert client.get(f"/api/values/{CAMDEN}/lsoa11/{VARIABLE}.gpkg").status_code == 200  # a slot again
    assert client.get(f"/datapack/{HARTLEPOOL}.zip").status_code == 200
    pool.shutdown()


def test_a_pool_process_killed_mid_pack_is_a_clear_503_and_the_next_request_works(process_pool) -> None:
    client = _client()
    process_pool.warm()
    outcome: dict = {}
    asking = threading.Thread(target=lambda: outcome.update(r=client.get(f"/datapack/{CAMDEN}.zip")))
    asking.start()
    while process_pool.in_flight == 0:  # Camden's pack takes seconds to write: killed well before it is done
        asking.join(timeout=0.01)
    # the pool's one live process (the one warm() used was replaced after its task): the one writing the pack
    deadline = time.monotonic() + 60
    while len(live := [p for p in process_pool._executor._processes.values() if p.is_alive()]) != 1:  # noqa: SLF001
        assert time.monotonic() < deadline, live
        time.sleep(0.01)
    victim = psutil.Process(live[0].pid)
    victim.kill()
    asking.join(timeout=300)
    lost = outcome["r"]
    assert lost.status_code == 503 and int(lost.headers["Retry-After"]) >= 1
    assert lost.get_json()["error"] == ("the process making this datapack stopped before it was done; "
                                        "try again shortly")
    folder = datapack.cache_path(catalogue.build(), CAMDEN).parent
    assert not [p for p in folder.iterdir() if p.suffix in (".zip", ".part")]  # nothing half-written kept
    again = client.get(f"/datapack/{CAMDEN}.zip")
    assert again.status_code == 200 and psutil.Process(process_pool.warm()).pid != victim.pid
    with zipfile.ZipFile(datapack.cache_path(catalogue.build(), CAMDEN)) as zf:
        assert zf.testzip() is None and "oa11/areas.gpkg" in zf.namelist()
