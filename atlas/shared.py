"""What the hosts share in Redis (``ATLAS_REDIS_URL``): one client per process, and one way to fail.

When ``ATLAS_REDIS_URL`` is set, cached results (atlas/cache.py), rate limits (web/ratelimit.py), sessions
(atlas/sessions.py) and rendered export images (web/downloads.py) live in Redis, so every worker of every host
sees the same ones. When it is empty, each worker keeps its own (and sessions are in the database): one host
with nothing set is the embedded default.

While Redis cannot be reached, ``Unavailable`` is raised (answered 503 with Retry-After by web/errors.py) by
what cannot be done without it (a session, a rate limit); what can (a cached result) is computed instead.
After a failure the client is not asked again for ``BACKOFF`` seconds (each request would otherwise wait out a
connection timeout), and then recovers by itself: redis-py reconnects on the next command.

Keys are namespaced ``atlas:`` and versioned by what they depend on (the build, the registry's generation,
a published dataset's version), so a new version or an access change is never served from an older entry:
every host's next request asks for a new key.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from atlas import settings

__all__ = ["BACKOFF", "PREFIX", "Unavailable", "call", "client", "enabled", "ping", "rest", "resting"]

log = logging.getLogger(__name__)

PREFIX = "atlas:"
#: Seconds during which a Redis that just failed is not asked again (requests fail fast meanwhile).
BACKOFF = 1.0
#: Seconds a client waits for Redis to connect or answer.
TIMEOUT = 1.0

T = TypeVar("T")


class Unavailable(RuntimeError):
    """Redis cannot be reached: what needs it is answered 503 with Retry-After."""

    retry_after = 2


_clients: dict[tuple[int, str], Any] = {}
_lock = threading.Lock()
_down_until = 0.0


def enabled() -> bool:
    return bool(settings.load().redis_url)


def client() -> Any:
    """This process's Redis client (``ATLAS_REDIS_URL``), or None when it is not set."""
    url = settings.load().redis_url
    if not url:
        return None
    key = (os.getpid(), url)
    found = _clients.get(key)
    if found is None:
        with _lock:
            found = _clients.get(key)
            if found is None:
                import redis  # noqa: PLC0415 - only where Redis is used

                found = _clients[key] = redis.Redis.from_url(
                    url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT, health_check_interval=30)
    return found


def resting() -> bool:
    """Whether Redis failed less than BACKOFF seconds ago (callers that can do without it skip it)."""
    return time.monotonic() < _down_until


def rest() -> None:
    """Note that Redis just failed (for a caller that reached it by another client: flask-caching's)."""
    global _down_until
    _down_until = time.monotonic() + BACKOFF


def call(fn: Callable[[Any], T]) -> T:
    """``fn(client)``, with Redis's failures as Unavailable (and no new attempt for BACKOFF seconds)."""
    import redis  # noqa: PLC0415

    if resting():
        raise Unavailable("Redis failed a moment ago; not asked again yet")
    found = client()
    if found is None:
        raise Unavailable("ATLAS_REDIS_URL is not set")
    try:
        return fn(found)
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        rest()
        log.warning("Redis unavailable: %s", exc)
        raise Unavailable(f"Redis is unreachable ({exc.__class__.__name__})") from exc


def ping() -> None:
    """Raise Unavailable unless Redis answers (a readiness check: ignores the back-off)."""
    global _down_until
    _down_until = 0.0
    call(lambda r: r.ping())
