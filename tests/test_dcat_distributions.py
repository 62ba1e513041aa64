"""Every DCAT distribution resolves.

For every authority with small-area data, its DCAT document (``/datastore/<code>/catalog.jsonld``) is fetched
and every distribution it lists is fetched too (HEAD: the download route answers whether the file exists
with the same check its GET makes, without writing it), in shards so xdist can share them. Every dataset
the API lists for the authority is in the document, with full publisher names and titles from the
catalogue. For the smallest authority at each level (found from the data), every CSV distribution is
downloaded whole, and one dataset in every format.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pytest

SHARDS = 6


@pytest.fixture(scope="module")
def client(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    import os

    # Module-scoped settings (atlas_env is per test): the app reads them when the store is first opened.
    os.environ.update({"ATLAS_DATA_DIR": str(data_dir), "ATLAS_TILES_URL": "", "ATLAS_CACHE_TYPE": "SimpleCache",
                       "ATLAS_CACHE_DIR": str(tmp_path_factory.mktemp("dcat-cache"))})
    import app as app_module

    return app_module.server.test_client()


def _authorities(client) -> list[dict]:
    return [a for a in client.get("/api/authorities").get_json()["authorities"] if a.get("levels")]


def _document(client, code: str) -> dict:
    got = client.get(f"/datastore/{code}/catalog.jsonld")
    assert got.status_code == 200, code
    return json.loads(got.data)


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_distribution_of_every_authority_answers(client, data_dir: Path, shard: int) -> None:
    from atlas import catalogue

    s = catalogue.build(data_dir=data_dir)
    authorities = _authorities(client)
    assert len(authorities) > 300
    fetched = 0
    for a in authorities[shard::SHARDS]:
        doc = _document(client, a["code"])
        # What the values API serves here (the store's variable listing, as /api/variables gives it).
        served = {r["dataset"] for lv in a["levels"] for r in s.variables(authority=a["code"], level=lv["level"])}
        # and the build's monitoring sites where it has sites (their points, as GeoJSON)
        served |= {row["id"] for row in s.point_datasets() if row.get("monitoring")
                   and len(s.point_sites(row["id"], a["code"]))}
        listed = {d["dct:identifier"] for d in doc["dcat:dataset"]}
        assert listed == served, (a["code"], served ^ listed)  # every dataset, and only those with data here
        for d in doc["dcat:dataset"]:
            assert d["dcat:distribution"], (a["code"], d["dct:identifier"])
            assert "," in d["dct:publisher"]["foaf:name"] or d["dct:publisher"]["foaf:name"] != "Ministry of Housing"
            assert not d["dct:title"].endswith((".csv", "_Deprivation")), d["dct:title"]
            for dist in d["dcat:distribution"]:
                path = urlparse(dist["dcat:downloadURL"]["@id"]).path
                assert client.head(path).status_code == 200, path
                fetched += 1
    assert fetched > 1000


def test_smallest_authority_at_each_level_downloads_whole(client) -> None:
    smallest: dict[str, tuple[int, str]] = {}
    for a in _authorities(client):
        for lv in a["levels"]:
            if lv["level"] not in smallest or lv["areas"] < smallest[lv["level"]][0]:
                smallest[lv["level"]] = (lv["areas"], a["code"])
    assert {"lsoa11", "ward22"} <= set(smallest)
    for code in sorted({c for _, c in smallest.values()}):
        doc = _document(client, code)
        for i, d in enumerate(doc["dcat:dataset"]):
            for dist in d["dcat:distribution"]:
                if dist["dct:format"] == "csv" or i == 0:
                    got = client.get(urlparse(dist["dcat:downloadURL"]["@id"]).path)
                    assert got.status_code == 200 and len(got.data) > 50, dist["@id"]


def test_publishers_and_titles_come_from_the_catalogue(client) -> None:
    doc = _document(client, "E09000030")  # Tower Hamlets: IMD, elections, classifications
    by_key = {d["dct:identifier"]: d for d in doc["dcat:dataset"]}
    assert by_key["imd2019"]["dct:publisher"]["foaf:name"] == "Ministry of Housing, Communities and Local Government"
    assert "English Indices of Deprivation 2019" in by_key["imd2019"]["dct:title"]
    assert {"ruc11", "oac11", "le2022_winner"} <= set(by_key)  # categorical datasets are datasets too
    assert "variables at" in by_key["ks402ew"]["dct:description"]
    # the monitoring sites' publishers (the data's SOURCES.md): Defra's AURN, the LAQN of Imperial College London
    aurn, laqn = by_key["aurn2020"]["dct:publisher"], by_key["laqn2019"]["dct:publisher"]
    assert aurn["foaf:name"].startswith("Department for Environment, Food and Rural Affairs (Defra)")
    assert aurn["foaf:homepage"] == {"@id": "https://uk-air.defra.gov.uk/"}
    assert "London Air" in laqn["foaf:name"] and "Imperial College London" in laqn["foaf:name"]
    assert laqn["foaf:homepage"] == {"@id": "https://www.londonair.org.uk/"}
    geo = [x["dcat:downloadURL"]["@id"] for x in by_key["aurn2020"]["dcat:distribution"]]
    assert [(urlparse(g).path, urlparse(g).query) for g in geo] == [("/api/points/aurn2020.geojson",
                                                                     "authority=E09000030")]
    sites = client.get(urlparse(geo[0]).path + "?authority=E09000030").get_json()
    assert [f["properties"]["site"] for f in sites["features"]] == ["TH2"]  # Tower Hamlets Roadside, in SOURCES.md
    wales = _document(client, "W06000002")
    assert any("Welsh Index of Multiple Deprivation 2019" in d["dct:title"] for d in wales["dcat:dataset"])
    bad = client.head("/datastore/E09000030/oa11/ks402ew.csv")  # Tower Hamlets' OAs hold KS201EW only
    assert bad.status_code == 404
