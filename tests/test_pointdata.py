"""Point datasets in the City Datastore: a table of points published by the API (WGS84 or British National Grid),
validated (coordinates, England and Wales, the publisher's own area, ids) with every problem named by its row,
stored as versions with the same access levels, shown on the point layer and aggregated to areas. The counts per
LSOA are checked against point-in-polygon on the publisher's own boundary files (ONS LSOA 2011 and 2021 polygons
for Camden, read here with shapely), never against the build's polygons."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from city_support import BASE, CAMDEN, PASSWORD, Client, data_folder, environment

LSOA11 = "boundaries/lsoa11_by_lad/E09000007.json"
LSOA21 = "later/boundaries/lsoa21_by_lad_drkane/E09000007.geojson"
LICENCE = "Open Government Licence v3.0 (https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/)"


def _polygons(raw_dir: Path, relative: str, key: str) -> dict[str, Any]:
    doc = json.loads((raw_dir / relative).read_text(encoding="utf-8"))
    return {f["properties"][key]: shapely.geometry.shape(f["geometry"]) for f in doc["features"]}


def _camden_points(raw_dir: Path, n_per_area: int = 3) -> list[tuple[str, float, float, float]]:
    """Points well inside Camden's 2011 LSOAs (at least ~30 m from any edge): (id, lon, lat, value)."""
    rng = np.random.default_rng(21)
    out = []
    for code, poly in sorted(_polygons(raw_dir, LSOA11, "LSOA11CD").items()):
        inner = poly.buffer(-0.0004)
        if inner.is_empty:
            continue
        x0, y0, x1, y1 = inner.bounds
        placed = 0
        while placed < n_per_area:
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if inner.contains(shapely.Point(x, y)):
                out.append((f"{code}-{placed}", x, y, float(rng.integers(1, 100))))
                placed += 1
    return out


class Site:
    def __init__(self, server: Any, data_dir: Path) -> None:
        from atlas import accounts, catalogue

        self.server, self.data_dir = server, data_dir
        accounts.seed_authorities(catalogue.of_request().authorities())
        accounts.add_user("editor@camden.gov.uk", org=CAMDEN, role="editor", password=PASSWORD)
        accounts.add_user("editor@leeds.gov.uk", org="E08000035", role="editor", password=PASSWORD)
        self.token = accounts.add_token("editor@camden.gov.uk")
        self.leeds_token = accounts.add_token("editor@leeds.gov.uk")
        self.client = Client(server)

    @property
    def store(self) -> Any:
        """The catalogue of the registry as it is now (anonymous), as a request would build it."""
        from atlas import catalogue

        return catalogue.of_request()

    def post(self, data: bytes, meta: dict, token: str | None = None) -> Any:
        form = {"file": (io.BytesIO(data), "points.csv"), "metadata": json.dumps(meta)}
        return self.client.raw.post("/api/datasets", base_url=BASE, data=form, content_type="multipart/form-data",
                                    headers={"Authorization": f"Bearer {token or self.token}"})

    def get(self, path: str, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.raw.get(path, base_url=BASE, headers=headers)

    def stored(self) -> list[str]:
        return sorted(str(p) for p in (self.data_dir / "published").glob("ds*/*"))


@pytest.fixture(scope="module")
def site(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = data_folder(data_dir, tmp_path_factory.mktemp("points"))
    with environment(folder, None):
        import app as app_module

        yield Site(app_module.server, folder)


def _meta(title: str, access_level: str, **coords: Any) -> dict:
    return {"title": title, "columns": [{"name": "decibels", "label": "Loudness", "unit": "dB", "decimals": 0}],
            "licence": LICENCE, "source": "London Borough of Camden, noise team", "as_of": "2024-06-30",
            "access": {"level": access_level}, "description": f"{title}: test points",
            **(coords or {"lon_column": "lon", "lat_column": "lat", "id_column": "id"})}


def _csv(points: list[tuple[str, float, float, float]], x: str = "lon", y: str = "lat") -> bytes:
    return (f"id,{x},{y},decibels\n" + "\n".join(f"{i},{a!r},{b!r},{v:g}" for i, a, b, v in points) + "\n").encode()


def test_points_aggregate_to_lsoas_as_point_in_polygon_on_the_published_boundaries(site: Site, raw_dir: Path
                                                                                     ) -> None:
    points = _camden_points(raw_dir)
    got = site.post(_csv(points), _meta("Noise complaints", "public"))
    assert got.status_code == 201, got.get_data(as_text=True)[:800]
    body = got.get_json()
    key = f"ds{body['id']}"
    for level, relative, prop in (("lsoa11", LSOA11, "LSOA11CD"), ("lsoa21", LSOA21, "LSOA21CD")):
        polygons = _polygons(raw_dir, relative, prop)
        holder = {}
        for pid, lon, lat, value in points:
            found = [code for code, poly in polygons.items() if poly.contains(shapely.Point(lon, lat))]
            assert len(found) == 1, (pid, found)
            holder[pid] = (found[0], value)
        counts = Counter(code for code, _ in holder.values())
        sums = Counter()
        for code, value in holder.values():
            sums[code] += value
        rows = site.get(f"/api/values/{CAMDEN}/{level}/{key}_count.json").get_json()["rows"]
        assert {r["code"] for r in rows} == set(polygons)  # every Camden area, 0 where none
        assert {r["code"]: r["value"] for r in rows} == {code: float(counts.get(code, 0)) for code in polygons}
        means = {r["code"]: r["value"] for r in
                 site.get(f"/api/values/{CAMDEN}/{level}/{key}_decibels_mean.json").get_json()["rows"]}
        for code in polygons:
            if counts.get(code):
                assert means[code] == pytest.approx(sums[code] / counts[code], rel=1e-12)
            else:
                assert means[code] is None
    # per 1,000 residents at LSOA 2021: Census 2021 usual residents read from the raw TS001 file
    import csv  # noqa: PLC0415

    with open(raw_dir / "national/census2021_lsoa21/census2021-ts001-lsoa.csv", newline="", encoding="utf-8") as h:
        people = {r["geography code"]: float(r["Residence type: Total; measures: Value"]) for r in csv.DictReader(h)}
    rate = {r["code"]: r["value"] for r in
            site.get(f"/api/values/{CAMDEN}/lsoa21/{key}_per_1000.json").get_json()["rows"]}
    counts21 = site.get(f"/api/values/{CAMDEN}/lsoa21/{key}_count.json").get_json()["rows"]
    for r in counts21:
        assert rate[r["code"]] == pytest.approx(r["value"] / people[r["code"]] * 1000, rel=1e-12)
    # the district level, and the view as a choropleth like any other
    lad = site.get(f"/api/values/all/lad/{key}_count.json").get_json()["rows"]
    assert {r["code"]: r["value"] for r in lad if r["value"] is not None} == {CAMDEN: float(len(points))}
    view = site.get(f"/api/view.json?authority={CAMDEN}&level=lsoa21&variable={key}_per_1000").get_json()
    assert sum(c["count"] for c in view["classes"]) + view.get("missing", 0) == len(counts21)


def test_points_on_the_layer_and_in_the_point_api(site: Site, raw_dir: Path) -> None:
    points = _camden_points(raw_dir, 1)[:40]
    body = site.post(_csv(points), _meta("Street trees", "public")).get_json()
    key = f"ds{body['id']}"
    listed = {d["id"]: d for d in site.get("/api/points").get_json()["datasets"]}
    assert key in listed and listed[key]["kind"] == "snapshot" and listed[key]["as_of"] == "2024-06-30"
    geo = site.get(f"/api/points/{key}.geojson?measure={key}_decibels").get_json()
    assert len(geo["features"]) == 40 and geo["as_of"] == "2024-06-30"
    by_id = {f["properties"]["site"]: f for f in geo["features"]}
    pid, lon, lat, value = points[7]
    assert by_id[pid]["geometry"]["coordinates"] == [round(lon, 5), round(lat, 5)]
    assert by_id[pid]["properties"]["text"] == f"{value:.0f}"
    series = site.get(f"/api/points/{key}/{pid}.json").get_json()
    assert series["measures"][0]["readings"] == [{"time": "2024-06-30", "value": value, "text": f"{value:.0f}"}]
    # the layer's paint: quintile classes of the values, every point drawn
    from atlas import points as point_layer  # noqa: PLC0415

    state, messages = point_layer.resolve({"points": key}, site.store)
    paint = point_layer.paint(site.store, state, "")
    assert messages == [] and paint["n"] == 40 and "-" not in paint["cls"]
    assert sum(r["count"] for r in paint["legend"]["rows"]) == 40
    # the layer's address names the version: a new one is fetched afresh, never the year-long cached build's
    from callbacks import points as point_callbacks  # noqa: PLC0415

    url = point_callbacks.render_points_view(site.store, {"points": key}, site.store.build_id)["paint"]["url"]
    assert url == f"/api/points/{key}.geojson?v={site.store.build_id}-v1"
    assert "immutable" not in site.get(url).headers["Cache-Control"]


def test_british_national_grid_coordinates_are_transformed(site: Site, raw_dir: Path) -> None:
    from pyproj import Transformer  # noqa: PLC0415

    points = _camden_points(raw_dir, 1)[:10]
    to_bng = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    bng = [(pid, *to_bng.transform(lon, lat), value) for pid, lon, lat, value in points]
    got = site.post(_csv(bng, "easting", "northing"),
                    _meta("Licences", "public", x_column="easting", y_column="northing", crs="EPSG:27700",
                          id_column="id"))
    assert got.status_code == 201, got.get_data(as_text=True)[:800]
    geo = site.get(f"/api/points/ds{got.get_json()['id']}.geojson").get_json()
    coords = {f["properties"]["site"]: f["geometry"]["coordinates"] for f in geo["features"]}
    for pid, lon, lat, _ in points:
        assert coords[pid] == pytest.approx([lon, lat], abs=2e-5)


def test_a_rejected_table_of_points_names_every_row_and_stores_nothing(site: Site, raw_dir: Path) -> None:
    good = _camden_points(raw_dir, 1)[:3]
    rows = [*good, ("paris", 2.35, 48.85, 1.0), ("leeds", -1.5491, 53.8008, 2.0), ("swapped", 51.55, -0.15, 3.0),
            (good[0][0], good[0][1], good[0][2], 4.0)]
    text = _csv(rows).decode() + "bad,x,51.5,1\nweird id!,-0.15,51.55,abc\n"
    before = site.stored()
    got = site.post(text.encode(), _meta("Broken points", "public"))
    assert got.status_code == 422
    errors = got.get_json()["report"]["errors"]
    assert [e["row"] for e in errors["outside_england_wales"]] == [5, 7]
    assert "swapped" in errors["outside_england_wales"][1]["message"]
    assert [(e["row"], e["authority"]) for e in errors["outside_area"]] == [(6, "E08000035")]  # Leeds
    assert [e["row"] for e in errors["duplicate_id"]] == [8]
    assert [e["row"] for e in errors["bad_coordinate"]] == [9]
    assert [e["row"] for e in errors["bad_id"]] == [10] and [e["row"] for e in errors["not_numeric"]] == [10]
    assert site.stored() == before
    # metadata: coordinates and a code column at once, a crs missing or unknown
    for coords, field in (({"lon_column": "lon", "lat_column": "lat", "code_column": "id"}, "code_column"),
                          ({"x_column": "e", "y_column": "n"}, "crs"),
                          ({"x_column": "e", "y_column": "n", "crs": "EPSG:999999"}, "crs"),
                          ({"lon_column": "lon"}, "lon_column")):
        bad = site.post(_csv(good), _meta("Bad meta", "public", **coords))
        assert bad.status_code == 422
        assert field in json.dumps(bad.get_json()["report"]["errors"]["metadata"]), coords


def test_access_levels_hold_for_points(site: Site, raw_dir: Path) -> None:
    points = _camden_points(raw_dir, 1)[:5]
    body = site.post(_csv(points), _meta("Private sensors", "organisation")).get_json()
    key = f"ds{body['id']}"
    # anonymous and another council's editor: as if it did not exist, everywhere
    for token in (None, site.leeds_token):
        assert key not in {d["id"] for d in site.get("/api/points", token).get_json()["datasets"]}
        assert site.get(f"/api/points/{key}.geojson", token).status_code == 404
        assert site.get(f"/api/points/{key}/{points[0][0]}.json", token).status_code == 404
        assert site.get(f"/api/values/{CAMDEN}/lsoa11/{key}_count.json", token).status_code == 404
    # its organisation's editor sees it, privately
    mine = site.get(f"/api/points/{key}.geojson", site.token)
    assert mine.status_code == 200 and len(mine.get_json()["features"]) == 5
    assert "private" in mine.headers.get("Cache-Control", "") or "no-store" in mine.headers.get("Cache-Control", "")
    # a new version replaces the points; the count follows
    form = {"file": (io.BytesIO(_csv(points[:2])), "p.csv"), "metadata": json.dumps({"as_of": "2024-07-31"})}
    added = site.client.raw.post(f"/api/datasets/{body['id']}/versions", base_url=BASE, data=form,
                                 content_type="multipart/form-data", headers={"Authorization": f"Bearer {site.token}"})
    assert added.status_code in (200, 201), added.get_data(as_text=True)[:500]
    lad = site.get(f"/api/values/all/lad/{key}_count.json", site.token).get_json()["rows"]
    assert {r["code"]: r["value"] for r in lad if r["value"] is not None} == {CAMDEN: 2.0}
    # the first version's aggregates are swept (derived again if it is restored), the current one's kept
    from atlas import publish  # noqa: PLC0415

    derived = site.data_dir / "published" / ".derived"
    mine = lambda: sorted(p.name for p in derived.glob(f"ds{body['id']}-*"))  # noqa: E731
    before = mine()
    removed = {Path(p).name for p in publish.sweep(site.data_dir, older_than=0)}
    assert before and set(before) - removed == set(mine()) and len(mine()) == 1
    assert publish.check_files(site.data_dir, orphan_age=0) == []


LAQN = "later/air_quality/laqn_hourly_index_london_2019-09-26/hourly.json"


def test_a_live_json_feed_of_points_in_the_laqn_shape_is_pulled(site: Site, raw_dir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from test_datastore import FeedServer  # noqa: PLC0415 - the loopback feed the CSV feeds' tests use

    from atlas import accounts, db, feeds, publish  # noqa: PLC0415

    doc = json.loads((raw_dir / LAQN).read_text(encoding="utf-8"))
    camden = [la for la in doc["HourlyAirQualityIndex"]["LocalAuthority"] if la["@LocalAuthorityName"] == "Camden"]
    doc["HourlyAirQualityIndex"]["LocalAuthority"] = camden
    sites = camden[0]["Site"] if isinstance(camden[0]["Site"], list) else [camden[0]["Site"]]
    expected = {}
    for s in sites:
        for sp in s["Species"] if isinstance(s["Species"], list) else [s["Species"]]:
            if sp["@SpeciesCode"] == "NO2" and sp["@AirQualityIndex"] != "0":
                expected[s["@SiteCode"]] = float(sp["@AirQualityIndex"])
    assert expected  # Camden's sites report NO2 in this response
    monkeypatch.setenv("ATLAS_FEED_ALLOW", "127.0.0.1")
    feed = FeedServer()
    try:
        feed.body = json.dumps(doc).encode()
        editor = accounts.actor_for(accounts.check_password("editor@camden.gov.uk", PASSWORD))
        meta = publish.parse_metadata({**_meta("Air quality index, live", "public", lon_column="lon", lat_column="lat",
                                               id_column="SiteCode", name_column="SiteName"),
                                       "columns": [{"name": "NO2", "label": "NO2 index", "decimals": 0}],
                                       "pull_url": feed.url, "pull_minutes": 60})
        out = publish.publish_dataset(editor, meta, feed.body, "feed.json", site.store.extracts)
        key = f"ds{out['id']}"
        assert feeds.pull_due() == [f"{key}: unchanged"]
        # the next hour: one site's index changes, a new version
        first = sites[0]
        for sp in first["Species"] if isinstance(first["Species"], list) else [first["Species"]]:
            if sp["@SpeciesCode"] == "NO2":
                sp["@AirQualityIndex"] = "9"
                expected[first["@SiteCode"]] = 9.0
        feed.body = json.dumps(doc).encode()
        assert feeds.pull_due(everything=True) == [f"{key}: version 2"]
        geo = site.get(f"/api/points/{key}.geojson?measure={key}_no2").get_json()
        got = {f["properties"]["site"]: f["properties"]["text"] for f in geo["features"]}
        assert {k: v for k, v in got.items() if v is not None} == {k: f"{v:.0f}" for k, v in expected.items()}
        names = {f["properties"]["site"]: f["properties"]["name"] for f in geo["features"]}
        assert names[first["@SiteCode"]] == first["@SiteName"]
        # not JSON of a known shape: rejected like a broken CSV, the last good version stays
        feed.body = b'{"sites": []}'
        assert "rejected: 1 format" in feeds.pull_due(everything=True)[0]
        with db.session() as s:
            state = s.get(db.PullState, out["id"])
            assert state.failures == 1 and "format" in state.last_error
    finally:
        feed.close()


def test_publishing_points_in_the_browser(site: Site, raw_dir: Path) -> None:
    from pyproj import Transformer  # noqa: PLC0415

    web = Client(site.server)
    assert web.sign_in("editor@camden.gov.uk").status_code == 302
    points = _camden_points(raw_dir, 1)[:12]
    to_bng = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    body = _csv([(pid, *to_bng.transform(lon, lat), v) for pid, lon, lat, v in points], "easting", "northing")
    token = web.csrf("/datastore/publish")
    got = web.post("/datastore/publish", data={"csrf_token": token, "level": "points", "organisation": CAMDEN,
                                                "file": (io.BytesIO(body), "trees.csv")},
                   content_type="multipart/form-data")
    assert got.status_code == 302, got.get_data(as_text=True)[:400]
    details = got.headers["Location"]
    page = web.get(details).get_data(as_text=True)
    assert "Where each point is" in page and "Column of area codes" not in page
    form = {"csrf_token": web.csrf(details), "crs": "EPSG:27700", "x_column": "easting", "y_column": "northing",
            "id_column": "id", "use_3": "1", "label_3": "Loudness", "unit_3": "", "title": "Browser points",
            "source": "Camden", "licence": "OGL", "as_of": "2024-04-01", "access": "public", "action": "check"}
    checked = web.post(details, data=form)
    assert checked.status_code == 200 and "12 points in 1 districts" in checked.get_data(as_text=True)
    done = web.post(details, data=form | {"action": "publish"})
    assert done.status_code == 302, done.get_data(as_text=True)[:600]
    key = done.headers["Location"].rsplit("/", 1)[1]
    page = web.get(done.headers["Location"])
    assert page.status_code == 200 and "Browser points" in page.get_data(as_text=True)
    download = web.get(f"/datastore/datasets/{key}/v1.csv")
    assert download.status_code == 200, download.status_code
    head = download.get_data(as_text=True).splitlines()[0].split(",")
    assert {"code", "authority", "longitude", "latitude", "lsoa21", "decibels"} <= set(head), head
    geo = site.get(f"/api/points/{key}.geojson").get_json()
    assert {f["properties"]["site"] for f in geo["features"]} == {p[0] for p in points}


# -- hostile tables of points and feeds (Hypothesis): a report, never a traceback --------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_CELL = st.one_of(st.text(max_size=12), st.sampled_from(["-0.15", "51.55", "nan", "inf", "1e308", "", "..", "530000",
                                                         "180000", "-1e-300", "٣", "0x1"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(rows=st.lists(st.lists(_CELL, min_size=0, max_size=6), max_size=12),
       coords=st.sampled_from([{"lon_column": "a", "lat_column": "b"}, {"x_column": "a", "y_column": "b",
                                                                          "crs": "EPSG:27700"},
                               {"lon_column": "a", "lat_column": "b", "id_column": "c", "name_column": "d"}]))
def test_hostile_tables_of_points_get_a_report(site: Site, rows: list[list[str]], coords: dict) -> None:
    from atlas import publish  # noqa: PLC0415

    report = publish.Report()
    meta = publish.parse_metadata({**_meta("Fuzz", "public", **coords), "columns": [{"name": "e"}]}, report)
    assert report.ok, report.as_dict()
    table = [["a", "b", "c", "d", "e"], *rows]
    data = "\n".join(",".join(c.replace(",", " ").replace("\n", " ").replace('"', "") for c in r)
                     for r in table).encode()
    frame = publish.check(data, "fuzz.csv", meta, site.store.extracts, report)
    assert (frame is None) == (not report.ok)
    if frame is not None:  # every point placed in England or Wales, in a district
        assert frame["authority"].notna().all() and frame["pt_lon"].between(-6.5, 2.1).all()


_JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
                     lambda inner: st.one_of(st.lists(inner, max_size=4),
                                             st.dictionaries(st.sampled_from(
                                                 ["type", "features", "geometry", "coordinates", "properties", "id",
                                                  "HourlyAirQualityIndex", "LocalAuthority", "Site", "Species",
                                                  "@SiteCode", "@Latitude", "@Longitude", "@AirQualityIndex"]),
                                                 inner, max_size=5)), max_leaves=30)


@settings(max_examples=150, deadline=None)
@given(doc=_JSON)
def test_hostile_json_feeds_are_read_or_refused(doc: object) -> None:
    from atlas import pointdata, publish  # noqa: PLC0415

    report = publish.Report()
    rows = pointdata.json_rows(json.dumps(doc).encode(), report)
    assert (rows == []) == (not report.ok) or rows[1:] == []
    assert all(isinstance(c, str) for r in rows for c in r)
    assert len({len(r) for r in rows}) <= 1  # a rectangle: every row as long as the header


def test_an_embed_shows_public_points_only(site: Site, raw_dir: Path) -> None:
    """``/embed?...&points=`` draws a public point dataset (or the monitoring sites); a private one is refused in
    the words used for a private variable, and the Embed dialog's snippet carries the point layer's keys."""
    from atlas import registry  # noqa: PLC0415
    from callbacks import embed  # noqa: PLC0415
    from ui import embed as embed_page  # noqa: PLC0415

    points = _camden_points(raw_dir, 1)[:5]
    public = f"ds{site.post(_csv(points), _meta('Embedded trees', 'public')).get_json()['id']}"
    private = f"ds{site.post(_csv(points), _meta('Hidden sensors', 'organisation')).get_json()['id']}"
    view = f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0002_pct"
    with site.server.test_request_context("/", base_url=BASE):
        assert registry.embed_refusal(f"{view}&points={public}") is None
        assert registry.embed_refusal(f"{view}&points=aurn2020") is None
        refused = registry.embed_refusal(f"{view}&points={private}")
        assert refused and refused == registry.embed_refusal(f"{view}&points=ds999999")
        assert registry.embed_refusal(f"?points={public}&variable={private}_count") == refused
        page = json.dumps(embed_page.embed_layout(f"{view}&points={private}").to_plotly_json(), default=str)
        assert "not available to embed" in page and "Hidden sensors" not in page
        page = json.dumps(embed_page.embed_layout(f"{view}&points={public}&controls=points").to_plotly_json(),
                          default=str)
        assert "Embedded trees" in page and "Hidden sensors" not in page  # the anonymous reader's list
        pstate = {"dataset": public, "keys": f"points={public}&measure={public}_decibels&site={points[0][0]}"}
        code, preview, problem = embed.write_snippet(1, ["points"], "600", "400", {"search": view}, "t", pstate)
        assert problem == "" and f"points={public}&amp;measure={public}_decibels" in code
        assert "site=" not in code and "controls=points" in code
        code, _, problem = embed.write_snippet(1, [], "600", "400", {"search": view}, "t",
                                               {"keys": f"points={private}"})
        assert code == "" and "not available to embed" in problem
    assert embed_page.parse_controls("points,k") == (["k", "points"], [])


def test_the_datastore_pages_preview_points(site: Site, raw_dir: Path) -> None:
    """A point dataset's page shows its points (counts, a map, the first rows with their readings) and the
    authority's page lists them with a count; the build's monitoring sites have pages and appear there too."""
    import re  # noqa: PLC0415

    points = _camden_points(raw_dir, 1)[:25]
    body = site.post(_csv(points), _meta("Previewed benches", "public")).get_json()
    key = f"ds{body['id']}"
    page = site.get(f"/datastore/datasets/{key}").get_data(as_text=True)
    assert "25 points in 1 district, as of 2024-06-30" in page and "<svg" in page
    assert len(re.findall(r"<circle ", page)) == 25  # every point on the preview map
    table = page[page.index('class="ds-points-table"'):]
    table = table[:table.index("</table>")]
    first = sorted(points)[:10]  # the first ten by code, each with its reading as uploaded
    cells = re.findall(r"<tr><th scope=\"row\"><code>([^<]+)</code></th>(.*?)</tr>", table)
    assert [c for c, _ in cells] == [p[0] for p in first]
    for (_, rest), (_, lon, lat, value) in zip(cells, first, strict=True):
        assert f"<td>{lat:.5f}, {lon:.5f}</td>" in rest and rest.endswith(f"<td>{value:.0f}</td>")
    # the authority's page: the count here, and the first five
    camden = site.get(f"/datastore/{CAMDEN}").get_data(as_text=True)
    assert "25 of its 25 points are in Camden" in camden
    assert "Previewed benches: the first 5 of the 25 points here" in camden
    # the LAQN's five Camden sites (SOURCES.md: BL0, CD1, CD9, IM1, KX4), with their index readings
    assert "5 of its 105 points are in Camden" in camden
    laqn = site.get("/datastore/datasets/laqn2019").get_data(as_text=True)
    assert "105 points in" in laqn and "London Air Quality Network (London Air)" in site.get(
        "/datastore/catalog.jsonld").get_data(as_text=True)
    assert re.search(r"<code>BL0</code></th><td>Camden - Bloomsbury</td>", camden)
    # a private dataset's page and preview are absent to others, like the dataset
    hidden = site.post(_csv(points[:3]), _meta("Private benches", "organisation")).get_json()
    assert site.get(f"/datastore/datasets/ds{hidden['id']}").status_code == 404
    assert "Private benches" not in site.get(f"/datastore/{CAMDEN}").get_data(as_text=True)


def _new_version(site: Site, dataset_id: int, data: bytes, as_of: str) -> None:
    form = {"file": (io.BytesIO(data), "p.csv"), "metadata": json.dumps({"as_of": as_of})}
    added = site.client.raw.post(f"/api/datasets/{dataset_id}/versions", base_url=BASE, data=form,
                                 content_type="multipart/form-data", headers={"Authorization": f"Bearer {site.token}"})
    assert added.status_code in (200, 201), added.get_data(as_text=True)[:500]


def test_a_points_series_spans_its_versions(site: Site, raw_dir: Path) -> None:
    """A published point's series (the API and the site card) has a reading for every version's as-of date:
    a new version extends it, a later version of the same date replaces that date's reading, and a point
    missing from a version has no reading then. Private: only those who may see the dataset see any of it."""
    from callbacks import points as point_callbacks  # noqa: PLC0415

    points = _camden_points(raw_dir, 1)[:6]
    body = site.post(_csv(points), _meta("Noise sensors", "organisation")).get_json()
    key, (pid, lon, lat, first) = f"ds{body['id']}", points[0]
    second = [(i, x, y, v + 10) for i, x, y, v in points]  # July: every reading 10 dB louder
    _new_version(site, body["id"], _csv(second), "2024-07-31")
    corrected = [(i, x, y, v + 20) for i, x, y, v in points[1:]] + [(pid, lon, lat, 99.0)]
    _new_version(site, body["id"], _csv(corrected), "2024-07-31")  # July again: supersedes the first July
    august = points[1:]  # August: the first point is gone
    _new_version(site, body["id"], _csv(august), "2024-08-31")

    got = site.get(f"/api/points/{key}/{points[1][0]}.json", site.token).get_json()
    assert [(r["time"], r["value"]) for r in got["measures"][0]["readings"]] == [
        ("2024-06-30", points[1][3]), ("2024-07-31", points[1][3] + 20), ("2024-08-31", points[1][3])]
    assert got["measures"][0]["mean"] == pytest.approx((3 * points[1][3] + 20) / 3)
    # the first point is not in the current version: not on the map, so it has no series to open
    assert site.get(f"/api/points/{key}/{pid}.json", site.token).status_code == 404
    # the site card charts the whole series and names the reading of the time on the map (the current one)
    with site.server.test_request_context("/", base_url=BASE, headers={"Authorization": f"Bearer {site.token}"}):
        site.server.preprocess_request()  # the request's actor, from its token
        card = json.dumps([c.to_plotly_json() for c in point_callbacks.site_card_children(
            site.store, key, points[1][0], f"{key}_decibels", "2024-08-31")], default=str)
    assert "3 readings" in card and f"Loudness: {points[1][3]:.0f}" in card
    # restoring the first version makes its table current again: a new version of its date, so the first
    # point is back, with June's reading again and its corrected July one
    restored = site.client.raw.post(f"/api/datasets/{body['id']}/restore", base_url=BASE, json={"version": 1},
                                    headers={"Authorization": f"Bearer {site.token}"})
    assert restored.status_code in (200, 201), restored.get_data(as_text=True)[:300]
    got = site.get(f"/api/points/{key}/{pid}.json", site.token).get_json()
    assert [(r["time"], r["value"]) for r in got["measures"][0]["readings"]] == [
        ("2024-06-30", first), ("2024-07-31", 99.0)]
    for token in (None, site.leeds_token):  # others: as if it did not exist
        assert site.get(f"/api/points/{key}/{points[1][0]}.json", token).status_code == 404


_NUMBERISH = st.one_of(
    st.text(max_size=12), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.from_regex(r"\A[ +-]?[0-9]{0,400}(\.[0-9]{0,20})?([eE][+-]?[0-9]{1,3})?%? ?\Z"),
    st.sampled_from(["1,234", "1,234.5", " 7 ", "..", "n/a", "1_000", "١٢", "inf", "-0", ".5", "5.", "+.", "x"]))


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(_NUMBERISH, max_size=20))
def test_cells_parsed_together_read_as_one_by_one(texts: list[str]) -> None:
    """The vectorised reading of a column (Arrow for plain decimals) gives exactly the publisher's ``number``
    of each cell: the same value, bit for bit, and the same problem, for coordinates (finite) and indicators."""
    from atlas import pointdata, publish  # noqa: PLC0415

    for finite in (True, False):
        values, problems = pointdata._numbers(texts, publish._number, finite=finite)
        for i, text in enumerate(texts):
            value, problem = publish._number(text)
            bad = problem is not None or (finite and (value is None or not np.isfinite(value)))
            assert (i in problems) == bad, (text, finite)
            if problem is not None:
                assert problems[i] == problem
            if not bad and not np.isnan(value):
                assert values[i] == value and np.signbit(values[i]) == np.signbit(value), text
            else:
                assert np.isnan(values[i]), text
