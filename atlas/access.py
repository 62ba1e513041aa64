"""Who may see what: the ONE function that decides it, ``allowed(actor, dataset)``, and the request's actor.

Every path that can reveal a value, a variable's existence or its metadata goes through atlas/store.py
(the catalogue, search, values, views, compare, exports, downloads, datapacks) or atlas/registry.py (the
datastore pages, DCAT, feeds), and both ask ``allowed`` for every published dataset they consider. What is
denied is simply not there: the store's NotFound for it is the NotFound of a variable that never existed,
and its "valid choices" never list it (CKAN's permission labels, datasette's ``permission_allowed``).

The actor is per request, in a context variable: the web layer sets it once per request (a session, an API
token, a private feed's secret, or nobody), also for Dash's callback requests, which run inside a Flask
request; code outside a request (the CLI, tests calling functions) is anonymous unless it says otherwise
with ``acting_as``. This module imports nothing of Flask.

Access levels of a published dataset:
- ``public``: everyone, also embedded maps and the open datapack;
- ``registered``: anyone signed in;
- ``organisation``: members (any role) of the organisation that owns it;
- ``partnership``: those members, and members of the organisations in the partnerships it is shared with
  (only organisations that accepted the invitation) or named one by one.
Site administrators see everything. Only ``public`` data is ever embeddable.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["ANONYMOUS", "LEVELS", "Actor", "Rule", "acting_as", "allowed", "can_admin", "can_edit", "current",
           "reset_current", "set_current", "visibility_key"]

LEVELS = ("public", "registered", "organisation", "partnership")


@dataclass(frozen=True)
class Actor:
    """Who is asking: nobody (anonymous), or a user with their roles per organisation id and the
    partnerships their organisations have joined."""

    user_id: int | None = None
    email: str = ""
    roles: tuple[tuple[int, str], ...] = ()  # (organisation id, admin|editor|member)
    partnerships: frozenset[int] = frozenset()
    site_admin: bool = False
    via: str = "anonymous"  # session | token | feed | anonymous

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None

    @property
    def orgs(self) -> frozenset[int]:
        return frozenset(org for org, _ in self.roles)

    def role(self, org_id: int) -> str | None:
        return next((role for org, role in self.roles if org == org_id), None)


ANONYMOUS = Actor()


@dataclass(frozen=True)
class Rule:
    """What ``allowed`` needs to know of a published dataset."""

    dataset_id: int
    org_id: int
    access: str
    partnerships: frozenset[int] = field(default_factory=frozenset)
    organisations: frozenset[int] = field(default_factory=frozenset)


def allowed(actor: Actor, dataset: Rule) -> bool:
    """May ``actor`` see ``dataset`` (its existence, metadata and values)? The only place this is decided."""
    if dataset.access == "public":
        return True
    if not actor.signed_in:
        return False
    if actor.site_admin or dataset.org_id in actor.orgs:
        return True
    if dataset.access == "registered":
        return True
    if dataset.access == "partnership":
        return bool(dataset.partnerships & actor.partnerships or dataset.organisations & actor.orgs)
    return False  # organisation, or a level this code does not know: closed


def can_edit(actor: Actor, org_id: int) -> bool:
    """May ``actor`` publish for organisation ``org_id`` (editors and admins, and site administrators)?"""
    return actor.site_admin or actor.role(org_id) in ("admin", "editor")


def can_admin(actor: Actor, org_id: int) -> bool:
    """May ``actor`` manage organisation ``org_id``: members, access, partnerships, its audit log?"""
    return actor.site_admin or actor.role(org_id) == "admin"


def visibility_key(actor: Actor, rules: Iterable[Rule]) -> str:
    """A short key naming exactly which of ``rules`` ``actor`` may see: requesters who may see the same
    datasets share cached answers; no one is ever served another's. ``public`` when only public ones."""
    seen = sorted(r.dataset_id for r in rules if r.access != "public" and allowed(actor, r))
    if not seen:
        return "public"
    return hashlib.sha256(",".join(map(str, seen)).encode()).hexdigest()[:16]


_current: ContextVar[Actor] = ContextVar("atlas_actor", default=ANONYMOUS)


def current() -> Actor:
    """The actor of the request being served (anonymous outside one)."""
    return _current.get()


def set_current(actor: Actor) -> object:
    """Set the request's actor; returns the token ``reset_current`` takes."""
    return _current.set(actor)


def reset_current(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


@contextlib.contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Run a block as ``actor`` (the CLI, the feed puller, tests)."""
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)
