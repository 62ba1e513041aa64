"""The audit log: append-only (atlas/db.py refuses updates and deletes, in the ORM and in the database), read by
organisation admins for their organisation's datasets and members.

Recorded: sign-ins (and failed ones), publishing (new datasets, versions, restores, rejected uploads), access
changes, memberships and partnerships, API token creation, revocation and use, and every read or download
of restricted (non-public) data, at most once per request and dataset (a map switch reads values several
times). The request's user and address come from the actor (atlas/access.py) and ``set_address``.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa

from atlas import access, db

__all__ = ["entries", "read", "record", "record_now", "restricted_read", "set_address"]

log = logging.getLogger(__name__)

_address: ContextVar[str] = ContextVar("atlas_address", default="")
_reads: ContextVar[set | None] = ContextVar("atlas_audit_reads", default=None)


def set_address(address: str) -> object:
    """The request's client address (set by the web layer) and a fresh per-request memo of reads."""
    _reads.set(set())
    return _address.set((address or "")[:64])


def record(s: Any, action: str, *, user: db.User | None = None, org_id: int | None = None,
           dataset_id: int | None = None, detail: str = "", actor: access.Actor | None = None) -> None:
    """Add an entry in the caller's transaction (it is kept only if the change it describes is). Whose act
    it is: ``user``, else ``actor``, else the request's actor."""
    actor = actor or access.current()
    s.add(db.AuditEntry(user_id=user.id if user else actor.user_id, email=user.email if user else actor.email,
                        org_id=org_id, dataset_id=dataset_id, action=action, detail=detail[:2000],
                        address=_address.get()))


def record_now(action: str, *, org_id: int | None = None, dataset_id: int | None = None, detail: str = "",
               user_id: int | None = None, email: str | None = None, url: str | None = None,
               actor: access.Actor | None = None) -> None:
    """Add an entry in a transaction of its own (sign-ins, refused uploads, reads)."""
    actor = actor or access.current()
    with db.session(url) as s:
        s.add(db.AuditEntry(user_id=user_id if user_id is not None else actor.user_id,
                            email=email if email is not None else actor.email, org_id=org_id,
                            dataset_id=dataset_id, action=action, detail=detail[:2000], address=_address.get()))


def read(dataset_id: int, org_id: int, detail: str, url: str | None = None, actor: access.Actor | None = None
         ) -> None:
    """A read or download of restricted data: recorded once per request and dataset and kind of read, with
    its reader. The request then answers ``Cache-Control: no-store`` (``restricted_read``)."""
    memo = _reads.get()
    key = (dataset_id, detail.split(" ", 1)[0])
    if memo is not None:
        if key in memo:
            return
        memo.add(key)
    record_now("data.read", org_id=org_id, dataset_id=dataset_id, detail=detail, url=url, actor=actor)


def restricted_read() -> bool:
    """Whether this request has read restricted data (its answer must never be stored by a cache)."""
    return bool(_reads.get())


def entries(org_id: int | None = None, limit: int = 500, url: str | None = None) -> list[dict]:
    """The newest entries of an organisation (its datasets, members, partnerships, and what its members did
    that belongs to no organisation: their sign-ins and API token use), or of everything."""
    with db.session(url) as s:
        q = sa.select(db.AuditEntry).order_by(db.AuditEntry.id.desc()).limit(limit)
        if org_id is not None:
            members = sa.select(db.Membership.user_id).where(db.Membership.org_id == org_id)
            q = q.where(sa.or_(db.AuditEntry.org_id == org_id,
                               sa.and_(db.AuditEntry.org_id.is_(None), db.AuditEntry.user_id.in_(members))))
        return [{"at": e.at.isoformat(timespec="seconds"), "email": e.email, "action": e.action,
                 "dataset_id": e.dataset_id, "detail": e.detail, "address": e.address}
                for e in s.execute(q).scalars()]
