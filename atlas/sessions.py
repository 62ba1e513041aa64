"""Server-side sessions: the browser's cookie holds only a random secret; what it means (whose session, since
when, last seen) is kept here, so a session can be ended on the server: signing out ends it (a copied cookie
stops working at once), "sign out everywhere" and a password change end all of a user's, and a session ends by
itself after ``ATLAS_SESSION_IDLE_MINUTES`` unused or ``ATLAS_SESSION_MAX_HOURS`` after sign-in.

``Sessions`` is the interface the web layer uses (create, resolve, end, end_all, list); ``DatabaseSessions``
keeps them in the datastore's database (the ``user_session`` table: only each secret's SHA-256). A later
backend (Redis, for several hosts) implements the same five methods; ``get()`` is the one place that chooses.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa

from atlas import db, settings

__all__ = ["DatabaseSessions", "Sessions", "get"]

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
        sid = secret_or_id if len(secret_or_id) == 64 and all(c in "0123456789abcdef" for c in secret_or_id) \
            else _digest(secret_or_id)
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


def get(url: str | None = None) -> Sessions:
    """The sessions backend (the database's, for now: one place to change for Redis)."""
    return DatabaseSessions(url)
