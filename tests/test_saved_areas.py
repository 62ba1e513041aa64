"""Saved areas (issue 22): made from codes, a drawn polygon or a radius (checked against point-in-polygon and
great-circle distance on the published polygons, computed here without the app's spatial index), kept in the
datastore's database, and opened exactly by those their access allows (the matrix of users x access levels,
over SQLite and PostgreSQL); their profile and areas like them through the API."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas
import pytest
import shapely
import sqlalchemy as sa
from city_support import (
    CAMDEN,
    EXPECTED,
    ISLINGTON,
    World,
    build_world,
    create_database,
    data_folder,
    environment,
    pg_admin,  # noqa: F401 - the fixture, registered in this module by its name
)

USERS = tuple(EXPECTED)
KS102 = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
#: Who may open a saved area made by Camden's member, by its access.
MAY_READ = {
    "private": {"owner_member", "site_admin"},
    "organisation": {"owner_member", "editor", "admin", "site_admin"},
    "partnership": {"owner_member", "editor", "admin", "partner_member", "site_admin"},
    "public": set(USERS),
}
#: A box over Islington and Hackney (WGS84).
BOX = {"type": "Polygon", "coordinates": [[[-0.125, 51.535], [-0.06, 51.535], [-0.06, 51.56], [-0.125, 51.56],
                                           [-0.125, 51.535]]]}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = create_database(request.getfixturevalue("pg_admin")) if request.param == "postgresql" else None
    folder = data_folder(data_dir, tmp_path_factory.mktemp(f"areas-{request.param}"))
    with environment(folder, url):
        import app as app_module
        from atlas import accounts

        world = build_world(app_module.server, folder, url or "")
        world.tokens["owner_member"] = accounts.add_token(world.users["owner_member"])
        world.tokens["outsider"] = accounts.add_token(world.users["outsider"])
        world.tokens["partner_member"] = accounts.add_token(world.users["partner_member"])
        yield world


def _ids() -> tuple[int, int]:
    from atlas import db

    with db.session() as s:
        org = s.execute(sa.select(db.Organisation.id).where(db.Organisation.code == CAMDEN)).scalar_one()
        pid = s.execute(sa.select(db.Partnership.id).where(db.Partnership.name == "North London schools")).scalar_one()
    return org, pid


def _post(world: World, body: dict, who: str = "owner_member") -> Any:
    return world.clients["anonymous"].post("/api/places", json=body,
                                           headers={"Authorization": f"Bearer {world.tokens[who]}"})


def _islington_and_camden(world: World, n: int = 10) -> list[str]:
    from atlas import catalogue

    idx = catalogue.of_request().area_index("lsoa11")
    return (idx[idx["authority"] == CAMDEN]["code"].tolist()[:n]
            + idx[idx["authority"] == ISLINGTON]["code"].tolist()[:n])


def test_the_access_matrix_of_saved_areas(world: World) -> None:
    org, pid = _ids()
    codes = _islington_and_camden(world)
    made = {}
    for level, extra in (("private", {}), ("organisation", {"organisation": org}),
                         ("partnership", {"partnership": pid}), ("public", {})):
        got = _post(world, {"name": f"Patch {level}", "level": "lsoa11", "codes": codes, "access": level, **extra})
        assert got.status_code == 201, got.get_json()
        assert got.get_json()["codes"] == sorted(codes) and got.get_json()["code"].startswith("A")
        made[level] = got.get_json()["code"]
    absent = "A987654"
    for user in USERS:
        client = world.clients[user]
        for level, code in made.items():
            ok = user in MAY_READ[level]
            for path in (f"/api/places/{code}", f"/api/profile/{code}.json"):
                answer = client.get(path)
                assert (answer.status_code == 200) == ok, (user, level, path, answer.status_code)
                if not ok:  # a denial looks exactly like absence
                    other = client.get(path.replace(code, absent))
                    assert answer.status_code == other.status_code == 404
                    assert answer.get_data(as_text=True).replace(code, "<A>") == \
                        other.get_data(as_text=True).replace(absent, "<A>")
    # only the owner deletes; one who may read it but not delete it is refused (403), others see nothing
    assert _delete(world, made["partnership"], "partner_member").status_code == 403
    assert _delete(world, made["partnership"], "outsider").status_code == 404
    assert _delete(world, made["public"], "outsider").status_code == 403
    assert _delete(world, made["private"], "owner_member").status_code == 204
    assert world.clients["owner_member"].get(f"/api/places/{made['private']}").status_code == 404
    # sharing with an organisation or partnership one is not in is refused
    refused = _post(world, {"name": "Not mine", "level": "lsoa11", "codes": codes, "access": "organisation",
                            "organisation": org}, who="outsider")
    assert refused.status_code == 403 and "organisation" in refused.get_json()["error"]
    # a session writes only with its CSRF token; nobody signed in writes nothing
    session = world.clients["owner_member"]
    assert session.post("/api/places", json={"name": "x", "level": "lsoa11", "codes": codes}).status_code == 400
    token = session.csrf("/account")
    assert session.post("/api/places", json={"name": "Mine", "level": "lsoa11", "codes": codes},
                        headers={"X-CSRFToken": token}).status_code == 201
    assert world.clients["anonymous"].post("/api/places", json={"name": "x", "level": "lsoa11",
                                                                "codes": codes}).status_code == 401


def _delete(world: World, code: str, who: str) -> Any:
    return world.clients["anonymous"].raw.delete(f"/api/places/{code}", base_url="https://localhost",
                                                 headers={"Authorization": f"Bearer {world.tokens[who]}"})


def test_a_drawn_polygon_takes_the_areas_whose_point_is_inside(world: World) -> None:
    from atlas import catalogue

    got = _post(world, {"name": "Drawn", "level": "lsoa11", "polygon": BOX})
    assert got.status_code == 201, got.get_json()
    # the published polygons, read here with geopandas, each area's point on its surface, tested one by one
    frame = geopandas.read_parquet(catalogue.of_request().build_dir / "areas" / "lsoa11.parquet", columns=["code",
                                                                                                   "geometry"])
    box = shapely.geometry.shape(BOX)
    expected = sorted(c for c, g in zip(frame["code"], frame.geometry, strict=True)
                      if box.contains(g.point_on_surface()))
    assert got.get_json()["codes"] == expected and len(expected) > 30
    assert {a[:5] for a in expected} >= {"E0100"}


def test_a_radius_takes_the_areas_within_it(world: World) -> None:
    from pyproj import Geod

    from atlas import catalogue

    centre = {"lat": 51.5465, "lon": -0.1058}  # Highbury Corner
    got = _post(world, {"name": "Round", "level": "lsoa11", "centre": centre, "radius": 1500})
    assert got.status_code == 201, got.get_json()
    frame = geopandas.read_parquet(catalogue.of_request().build_dir / "areas" / "lsoa11.parquet", columns=["code",
                                                                                                   "geometry"])
    near = frame[frame.geometry.intersects(shapely.box(-0.14, 51.52, -0.07, 51.57))]
    points = near.geometry.representative_point()
    _, _, metres = Geod(ellps="WGS84").inv([centre["lon"]] * len(points), [centre["lat"]] * len(points),
                                           points.x.tolist(), points.y.tolist())
    inside = {c for c, m in zip(near["code"], metres, strict=True) if m <= 1500 * 0.997}
    outside = {c for c, m in zip(near["code"], metres, strict=True) if m > 1500 * 1.003}
    chosen = set(got.get_json()["codes"])
    # the sphere and the ellipsoid differ by under 0.3%: every area clear of the edge is decided alike
    assert inside <= chosen and not (chosen & outside) and len(inside) > 20


@pytest.mark.parametrize(("body", "status", "field", "said"), [
    ({"name": "x", "level": "lsoa11", "codes": ["E01000001", "E0100000X"]}, 400, "codes", "E0100000X"),
    ({"name": "x", "level": "lsoa11"}, 400, "codes", "exactly one"),
    ({"name": "x", "level": "lsoa11", "codes": ["E01000001"], "polygon": BOX}, 400, "codes", "exactly one"),
    ({"name": "x", "level": "lsoa11", "polygon": {"type": "Point", "coordinates": [0, 51]}}, 400, "polygon",
     "Polygon"),
    ({"name": "x", "level": "lsoa11", "polygon": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}}, 400,
     "polygon", "polygon"),
    ({"name": "x", "level": "lsoa11", "polygon": {"type": "Polygon", "coordinates": [[[0, 100], [1, 1], [2, 0],
                                                                                       [0, 100]]]}}, 400, "polygon",
     "latitude"),
    ({"name": "x", "level": "lsoa11", "centre": {"lat": 51.5, "lon": -0.1}, "radius": 60000}, 400, "radius",
     "radius"),
    ({"name": "x", "level": "lsoa11", "centre": {"lat": "north", "lon": -0.1}, "radius": 100}, 400, "centre.lat",
     "number"),
    ({"name": "x", "level": "lsoa11", "centre": {"lat": 10.0, "lon": 10.0}, "radius": 100}, 400, "centre",
     "no area"),
    ({"name": "", "level": "lsoa11", "codes": ["E01000001"]}, 400, "name", "name"),
    ({"name": "x", "level": "lsoa11", "codes": ["E01000001"], "access": "secret"}, 400, "access", "access"),
    ({"name": "x", "level": "lsoa11", "codes": ["E01000001"], "colour": "red"}, 400, "colour", "unknown field"),
    ({"name": "x", "level": "lsoa99", "codes": ["E01000001"]}, 404, None, "level"),
])
def test_bad_requests_get_a_clear_answer(world: World, body: dict, status: int, field: str | None, said: str) -> None:
    got = _post(world, body)
    assert got.status_code == status, got.get_json()
    assert said in got.get_json()["error"]
    if field:
        assert got.get_json()["parameter"] == field


def test_a_saved_areas_profile_and_areas_like_it(world: World, raw_dir: Path) -> None:
    codes = _islington_and_camden(world, 15)
    made = _post(world, {"name": "Across two boroughs", "level": "lsoa11", "codes": codes}).get_json()
    client = world.clients["owner_member"]
    body = client.get(f"/api/profile/{made['code']}.json").get_json()
    assert body["kind"] == "saved" and body["areas"] == 30
    assert [c["code"] for c in body["comparators"]][:2] == [CAMDEN, ISLINGTON]
    with open(raw_dir / KS102, newline="", encoding="utf-8") as handle:
        raw = {r["geography code"]: r for r in csv.DictReader(handle) if r["geography code"] in set(codes)}
    young = sum(int(raw[c]["Age: Age 0 to 4; measures: Value"]) for c in codes)
    total = sum(int(raw[c]["Age: All usual residents; measures: Value"]) for c in codes)
    share = next(f for g in body["topics"] for f in g["figures"] if f["id"] == "ks102ew0002_pct")
    assert share["value"] == pytest.approx(young / total * 100, rel=1e-12)
    like = client.get(f"/api/similar/lsoa11/{made['code']}.json?n=5")
    assert like.status_code == 200, like.get_json()
    found = [a["code"] for a in like.get_json()["similar"]]
    assert len(found) == 5 and not set(found) & set(codes)
    assert client.get(f"/api/similar/oa11/{made['code']}.json").status_code == 404
    assert world.clients["outsider"].get(f"/api/similar/lsoa11/{made['code']}.json").status_code == 404


def test_a_saved_area_is_a_place_like_any_other(world: World) -> None:
    codes = _islington_and_camden(world, 12)
    made = _post(world, {"name": "Kings Cross to Angel", "level": "lsoa11", "codes": codes}).get_json()
    code = made["code"]
    owner, outsider = world.clients["owner_member"], world.clients["outsider"]
    place = owner.get(f"/api/authorities/{code}").get_json()
    assert place["kind"] == "saved" and place["levels"] == [{"level": "lsoa11", "vintage": "2011", "areas": 24}]
    values = owner.get(f"/api/values/{code}/lsoa11/ks102ew0002_pct.json").get_json()
    rows = values["rows"] if "rows" in values else values["values"]
    assert sorted(r["code"] for r in rows) == sorted(codes)
    assert sorted(r["rank"] for r in rows) == list(range(1, 25))  # ranked within the saved area
    view = owner.get(f"/api/view.json?authority={code}&level=lsoa11&variable=ks102ew0002_pct")
    assert view.status_code == 200, view.get_json()
    shapes = owner.get(f"/api/areas/{code}/lsoa11.geojson")
    assert sorted(f["properties"]["code"] for f in shapes.get_json()["features"]) == sorted(codes)
    assert "private" in shapes.headers["Cache-Control"]
    image = owner.get(f"/export/map.png?authority={code}&level=lsoa11&variable=ks102ew0002_pct")
    assert image.status_code == 200 and image.mimetype == "image/png"
    # for anyone else it does not exist, exactly as an unknown code
    for path in ("/api/authorities/{}", "/api/values/{}/lsoa11/ks102ew0002_pct.json",
                 "/api/areas/{}/lsoa11.geojson"):
        denied, absent = outsider.get(path.format(code)), outsider.get(path.format("A987654"))
        assert denied.status_code == absent.status_code == 404
        assert denied.get_data(as_text=True).replace(code, "<A>") == absent.get_data(as_text=True).replace(
            "A987654", "<A>")


def _components(tree: Any) -> Iterator[Any]:
    """Every component of a layout (a component or a list of them), depth first."""
    for node in tree if isinstance(tree, list) else [tree]:
        if hasattr(node, "to_plotly_json"):
            yield node
            yield from _components(getattr(node, "children", None) or [])
        elif isinstance(node, list):
            yield from _components(node)


def _triggered(prop_id: str) -> None:
    """Dash's callback context as a request whose ``prop_id`` fired (the callbacks are called directly)."""
    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop_id, "value": None}]))


def test_the_explorers_make_an_area_mode(atlas_env: Path) -> None:
    """The explorer's mode, its callbacks called directly: a click toggles an area (the explorer's second
    click on it arrives as null), a drawn shape adds the areas of the view's level inside it, whatever
    district the view shows, another level empties it, and the national overview is refused in words; the
    control is created only when the mode opens."""
    import dash

    from atlas import areas, catalogue
    from callbacks import areas as make
    from ui.areas import MAKE

    s = catalogue.of_request()
    hidden, expanded, children, body = make.make_mode(1)
    assert hidden is False and expanded == "true" and children[0].id == {"type": MAKE.DRAW, "i": 0}
    # The panel's form comes with the first opening, and only then (its Clear button counts 0 once drawn).
    assert {MAKE.CLEAR, MAKE.STATUS, MAKE.SAVE} <= {getattr(c, "id", None) for c in _components(body)}
    assert make.make_mode(2, 0) == (True, "false", [], dash.no_update)
    assert make.make_mode(3, 0)[3] is dash.no_update
    view = {"state": {"authority": "E09000019", "level": "lsoa11"}}
    code = s.area_names("E09000019", "lsoa11")[0][3]
    _triggered(f"{MAKE.EVENT}.data")
    held, _ = make.make_choose({"click": True, "selected": code}, [], 0, view, None)
    assert held["codes"] == [code] and held["level"] == "lsoa11"
    gone, _ = make.make_choose({"click": True, "selected": None}, [], 0, view, held)
    assert gone["codes"] == []
    again, _ = make.make_choose({"click": True, "selected": code}, [], 0, view, gone)
    assert again["codes"] == [code]
    # a rectangle across the Islington-Hackney boundary, drawn on a map of Islington
    box = {"type": "Polygon", "coordinates": [[[-0.095, 51.543], [-0.075, 51.543], [-0.075, 51.553],
                                               [-0.095, 51.553], [-0.095, 51.543]]]}
    _triggered('{"i":0,"type":"' + MAKE.DRAW + '"}.geojson')
    drawn = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": box, "properties": {}}]}
    both, message = make.make_choose(None, [drawn], 0, view, again)
    inside, _, _ = areas.select(s, "lsoa11", polygon=box)
    assert message == "" and both["codes"] == sorted(set(inside) | {code})
    lookup = s.area_index("lsoa11").set_index("code")["authority"]
    assert {lookup[c] for c in inside} == {"E09000019", "E09000012"}
    status, href = make.make_summary(both)
    assert status.startswith(f"{len(both['codes'])} areas chosen, ") and "usual residents" in status
    assert href.startswith("/areas/new?level=lsoa11&codes=")
    # another level empties it; the districts overview is refused in words
    _triggered(f"{MAKE.EVENT}.data")
    other = {"state": {"authority": "E09000019", "level": "oa11"}}
    assert make.make_choose({"click": False, "selected": None}, [], 0, other, both)[0]["codes"] == []
    overview = {"state": {"authority": "all", "level": "lad"}}
    empty, said = make.make_choose({"click": True, "selected": "E09000019"}, [], 0, overview, None)
    assert empty["codes"] == [] and "small-area geography" in said
    # saving needs someone signed in: a clear sentence, nothing saved
    answer = make.make_save(1, "Mine", "private", None, both)
    assert "signed in" in str(answer.children) or "cannot be saved" in str(answer.children)
