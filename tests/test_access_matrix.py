"""Who sees what: every kind of user x a dataset at every access level x every path that can reveal a value,
a variable's existence or its metadata, against SQLite and PostgreSQL.

A denied dataset must be indistinguishable from one that never existed: the same status and the same body
(with the id swapped) as for an id nobody has, never listed among valid choices, never counted, never in a
search, a facet, a page, a DCAT document or a feed, never served from a cache or validated by a 304.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from city_support import (
    CAMDEN,
    DATASETS,
    EXPECTED,
    World,
    build_world,
    create_database,
    data_folder,
    environment,
    pg_admin,  # noqa: F401 - the fixture, registered in this module by its name
)

USERS = tuple(EXPECTED)
NOBODY_ID = 987654  # a dataset id nobody has
VALUES_FORMATS = ("json", "csv", "geojson", "gpkg", "parquet")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = create_database(request.getfixturevalue("pg_admin")) if request.param == "postgresql" else None
    folder = data_folder(data_dir, tmp_path_factory.mktemp(f"city-{request.param}"))
    with environment(folder, url):
        import app as app_module

        yield build_world(app_module.server, folder, url or "")


def _same_as_absent(denied: Any, absent: Any, denied_id: str, absent_id: str, what: str) -> None:
    assert denied.status_code == absent.status_code, (what, denied.status_code, absent.status_code)
    a = re.sub(rf"\b{re.escape(denied_id)}\b", "<ID>", denied.get_data(as_text=True))
    b = re.sub(rf"\b{re.escape(absent_id)}\b", "<ID>", absent.get_data(as_text=True))
    # The dataset number appears bare in some bodies ("unknown dataset 3"): swap it too.
    a = re.sub(r"\bds\d+", "ds<N>", a)
    b = re.sub(r"\bds\d+", "ds<N>", b)
    # a page's forms carry a fresh (time-signed) CSRF token each time
    a = re.sub(r'name="csrf_token" value="[^"]+"', "", a)
    b = re.sub(r'name="csrf_token" value="[^"]+"', "", b)
    assert a == b, (what, a[:300], b[:300])


def _absent_var(world: World) -> str:
    return f"ds{NOBODY_ID}_value"


@pytest.mark.parametrize("user", USERS)
def test_api_catalogue_values_and_views(world: World, user: str) -> None:
    client = world.clients[user]
    listed = {v["id"] for v in client.get(f"/api/variables?authority={CAMDEN}&level=lsoa11").get_json()["variables"]}
    searched = {v["id"] for v in client.get("/api/variables?q=zebra").get_json()["variables"]}
    absent = _absent_var(world)
    for level in DATASETS:
        ds = world.datasets[level]
        var, ok = ds["var"], level in EXPECTED[user]
        assert (var in listed) is ok, (user, level, "listed")
        assert (var in searched) is ok, (user, level, "search")
        paths = ["/api/variables/{v}", *(f"/api/values/{CAMDEN}/lsoa11/{{v}}.{fmt}" for fmt in VALUES_FORMATS),
                 f"/api/view.json?authority={CAMDEN}&level=lsoa11&variable={{v}}",
                 f"/api/view.json?authority={CAMDEN}&level=lsoa11&variable={{v}}&fields=paint",
                 f"/export/map.svg?authority={CAMDEN}&level=lsoa11&variable={{v}}"]
        for path in paths:
            got = client.get(path.format(v=var))
            if ok:
                assert got.status_code == 200, (user, level, path, got.status_code, got.get_data(as_text=True)[:200])
            else:
                _same_as_absent(got, client.get(path.format(v=absent)), var, absent, (user, level, path))


@pytest.mark.parametrize("user", USERS)
def test_values_and_view_are_exact_and_dated(world: World, user: str) -> None:
    client = world.clients[user]
    for level in DATASETS:
        if level not in EXPECTED[user]:
            continue
        var = world.datasets[level]["var"]
        body = client.get(f"/api/values/{CAMDEN}/lsoa11/{var}.json").get_json()
        # the CSV uploaded gave row i the value i + 1, in the order of the Camden LSOAs' codes
        assert [r["value"] for r in body["rows"]] == list(range(1, len(body["rows"]) + 1))
        assert body["variable"]["as_of"] == "2024-03-31" and body["variable"]["stale"] is False
        view = client.get(f"/api/view.json?authority={CAMDEN}&level=lsoa11&variable={var}").get_json()
        assert "As of 2024-03-31 (version 1)" in view["legend"]["notes"]
        csv = client.get(f"/api/values/{CAMDEN}/lsoa11/{var}.csv")
        assert csv.headers["X-Atlas-As-Of"] == "2024-03-31"


@pytest.mark.parametrize("user", USERS)
def test_errors_never_list_or_count_what_is_denied(world: World, user: str) -> None:
    client = world.clients[user]
    anonymous = world.clients["anonymous"]
    mine = client.get(f"/api/values/{CAMDEN}/lsoa11/nonsense.json").get_json()
    base = anonymous.get(f"/api/values/{CAMDEN}/lsoa11/nonsense.json").get_json()
    extra = len(EXPECTED[user]) - len(EXPECTED["anonymous"])
    assert mine["valid_count"] == base["valid_count"] + extra, (user, mine["error"][:120])
    shown = " ".join(mine["valid"]) + mine["error"]
    for level in DATASETS:
        if level not in EXPECTED[user]:
            assert world.datasets[level]["var"] not in shown
    # the whole catalogue's valid choices of an unknown variable id
    whole = client.get("/api/variables/nonsense").get_json()
    assert whole["valid_count"] == anonymous.get("/api/variables/nonsense").get_json()["valid_count"] + extra


@pytest.mark.parametrize("user", USERS)
def test_a_cached_answer_or_a_304_never_reaches_someone_denied(world: World, user: str) -> None:
    client = world.clients[user]
    editor = world.clients["editor"]
    for level in DATASETS:
        var = world.datasets[level]["var"]
        for path in (f"/api/values/{CAMDEN}/lsoa11/{var}.json", f"/api/view.json?authority={CAMDEN}&level=lsoa11"
                     f"&variable={var}", f"/api/variables/{var}"):
            allowed = editor.get(path)  # fills every cache (flask-caching, the store's, compression)
            assert allowed.status_code == 200
            assert allowed.headers["Cache-Control"].startswith("private")
            assert "Cookie" in allowed.headers["Vary"] and "Authorization" in allowed.headers["Vary"]
            again = client.get(path, headers={"If-None-Match": allowed.headers["ETag"],
                                              "Accept-Encoding": "br"})
            if level in EXPECTED[user]:
                assert again.status_code in (200, 304)
            else:
                assert again.status_code == 404, (user, level, path, again.status_code)
    listing = f"/api/variables?authority={CAMDEN}&level=lsoa11"
    tag = editor.get(listing).headers["ETag"]
    if EXPECTED[user] != EXPECTED["editor"]:
        assert client.get(listing, headers={"If-None-Match": tag}).status_code == 200


@pytest.mark.parametrize("user", USERS)
def test_datastore_pages_dcat_and_feeds(world: World, user: str) -> None:
    client = world.clients[user]
    registry_page = client.get("/datastore?q=zebra").get_data(as_text=True)
    authority_page = client.get(f"/datastore/{CAMDEN}").get_data(as_text=True)
    dcat = client.get("/datastore/catalog.jsonld").get_data(as_text=True)
    dcat_camden = client.get(f"/datastore/{CAMDEN}/catalog.jsonld").get_data(as_text=True)
    atom = client.get("/datastore/feeds/whats-new.atom").get_data(as_text=True)
    atom_camden = client.get(f"/datastore/feeds/authorities/{CAMDEN}.atom").get_data(as_text=True)
    news = client.get("/datastore/whats-new").get_data(as_text=True)
    api_list = {d["id"] for d in client.get("/api/datasets").get_json()["datasets"]}
    for level in DATASETS:
        ds, ok = world.datasets[level], level in EXPECTED[user]
        for what, text in (("registry", registry_page), ("authority", authority_page), ("dcat", dcat),
                           ("dcat camden", dcat_camden), ("atom", atom), ("atom camden", atom_camden),
                           ("what's new", news)):
            assert (ds["title"] in text) is ok, (user, level, what)
        assert (f"/datastore/datasets/{ds['key']}" in dcat) is ok
        assert (ds["id"] in api_list) is ok
        key, absent_key = ds["key"], f"ds{NOBODY_ID}"
        for path in ("/datastore/datasets/{k}", "/datastore/datasets/{k}/v1.csv", "/datastore/feeds/datasets/{k}.atom",
                     f"/datastore/{CAMDEN}/lsoa11/{{k}}.csv", f"/datastore/{CAMDEN}/lsoa11/{{k}}.gpkg"):
            got = client.get(path.format(k=key))
            if ok:
                assert got.status_code == 200, (user, level, path, got.status_code)
            else:
                _same_as_absent(got, client.get(path.format(k=absent_key)), key, absent_key, (user, level, path))
        got = client.get(f"/api/datasets/{ds['id']}")
        if ok:
            assert got.status_code == 200 and got.get_json()["access"]["level"] in ("public", "registered",
                                                                                 "organisation", "partnership")
        else:
            _same_as_absent(got, client.get(f"/api/datasets/{NOBODY_ID}"), str(ds["id"]), str(NOBODY_ID),
                            (user, level, "api dataset"))
    # facets count only what is visible
    assert f"({len(EXPECTED[user])})" in registry_page or "Datasets (" in registry_page


def _dash(client: Any, deps: list[dict], output_has: str, inputs: dict[str, Any], state: dict[str, Any] | None = None,
          changed: str | None = None, referer: str | None = None) -> dict:
    dep = next(d for d in deps if (d["output"].startswith(output_has) if output_has.startswith("^") is False and
                                   output_has.endswith("@") else output_has in d["output"])
               and not d.get("clientside_function"))
    parts = dep["output"][2:-2].split("...") if dep["output"].startswith("..") else [dep["output"]]
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts]
    body = {"output": dep["output"], "outputs": outputs if dep["output"].startswith("..") else outputs[0],
            "inputs": [{**i, "value": inputs.get(f"{i['id']}.{i['property']}")} for i in dep["inputs"]],
            "state": [{**s, "value": (state or {}).get(f"{s['id']}.{s['property']}")} for s in dep["state"]],
            "changedPropIds": [changed or f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"]}
    headers = {"Referer": referer} if referer else {}
    response = client.post("/_dash-update-component", json=body, headers=headers)
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
    return response.get_json() if response.status_code == 200 else {}


@pytest.mark.parametrize("user", USERS)
def test_explorer_callbacks_and_their_option_lists(world: World, user: str) -> None:
    client = world.clients[user]
    deps = client.get("/_dash-dependencies").get_json()
    absent = _absent_var(world)
    def render(var: str, referer: str | None = None) -> dict:
        search = f"?authority={CAMDEN}&level=lsoa11&variable={var}"
        return _dash(client, deps, "view-state.data", {"view-nav.data": {"search": search}},
                     changed="view-nav.data", referer=referer)["response"]
    for level in DATASETS:
        var, ok = world.datasets[level]["var"], level in EXPECTED[user]
        got = render(var)
        shown = got["view-state"]["data"]["state"]["variable"]
        assert (shown == var) is ok, (user, level, shown)
        options = json.dumps(got.get("variable-group", {}))
        assert (world.datasets[level]["key"].upper() in options) is ok, (user, level, "group options")
        if not ok:
            base = render(absent)
            message = json.dumps(got["message"]).replace(var, "<ID>")
            assert message == json.dumps(base["message"]).replace(absent, "<ID>")
        # typed words search the variables with data here
        found = _dash(client, deps, "variable.options@", {"variable.search_value": "zebra"},
                      state={"view-state.data": {"state": {"authority": CAMDEN, "level": "lsoa11"}}},
                      changed="variable.search_value")
        labels = json.dumps(found)
        assert (world.datasets[level]["title"] in labels) is ok, (user, level, "search")
        # embedded: always as nobody, whoever's browser it is
        embedded = render(var, referer=f"https://localhost/embed?authority={CAMDEN}&variable={var}")
        assert (embedded["view-state"]["data"]["state"]["variable"] == var) is (level == "public")


@pytest.mark.parametrize("user", USERS)
def test_compare_sees_what_the_user_sees(world: World, user: str) -> None:
    from atlas import access, accounts, catalogue
    from callbacks import compare

    email = world.users.get(user)
    actor = access.ANONYMOUS if email is None else accounts.actor_for(
        accounts.check_password(email, "correct horse battery staple"))
    with access.acting_as(actor):
        for level in DATASETS:
            var, ok = world.datasets[level]["var"], level in EXPECTED[user]
            search = (f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0002&view=compare&variable_b={var}")
            out = compare.render_compare_view(search, None, catalogue.build(actor))
            assert (out["state"]["variable_b"] == var) is ok, (user, level, out["state"])
            options = compare.variable_b_options("zebra", {"authority": CAMDEN, "level": "lsoa11"})
            assert (var in json.dumps(options)) is ok, (user, level, "variable B's options")


def test_the_open_datapack_never_holds_published_data(world: World) -> None:
    import io
    import zipfile

    got = world.clients["site_admin"].get(f"/datapack/{CAMDEN}.zip")
    assert got.status_code == 200
    with zipfile.ZipFile(io.BytesIO(got.data)) as zf:
        names = " ".join(zf.namelist())
        definitions = zf.read("variables.csv").decode()
    assert "ds" not in re.sub(r"[a-z0-9_]*ds[a-z]", "", names) or all(
        world.datasets[lv]["key"] not in names for lv in DATASETS)
    for level in DATASETS:
        assert world.datasets[level]["var"] not in definitions


def test_restricted_reads_are_audited_for_the_owning_organisation(world: World) -> None:
    from atlas import audit, db

    with db.session() as s:
        org_id = s.query(db.Organisation).filter_by(code=CAMDEN).one().id
    client = world.clients["partner_member"]
    var = world.datasets["partnership"]["var"]
    assert client.get(f"/api/values/{CAMDEN}/lsoa11/{var}.csv").status_code == 200
    entries = audit.entries(org_id)
    reads = [e for e in entries if e["action"] == "data.read" and e["email"] == world.users["partner_member"]]
    assert any(var in e["detail"] for e in reads)
    # the admin's page shows it; a member's does not
    admin_page = world.clients["admin"].get(f"/datastore/org/{CAMDEN}").get_data(as_text=True)
    assert "data.read" in admin_page and world.users["partner_member"] in admin_page
    member_page = world.clients["owner_member"].get(f"/datastore/org/{CAMDEN}").get_data(as_text=True)
    assert "data.read" not in member_page
    # its members' sign-ins (which belong to no organisation) are in it too; other organisations' are not
    actions = {(e["action"], e["email"]) for e in entries}
    assert ("signin", world.users["editor"]) in actions
    assert ("signin", world.users["nonpartner_member"]) not in actions
    # and the log cannot be rewritten, by the ORM or by SQL
    with pytest.raises(Exception), db.session() as s:  # noqa: B017, PT011 - the database's own refusal
        s.execute(db.sa.text("UPDATE audit_log SET detail = 'x'"))
    with pytest.raises(PermissionError), db.session() as s:
        s.delete(s.query(db.AuditEntry).first())


#: Who may do each of the actions a page shows (atlas/access.py), by kind of user.
ACTS: dict[str, set[str]] = {
    "site.admin": {"site_admin"},
    "org.view": {"owner_member", "editor", "admin", "site_admin"},
    "org.members": {"admin", "site_admin"},
    "dataset.version": {"editor", "admin", "site_admin"},
    "dataset.share": {"admin", "site_admin"},
    "partnership.view": {"owner_member", "editor", "admin", "site_admin"},
}


@pytest.mark.parametrize("user", USERS)
def test_the_named_actions_on_the_pages(world: World, user: str) -> None:
    """Each page shows an action's controls, and answers it, for exactly those the action allows."""
    client = world.clients[user]
    may = {action for action, users in ACTS.items() if user in users}
    got = client.get("/-/allowed")
    assert (got.status_code == 200) is ("site.admin" in may), (user, got.status_code)
    org = client.get(f"/datastore/org/{CAMDEN}").get_data(as_text=True)
    assert ("member@camden.gov.uk" in org) is ("org.view" in may), user
    assert ("North London schools" in org) is ("partnership.view" in may), user
    assert ("Audit log" in org and "Invite someone" in org) is ("org.members" in may), user
    ds = world.datasets["public"]
    page = client.get(f"/datastore/datasets/{ds['key']}").get_data(as_text=True)
    assert ("Add a version" in page) is ("dataset.version" in may), user
    assert ("Who may see it" in page) is ("dataset.share" in may), user
    # a POST of a member change by anyone not allowed changes nothing
    if "org.members" not in may and user != "anonymous":
        page_url = f"/datastore/org/{CAMDEN}"
        token = client.csrf("/datastore/publish") if "dataset.version" in may else client.csrf("/account")
        refused = client.post(page_url, data={"csrf_token": token, "action": "remove",
                                              "email": "member@camden.gov.uk"})
        assert refused.status_code == 403, (user, refused.status_code)
        assert "member@camden.gov.uk" in world.clients["admin"].get(page_url).get_data(as_text=True)


# -- tables of points (atlas/pointdata.py): the same matrix ----------------------------------------------------------

@pytest.fixture(scope="module")
def point_sets(world: World) -> dict[str, dict]:
    """One table of points at every access level, published by Camden's editor (five points inside Camden)."""
    import shapely  # noqa: PLC0415
    from city_support import PASSWORD, metadata  # noqa: PLC0415

    from atlas import accounts, catalogue, publish  # noqa: PLC0415

    s = catalogue.of_request()
    features = s.area_geojson(CAMDEN, "lsoa21")["features"][:5]
    inside = [shapely.geometry.shape(f["geometry"]).buffer(-0.0003).representative_point() for f in features]
    body = ("id,lon,lat,n\n" + "".join(f"pt{i},{p.x:.6f},{p.y:.6f},{i}\n" for i, p in enumerate(inside))).encode()
    editor = accounts.actor_for(accounts.check_password(world.users["editor"], PASSWORD))
    out = {}
    for level in DATASETS:
        meta = metadata(f"Zebra points {level}", level)
        meta.pop("level"), meta.pop("code_column")
        meta.update(lon_column="lon", lat_column="lat", id_column="id", columns=[{"name": "n"}])
        got = publish.publish_dataset(editor, publish.parse_metadata(meta), body, "points.csv", s.extracts, via="api")
        out[level] = {"key": f"ds{got['id']}", "var": f"ds{got['id']}_count"}
    return out


@pytest.mark.parametrize("user", USERS)
def test_tables_of_points_are_seen_exactly_as_the_matrix_says(world: World, point_sets: dict, user: str) -> None:
    client = world.clients[user]
    listed = {d["id"] for d in client.get("/api/points").get_json()["datasets"]}
    absent = f"ds{NOBODY_ID}"
    for level in DATASETS:
        key, ok = point_sets[level]["key"], level in EXPECTED[user]
        assert (key in listed) is ok, (user, level, "listed")
        paths = ["/api/points/{k}.geojson", "/api/points/{k}/pt1.json", "/api/points/{k}.geojson?measure={k}_n",
                 f"/api/values/{CAMDEN}/lsoa21/{{k}}_count.json", f"/api/values/{CAMDEN}/lsoa11/{{k}}_n_mean.json"]
        for path in paths:
            got = client.get(path.format(k=key))
            if ok:
                assert got.status_code == 200, (user, level, path, got.status_code, got.get_data(as_text=True)[:200])
            else:
                _same_as_absent(got, client.get(path.format(k=absent)), key, absent, f"{user} {level} {path}")
