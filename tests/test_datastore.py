"""The datastore's pages, documents, feeds and sign-in: every link answers 200 and every page is valid HTML,
the DCAT documents conform to a SHACL shape of the DCAT vocabulary, live feeds pulled from a loopback server
(with failures that keep the last good version), follows and Atom feeds, and OpenID Connect against a real
provider on loopback."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import flask
import html5lib
import pytest
import requests
from city_support import (
    BASE,
    CAMDEN,
    PASSWORD,
    Client,
    World,
    build_world,
    camden_csv,
    data_folder,
    environment,
    metadata,
)
from oidc_provider import Provider, serve
from werkzeug.serving import make_server

CITY_OF_LONDON = "E09000001"


@pytest.fixture(scope="module")
def world(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = data_folder(data_dir, tmp_path_factory.mktemp("datastore"))
    with environment(folder, None):
        import app as app_module

        yield build_world(app_module.server, folder, "")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value and tag in ("a", "link", "img", "script"):
                self.links.append(value)


def _valid_html(text: str, where: str) -> None:
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        parser.parse(text)
    except html5lib.html5parser.ParseError as exc:
        line = int(re.search(r"line (\d+)", str(exc)).group(1)) if re.search(r"line (\d+)", str(exc)) else 0
        raise AssertionError(f"{where}: {exc}\n{text.splitlines()[max(0, line - 2):line + 1]}") from None
    assert text.startswith("<!DOCTYPE html>"), where


def _links(text: str) -> list[str]:
    parser = _Links()
    parser.feed(text)
    return parser.links


@pytest.mark.parametrize("user", ["anonymous", "editor", "admin"])
def test_every_link_answers_200_and_every_page_is_valid_html(world: World, user: str) -> None:
    client = world.clients[user]
    ds = world.datasets["public"]["key"]
    start = ["/datastore", "/datastore?q=zebra", f"/datastore/{CITY_OF_LONDON}", "/datastore/city-of-london",
             f"/datastore/datasets/{ds}", "/datastore/datasets/ks102ew", "/datastore/whats-new",
             f"/datastore/org/{CAMDEN}", "/account/sign-in"]
    if user != "anonymous":
        start += ["/account", "/datastore/publish"]
    seen: set[str] = set()
    pages = 0
    from atlas import catalogue, datasets

    places = {a["code"] for a in catalogue.build().authorities()} | {
        datasets.slug(a["name"]) for a in catalogue.build().authorities()}
    place_page = re.compile(r"^/datastore/([^/?]+)$")
    special = {"whats-new", "publish", "catalog.jsonld", "follow"}
    sampled = 0
    for page in start:
        got = client.get(page)
        assert got.status_code == 200, (page, got.status_code)
        text = got.get_data(as_text=True)
        _valid_html(text, page)
        pages += 1
        for link in _links(text):
            parsed = urlparse(link)
            if parsed.scheme in ("http", "https") and parsed.netloc not in ("localhost", ""):
                continue  # other sites (the licence's address)
            target = parsed.path + (f"?{parsed.query}" if parsed.query else "")
            if target in seen:
                continue
            seen.add(target)
            place = place_page.match(target)
            if place and place.group(1) not in special:
                # 331 authorities are linked from the registry and from a national dataset's page: each link must
                # name a real authority; a sample of the pages (every page renders the same template) is fetched.
                assert place.group(1) in places, (page, target)
                sampled += 1
                if sampled % 25 and CITY_OF_LONDON not in target and "city-of-london" not in target:
                    continue
            answer = client.get(target)
            assert answer.status_code == 200, (page, target, answer.status_code)
            if answer.mimetype == "text/html" and target.startswith("/datastore"):
                _valid_html(answer.get_data(as_text=True), target)
    assert pages == len(start) and len(seen) > 100


DCAT_SHAPES = """
@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .

<#Catalog> a sh:NodeShape ; sh:targetClass dcat:Catalog ;
  sh:property [ sh:path dct:title ; sh:minCount 1 ; sh:nodeKind sh:Literal ] ;
  sh:property [ sh:path dct:description ; sh:minCount 1 ; sh:nodeKind sh:Literal ] ;
  sh:property [ sh:path dct:publisher ; sh:minCount 1 ; sh:class foaf:Agent ] ;
  sh:property [ sh:path dcat:dataset ; sh:class dcat:Dataset ] .
<#Dataset> a sh:NodeShape ; sh:targetClass dcat:Dataset ;
  sh:nodeKind sh:IRI ;
  sh:property [ sh:path dct:title ; sh:minCount 1 ; sh:nodeKind sh:Literal ] ;
  sh:property [ sh:path dct:description ; sh:minCount 1 ; sh:nodeKind sh:Literal ] ;
  sh:property [ sh:path dct:publisher ; sh:minCount 1 ; sh:maxCount 1 ; sh:class foaf:Agent ] ;
  sh:property [ sh:path dcat:distribution ; sh:minCount 1 ; sh:class dcat:Distribution ] ;
  sh:property [ sh:path dcat:landingPage ; sh:nodeKind sh:IRI ] ;
  sh:property [ sh:path dct:modified ; sh:maxCount 1 ; sh:datatype xsd:date ] ;
  sh:property [ sh:path dcat:keyword ; sh:nodeKind sh:Literal ] .
<#Distribution> a sh:NodeShape ; sh:targetClass dcat:Distribution ;
  sh:property [ sh:path dcat:accessURL ; sh:minCount 1 ; sh:nodeKind sh:IRI ] ;
  sh:property [ sh:path dcat:downloadURL ; sh:nodeKind sh:IRI ] ;
  sh:property [ sh:path dcat:mediaType ; sh:maxCount 1 ; sh:nodeKind sh:IRI ] ;
  sh:property [ sh:path dct:license ; sh:maxCount 1 ] .
<#Agent> a sh:NodeShape ; sh:targetClass foaf:Agent ;
  sh:property [ sh:path foaf:name ; sh:minCount 1 ; sh:nodeKind sh:Literal ] .
"""


@pytest.mark.parametrize("path", ["/datastore/catalog.jsonld", f"/datastore/{CITY_OF_LONDON}/catalog.jsonld"])
def test_dcat_documents_conform_to_the_dcat_shape(world: World, path: str) -> None:
    import pyshacl
    import rdflib

    got = world.clients["editor"].get(path)
    assert got.status_code == 200 and got.mimetype == "application/ld+json"
    graph = rdflib.Graph().parse(data=got.get_data(as_text=True), format="json-ld")
    dcat = rdflib.Namespace("http://www.w3.org/ns/dcat#")
    datasets = set(graph.subjects(rdflib.RDF.type, dcat.Dataset))
    assert len(datasets) > 20
    assert len(set(graph.subjects(rdflib.RDF.type, dcat.Catalog))) == 1
    shapes = rdflib.Graph().parse(data=DCAT_SHAPES, format="turtle")
    conforms, _, text = pyshacl.validate(graph, shacl_graph=shapes, inference="none")
    assert conforms, text[:3000]
    # the shape can fail: a dataset without a title does not conform
    broken = json.loads(got.get_data(as_text=True))
    del broken["dcat:dataset"][0]["dct:title"]
    graph = rdflib.Graph().parse(data=json.dumps(broken), format="json-ld")
    assert not pyshacl.validate(graph, shacl_graph=shapes, inference="none")[0]
    if CITY_OF_LONDON in path:
        downloads = [str(o) for o in graph.objects(None, dcat.downloadURL)]
        # its datasets' downloads, and the LAQN monitoring sites in it as GeoJSON
        assert downloads and all(f"/datastore/{CITY_OF_LONDON}/" in d or d.endswith(
            f"/api/points/laqn2019.geojson?authority={CITY_OF_LONDON}") for d in downloads)
        assert any("/api/points/laqn2019.geojson" in d for d in downloads)
        sample = urlparse(downloads[0])
        assert world.clients["editor"].get(sample.path).status_code == 200


# -- live feeds ------------------------------------------------------------------------------------------------

class FeedServer:
    """A CSV feed on loopback whose answer the test sets (a body, an HTTP status, or nothing: closed)."""

    def __init__(self) -> None:
        self.status, self.body, self.hits = 200, b"", 0
        app = flask.Flask("feed")

        @app.get("/places.csv")
        def places() -> Any:
            self.hits += 1
            return flask.Response(self.body, status=self.status, mimetype="text/csv")

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/places.csv"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


def test_live_feeds_pull_keep_the_last_good_version_on_failure_and_say_so(world: World,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from atlas import accounts, catalogue, db, feeds, publish

    # The feed server is on loopback: allowed only through the allow-list (atlas/netguard.py).
    monkeypatch.setenv("ATLAS_FEED_ALLOW", "127.0.0.1")
    s = catalogue.build()
    feed = FeedServer()
    try:
        feed.body = camden_csv(s)
        editor = accounts.actor_for(accounts.check_password("editor@camden.gov.uk", PASSWORD))
        meta = publish.parse_metadata(metadata("Live places", "public", pull_url=feed.url, pull_minutes=60,
                                               update_days=2))
        out = publish.publish_dataset(editor, meta, camden_csv(s), "first.csv", s.extracts)
        dataset, var = out["id"], out["variables"][0]
        client = world.clients["anonymous"]
        values = lambda: [r["value"] for r in client.get(  # noqa: E731
            f"/api/values/{CAMDEN}/lsoa11/{var}.json").get_json()["rows"]]

        assert feeds.pull_due() == [f"ds{dataset}: unchanged"]  # the same values: no new version
        assert feeds.pull_due() == []  # not due again for an hour
        feed.body = camden_csv(s, scale=3)
        assert feeds.pull_due(everything=True) == [f"ds{dataset}: version 2"]
        assert values()[:2] == [3, 6]
        # the server fails: reported, and the last good version stays
        feed.status = 503
        lines = feeds.pull_due(everything=True)
        assert lines == [f"ds{dataset}: failed (the feed answered HTTP 503); the last good version stays current"]
        assert values()[:2] == [3, 6]
        # a broken file: rejected by validation like an upload, reported
        feed.status, feed.body = 200, b"code,value\nNOPE,1\n"
        assert "1 unknown code" in feeds.pull_due(everything=True)[0]
        with db.session() as sess:
            state = sess.get(db.PullState, dataset)
            assert state.failures == 2 and "unknown code" in state.last_error
        page = world.clients["editor"].get(f"/datastore/datasets/ds{dataset}").get_data(as_text=True)
        assert "last pull failed (2 in a row)" in page and "the last good version stays in use" in page
        assert "last pull failed" not in client.get(f"/datastore/datasets/ds{dataset}").get_data(as_text=True)
        entries = [e for e in __import__("atlas.audit").audit.entries() if e["action"] == "pull.failed"]
        assert len(entries) >= 2
    finally:
        feed.close()
    # the server is gone altogether
    line = feeds.pull_due(everything=True)[0]
    assert "failed (the feed could not be fetched" in line and values()[:2] == [3, 6]
    # two pullers at once (two workers): each due feed is pulled by one of them
    with db.session() as sess:
        sess.get(db.PullState, dataset).next_at = db.now().replace(year=2000)
    results: list[list[str]] = []
    threads = [threading.Thread(target=lambda: results.append(feeds.pull_due())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r) for r in results) == [0, 1]


def test_follows_atom_feeds_and_whats_new(world: World) -> None:
    import xml.etree.ElementTree as ET

    from atlas import db

    editor = world.clients["editor"]
    partner = world.clients["partner_member"]
    shared = world.datasets["partnership"]["key"]
    token = partner.csrf(f"/datastore/datasets/{shared}")
    assert partner.post("/datastore/follow", data={"kind": "dataset", "target": shared, "csrf_token": token}
                        ).status_code == 302
    token = partner.csrf(f"/datastore/{CAMDEN}")
    assert partner.post("/datastore/follow", data={"kind": "authority", "target": CAMDEN, "csrf_token": token}
                        ).status_code == 302
    # following what one may not see: 404 as for nothing
    hidden = world.datasets["organisation"]["key"]
    assert partner.post("/datastore/follow", data={"kind": "dataset", "target": hidden, "csrf_token": token}
                        ).status_code == 404
    with db.session() as s:
        secret = s.query(db.User).filter_by(email=world.users["partner_member"]).one().feed_secret
    feed_url = f"/datastore/feeds/user/{secret}.atom"
    assert feed_url in partner.get("/account").get_data(as_text=True)
    anonymous = world.clients["anonymous"]
    got = anonymous.get(feed_url)  # a feed reader has no cookie: the secret address is the credential
    assert got.status_code == 200 and got.mimetype == "application/atom+xml"
    assert got.headers["Cache-Control"].startswith("private")
    root = ET.fromstring(got.data)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)]
    assert any(world.datasets["partnership"]["title"] in t for t in titles)
    assert not any(world.datasets["organisation"]["title"] in t for t in titles)  # not shared with Islington
    assert root.findtext("a:id", namespaces=ns) and root.findtext("a:updated", namespaces=ns)
    assert anonymous.get("/datastore/feeds/user/not-a-real-secret-at-all.atom").status_code == 404
    # a new version shows up in the follower's feed and in what's new
    from atlas import accounts, catalogue, publish

    s = catalogue.build()
    actor = accounts.actor_for(accounts.check_password("editor@camden.gov.uk", PASSWORD))
    publish.add_version(actor, world.datasets["partnership"]["id"], camden_csv(s, scale=2), "v2.csv", s.extracts,
                        as_of="2024-06-30", note="summer count")
    root = ET.fromstring(anonymous.get(feed_url).data)
    assert "Version 2" in root.find("a:entry", ns).findtext("a:title", namespaces=ns)
    assert "summer count" in editor.get("/datastore/whats-new").get_data(as_text=True)
    assert "summer count" not in anonymous.get("/datastore/whats-new").get_data(as_text=True)


# -- OpenID Connect ---------------------------------------------------------------------------------------------

def _oidc_sign_in(world: World, issuer: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Client, Any]:
    monkeypatch.setenv("ATLAS_OIDC_ISSUERS", issuer)
    monkeypatch.setenv("ATLAS_OIDC_CLIENT_ID", "atlas-test")
    monkeypatch.setenv("ATLAS_OIDC_CLIENT_SECRET", "s3cret")
    client = Client(world.server)
    page = client.get("/account/sign-in").get_data(as_text=True)
    assert issuer in page
    start = client.get("/account/oidc/0/start")
    assert start.status_code == 302 and start.headers["Location"].startswith(issuer + "/authorize")
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=30)
    assert at_provider.status_code == 302
    back = urlparse(at_provider.headers["Location"])
    assert f"{back.scheme}://{back.netloc}" == BASE and back.path == "/account/oidc/0/callback"
    assert set(parse_qs(back.query)) == {"code", "state"}
    return client, client.get(f"{back.path}?{back.query}")


def test_sign_in_with_openid_connect(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = Provider("atlas-test", "s3cret", email=world.users["partner_member"], subject="entra-123")
    with serve(provider) as issuer:
        client, done = _oidc_sign_in(world, issuer, monkeypatch)
        assert done.status_code == 302, done.get_data(as_text=True)[:300]
        account = client.get("/account").get_data(as_text=True)
        # linked to the account an admin made for that e-mail, with its roles
        assert world.users["partner_member"] in account and "E09000019" in account
        var = world.datasets["partnership"]["var"]
        assert client.get(f"/api/values/{CAMDEN}/lsoa11/{var}.json").status_code == 200
    # tokens claiming another issuer than the allowed one are refused
    rogue = Provider("atlas-test", "s3cret", email="someone@evil.example", issuer_claim="https://evil.example")
    with serve(rogue) as issuer:
        client, done = _oidc_sign_in(world, issuer, monkeypatch)
        assert done.status_code == 401
        assert client.get("/account").status_code == 302  # not signed in
    # an issuer that is not on the allow-list has no client at all
    monkeypatch.setenv("ATLAS_OIDC_ISSUERS", "")
    assert Client(world.server).get("/account/oidc/0/start").status_code == 404


def test_sessions_are_secure_httponly_samesite_and_end_everywhere(world: World) -> None:
    client = Client(world.server)
    got = client.sign_in(world.users["outsider"])
    cookie = got.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    wrong = Client(world.server).sign_in(world.users["outsider"], "wrong password")
    assert wrong.status_code == 401 and "do not match" in wrong.get_data(as_text=True)
    # an open redirect after sign-in is refused
    c2 = Client(world.server)
    token = c2.csrf("/account/sign-in")
    away = c2.post("/account/sign-in?next=//evil.example/x", data={"email": world.users["outsider"],
                                                                    "password": PASSWORD, "csrf_token": token})
    assert away.headers["Location"] == "/datastore"
    # a password change ends every other session
    from atlas import accounts

    assert client.get("/account").status_code == 200
    accounts.set_password(world.users["outsider"], PASSWORD)
    assert client.get("/account").status_code == 302
    # the embed page sets no cookie even for a signed-in browser
    signed = world.clients["editor"]
    assert "Set-Cookie" not in signed.get(f"/embed?authority={CAMDEN}").headers


def test_the_explorer_links_to_the_datastore(world: World) -> None:
    import plotly.utils

    from ui import explorer

    with world.server.test_request_context("/"):
        layout = json.dumps(explorer.layout(""), cls=plotly.utils.PlotlyJSONEncoder)
    hrefs = set(re.findall(r'"href":\s*"([^"]+)"', layout))
    assert {"/datastore", "/datastore/whats-new"} <= hrefs
    for href in hrefs & {"/datastore", "/datastore/whats-new"}:
        assert world.clients["anonymous"].get(href).status_code == 200


# -- a partnership's area as a place -------------------------------------------------------------------------

def test_a_partnerships_area_is_a_place_for_its_members_only(world: World) -> None:
    import plotly.utils

    from atlas import accounts
    from ui import explorer

    ISLINGTON = "E09000019"
    pid = next(p["id"] for p in accounts.list_partnerships() if p["name"] == "North London schools")
    code = f"P{pid}"
    member = world.clients["partner_member"]
    info = member.get(f"/api/authorities/{code}").get_json()
    assert info["name"] == "North London schools (partnership)" and info["members"] == [CAMDEN, ISLINGTON]
    camden = world.clients["anonymous"].get(f"/api/authorities/{CAMDEN}").get_json()
    islington = world.clients["anonymous"].get(f"/api/authorities/{ISLINGTON}").get_json()
    count = lambda a: next(d["areas"] for d in a["levels"] if d["level"] == "lsoa11")  # noqa: E731
    assert next(d["areas"] for d in info["levels"] if d["level"] == "lsoa11") == count(camden) + count(islington)
    # an open variable: both authorities' values together, by code; ranks are within the partnership's area
    rows = member.get(f"/api/values/{code}/lsoa11/ks102ew0002.json").get_json()["rows"]
    parts = {r["code"]: r["value"] for a in (CAMDEN, ISLINGTON) for r in world.clients["anonymous"].get(
        f"/api/values/{a}/lsoa11/ks102ew0002.json").get_json()["rows"]}
    assert [r["code"] for r in rows] == sorted(parts) and all(r["value"] == parts[r["code"]] for r in rows)
    assert sorted(r["rank"] for r in rows if r["value"] is not None)[0] == 1
    assert max(r["rank"] for r in rows) <= len(rows)
    # the partnership's shared dataset on it: Camden's areas have values, Islington's none
    var = world.datasets["partnership"]["var"]
    shared = member.get(f"/api/values/{code}/lsoa11/{var}.json").get_json()["rows"]
    assert len(shared) == len(rows) and {r["code"][:3] for r in shared} == {"E01"}
    own = {r["code"]: r["value"] for r in member.get(f"/api/values/{CAMDEN}/lsoa11/{var}.json").get_json()["rows"]}
    assert all(r["value"] == own.get(r["code"]) for r in shared)
    assert sum(r["value"] is not None for r in shared) == len(own)
    view = member.get(f"/api/view.json?authority={code}&level=lsoa11&variable=ks102ew0002")
    assert view.status_code == 200 and "North London schools" in view.get_json()["title"]
    image = member.get(f"/export/map.png?authority={code}&level=lsoa11&variable=ks102ew0002&dpi=72&width=400")
    assert image.status_code == 200 and image.mimetype == "image/png"
    # for anyone else, as for a code that does not exist (a strict export answers 400 naming it)
    denied, absent = (world.clients["outsider"].get(
        f"/export/map.png?authority={c}&level=lsoa11&variable=ks102ew0002&dpi=72&width=400") for c in (code, "P999999"))
    assert denied.status_code == absent.status_code == 400
    assert denied.get_json()["error"].replace(code, "X") == absent.get_json()["error"].replace("P999999", "X")
    pack = member.get(f"/datapack/{code}.zip")  # the open datapacks are per authority
    assert pack.status_code == 404 and "one each for E09000007, E09000019" in pack.get_json()["error"]
    areas = member.get(f"/api/areas/{code}/lsoa11.geojson")
    assert len(areas.get_json()["features"]) == len(rows) and areas.headers["Cache-Control"].startswith("private")
    # in the explorer's list of places for its members, nobody else's
    def places(role: str) -> str:
        with world.server.test_request_context("/"):
            from atlas import access
            from web import auth

            token = access.set_current(auth.actor() if role == "anonymous" else __import__(
                "atlas.accounts").accounts.actor_for(__import__("atlas.accounts").accounts.check_password(
                    world.users[role], PASSWORD)))
            try:
                return json.dumps(explorer.layout(""), cls=plotly.utils.PlotlyJSONEncoder)
            finally:
                access.reset_current(token)
    assert f'"value": "{code}"' in places("partner_member") and "North London schools" in places("owner_member")
    # the explorer's render, as the partnership's member: its map, levels and outline
    from atlas import access, catalogue
    from callbacks import explorer as explorer_callbacks

    actor = accounts.actor_for(accounts.check_password(world.users["partner_member"], PASSWORD))
    with access.acting_as(actor), world.server.test_request_context("/"):
        shown = explorer_callbacks.render_view(f"?authority={code}&level=lsoa11&variable={var}", None,
                                               catalogue.build(access.current()))
        assert shown.state.authority == code and shown.state.variable == var, shown.messages
        assert len(shown.areas["codes"]) == len(rows)
        assert shown.outline["features"] and "lsoa11" in [o["value"] for o in shown.level_options]
    with access.acting_as(access.ANONYMOUS), world.server.test_request_context("/"):
        shown = explorer_callbacks.render_view(f"?authority={code}&level=lsoa11&variable={var}", None,
                                               catalogue.build(access.current()))
        assert shown.state.authority == "all" and any("no local authority" in m for m in shown.messages)
    # everyone else: exactly as for a place that does not exist
    for role in ("anonymous", "outsider", "invited_not_accepted", "nonpartner_member"):
        client = world.clients[role]
        for path in (f"/api/authorities/{code}", f"/api/values/{code}/lsoa11/ks102ew0002.json",
                     f"/api/areas/{code}/lsoa11.geojson", f"/datapack/{code}.zip"):
            got, absent = client.get(path), client.get(path.replace(code, "P999999"))
            assert got.status_code == absent.status_code == 404, (role, path)
            assert got.get_json()["error"].replace(code, "X") == absent.get_json()["error"].replace("P999999", "X")
        assert "North London schools" not in places(role)


def test_registry_search_and_facets_narrow_the_results(world: World) -> None:
    editor = world.clients["editor"]

    def titles(query: str) -> tuple[int, list[str]]:
        page = editor.get(f"/datastore{query}").get_data(as_text=True)
        total = int(re.search(r'<h2 id="datasets">Datasets \((\d+)', page).group(1))
        listed = re.findall(r'<li><a href="/datastore/datasets/[^"]+">([^<]+)</a> <span class="ds-access">', page)
        return total, listed

    everything, _ = titles("")
    total, listed = titles("?access=organisation")
    assert total == 1 and listed == ["Zebra organisation places"]
    camden_name = re.search(r"— ([^;]+); Published by councils", editor.get("/datastore?q=zebra").get_data(
        as_text=True)).group(1)
    total, listed = titles(f"?q=zebra&publisher={camden_name.replace(' ', '+')}")
    assert total == 5 and sorted(listed) == sorted(d["title"] for d in world.datasets.values())
    total, listed = titles("?topic=Published+by+councils&access=public")
    assert set(listed) >= {world.datasets["public"]["title"]} and world.datasets["organisation"]["title"] not in listed
    total, _ = titles("?level=lsoa11")
    assert 5 <= total < everything
    # the anonymous see the public dataset only, whatever the facets say
    page = world.clients["anonymous"].get("/datastore?q=zebra&access=organisation").get_data(as_text=True)
    assert "Zebra organisation places" not in page


def test_the_hover_card_says_a_published_datasets_as_of_date(world: World) -> None:
    import subprocess

    from test_explorer_js import NODE_SCRIPT, ROOT

    from atlas import access, accounts, catalogue
    from callbacks import explorer as explorer_callbacks
    from ui import ids

    var = world.datasets["partnership"]["var"]
    actor = accounts.actor_for(accounts.check_password(world.users["partner_member"], PASSWORD))
    with access.acting_as(actor), world.server.test_request_context("/"):
        r = explorer_callbacks.render_view(f"?authority={CAMDEN}&level=lsoa11&variable={var}", None,
                                           catalogue.build(access.current()))
    details = world.clients["partner_member"].get(r.payload["details"]).get_json()
    done = subprocess.run(["node", "-e", NODE_SCRIPT, str(ROOT)], capture_output=True, text=True, timeout=60,
                          input=json.dumps({"payload": r.payload, "areas": r.areas, "details": details,
                                            "ids": ids.as_dict()}), check=True)
    tips = json.loads(done.stdout)["tips"]
    status = world.clients["partner_member"].get(f"/api/variables/{var}").get_json()["status"]
    # (another test of this module may have added a version: whichever is current)
    assert re.match(r"As of \d{4}-\d\d-\d\d \(version \d+\)", status), status
    assert all(status in tip for tip in tips)
    # an open variable's hover card has no such line
    with world.server.test_request_context("/"):
        r = explorer_callbacks.render_view(f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0002", None,
                                           catalogue.build(access.current()))
    assert "asOf" not in r.payload
