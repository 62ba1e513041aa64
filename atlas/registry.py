"""The published datasets as the store and the pages see them: an immutable ``Snapshot`` per generation.

A snapshot lists every published dataset (one with a current version) with its access ``Rule``, its
metadata, its current version's Parquet file and its variables as catalogue rows, shaped like the build's
catalogue so the map, compare, exports and the API treat them exactly like open variables. It is read
from the database when ``registry_state.generation`` has changed (any publish, version, restore or access
change bumps it, atlas/db.py), so each worker sees a change on its next request; within one request the
generation is read at most once (``request_scope``), so one answer never mixes two registries.

Whether a requester may see a dataset is never decided here: callers ask ``access.allowed`` (the store
for every catalogue and values path, the pages for theirs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import re
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import sqlalchemy as sa

from atlas import access, air, db, settings, storage

__all__ = ["EMPTY", "PartnershipArea", "Published", "Snapshot", "dataset_key", "embed_refusal", "published_dir",
           "request_scope", "snapshot"]


#: Object keys of published versions start with this (``published/ds<id>/<sha16>-<random>.parquet``).
PUBLISHED = "published"


def published_dir(data_dir: Path) -> Path:
    """Where published versions live in a file storage: beside the builds, never inside one (a rebuild never
    touches it). With object storage (ATLAS_STORAGE_URL) they are objects under ``published/``."""
    return Path(data_dir) / PUBLISHED


def object_key(file: str) -> str:
    """The object key of a version's file (``Version.file``, relative to ``published/``)."""
    return f"{PUBLISHED}/{file}"


#: The level of a published table of points (atlas/pointdata.py), and the levels it is aggregated to.
POINTS = "points"
POINT_LEVELS = ("lsoa11", "oa11", "lsoa21", "oa21", "ward22", "lad")


def dataset_key(dataset_id: int) -> str:
    """The store's dataset name of a published dataset (its variables' ``dataset``)."""
    return f"ds{dataset_id}"


@dataclass(frozen=True)
class Published:
    rule: access.Rule
    key: str
    id: int
    title: str
    description: str
    topic: str
    level: str
    source: str
    licence: str
    org_code: str
    org_name: str
    org_authority: str | None
    version: int
    versions: int
    as_of: str
    #: Where this host reads the current version: the object itself (file storage) or its checked local copy
    #: (object storage: fetched on first read, atlas/storage.py).
    file: Path
    #: The version's object key and SHA-256 (what a local copy is checked against).
    object_key: str
    sha256: str
    created: str
    updated: str
    update_days: int | None
    pull_url: str | None
    variables: tuple[dict, ...]
    authorities: tuple[str, ...]
    #: A point dataset's area variables (count, per 1,000 residents, sum and mean: atlas/pointdata.py); its
    #: ``variables`` are then the points' own indicator columns, shown on the point layer.
    aggregates: tuple[dict, ...] = ()

    @property
    def points(self) -> bool:
        """A table of points (level ``points``), rather than one row per area."""
        return self.level == POINTS

    @property
    def levels(self) -> tuple[str, ...]:
        """The levels its variables have values at: a point dataset's are aggregated to every level."""
        return POINT_LEVELS if self.points else (self.level,)

    @property
    def area_variables(self) -> tuple[dict, ...]:
        """The catalogue rows of its variables by area (the map's, the API's)."""
        return self.aggregates if self.points else self.variables

    def stale(self, today: date | None = None) -> bool:
        """Past its expected update interval: the newest data is older than promised."""
        if not self.update_days:
            return False
        try:
            as_of = date.fromisoformat(self.as_of)
        except ValueError:
            return False
        return (today or date.today()) > as_of + timedelta(days=self.update_days)

    def status(self, today: date | None = None) -> str:
        """"As of 2024-03-31 (version 3)", and that it is stale when it is."""
        text = f"As of {self.as_of} (version {self.version})"
        if self.stale(today):
            text += f"; stale: an update was expected within {self.update_days} days"
        return text


@dataclass(frozen=True)
class PartnershipArea:
    """A partnership's area as a place of the explorer: its accepted member authorities together, opened
    by code ``P<id>`` by the partnership's members (and site administrators) only."""

    code: str
    partnership_id: int
    name: str
    authorities: tuple[str, ...]


@dataclass(frozen=True)
class Snapshot:
    generation: int
    datasets: dict[str, Published] = field(default_factory=dict)  # by key
    areas: dict[str, PartnershipArea] = field(default_factory=dict)  # by code
    orgs: dict[int, access.Org] = field(default_factory=dict)  # by id: for place.publish
    partnerships: dict[int, access.PartnershipRef] = field(default_factory=dict)  # by id

    def areas_for(self, actor: access.Actor) -> list[PartnershipArea]:
        """The partnership areas ``actor`` may open (``place.read``): those of its partnerships."""
        return [a for a in self.areas.values()
                if access.allowed(actor, "place.read", self.partnerships.get(a.partnership_id))]

    def org(self, org_id: int) -> access.Org:
        return self.orgs.get(org_id) or access.Org(org_id)

    def rules(self) -> list[access.Rule]:
        return [p.rule for p in self.datasets.values()]

    def visible(self, actor: access.Actor) -> list[Published]:
        """The datasets ``actor`` may see (``dataset.read``), newest first."""
        return sorted((p for p in self.datasets.values() if access.allowed(actor, "dataset.read", p.rule)),
                      key=lambda p: (p.updated, p.id), reverse=True)

    def by_id(self, dataset_id: int, actor: access.Actor) -> Published | None:
        """One dataset, or None when it does not exist *or* the actor may not see it (the same answer)."""
        found = self.datasets.get(dataset_key(dataset_id))
        if found is None or not access.allowed(actor, "dataset.read", found.rule):
            return None
        return found


EMPTY = Snapshot(generation=-1)

_cache: dict[str, Snapshot] = {}
_cache_lock = threading.Lock()
_memo: ContextVar[dict | None] = ContextVar("atlas_registry_memo", default=None)


@contextlib.contextmanager
def request_scope() -> Iterator[None]:
    """Read the registry's generation at most once inside this block (one request)."""
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


#: The published datasets a view's query string shows: its variable's, and its point layer's (``points=ds<id>``).
_SHOWN = re.compile(r"(?:^|[?&])(?:variable=ds(\d{1,12})_|points=ds(\d{1,12})(?=&|$))")


def embed_refusal(search: object, data_dir: Path | None = None) -> str | None:
    """Why the view of query string ``search`` may not be embedded (``dataset.embed``: its variable, or the
    point dataset its map shows, is a dataset that is not public), or None. An embedded map is seen by anyone,
    so it is never offered."""
    found = _SHOWN.findall(search) if isinstance(search, str) else []
    if not found:
        return None
    datasets = snapshot(data_dir).datasets
    pubs = [datasets.get(dataset_key(int(a or b))) for a, b in found]
    if all(p is not None and access.allowed(access.ANONYMOUS, "dataset.embed", p.rule) for p in pubs):
        return None
    # The same words for a dataset that is not public and one that does not exist: nothing is revealed.
    return ("This map is not available to embed: its data is not public (an embedded map is seen by anyone), or "
            "is no longer published. Share the link instead; it opens for those allowed to see the data.")


def begin_request() -> object:
    return _memo.set({})


def end_request(token: object) -> None:
    _memo.reset(token)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=1024)
def _authorities_in(path: str) -> tuple[str, ...]:
    # Versions are immutable files, so the authorities they cover are read once per file.
    table = pq.read_table(path, columns=["authority"])
    return tuple(sorted(set(table.column("authority").to_pylist()) - {None}))


def authorities_of(version: db.Version, data_dir: Path) -> tuple[str, ...] | None:
    """The authorities a version covers: recorded with it (migration 0004 on), else read from its file when
    this host has it (None when it has not and the store cannot be reached: the dataset waits)."""
    if version.authorities:
        return tuple(json.loads(version.authorities))
    try:
        path = storage.local_copy(object_key(version.file), version.sha256, data_dir)
    except (storage.Unavailable, FileNotFoundError, storage.Corrupt):
        return None
    return _authorities_in(str(path))


def snapshot(data_dir: Path | None = None) -> Snapshot:
    """The published datasets now (see the module's docstring). Raises db.Unavailable when the database
    cannot be read. A data folder with no database yet has nothing published: EMPTY, and nothing created."""
    data_dir = Path(data_dir or settings.load().data_dir)
    url = db.database_url(data_dir=data_dir)
    memo = _memo.get()
    if memo is not None and url in memo:
        return memo[url]
    if not db.exists(url):
        return EMPTY
    with db.session(url) as s:
        generation = s.execute(sa.select(db.RegistryState.generation).where(db.RegistryState.id == 1)).scalar_one()
        found = _cache.get(url)
        if found is None or found.generation != generation:
            found = _load(s, generation, data_dir)
            with _cache_lock:
                _cache[url] = found
    if memo is not None:
        memo[url] = found
    return found


def _load(s: Any, generation: int, data_dir: Path) -> Snapshot:
    rows = s.execute(
        sa.select(db.Dataset, db.Version, db.Organisation)
        .join(db.Version, db.Version.id == db.Dataset.current_version_id)
        .join(db.Organisation, db.Organisation.id == db.Dataset.org_id)).all()
    shares: dict[int, list[db.DatasetShare]] = {}
    for share in s.execute(sa.select(db.DatasetShare)).scalars():
        shares.setdefault(share.dataset_id, []).append(share)
    variables: dict[int, list[db.Variable]] = {}
    for var in s.execute(sa.select(db.Variable).order_by(db.Variable.position)).scalars():
        variables.setdefault(var.dataset_id, []).append(var)
    counts = dict(s.execute(sa.select(db.Version.dataset_id, sa.func.count()).group_by(db.Version.dataset_id)).all())
    out: dict[str, Published] = {}
    local = storage.get(data_dir).local
    for ds, version, org in rows:
        key = object_key(version.file)
        path = storage.local_path(key, data_dir)
        if local and not path.exists():
            continue  # a file lost outside the app: shown nowhere rather than failing every query
        authorities = authorities_of(version, data_dir)
        if authorities is None:
            continue
        ds_shares = shares.get(ds.id, [])
        rule = access.Rule(ds.id, ds.org_id, ds.access,
                           frozenset(x.partnership_id for x in ds_shares if x.partnership_id is not None),
                           frozenset(x.org_id for x in ds_shares if x.org_id is not None))
        name = dataset_key(ds.id)
        catalogue = tuple(_row(ds, version, org, var, name, authorities) for var in variables.get(ds.id, []))
        out[name] = Published(
            rule=rule, key=name, id=ds.id, title=ds.title, description=ds.description, topic=ds.topic,
            level=ds.level, source=ds.source, licence=ds.licence, org_code=org.code, org_name=org.name,
            org_authority=org.authority, version=version.number, versions=counts.get(ds.id, 0), as_of=version.as_of,
            file=path, object_key=key, sha256=version.sha256, created=ds.created.isoformat(timespec="seconds"),
            updated=version.created.isoformat(timespec="seconds"), update_days=ds.update_days,
            pull_url=ds.pull_url, variables=catalogue, authorities=authorities)
        if ds.level == POINTS:
            out[name] = dataclasses.replace(out[name], aggregates=tuple(aggregate_rows(out[name])))
    areas: dict[str, PartnershipArea] = {}
    partnerships: dict[int, access.PartnershipRef] = {}
    extra: dict[int, set[str]] = {}  # organisation -> the authorities of its accepted partnerships
    for p in s.execute(sa.select(db.Partnership).order_by(db.Partnership.id)).scalars():
        accepted = [m for m in p.members if m.status == "accepted"]
        partnerships[p.id] = access.PartnershipRef(
            p.id, frozenset(m.org_id for m in accepted),
            frozenset(m.org_id for m in p.members if m.status != "accepted"))
        members = tuple(sorted({m.org.authority for m in accepted if m.org.authority}))
        for m in accepted:
            extra.setdefault(m.org_id, set()).update(members)
        if members:
            code = f"P{p.id}"
            areas[code] = PartnershipArea(code=code, partnership_id=p.id, name=p.name, authorities=members)
    orgs = {o.id: access.Org(o.id, o.authority, frozenset(extra.get(o.id, ())))
            for o in s.execute(sa.select(db.Organisation)).scalars()}
    return Snapshot(generation=generation, datasets=out, areas=areas, orgs=orgs, partnerships=partnerships)


def aggregate_rows(pub: Published) -> list[dict]:
    """The catalogue rows of a point dataset's area variables: the count, the count per 1,000 residents (LSOA
    levels), and the sum and mean of each indicator (see the module)."""
    base = {"topic": pub.topic, "table": pub.key.upper(), "table_title": pub.title, "vintage": pub.as_of,
            "authorities": list(pub.authorities), "national": False, "national_levels": [],
            "coverage": f"published by {pub.org_name}", "source": pub.source, "licence": pub.licence,
            "dataset": pub.key, "description": pub.description, "kind": "numeric", "categories": None,
            "palette": None, "centre": None, "published": True, "dataset_id": pub.id, "publisher": pub.org_name,
            "publisher_code": pub.org_code, "access": pub.rule.access, "as_of": pub.as_of, "version": pub.version}
    out = []
    levels = list(POINT_LEVELS)

    def row(vid: str, label: str, unit: str, cell: str, levels_: list[str], decimals: int | None,
            method: str = "derived", note: str = "") -> dict:
        return {**base, "id": vid, "label": label, "unit": unit, "cell": cell, "cells": cell, "levels": levels_,
                "decimals": decimals, "method": method, "denominator": None, "polarity": None,
                "note": note, "points": True}

    counted = f"{pub.title}: number of points"
    out.append(row(f"{pub.key}_count", counted, "count", "count", levels, 0,
                   note="Points counted in the area holding each (point-in-polygon on the published boundaries); "
                        "0 where none."))
    out.append(row(f"{pub.key}_per_1000", f"{pub.title}: points per 1,000 residents", "rate", "count per 1,000 "
                   "residents", list(air.POPULATION), 2,
                   note="Points in the area per 1,000 usual residents at Census 2021 (re-based onto 2011 LSOAs "
                        "at that level)."))
    for var in pub.variables:
        decimals = var.get("decimals")
        out.append(row(f"{var['id']}_sum", f"{var['label']}: sum over the area's points", var.get("unit") or "",
                       f"sum of {var['cell']}", levels, decimals, note="0 where the area holds no points."))
        out.append(row(f"{var['id']}_mean", f"{var['label']}: mean of the area's points", var.get("unit") or "",
                       f"mean of {var['cell']}", levels, decimals, note="No data where the area holds no points."))
    return out


def _row(ds: db.Dataset, version: db.Version, org: db.Organisation, var: db.Variable, key: str,
         authorities: tuple[str, ...]) -> dict:
    """A published variable as a catalogue row (the build catalogue's columns, and its publishing facts)."""
    return {
        "id": var.var_id, "label": var.label, "topic": ds.topic, "table": key.upper(), "table_title": ds.title,
        "cell": var.column, "unit": var.unit, "denominator": var.denominator or None,
        "polarity": var.polarity or None, "vintage": version.as_of, "levels": [ds.level],
        "authorities": list(authorities), "national": False, "national_levels": [],
        "coverage": f"published by {org.name}", "source": ds.source, "licence": ds.licence, "dataset": key,
        "description": ds.description, "kind": "numeric", "method": "published", "cells": var.column,
        "note": "", "decimals": var.decimals, "categories": None, "palette": None, "centre": None,
        "published": True, "dataset_id": ds.id, "publisher": org.name, "publisher_code": org.code,
        "access": ds.access, "as_of": version.as_of, "version": version.number,
    }
