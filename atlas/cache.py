"""The cache of classified results, shared by the Dash callbacks (flask-caching, vizro's pattern).

``cache`` is created here without an app and bound to the Flask server by ``init_cache`` in app.py, with
its backend from settings (``ATLAS_CACHE_TYPE``: in-process ``SimpleCache`` for one worker, ``FileSystemCache``
or ``RedisCache`` when gunicorn runs several). Keys are built only from the request's parameters and the
build id, never from ``id()`` or ``hash()`` of objects (which differ between workers), so every worker
finds what another stored. Results come back as copies: a caller may change what it gets without changing
what the next caller gets.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import flask
from flask_caching import Cache

from atlas import settings

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
    if config.cache_type == "FileSystemCache":
        options["CACHE_DIR"] = str(config.cache_dir)
        options["CACHE_THRESHOLD"] = 5000
    elif config.cache_type == "RedisCache":
        options["CACHE_REDIS_URL"] = config.cache_redis_url
    elif config.cache_type == "SimpleCache":
        options["CACHE_THRESHOLD"] = 2000
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
    if not _bound():
        return compute()
    try:
        hit = cache.get(key)
    except Exception:  # noqa: BLE001 - a broken cache must never break the map
        log.warning("cache get failed for %r; computing instead", key, exc_info=True)
        hit = None
    if hit is not None:
        # SimpleCache keeps the object itself in memory: hand out a copy, never the stored one.
        return copy.deepcopy(hit)
    value = compute()
    try:
        cache.set(key, value)
    except Exception:  # noqa: BLE001
        log.warning("cache set failed for %r", key, exc_info=True)
    return copy.deepcopy(value)
