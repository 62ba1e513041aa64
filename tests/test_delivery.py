"""How responses travel: compression (web.compression, flask-compress with brotli and gzip) and cache
lifetimes (web.caching), through the real app's Flask test client and small apps of their own."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import brotli
import flask
import flask_compress.flask_compress as fc
import pytest

from web import caching, compression

ROOT = Path(__file__).resolve().parent.parent
CAMDEN = "E09000007"
BROWSER = "gzip, deflate, br, zstd"  # what Chromium sends
IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture()
def app_client(atlas_env: Path) -> flask.testing.FlaskClient:
    import app as app_module

    return app_module.server.test_client()


@pytest.fixture()
def build_id(atlas_env: Path) -> str:
    return json.loads((atlas_env / "current" / "build.json").read_text())["id"]


def decoded(response) -> bytes:
    encoding = response.headers.get("Content-Encoding")
    body = response.get_data()
    if encoding == "br":
        return brotli.decompress(body)
    if encoding == "gzip":
        return gzip.decompress(body)
    assert encoding is None, encoding
    return body


def same_page(a: bytes, b: bytes) -> bool:
    token = rb'"end_id":"[^"]+"'
    return re.sub(token, b"", a) == re.sub(token, b"", b) and len(a) == len(b)


def page_urls(html: str) -> list[str]:
    """Every script and stylesheet the index page names."""
    return re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)


# -- compression -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("accept,expected", [
    (BROWSER, "br"),
    ("gzip, deflate", "gzip"),
    ("gzip;q=1.0, br;q=0.5", "gzip"),
    ("br;q=0, gzip", "gzip"),
    ("identity", None),
    ("", None),
    ("deflate, zstd", None),
])
def test_the_encoding_follows_accept_encoding(app_client, accept, expected):
    plain = app_client.get("/")
    response = app_client.get("/", headers={"Accept-Encoding": accept})
    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") == expected
    assert "Accept-Encoding" in response.headers["Vary"]
    # Compressed exactly once: one decoding gives the page back (but for the token Dash signs into each).
    assert same_page(decoded(response), plain.data)
    assert int(response.headers["Content-Length"]) == len(response.data)
    if expected:
        assert len(response.data) < len(plain.data) / 4


def test_the_first_load_is_compressed_to_a_quarter(app_client):
    """The index page and every script and stylesheet it names, as Chromium asks for them."""
    page = app_client.get("/", headers={"Accept-Encoding": BROWSER})
    urls = page_urls(decoded(page).decode())
    assert any("dash_leaflet" in u for u in urls) and any(u.startswith("/assets/") for u in urls)
    wire = raw = 0
    for url in urls:
        response = app_client.get(url, headers={"Accept-Encoding": BROWSER})
        assert response.status_code == 200, url
        body = decoded(response)
        if len(body) >= compression.MIN_BYTES:
            assert response.headers["Content-Encoding"] == "br", url
        wire, raw = wire + len(response.data), raw + len(body)
    assert raw > 1_000_000 and wire < raw / 4, (wire, raw)


def test_strong_etags_differ_per_encoding_and_each_revalidates(app_client):
    url = f"/api/areas/{CAMDEN}/oa11.geojson"
    tags = {}
    for accept in ("", "gzip", "br"):
        response = app_client.get(url, headers={"Accept-Encoding": accept})
        tag, weak = response.get_etag()
        assert not weak and response.status_code == 200
        tags[accept] = tag
        again = app_client.get(url, headers={"Accept-Encoding": accept, "If-None-Match": f'"{tag}"'})
        assert again.status_code == 304 and again.data == b"", accept
        assert again.get_etag() == (tag, False)
    assert len(set(tags.values())) == 3
    assert tags["br"] == tags[""] + ":br" and tags["gzip"] == tags[""] + ":gzip"
    # A gzip copy is not confirmed to a client that would now be sent brotli.
    other = app_client.get(url, headers={"Accept-Encoding": "br", "If-None-Match": f'"{tags["gzip"]}"'})
    assert other.status_code == 200 and other.headers["Content-Encoding"] == "br"


def test_the_data_api_is_compressed_once_without_its_own_gzip(app_client):
    plain = app_client.get(f"/api/values/{CAMDEN}/oa11/ks102ew0002.csv")
    for accept, encoding in (("gzip", "gzip"), (BROWSER, "br")):
        response = app_client.get(f"/api/values/{CAMDEN}/oa11/ks102ew0002.csv", headers={"Accept-Encoding": accept})
        assert response.headers["Content-Encoding"] == encoding
        assert decoded(response) == plain.data
    pbf = app_client.get(f"/api/areas/{CAMDEN}/oa11.pbf", headers={"Accept-Encoding": BROWSER})
    assert pbf.headers["Content-Encoding"] == "br"
    assert decoded(pbf) == app_client.get(f"/api/areas/{CAMDEN}/oa11.pbf").data


def test_a_geopackage_revalidation_answers_for_the_encoding_held(app_client):
    url = f"/api/values/{CAMDEN}/oa11/ks102ew0002.geojson"
    first = app_client.get(url, headers={"Accept-Encoding": "br"})
    assert first.headers["Content-Encoding"] == "br"
    again = app_client.get(url, headers={"Accept-Encoding": "br", "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == first.headers["ETag"]


def test_svg_exports_are_compressed_png_are_not(app_client):
    query = f"authority={CAMDEN}&level=oa11&variable=ks102ew0002_pct"
    svg = app_client.get(f"/export/map.svg?{query}", headers={"Accept-Encoding": BROWSER})
    assert svg.status_code == 200 and svg.headers["Content-Encoding"] == "br"
    assert decoded(svg).startswith(b"<?xml") and len(svg.data) < len(decoded(svg)) / 3
    again = app_client.get(f"/export/map.svg?{query}", headers={"Accept-Encoding": BROWSER,
                                                                "If-None-Match": svg.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == svg.headers["ETag"]
    assert again.headers["Cache-Control"] == "public, max-age=86400"
    png = app_client.get(f"/export/map.png?{query}", headers={"Accept-Encoding": BROWSER})
    assert png.status_code == 200 and "Content-Encoding" not in png.headers
    assert png.data.startswith(b"\x89PNG")


def test_datapack_ranges_and_revalidation_pass_through(app_client, atlas_env, tmp_path, monkeypatch):
    monkeypatch.setenv("ATLAS_CACHE_DIR", str(tmp_path))
    url = "/datapack/E09000001.zip"
    whole = app_client.get(url, headers={"Accept-Encoding": BROWSER})
    assert whole.status_code == 200 and "Content-Encoding" not in whole.headers
    assert whole.data[:2] == b"PK"
    part = app_client.get(url, headers={"Accept-Encoding": BROWSER, "Range": "bytes=100-199"})
    assert part.status_code == 206 and "Content-Encoding" not in part.headers
    assert part.data == whole.data[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(whole.data)}"
    same = app_client.get(url, headers={"Accept-Encoding": BROWSER, "If-None-Match": whole.headers["ETag"]})
    assert same.status_code == 304


def test_a_range_of_an_asset_is_not_compressed(app_client):
    full = (ROOT / "assets" / "atlas.js").read_bytes()
    # A range long enough to be worth compressing, were it not a range.
    part = app_client.get("/assets/atlas.js", headers={"Accept-Encoding": BROWSER, "Range": "bytes=1000-8999"})
    assert part.status_code == 206 and "Content-Encoding" not in part.headers
    assert part.data == full[1000:9000]
    whole = app_client.get("/assets/atlas.js", headers={"Accept-Encoding": BROWSER})
    assert whole.headers["Content-Encoding"] == "br" and decoded(whole) == full
    assert app_client.get("/assets/atlas.js", headers={
        "Accept-Encoding": BROWSER, "If-None-Match": whole.headers["ETag"]}).status_code == 304


def _route(client, search: str, accept: str):
    """The page router's callback (a POST to Dash's one callback URL), as in test_embed.py."""
    deps = json.loads(decoded(client.get("/_dash-dependencies")))
    router = next(d for d in deps if "_pages_content.children" in d["output"])
    body = {"output": router["output"],
            "outputs": [{"id": "_pages_content", "property": "children"},
                        {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/embed" if search else "/"},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "changedPropIds": ["_pages_location.pathname", "_pages_location.search"], "state": []}
    return client.post("/_dash-update-component", json=body, headers={"Accept-Encoding": accept})


def test_callbacks_sharing_one_url_never_share_a_compressed_answer(app_client):
    """Every callback POSTs to /_dash-update-component: a cache keyed by URL would mix them up."""
    for _ in range(2):
        embed = _route(app_client, f"?authority={CAMDEN}&level=oa11&variable=ks102ew0002_pct", BROWSER)
        explorer = _route(app_client, "", BROWSER)
        assert embed.headers["Content-Encoding"] == "br" == explorer.headers["Content-Encoding"]
        assert "ETag" not in embed.headers and "Cache-Control" not in embed.headers
        assert json.loads(decoded(embed))["response"]["_pages_content"]["children"]["props"]["className"] \
            == "atlas-embed"
        assert json.loads(decoded(explorer))["response"]["_pages_content"]["children"]["props"]["className"] \
            == "atlas"


def _small_app() -> flask.Flask:
    server = flask.Flask(__name__)
    compression.init_app(server)
    caching.init_app(server)

    @server.get("/tagged")
    def tagged() -> flask.Response:
        response = flask.Response("x" * 5000, mimetype="application/json")
        response.set_etag("v1")
        return response

    @server.post("/echo")
    def echo() -> flask.Response:
        return flask.Response(flask.request.get_data() * 5000, mimetype="application/json")

    @server.get("/small")
    def small() -> flask.Response:
        return flask.Response("x" * (compression.MIN_BYTES - 1), mimetype="text/plain")

    @server.get("/stream")
    def stream() -> flask.Response:
        return flask.Response((b"y" * 1000 for _ in range(10)), mimetype="text/plain")

    return server


def test_compressed_bodies_are_cached_by_path_and_strong_etag_only(monkeypatch):
    server = _small_app()
    calls = []
    real = fc._compress_data
    monkeypatch.setattr(fc, "_compress_data", lambda app, data, algo: calls.append(algo) or real(app, data, algo))
    client = server.test_client()
    for _ in range(3):
        assert decoded(client.get("/tagged", headers={"Accept-Encoding": "br"})) == b"x" * 5000
        assert decoded(client.get("/tagged", headers={"Accept-Encoding": "gzip"})) == b"x" * 5000
    assert calls == ["br", "gzip"]
    # No validator (a POST, like Dash's callbacks): compressed every time, never another request's entry.
    for body in (b"a", b"b", b"a"):
        assert decoded(client.post("/echo", data=body, headers={"Accept-Encoding": "br"})) == body * 5000
    assert calls == ["br", "gzip", "br", "br", "br"]


def test_small_and_streamed_responses_pass_through():
    client = _small_app().test_client()
    small = client.get("/small", headers={"Accept-Encoding": "br"})
    assert "Content-Encoding" not in small.headers and len(small.data) == compression.MIN_BYTES - 1
    stream = client.get("/stream", headers={"Accept-Encoding": "br"})
    assert "Content-Encoding" not in stream.headers and stream.data == b"y" * 10_000


def test_the_cache_is_bounded_in_bytes():
    cache = compression.LruBytes(limit=8000)
    for i in range(20):
        cache.set(f"br;/p|{i}", bytes(900))
    assert len(cache) == 8 and cache.get("br;/p|0") is None and cache.get("br;/p|19") == bytes(900)
    cache.set("br;", b"never")  # an empty key means not cacheable
    assert cache.get("br;") is None
    cache.set("br;/big|1", bytes(1001))  # over an eighth of the limit: not kept
    assert cache.get("br;/big|1") is None


def test_the_app_has_one_compressor(app_client):
    """Dash's compress=True would add a second flask-compress hook with settings nobody chose."""
    import flask_compress

    hooks = app_client.application.after_request_funcs[None]
    compressors = [h for h in hooks if isinstance(getattr(h, "__self__", None), flask_compress.Compress)]
    assert compressors == [app_client.application.extensions["atlas_compression"].after_request]


def test_binding_order_is_enforced():
    server = flask.Flask(__name__)
    caching.init_app(server)
    with pytest.raises(RuntimeError, match="before web.caching"):
        compression.init_app(server)


# -- cache lifetimes -------------------------------------------------------------------------------------

def test_every_script_and_stylesheet_of_the_page_is_immutable_and_the_page_is_not(app_client):
    page = app_client.get("/", headers={"Accept-Encoding": BROWSER})
    assert page.headers["Cache-Control"] == "no-cache"
    urls = page_urls(decoded(page).decode())
    assert len(urls) >= 10
    for url in urls:
        assert app_client.get(url).headers["Cache-Control"] == IMMUTABLE, url
    # No ETag: Dash signs a new token into each page, so it could never match.
    assert "ETag" not in page.headers


def test_unfingerprinted_urls_are_revalidated(app_client, atlas_env):
    page = decoded(app_client.get("/")).decode()
    asset = next(u for u in page_urls(page) if u.startswith("/assets/atlas.js?m="))
    for url in ("/assets/atlas.js", "/assets/atlas.js?m=12345", asset.replace("?m=", "?m=9")):
        response = app_client.get(url)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-cache", url
        assert app_client.get(url, headers={"If-None-Match": response.headers["ETag"]}).status_code == 304
    suite = next(u for u in page_urls(page) if "dash_leaflet" in u)
    plain = re.sub(r"\.v[\w-]+m[0-9a-fA-F]+\.", ".", suite)
    assert plain != suite
    response = app_client.get(plain)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-cache"
    ids_script = next(u for u in page_urls(page) if u.startswith("/_atlas/ids.js?v="))
    assert app_client.get(ids_script).headers["Cache-Control"] == IMMUTABLE
    assert app_client.get("/_atlas/ids.js?v=old").headers["Cache-Control"] == "no-cache"
    assert app_client.get("/_favicon.ico?v=4").headers["Cache-Control"] == IMMUTABLE
    assert app_client.get("/_favicon.ico").headers["Cache-Control"] == "no-cache"


def test_dash_json_is_revalidated_with_an_etag(app_client):
    for url in ("/_dash-layout", "/_dash-dependencies"):
        first = app_client.get(url, headers={"Accept-Encoding": BROWSER})
        assert first.headers["Cache-Control"] == "no-cache" and first.get_etag()[0], url
        again = app_client.get(url, headers={"Accept-Encoding": BROWSER, "If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304, url


def test_views_keep_their_own_lifetimes(app_client, build_id):
    assert app_client.get(f"/api/areas/{CAMDEN}/oa11.pbf?v={build_id}").headers["Cache-Control"] == IMMUTABLE
    assert app_client.get(f"/api/areas/{CAMDEN}/oa11.pbf").headers["Cache-Control"] == "public, max-age=86400"
    png = app_client.get(f"/export/map.png?authority={CAMDEN}&level=oa11&variable=ks102ew0002_pct")
    assert png.headers["Cache-Control"] == "public, max-age=86400"
    missing = app_client.get("/api/nope")
    assert missing.status_code == 404 and "Cache-Control" not in missing.headers


def test_is_fingerprinted_follows_dash_naming():
    server = flask.Flask(__name__)
    ok = flask.Response("")
    cases = {
        "/_dash-component-suites/dash/dcc/dash_core_components.v4_4_1m1795801254.js": True,
        "/_dash-component-suites/dash/deps/react@18.v4_4_1m1795801254.3.1.min.js": True,
        "/_dash-component-suites/dash/dcc/dash_core_components.js": False,
        "/_dash-component-suites/dash/deps/react@18.3.1.min.js": False,
        "/assets/atlas.js?m=1": False,  # no Last-Modified to compare with
        "/_favicon.ico?v=4.4.1": True,
        "/": False,
    }
    for url, expected in cases.items():
        with server.test_request_context(url):
            assert caching.is_fingerprinted(flask.request, ok) is expected, url
