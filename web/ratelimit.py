"""Per-client rate limits (flask-limiter), for the routes that cost the server most: map exports.

Clients are told apart by their IP address (``get_remote_address``; behind a reverse proxy, the app trusts
one proxy's ``X-Forwarded-For``: web/security.py's ProxyFix, or every client would be the proxy). The counts
are kept:

- with ``ATLAS_REDIS_URL``: in Redis, shared by every worker of every host, so a limit holds for the site.
  While Redis cannot be reached, a limited request (an export, a sign-in) is answered 503 with Retry-After
  rather than let through uncounted (web/errors.py), and the limits hold again by themselves when it returns;
- without: in each gunicorn worker's memory (``memory://``). The limit then holds per worker: with 2 workers
  a client may get up to twice the limit through.

Over the limit: 429, JSON from the blueprint's error handler (web/errors.py), with ``Retry-After`` and the
``X-RateLimit-*`` headers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from atlas import settings, shared

__all__ = ["EXPORT_LIMIT", "export_limit", "init_app", "limiter", "storage_uri"]

EXPORT_LIMIT = "ATLAS_EXPORT_RATE_LIMIT"

limiter = Limiter(key_func=get_remote_address)


def storage_uri(config: settings.Settings) -> str:
    """Where the counts live: Redis when ATLAS_REDIS_URL is set, else this worker's memory."""
    return config.redis_url or "memory://"


def _limit_text() -> str:
    return flask.current_app.config.get(EXPORT_LIMIT) or "1000000 per second"


def _unlimited() -> bool:
    return not flask.current_app.config.get(EXPORT_LIMIT)


def export_limit(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a view with the export rate limit (``ATLAS_EXPORT_RATE_LIMIT``, read per app)."""
    return limiter.limit(_limit_text, exempt_when=_unlimited, scope="export",
                         error_message="too many exports from your address; wait a little (see Retry-After)")(view)


def init_app(server: flask.Flask, config: settings.Settings | None = None) -> None:
    """Bind the limiter to ``server`` with the storage matching the cache backend (once per server)."""
    if server.extensions.get("atlas_ratelimit"):
        return
    server.extensions["atlas_ratelimit"] = True
    config = config or settings.load()
    server.config[EXPORT_LIMIT] = config.export_rate_limit
    server.config.setdefault("RATELIMIT_STORAGE_URI", storage_uri(config))
    server.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    if config.redis_url:
        # Shared counts or none: a storage error reaches web/errors.py as shared.Unavailable (503, Retry-After).
        server.config.setdefault("RATELIMIT_SWALLOW_ERRORS", False)
        server.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", False)
        server.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_timeout": shared.TIMEOUT,
                                                              "socket_connect_timeout": shared.TIMEOUT})
    else:
        server.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
        server.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    server.config.setdefault("RATELIMIT_KEY_PREFIX", "atlas-limit")
    limiter.init_app(server)
