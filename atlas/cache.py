"""The cache of classified results, shared by the Dash callbacks (flask-caching, vizro's pattern).

``cache`` is created here without an app and bound to the Flask server by ``init_cache`` in app.py, with
its backend from settings: Redis when ``ATLAS_REDIS_URL`` is set (every worker of every host), else
``ATLAS_CACHE_TYPE`` (in-process ``SimpleCache``, or ``FileSystemCache`` for the workers of one host). Keys
are built only from the request's parameters and what the answer depends on (the build, a published
dataset's version, what the requester may see: the request's catalogue names them), never from ``id()`` or
``hash()`` of objects (which differ between workers), so every worker finds what another stored, and a new
version is a new key on every host at once. Results come back as copies: a caller may change what it gets
without changing what the next caller gets. A cache that cannot be reached (Redis down) is skipped: the
answer is computed, and the next request tries it again once ``shared.BACKOFF`` has passed.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import flask
from flask_caching import Cache

from atlas import settings, shared

__all__ = ["cache", "cached", "init_cache", "make_key"]

log = logging.getLogger(__name__)

cache = Cache()

T = TypeVar("T")
_SEP = "\x1f"  # cannot occur in a URL parameter that reached here (state.py strips control characters)


def init_cache(server: flask.Flask, config: settings.Settings | None = None) -> None:
    """Bind ``cache`` to ``server`` with the backend named by the settings."""
    config = config or settings.load()
    options: dict[str, Any] = {
        "CACHE_TYPE": config.cache_type,
        "CACHE_DEFAULT_TIMEOUT": config.cache_timeout,
        "CACHE_KEY_PREFIX": "atlas:",
    }
    if config.redis_url:
        options["CACHE_TYPE"] = "RedisCache"
        options["CACHE_REDIS_URL"] = config.redis_url
        # A Redis that is down must cost a request a second at most, once (then shared.BACKOFF skips it).
        options["CACHE_OPTIONS"] = {"socket_timeout": shared.TIMEOUT, "socket_connect_timeout": shared.TIMEOUT}
    elif config.cache_type == "FileSystemCache":
        options["CACHE_DIR"] = str(config.cache_dir)
        options["CACHE_THRESHOLD"] = 5000
    elif config.cache_type == "SimpleCache":
        # Bounded by entries, not bytes: a national view's classification is tens of KB, so this stays a few
        # tens of MB per worker at most.
        options["CACHE_THRESHOLD"] = 500
    cache.init_app(server, config=options)


def make_key(*parts: object) -> str:
    """A cache key from plain values, the same in every worker and every run."""
    return _SEP.join("" if p is None else str(p) for p in parts)


def _bound() -> bool:
    try:
        return flask.current_app is not None and cache.cache is not None
    except (RuntimeError, AttributeError, KeyError):
        return False


def cached(key: str, compute: Callable[[], T]) -> T:
    """``compute()``'s result, from the cache when another request (in any worker) already computed it.

    Outside a Flask app context (unit tests calling functions directly) it simply computes. A cache
    backend that fails (Redis down) is logged and bypassed: the answer is the same, only slower.
    """
    if not _bound() or shared.resting():
        return compute()
    try:
        hit = cache.get(key)
    except Exception as exc:  # noqa: BLE001 - a broken cache must never break the map
        log.warning("cache get failed for %r; computing instead: %s", key, exc)
        shared.rest()
        return compute()
    if hit is not None:
        # SimpleCache keeps the object itself in memory: hand out a copy, never the stored one.
        return copy.deepcopy(hit)
    value = compute()
    try:
        cache.set(key, value)
    except Exception as exc:  # noqa: BLE001
        log.warning("cache set failed for %r: %s", key, exc)
        shared.rest()
    return copy.deepcopy(value)
