"""Server-side sessions: the browser's cookie holds only a random secret; what it means (whose session, since
when, last seen) is kept here, so a session can be ended on the server: signing out ends it (a copied cookie
stops working at once), "sign out everywhere" and a password change end all of a user's, and a session ends by
itself after ``ATLAS_SESSION_IDLE_MINUTES`` unused or ``ATLAS_SESSION_MAX_HOURS`` after sign-in.

``Sessions`` is the interface the web layer uses (create, resolve, end, end_all, list), with two backends
chosen in one place (``get()``): ``RedisSessions`` when ``ATLAS_REDIS_URL`` is set (every host sees a session
made on another, and one ended on any host is ended on all at once; each session a Redis hash that expires by
itself when it would have ended), else ``DatabaseSessions`` in the datastore's database (the
``user_session`` table). Either keeps only each secret's SHA-256. Switching backends signs everyone out once.
While Redis cannot be reached, a request with a session is answered 503 (shared.Unavailable); anonymous
requests never ask it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa

from atlas import db, settings, shared

__all__ = ["DatabaseSessions", "RedisSessions", "Sessions", "get"]

#: last_seen is written at most this often per session (a busy page would write on every request).
TOUCH_EVERY = timedelta(seconds=60)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Sessions(Protocol):
    def create(self, user_id: int, how: str, address: str = "") -> str:
        """A new session for ``user_id``: returns the secret the cookie carries."""

    def resolve(self, secret: str) -> tuple[int, str] | None:
        """(user id, session id) of a live session (touching its last use), else None."""

    def end(self, secret_or_id: str) -> None:
        """End one session (by its cookie secret or its id)."""

    def end_all(self, user_id: int, keep: str | None = None) -> int:
        """End every session of ``user_id`` (but ``keep``, a session id); returns how many."""

    def list(self, user_id: int) -> list[dict]:
        """The user's live sessions, newest first."""


class DatabaseSessions:
    def __init__(self, url: str | None = None) -> None:
        self.url = url

    def _limits(self) -> tuple[timedelta, timedelta]:
        config = settings.load()
        return timedelta(minutes=config.session_idle_minutes), timedelta(hours=config.session_max_hours)

    def create(self, user_id: int, how: str, address: str = "") -> str:
        secret = secrets.token_urlsafe(32)
        _, longest = self._limits()
        now = db.now()
        with db.session(self.url) as s:
            s.add(db.UserSession(id=_digest(secret), user_id=user_id, created=now, last_seen=now,
                                 expires=now + longest, how=how[:300], address=address[:64]))
        return secret

    def resolve(self, secret: str) -> tuple[int, str] | None:
        if not secret or len(secret) > 100:
            return None
        sid = _digest(secret)
        idle, _ = self._limits()
        now = db.now()
        with db.session(self.url) as s:
            found = s.get(db.UserSession, sid)
            if found is None or found.ended is not None or found.expires <= now or found.last_seen + idle <= now:
                return None
            if now - found.last_seen >= TOUCH_EVERY:
                found.last_seen = now
            return found.user_id, sid

    def end(self, secret_or_id: str) -> None:
        sid = _sid(secret_or_id)
        with db.session(self.url) as s:
            s.execute(sa.update(db.UserSession).where(db.UserSession.id == sid, db.UserSession.ended.is_(None))
                      .values(ended=db.now()))

    def end_all(self, user_id: int, keep: str | None = None) -> int:
        with db.session(self.url) as s:
            q = sa.update(db.UserSession).where(db.UserSession.user_id == user_id, db.UserSession.ended.is_(None))
            if keep:
                q = q.where(db.UserSession.id != keep)
            return s.execute(q.values(ended=db.now())).rowcount or 0

    def list(self, user_id: int) -> list[dict]:
        idle, _ = self._limits()
        now = db.now()
        with db.session(self.url) as s:
            rows = s.execute(sa.select(db.UserSession).where(
                db.UserSession.user_id == user_id, db.UserSession.ended.is_(None), db.UserSession.expires > now,
                db.UserSession.last_seen > now - idle).order_by(db.UserSession.created.desc())).scalars().all()
            return [{"id": r.id, "created": _iso(r.created), "last_seen": _iso(r.last_seen),
                     "expires": _iso(min(r.expires, r.last_seen + idle)), "how": r.how, "address": r.address}
                    for r in rows]


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="minutes")


def _sid(secret_or_id: str) -> str:
    """A session's id: its secret's SHA-256 (a 64-hex-digit id is already one)."""
    if len(secret_or_id) == 64 and all(c in "0123456789abcdef" for c in secret_or_id):
        return secret_or_id
    return _digest(secret_or_id)


class RedisSessions:
    """Sessions in Redis, shared by every host: ``atlas:session:<id>`` (a hash: user, created, last use, end,
    how, address; it expires by itself when the session would end) and ``atlas:user-sessions:<user>`` (the ids
    of a user's sessions, for "sign out everywhere" and the account page)."""

    KEY = shared.PREFIX + "session:"
    USER = shared.PREFIX + "user-sessions:"

    def _limits(self) -> tuple[timedelta, timedelta]:
        config = settings.load()
        return timedelta(minutes=config.session_idle_minutes), timedelta(hours=config.session_max_hours)

    @staticmethod
    def _ttl(last_seen: datetime, expires: datetime, idle: timedelta, now: datetime) -> int:
        return max(1, int((min(expires, last_seen + idle) - now).total_seconds()) + 1)

    def create(self, user_id: int, how: str, address: str = "") -> str:
        secret = secrets.token_urlsafe(32)
        sid = _digest(secret)
        idle, longest = self._limits()
        now = db.now()
        fields = {"user": str(user_id), "created": now.isoformat(), "last_seen": now.isoformat(),
                  "expires": (now + longest).isoformat(), "how": how[:300], "address": address[:64]}

        def write(r: Any) -> None:
            pipe = r.pipeline()
            pipe.hset(self.KEY + sid, mapping=fields)
            pipe.expire(self.KEY + sid, self._ttl(now, now + longest, idle, now))
            pipe.sadd(self.USER + str(user_id), sid)
            pipe.expire(self.USER + str(user_id), int(longest.total_seconds()) + 60)
            pipe.execute()

        shared.call(write)
        return secret

    def _live(self, found: dict, now: datetime, idle: timedelta) -> bool:
        if not found or not {"user", "expires", "last_seen"} <= found.keys():
            return False  # ended (or a touch raced an end on another host and left only its last use)
        expires = datetime.fromisoformat(found["expires"])
        return expires > now and datetime.fromisoformat(found["last_seen"]) + idle > now

    def resolve(self, secret: str) -> tuple[int, str] | None:
        if not secret or len(secret) > 100:
            return None
        sid = _digest(secret)
        idle, _ = self._limits()
        now = db.now()
        found = _decoded(shared.call(lambda r: r.hgetall(self.KEY + sid)))
        if not self._live(found, now, idle):
            return None
        last_seen = datetime.fromisoformat(found["last_seen"])
        if now - last_seen >= TOUCH_EVERY:
            expires = datetime.fromisoformat(found["expires"])

            def touch(r: Any) -> None:
                # Only a session that still exists is touched: one ended meanwhile on another host stays ended
                # (at worst a lone last use is written back, which is not a session and expires by itself).
                if r.exists(self.KEY + sid):
                    pipe = r.pipeline()
                    pipe.hset(self.KEY + sid, "last_seen", now.isoformat())
                    pipe.expire(self.KEY + sid, self._ttl(now, expires, idle, now))
                    pipe.execute()

            shared.call(touch)
        return int(found["user"]), sid

    def end(self, secret_or_id: str) -> None:
        sid = _sid(secret_or_id)

        def delete(r: Any) -> None:
            user = r.hget(self.KEY + sid, "user")
            r.delete(self.KEY + sid)
            if user is not None:
                r.srem(self.USER + user.decode(), sid)

        shared.call(delete)

    def end_all(self, user_id: int, keep: str | None = None) -> int:
        def delete(r: Any) -> int:
            ids = [m.decode() for m in r.smembers(self.USER + str(user_id))]
            gone = [sid for sid in ids if sid != keep]
            if not gone:
                return 0
            ended = int(r.delete(*[self.KEY + sid for sid in gone]))
            r.srem(self.USER + str(user_id), *gone)
            return ended

        return shared.call(delete)

    def list(self, user_id: int) -> list[dict]:
        idle, _ = self._limits()
        now = db.now()

        def read(r: Any) -> list[tuple[str, dict]]:
            ids = sorted(m.decode() for m in r.smembers(self.USER + str(user_id)))
            pipe = r.pipeline()
            for sid in ids:
                pipe.hgetall(self.KEY + sid)
            return list(zip(ids, (_decoded(x) for x in pipe.execute()), strict=True))

        out = []
        for sid, found in shared.call(read):
            if not self._live(found, now, idle):
                continue
            last_seen, expires = datetime.fromisoformat(found["last_seen"]), datetime.fromisoformat(found["expires"])
            out.append({"id": sid, "created": _iso(datetime.fromisoformat(found["created"])),
                        "last_seen": _iso(last_seen), "expires": _iso(min(expires, last_seen + idle)),
                        "how": found["how"], "address": found["address"]})
        return sorted(out, key=lambda x: x["created"], reverse=True)


def _decoded(found: dict) -> dict:
    return {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
            for k, v in (found or {}).items()}


def get(url: str | None = None) -> Sessions:
    """The sessions backend: Redis when ATLAS_REDIS_URL is set (shared by every host), else the database's."""
    if shared.enabled():
        return RedisSessions()
    return DatabaseSessions(url)
