"""How long browsers may keep each response: a year for fingerprinted URLs, revalidation for the rest.

A URL is fingerprinted when it changes whenever its content does, so a browser never needs to ask again:
- Dash's component bundles, ``/_dash-component-suites/<package>/<name>.v<version>m<mtime>.<ext>``
  (Dash's own pattern, dash/fingerprint.py; web/ does not import Dash);
- files of ``assets/`` as Dash links them, ``/assets/<file>?m=<mtime>``, when ``m`` is the served file's
  modification time (its Last-Modified), so a hand-typed or stale ``m`` is not promised a year;
- Dash's favicon, ``/_favicon.ico?v=<dash version>``.
They get ``Cache-Control: public, max-age=31536000, immutable`` (Dash sends a bare ``max-age`` for its
bundles, Flask ``no-cache`` for assets). Views that set their own Cache-Control keep it: the data API's
geometry is immutable when its URL names the build (``?v=``), ``/_atlas/ids.js?v=<hash>`` too (app.py).

Everything else that says nothing is ``no-cache``: stored, but revalidated on each use. The index page
above all: it names the fingerprints, so a stale one would load last release's bundles. A GET answered 200
without a validator (``/_dash-layout``, ``/_dash-dependencies``, ``/api``) gets a strong ETag of its body
and a 304 when it matches, so a reload costs a few hundred bytes; web.compression then adds the encoding to
that ETag. Not HTML: Dash 4.4 signs a new token into every page it serves (``end_id`` in its config, for
background callbacks), so a page's ETag would never match; it is sent whole (about 10 KB in brotli).
"""

from __future__ import annotations

import hashlib
import re

import flask

__all__ = ["IMMUTABLE", "REVALIDATE", "YEAR", "init_app", "is_fingerprinted"]

YEAR = 31_536_000
IMMUTABLE = f"public, max-age={YEAR}, immutable"
REVALIDATE = "no-cache"

COMPONENT_SUITES = "/_dash-component-suites/"
ASSETS = "/assets/"
FAVICON = "/_favicon.ico"
#: dash.fingerprint.cache_regex: the second dot-separated part of a fingerprinted file name.
_DASH_FINGERPRINT = re.compile(r"^v[\w-]+m[0-9a-fA-F]+$")


def _dash_fingerprint(path: str) -> str | None:
    parts = path.rsplit("/", 1)[-1].split(".")
    return parts[1] if len(parts) > 2 and _DASH_FINGERPRINT.match(parts[1]) else None


def _asset_mtime_matches(m: str, response: flask.Response) -> bool:
    modified = response.last_modified
    try:
        return modified is not None and abs(float(m) - modified.timestamp()) < 1
    except ValueError:
        return False


def is_fingerprinted(request: flask.Request, response: flask.Response) -> bool:
    """Whether the URL of ``request`` names this exact content (see the module's docstring)."""
    path = request.path
    if path.startswith(COMPONENT_SUITES):
        return _dash_fingerprint(path) is not None
    if path.startswith(ASSETS):
        m = request.args.get("m")
        return m is not None and _asset_mtime_matches(m, response)
    return path == FAVICON and bool(request.args.get("v"))


def _policy(response: flask.Response) -> flask.Response:
    request = flask.request
    if request.method not in ("GET", "HEAD") or response.status_code not in (200, 304):
        return response
    if is_fingerprinted(request, response):
        response.headers["Cache-Control"] = IMMUTABLE
        if not response.get_etag()[0]:
            # The fingerprinted URL names the bytes: as a validator, it lets web.compression cache them.
            response.set_etag(hashlib.sha1(request.full_path.encode()).hexdigest())
        return response
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = REVALIDATE
    if (response.status_code == 200 and not response.is_streamed and response.mimetype != "text/html"
            and not response.get_etag()[0]):
        response.add_etag()
        response.make_conditional(request)
    return response


def init_app(server: flask.Flask) -> None:
    """Set Cache-Control (and validators) on ``server``'s responses; bind after ``web.compression``."""
    if server.extensions.get("atlas_caching"):
        return
    server.extensions["atlas_caching"] = True
    server.after_request(_policy)
