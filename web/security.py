"""Security headers on every response, set with the ``secure`` package (Secure 2.x).

- ``Content-Security-Policy``: scripts, styles, images and fetches from this origin only (plus the basemap
  tiles' origin when one is set). Framing: ``frame-ancestors 'self'`` everywhere except the embed page
  (``/embed``), which the origins of ``ATLAS_EMBED_ORIGINS`` (default ``*``: any site) may frame.
- What Dash 4 needs, found by loading the explorer (app.py) in headless Chromium with this policy: its one
  inline script (``var renderer = new DashRenderer();``) is allowed by its SHA-256 rather than by
  'unsafe-inline' (with a wrong hash the page stays blank and Chromium logs the violation), and inline
  styles ('unsafe-inline' in style-src) for React's and Leaflet's style attributes. Dash 4.4's production
  bundles, dash-leaflet 1.1 and the explorer ran without 'unsafe-eval' (no violation logged, map and
  legend drawn), so it is left out; ``init_app(..., allow_eval=True)`` adds it for Dash's debug mode,
  whose development bundles evaluate code (plotly/dash#1794).
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: strict-origin-when-cross-origin``, a
  Permissions-Policy switching off what a map never uses (geolocation only for the site itself: "Near me"),
  ``Cross-Origin-Opener-Policy``, and ``X-Frame-Options: SAMEORIGIN`` for browsers without frame-ancestors
  (never on /embed, which it would block). HSTS only over HTTPS (on plain HTTP it means nothing, and on
  localhost it would be a nuisance).
- The embed page sets no cookies: any ``Set-Cookie`` on an /embed response is removed.

Nothing here touches Cross-Origin-Resource-Policy: exported images and the open data API are meant to be
used by other sites (an ``<img>`` in a council report, a fetch from a notebook).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from urllib.parse import urlparse

import flask
import secure

from atlas import settings, viewstate

__all__ = ["DASH_RENDERER_SCRIPT", "EMBED_PATH", "csp_for", "init_app", "script_hash"]

EMBED_PATH = viewstate.EMBED_PATH
#: Dash's one inline script when the app is created without renderer hooks (dash.Dash.renderer).
DASH_RENDERER_SCRIPT = "var renderer = new DashRenderer();"


def script_hash(script: str) -> str:
    """The CSP source expression allowing one inline script, as dash.Dash.csp_hashes() computes it."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def _tile_origin(url: str) -> str | None:
    if not url:
        return None
    parsed = urlparse(url.replace("{", "").replace("}", ""))
    # Tile URLs often use a {s} subdomain: allow the parent domain's subdomains.
    host = parsed.netloc
    if "{s}." in url:
        host = "*." + host.split(".", 1)[1]
    return f"{parsed.scheme}://{host}"


def csp_for(frame_ancestors: Sequence[str], script_hashes: Sequence[str] = (), tiles_url: str = "",
            allow_eval: bool = False) -> secure.ContentSecurityPolicy:
    """The Content-Security-Policy builder for pages that may be framed by ``frame_ancestors``."""
    images = ["'self'", "data:", "blob:"]
    tiles = _tile_origin(tiles_url)
    if tiles:
        images.append(tiles)
    return (
        secure.ContentSecurityPolicy()
        .default_src("'self'")
        .script_src("'self'", *(["'unsafe-eval'"] if allow_eval else []), *script_hashes)
        .style_src("'self'", "'unsafe-inline'")
        .img_src(*images)
        .font_src("'self'", "data:")
        .connect_src("'self'")
        .object_src("'none'")
        .base_uri("'self'")
        .form_action("'self'")
        .frame_ancestors(*frame_ancestors)
    )


def _secure(csp: secure.ContentSecurityPolicy, *, frame_options: bool) -> secure.Secure:
    return secure.Secure(
        csp=csp,
        xcto=secure.XContentTypeOptions().nosniff(),
        referrer=secure.ReferrerPolicy().strict_origin_when_cross_origin(),
        # Geolocation for "Near me" (the explorer's own origin only, and only when the person allows it).
        permissions=secure.PermissionsPolicy().geolocation("'self'").microphone().camera().payment().usb(),
        coop=secure.CrossOriginOpenerPolicy().same_origin(),
        xfo=secure.XFrameOptions().sameorigin() if frame_options else None,
    )


def _is_embed(path: str) -> bool:
    return path == EMBED_PATH or path.startswith(EMBED_PATH + "/")


def init_app(server: flask.Flask, script_hashes: Sequence[str] | Callable[[], Sequence[str]] | None = None,
             allow_eval: bool = False) -> None:
    """Set the security headers on every response of ``server``.

    ``script_hashes``: CSP hashes of the page's inline scripts; by default that of Dash's renderer script.
    A Dash app passes ``app.csp_hashes`` itself (a callable): Dash's page router registers its inline
    clientside callback (the one that sets ``document.title``) only on the first request, so the hashes
    are read again, once, after that request has begun.
    ``allow_eval``: add 'unsafe-eval' (only Dash's debug mode needs it).
    """
    if server.extensions.get("atlas_security"):
        return  # already bound: a second after_request would only set the same headers again
    server.extensions["atlas_security"] = True
    config = settings.load()
    origins = list(config.embed_origins) or ["*"]
    embed_ancestors = ["'self'", *(o for o in origins if o != "'self'")]
    hsts = secure.Secure(hsts=secure.StrictTransportSecurity().max_age(31_536_000).include_subdomains())
    built: dict[tuple[str, ...], tuple[secure.Secure, secure.Secure]] = {}

    def headers() -> tuple[secure.Secure, secure.Secure]:
        if script_hashes is None:
            hashes = (script_hash(DASH_RENDERER_SCRIPT),)
        else:
            hashes = tuple(script_hashes() if callable(script_hashes) else script_hashes)
        if hashes not in built:  # at most twice: before and after the router's first request
            built[hashes] = (
                _secure(csp_for(["'self'"], hashes, config.tiles_url, allow_eval), frame_options=True),
                _secure(csp_for(embed_ancestors, hashes, config.tiles_url, allow_eval), frame_options=False))
        return built[hashes]

    @server.after_request
    def _security_headers(response: flask.Response) -> flask.Response:
        embed = _is_embed(flask.request.path)
        app_headers, embed_headers = headers()
        (embed_headers if embed else app_headers).set_headers(response)
        if embed:
            response.headers.pop("X-Frame-Options", None)
            response.headers.pop("Set-Cookie", None)
            while "Set-Cookie" in response.headers:
                del response.headers["Set-Cookie"]
        if flask.request.is_secure:
            hsts.set_headers(response)
        return response
