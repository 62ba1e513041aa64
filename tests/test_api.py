"""The data API through its standalone Flask app (api.standalone(): the API and compression), on the real
extracts."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import brotli
import flask
import geobuf
import pytest
from server_support import first_answer, listening_socket, spawn_on

from atlas import catalogue
from web import api

IMD_FILE_1 = "deprivation/imd2019_england/csv_from_xlsx/File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv"


@pytest.fixture()
def client(atlas_env: Path) -> flask.testing.FlaskClient:
    return api.standalone().test_client()


@pytest.fixture()
def build_id(atlas_env: Path) -> str:
    return json.loads((atlas_env / "current" / "build.json").read_text())["id"]


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    text = response.get_data(as_text=True)
    assert isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in text and 'File "' not in text
    return body


# -- the URL surface -------------------------------------------------------------------------------------

def test_index_lists_every_route(client, build_id):
    body = client.get("/api").get_json()
    assert body["build"] == build_id
    assert [r["rule"] for r in body["routes"]] == [r.rule for r in api.ROUTES]
    assert "lsoa11" in body["levels"] and "lad" in body["levels"]


def test_authorities(client):
    response = client.get("/api/authorities")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    by_code = {a["code"]: a for a in response.get_json()["authorities"]}
    assert by_code["E07000194"]["name"] == "Lichfield"
    assert {d["level"]: d["areas"] for d in by_code["E07000194"]["levels"]} == {
        "lsoa11": 58, "oa11": 325, "lsoa21": 62, "ward22": 22}
    assert by_code["W06000015"]["nation"] == "Wales"
    one = client.get("/api/authorities/E08000009").get_json()
    assert {d["level"] for d in one["levels"]} == {"lsoa11", "oa11", "lsoa21", "oa21", "ward22"}


def test_variables_filtered(client):
    body = client.get("/api/variables?authority=E09000007&level=oa11").get_json()
    assert body["count"] == len(body["variables"]) > 100
    assert all("E09000007" in v["authorities"] and "oa11" in v["levels"] for v in body["variables"])
    found = client.get("/api/variables?q=median+age").get_json()["variables"]
    assert "ks102ew0019" in {v["id"] for v in found}
    one = client.get("/api/variables/imd2019_imd_rank").get_json()
    assert one["unit"] == "rank" and one["national_levels"] == ["lsoa11"]


# -- values ----------------------------------------------------------------------------------------------

def test_values_json_are_the_published_imd_figures(client, raw_dir):
    with open(raw_dir / IMD_FILE_1, newline="", encoding="utf-8") as f:
        imd = {r["LSOA code (2011)"]: int(r["Index of Multiple Deprivation (IMD) Rank"])
               for r in csv.DictReader(f)}
    response = client.get("/api/values/E07000194/lsoa11/imd2019_imd_rank.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["variable"]["id"] == "imd2019_imd_rank" and body["variable"]["unit"] == "rank"
    assert body["authority"] == {"code": "E07000194", "name": "Lichfield"}
    # A publisher's rank is shown as published and never ranked again (a rank of a rank misleads).
    assert body["count"] == len(body["rows"]) == 58 and body["national_ranks"] is False
    assert body["ranked"] is False and "not ranked again" in body["variable"]["rank_note"]
    for row in body["rows"]:
        assert set(row) == {"code", "name", "full_name", "value", "rank", "rank_national"}
        assert row["value"] == imd[row["code"]]
        assert row["rank"] is None and row["rank_national"] is None
    assert client.get(body["links"]["csv"]).status_code == 200
    assert client.get(body["links"]["pbf"]).status_code == 200


def test_values_csv_is_the_json_as_a_table(client):
    body = client.get("/api/values/E08000025/lsoa11/ks102ew0010_pct.json").get_json()
    response = client.get("/api/values/E08000025/lsoa11/ks102ew0010_pct.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="E08000025_lsoa11_ks102ew0010_pct.csv"')
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(table) == len(body["rows"]) == 639
    for got, want in zip(table, body["rows"], strict=True):
        assert got["code"] == want["code"] and got["name"] == want["name"]
        assert float(got["value"]) == want["value"]
        assert int(got["rank"]) == want["rank"] and int(got["rank_national"]) == want["rank_national"]


def test_values_match_the_store(client, atlas_env):
    df = catalogue.build().values("E09000007", "lsoa11", "gla2011_popden")
    rows = client.get("/api/values/E09000007/lsoa11/gla2011_popden.json").get_json()["rows"]
    assert [r["code"] for r in rows] == list(df["code"])
    assert [r["value"] for r in rows] == pytest.approx(list(df["value"]))
    assert all(r["rank_national"] is None for r in rows)  # GLA attributes cover London only


def test_values_written_a_slice_at_a_time_are_the_whole_answer(atlas_env, monkeypatch):
    """A values answer's rows are made and written ``ROWS_AT_ONCE`` at a time (never one dict per area of the
    level at once): sliced into 7s, every kind of answer is byte for byte the answer written in one piece."""
    birmingham = "E08000025"
    paths = [f"/api/values/{birmingham}/lsoa11/{variable}.{fmt}" for fmt in ("json", "csv")
             for variable in ("ts054_lsoa11_owned_pct",  # re-based: estimates
                              "imd2025_imd_rank",  # carried from the LSOAs of 2021
                              "ks102ew0010_pct")] + [
        f"/api/values/{birmingham}/ward22/le2022_winner.json",  # categorical
        "/api/values/all/lad/ks102ew0001.json", "/api/values/all/lad/ks102ew0001.csv"]

    def answers(at_once: int) -> dict[str, bytes]:
        monkeypatch.setattr(api, "ROWS_AT_ONCE", at_once)
        client = api.standalone().test_client()
        out = {}
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (path, response.data[:300])
            out[path] = response.data
        return out

    whole, sliced = answers(10**9), answers(7)
    differ = [path for path in paths if sliced[path] != whole[path]]  # by name: a diff of 100 KB bodies is slow
    assert not differ
    for path, body in whole.items():
        if path.endswith(".json"):
            payload = json.loads(body)
            assert len(payload["rows"]) == payload["count"] > 7 * 3  # several slices, joined as one list
            assert b"atlas: the rows" not in body
            assert list(payload)[-2:] == ["rows", "links"]


def test_national_overview(client):
    body = client.get("/api/values/all/lad/ks102ew0001.json").get_json()
    codes = [r["code"] for r in body["rows"]]
    geo = client.get("/api/areas/all/lad.geojson").get_json()
    assert codes == [f["properties"]["code"] for f in geo["features"]]
    assert all(r["value"] for r in body["rows"] if r["code"][0] in "EW")


# -- geometry and caching --------------------------------------------------------------------------------

def test_areas_geojson_and_pbf(client):
    geo = client.get("/api/areas/E07000194/oa11.geojson")
    pbf = client.get("/api/areas/E07000194/oa11.pbf")
    assert geo.status_code == pbf.status_code == 200
    assert geo.mimetype == "application/geo+json" and pbf.mimetype == "application/x-protobuf"
    collection = json.loads(geo.data)
    assert len(collection["features"]) == 325
    assert geobuf.decode(pbf.data) == collection


def test_compressed_when_accepted_with_its_own_etag(client):
    plain = client.get("/api/areas/E08000025/lsoa11.geojson")
    assert plain.headers.get("Content-Encoding") is None
    for accept, encoding in (("gzip", "gzip"), ("gzip, br", "br")):
        packed = client.get("/api/areas/E08000025/lsoa11.geojson", headers={"Accept-Encoding": accept})
        assert packed.headers["Content-Encoding"] == encoding and "Accept-Encoding" in packed.headers["Vary"]
        body = gzip.decompress(packed.data) if encoding == "gzip" else brotli.decompress(packed.data)
        assert body == plain.data
        assert len(packed.data) < len(plain.data) / 3
        assert packed.headers["ETag"] == plain.headers["ETag"][:-1] + f':{encoding}"'
        again = client.get("/api/areas/E08000025/lsoa11.geojson",
                           headers={"Accept-Encoding": accept, "If-None-Match": packed.headers["ETag"]})
        assert again.status_code == 304
    values = client.get("/api/values/E08000025/lsoa11/ks102ew0001.csv", headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(values.data).startswith(b"code,name,full_name,value,rank,rank_national\r\n")


def test_etag_304_and_cache_control(client, build_id):
    first = client.get("/api/areas/E07000194/lsoa11.pbf")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert build_id in etag
    assert client.get("/api/areas/E07000194/lsoa11.geojson").headers["ETag"] != etag
    assert client.get("/api/areas/E09000001/lsoa11.pbf").headers["ETag"] != etag
    assert first.headers["Cache-Control"] == "public, max-age=86400"
    again = client.get("/api/areas/E07000194/lsoa11.pbf", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag
    versioned = client.get(f"/api/areas/E07000194/lsoa11.pbf?v={build_id}")
    assert versioned.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    stale = client.get("/api/areas/E07000194/lsoa11.pbf?v=not-this-build")
    assert "immutable" not in stale.headers["Cache-Control"]
    changed = client.get("/api/areas/E07000194/lsoa11.pbf", headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200 and changed.data == first.data
    values = client.get("/api/values/E07000194/lsoa11/ks102ew0001.csv")
    assert client.get("/api/values/E07000194/lsoa11/ks102ew0001.csv",
                      headers={"If-None-Match": values.headers["ETag"]}).status_code == 304


# -- errors ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url,what,valid", [
    ("/api/values/E99999999/lsoa11/ks102ew0001.json", "authority", "all"),
    ("/api/values/nope/nope/nope.json", "authority", "all"),  # the first bad part of the URL is named
    ("/api/values/E07000194/msoa11/ks102ew0001.json", "level", "lsoa11"),
    ("/api/values/E07000194/lsoa11/nope.json", "variable", "chg_residents_rel"),  # listed by id, first 100
    ("/api/values/E07000194/lsoa11/ks102ew0001.xlsx", "format", "csv"),
    ("/api/values/E07000194/lsoa11/ks102ew0001", "format", "json"),
    ("/api/values/E07000194/lsoa11/wimd2019_wimd_rank.json", "variable", "W06000015/lsoa11"),
    ("/api/values/all/msoa11/ks102ew0001.json", "level", "lad"),
    ("/api/values/E12000007/oa21/ks102ew0001.json", "level", "lsoa11"),
    ("/api/values/E07000194/lad/ks102ew0001.json", "level", "oa11"),
    ("/api/values/E09000001/oa11/ks102ew0001.csv", "level", "lsoa11"),
    ("/api/areas/E99999999/lsoa11.geojson", "authority", "all"),
    ("/api/areas/E08000025/oa21.pbf", "level", "lsoa21"),
    ("/api/areas/E07000194/lsoa11.shp", "format", "pbf"),
    ("/api/authorities/E99999999", "authority", "E06000001"),
    ("/api/variables/nope", "variable", None),  # 4,765 ids: truncated, pointing to /api/variables
    ("/api/variables?authority=E99999999", "authority", "E06000001"),
    ("/api/variables?level=msoa", "level", "oa11"),
    ("/api/variables?topic=Nope", "topic", "Deprivation"),
])
def test_unknown_names_get_404_json_listing_valid_choices(client, url, what, valid):
    body = assert_json_error(client.get(url), 404)
    assert body["what"] == what
    if valid is None:
        assert body["valid_truncated"] and body["see"] == "/api/variables"
    else:
        assert valid in body["valid"]
    assert body["valid_count"] >= len(body["valid"]) > 0


def test_long_lists_of_choices_are_truncated_with_a_count(client):
    body = assert_json_error(client.get("/api/values/E99999999/lsoa11/ks102ew0001.json"), 404)
    # all, 20 places larger than a district (9 regions, Wales, 10 combined authorities), 374 districts
    assert len(body["valid"]) == api.MAX_VALID < body["valid_count"] == 395
    assert body["valid_truncated"] is True
    assert body["see"] == "/api/authorities"


@pytest.mark.parametrize("bad", [
    "E07000194' OR '1'='1", "E07000194\"; DROP TABLE x; --", "ks102ew0001\" FROM read_parquet('x') --",
    "%00", "..", "ks102ew0001;", "(SELECT 1)"])
def test_injection_looking_input_is_rejected_cleanly(client, bad):
    quoted = quote(bad, safe="")
    for url in (f"/api/values/{quoted}/lsoa11/ks102ew0001.json",
                f"/api/values/E07000194/{quoted}/ks102ew0001.json",
                f"/api/values/E07000194/lsoa11/{quoted}.json",
                f"/api/areas/{quoted}/lsoa11.geojson",
                f"/api/variables?authority={quoted}",
                f"/api/variables?q={quoted}"):
        response = client.get(url)
        if "q=" in url:
            assert response.status_code == 200 and response.get_json()["count"] == 0
        else:
            assert_json_error(response, 404)


def test_unknown_route_and_method(client):
    body = assert_json_error(client.get("/api/nothing/here"), 404)
    assert "/api/authorities" in body["valid"]
    assert_json_error(client.post("/api/authorities"), 405)
    assert_json_error(client.delete("/api/values/E07000194/lsoa11/ks102ew0001.json"), 405)


def test_an_internal_error_is_json_without_a_traceback(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(catalogue.Catalogue, "values", broken)
    response = client.get("/api/values/E07000194/lsoa11/ks102ew0001.json")
    body = assert_json_error(response, 500)
    assert "secret" not in response.get_data(as_text=True)
    assert body["status"] == 500


def test_no_extracts_is_a_503_saying_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    app = flask.Flask(__name__)
    api.init_app(app)
    body = assert_json_error(app.test_client().get("/api/authorities"), 503)
    assert "pipeline build" in body["error"]


def test_concurrent_requests(client):
    urls = [f"/api/values/{a}/lsoa11/{v}.json" for a in ("E09000001", "E07000194", "E08000025", "W06000015")
            for v in ("ks102ew0001", "ks102ew0018")]
    expected = {url: client.get(url).get_json() for url in urls}
    app = client.application

    def fetch(url: str) -> tuple[str, dict]:
        return url, app.test_client().get(url).get_json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(fetch, urls * 6))
    assert all(body == expected[url] for url, body in results)


@pytest.mark.slow
def test_under_gunicorn_two_workers_with_threads(atlas_env, tmp_path):
    """Real forked workers, each with threads: every concurrent answer is the right one."""
    env = {**os.environ, "ATLAS_DATA_DIR": str(atlas_env)}
    log = open(tmp_path / "gunicorn.log", "w+")
    # gunicorn serves the socket bound here: requests wait in its backlog until a worker is ready.
    server, base = spawn_on(listening_socket(), lambda fd: [
        sys.executable, "-m", "gunicorn", "-w", "2", "--threads", "4", "-b", f"fd://{fd}",
        "--chdir", str(Path(api.__file__).parent.parent), "web.api:standalone()"], env=env, stdout=log, stderr=log)

    def get(url: str) -> tuple[str, int, bytes]:
        try:
            with urllib.request.urlopen(base + url, timeout=30) as response:
                return url, response.status, response.read()
        except urllib.error.HTTPError as exc:
            return url, exc.code, exc.read()

    try:
        assert first_answer(base + "/api") == 200
        urls = [f"/api/values/{a}/lsoa11/{v}.json" for a in ("E09000001", "E07000194", "E08000025", "W06000015")
                for v in ("ks102ew0001", "ks102ew0018")]
        urls += ["/api/areas/E07000194/lsoa11.pbf", "/api/values/nope/lsoa11/ks102ew0001.json"]
        expected = {url: get(url) for url in urls}
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(get, urls * 10))
    finally:
        server.terminate()
        server.wait(timeout=30)
    log.seek(0)
    assert [r for r in results if r != expected[r[0]]] == [], log.read()
    assert {status for _, status, _ in results} == {200, 404}
