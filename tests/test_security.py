"""Security headers: on every response, with framing allowed only on /embed (by the configured
origins), no cookies there, and a Content-Security-Policy the real Dash app runs under in Chromium."""

from __future__ import annotations

import http.server
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import dash
import flask
import pytest
from server_support import first_answer, listening_socket, spawn_on

from web import api, downloads, security

ROOT = Path(__file__).resolve().parent.parent
CAMDEN = "E09000007"


def _server() -> flask.Flask:
    server = flask.Flask(__name__)
    api.init_app(server)
    downloads.init_app(server)
    security.init_app(server)

    @server.get("/")
    def index() -> str:
        return "<!doctype html><title>atlas</title>"

    @server.get("/embed")
    @server.get("/embed/")
    @server.get("/embed/<path:rest>")
    def embed(rest: str = "") -> flask.Response:
        response = flask.make_response("<!doctype html><title>embed</title>")
        response.set_cookie("tracker", "1")  # must never reach the embedding site's visitors
        return response

    @server.get("/embedded")
    def not_embed() -> str:
        return "not the embed page"

    return server


@pytest.fixture()
def client(atlas_env: Path) -> flask.testing.FlaskClient:
    return _server().test_client()


def _csp(response) -> dict[str, list[str]]:
    directives = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


@pytest.mark.parametrize("url,status", [
    ("/", 200),
    ("/api/authorities", 200),
    ("/api/nope", 404),
    (f"/export/map.svg?authority={CAMDEN}&level=lsoa11&variable=ks102ew0002", 200),
    ("/export/map.png?authority=E99999999", 400),
    ("/datapack/nope.zip", 404),
    ("/embedded", 200),  # only /embed itself (and below it) may be framed
])
def test_every_response_has_the_headers_and_may_be_framed_only_by_itself(client, url, status):
    response = client.get(url)
    assert response.status_code == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    csp = _csp(response)
    assert csp["frame-ancestors"] == ["'self'"]
    assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP


@pytest.mark.parametrize("path", ["/embed", "/embed/", "/embed/camden?variable=ks102ew0018"])
def test_embed_may_be_framed_by_any_site_by_default_and_sets_no_cookie(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert _csp(response)["frame-ancestors"] == ["'self'", "*"]
    assert "X-Frame-Options" not in response.headers
    assert "Set-Cookie" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_embed_origins_come_from_the_setting(atlas_env, monkeypatch):
    monkeypatch.setenv("ATLAS_EMBED_ORIGINS", "https://www.camden.gov.uk https://intranet.example.org")
    client = _server().test_client()
    assert _csp(client.get("/embed"))["frame-ancestors"] == [
        "'self'", "https://www.camden.gov.uk", "https://intranet.example.org"]
    assert _csp(client.get("/"))["frame-ancestors"] == ["'self'"]


def test_tiles_origin_is_allowed_for_images_only(atlas_env, monkeypatch):
    monkeypatch.setenv("ATLAS_TILES_URL", "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png")
    csp = _csp(_server().test_client().get("/"))
    assert "https://*.tile.openstreetmap.org" in csp["img-src"]
    assert "https://*.tile.openstreetmap.org" not in csp["script-src"] + csp["connect-src"]


def test_hsts_only_over_https(client):
    response = client.get("/", base_url="https://atlas.example.org")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_the_renderer_hash_is_the_one_dash_computes():
    app = dash.Dash(__name__)
    assert security.script_hash(security.DASH_RENDERER_SCRIPT) in app.csp_hashes()


def test_binding_twice_is_harmless(atlas_env):
    server = _server()
    security.init_app(server)
    response = server.test_client().get("/")
    assert response.headers.getlist("Content-Security-Policy") == [response.headers["Content-Security-Policy"]]


# -- in Chromium: the real app under this policy, and framing refused --------------------------------------

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000")

RUN_APP = """
import sys
sys.path.insert(0, sys.argv[2])
import app
from web import downloads, security
from werkzeug.serving import make_server
if "downloads" not in app.server.blueprints:
    downloads.init_app(app.server)
security.init_app(app.server)
make_server("127.0.0.1", 0, app.server, threaded=True, fd=int(sys.argv[1])).serve_forever()
"""


@pytest.fixture()
def app_url(atlas_env: Path, tmp_path: Path) -> Iterator[str]:
    """The real app.py, with the security headers and downloads bound, in its own process, serving a
    socket bound here (server_support: the first request waits for it, nothing is polled)."""
    env = {**os.environ, "ATLAS_DATA_DIR": str(atlas_env), "ATLAS_TILES_URL": ""}
    log = open(tmp_path / "app.log", "w+")
    proc, url = spawn_on(listening_socket(), lambda fd: [sys.executable, "-c", RUN_APP, str(fd), str(ROOT)],
                         env=env, stdout=log, stderr=log)
    try:
        status = first_answer(url + "/")
        log.seek(0)
        assert status == 200, log.read()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture()
def other_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Another origin (another loopback port) serving plain pages from tmp_path."""
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path), **k)  # noqa: E731
    # Bound and listening when the constructor returns: no need to wait for it.
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", tmp_path
    finally:
        httpd.shutdown()


@pytest.fixture()
def chrome() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _until(driver, script: str, timeout: float = 20):
    """The value of a JavaScript expression once it is truthy; fails after ``timeout`` seconds."""
    from selenium.webdriver.support.wait import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script("try { return " + script + "; } catch (e) { return null; }"),
        f"timed out waiting for {script}")


def _log_until(driver, found: Callable[[list[str]], bool], timeout: float = 20) -> list[str]:
    """The browser's console messages, read until ``found(messages)`` holds (get_log drains the log, so
    they are gathered); fails after ``timeout`` seconds."""
    from selenium.webdriver.support.wait import WebDriverWait

    messages: list[str] = []

    def seen(d) -> bool:
        messages.extend(e["message"] for e in d.get_log("browser"))
        return found(messages)

    WebDriverWait(driver, timeout, poll_frequency=0.1).until(seen, f"not logged; the log was {messages}")
    return messages


@pytest.mark.browser
def test_sec001_the_app_runs_under_the_policy_and_refuses_other_sites_frames(app_url, other_site, chrome):
    chrome.get(f"{app_url}/?authority={CAMDEN}&level=oa11&variable=ks102ew0018")
    # The explorer draws its legend from the payload in the browser: scripts ran, callbacks answered.
    assert _until(chrome, "document.querySelector('.legend-title').textContent") == "Mean age (years)"
    assert _until(chrome, "document.querySelectorAll('canvas').length > 0")
    logs = chrome.get_log("browser")
    assert not [e for e in logs if "Content Security Policy" in e["message"]], logs

    site, folder = other_site
    (folder / "frames.html").write_text(
        f'<!doctype html><iframe id="app" src="{app_url}/" width="600" height="400"></iframe>'
        f'<iframe id="embed" src="{app_url}/embed" width="600" height="400"></iframe>')
    chrome.get(f"{site}/frames.html")
    # The embed is framed: its page ran in the frame and drew its map.
    chrome.switch_to.frame("embed")
    assert _until(chrome, "document.querySelector('.atlas-embed') && "
                          "document.querySelectorAll('canvas').length > 0")
    chrome.switch_to.default_content()
    # Chromium words it "Framing '<url>' violates ... frame-ancestors" (older: "Refused to frame").
    messages = _log_until(chrome, lambda ms: any(f"'{app_url}/'" in m and "frame-ancestors 'self'" in m
                                                 for m in ms))
    refused = [m for m in messages if "frame-ancestors" in m]
    assert not any("/embed" in m for m in refused), refused
