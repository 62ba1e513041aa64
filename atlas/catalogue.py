"""The request's catalogue: what one requester may see, over the extracts reader.

A ``Catalogue`` is built once per request from (actor, registry snapshot, extracts reader) and handed
explicitly to everything that answers the request: the data API's routes, Dash's callbacks, exports,
downloads and the datastore's pages all take it as their first argument. It joins the build's variables
and the datasets councils publish (atlas/registry.py) into one catalogue, keeping only the published
datasets and partnership areas the actor may see (``access.allowed``: ``dataset.read``, ``place.read``):
everything else does not exist for this requester (NotFound, never listed among the valid choices).

It resolves a caller's strings once into typed objects: ``place(code) -> Place`` (a district, a larger
place, a partnership's area or ``all``, with its districts) and ``variable(id) -> Variable`` (a catalogue
row with its dataset, its published dataset if any and its data version); the reader
(atlas/extracts.py) is then asked only with districts and files, and knows nothing of who asks.

Cache keys come from here: ``scope_key()`` names what the requester may see (``open`` when no published
dataset or partnership area is visible: everyone shares it), ``Variable.key`` the data a variable's values
come from (the build, or a published dataset's current version), ``Place.key`` a place's districts. A
cached answer keyed by them is shared by requesters who may see the same things, and by no one else.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from atlas import access, audit, builder, coverage, db, extracts, pointdata, registry, settings, storage
from atlas.extracts import ALL, ALL_NAME, NATIONAL_LEVEL, AreaCodes, Extracts, NotFound, is_categorical

__all__ = ["Catalogue", "Place", "Scope", "Variable", "build", "of_request", "register_saved"]

#: Catalogue fields searched by ``variables(q=...)``.
_SEARCHED = ("id", "label", "table", "table_title", "cell", "topic", "description")

T = TypeVar("T")

#: How a saved area's code (``A<id>``) is resolved for the request's actor, and which ones they may open:
#: registered by atlas/areas.py (which owns saved areas: ``register_saved``). ``resolve(code)`` answers
#: (name, level, codes) or None (unknown, or not theirs to open); ``listing()`` the codes they may open. Both
#: read the actor of ``access.acting_as`` (the web layer sets the request's).
_saved_hooks: dict[str, Callable[..., Any]] = {}


def register_saved(resolve: Callable[[str], tuple[str, str, tuple[str, ...]] | None],
                   listing: Callable[[], list[str]]) -> None:
    """Let catalogues open saved areas as places (called once by atlas/areas.py)."""
    _saved_hooks["resolve"] = resolve
    _saved_hooks["listing"] = listing


def _is_saved(code: str) -> bool:
    return code.startswith("A") and code[1:].isdigit()


@dataclass(frozen=True)
class Place:
    """A place a view can show: a district, a place larger than one (a region, Wales, a combined authority),
    a partnership's area (``P<id>``, for its members only), a saved area (``A<id>``, for whom may open it: its
    own areas at one level) or ``all`` (England and Wales)."""

    code: str
    name: str
    kind: str  # district | region | nation | combined_authority | partnership | saved | country
    #: Its districts; None for ``all`` (every area the extracts hold).
    members: tuple[str, ...] | None
    #: For cache keys: the code, and a partnership area's members (its area grows when a council joins), or a
    #: saved area's digest of its areas (it is redrawn in place).
    key: str
    levels: tuple[str, ...]
    #: A saved area's own areas (its districts hold more); None for every other place.
    codes: AreaCodes | None = None

    @property
    def is_all(self) -> bool:
        return self.members is None

    @property
    def areas(self) -> extracts.Members:
        """What the reader is handed for this place's areas: a saved area's codes, else its districts."""
        return self.codes if self.codes is not None else self.members


class Variable(dict):
    """A variable as this requester sees it: a fresh copy of its catalogue row (plain types: callers may add
    to it, as the API does), and typed facts beside it."""

    def __init__(self, row: Mapping[str, Any], published: registry.Published | None, key: str) -> None:
        super().__init__(row)
        self.id: str = row["id"]
        self.dataset: str = row["dataset"]
        #: The council's dataset it belongs to, or None for a variable of the build.
        self.published = published
        #: The data its values come from, for cache keys: the build, or the published version's file.
        self.key = key

    @property
    def categorical(self) -> bool:
        return is_categorical(self)

    def __repr__(self) -> str:
        return f"Variable({self.id!r}, {self.key!r})"


#: Bytes (roughly: containers and the rows directly in them) of the answers kept for requesters who see the
#: same things, all scopes together. A listing of a place's variables is 1-7 MB and there is one per place and
#: level served: kept without a bound by bytes, they grew a worker by every place it had shown.
MEMO_BYTES = 32 * 1024 * 1024


def _footprint(value: Any) -> int:
    """Roughly the bytes a memo's answer holds of its own: its containers and the rows directly in them (whose
    values are the catalogue's, shared)."""
    size = sys.getsizeof(value)
    items = (value.values() if isinstance(value, dict)
             else value if isinstance(value, (list, tuple, set, frozenset)) else ())
    for item in items:
        size += sys.getsizeof(item) + (sys.getsizeof(item.__dict__) if hasattr(item, "__dict__") else 0)
        if isinstance(item, (list, tuple)):  # a dataset's rows (``datasets_at``)
            size += sum(sys.getsizeof(row) for row in item)
    return size


#: Answers shared by requesters who see the same things, keyed by their scope (least recently used dropped first).
_memo = extracts.Bounded(MEMO_BYTES, _footprint)


class Scope:
    """The published datasets and partnership areas one requester may see, shaped as the reader's tables
    (rows by id, coverage, places, files). Built once per (build, registry generation, visible datasets and
    areas, day) and shared by every requester who sees the same ones, with a memo of what they share."""

    def __init__(self, snap: registry.Snapshot, visible: list[registry.Published], key: str,
                 areas: list[registry.PartnershipArea] = (), ident: tuple = ()) -> None:
        self.key = key
        self.snapshot = snap
        #: The partnership areas the requester may open as places (code ``P<id>`` -> its member authorities).
        self.areas = {a.code: a for a in areas}
        self.datasets = {p.key: p for p in visible}
        self.rows: dict[str, dict] = {}
        self.places: dict[str, list[tuple[str, str]]] = {}
        self.authorities: dict[str, frozenset[str]] = {}
        for pub in visible:
            self.places[pub.key] = [(a, lv) for lv in pub.levels for a in pub.authorities]
            stale = pub.stale()
            for row in pub.area_variables:
                self.rows[row["id"]] = {**row, "stale": stale, "status": pub.status()}
                self.authorities[row["id"]] = frozenset(pub.authorities)
        self.topics = {row["topic"] for row in self.rows.values() if row.get("topic")}
        #: What tells this scope from others in the shared memo (its build, folder, registry and visibility).
        self.ident = ident

    def memo(self, key: tuple, compute: Callable[[], T]) -> T:
        return _memo.get((self.ident, *key), compute)


_scopes: dict[tuple, Scope] = {}
_scopes_lock = threading.Lock()
#: (build, data folder) -> the newest registry generation a scope was built for.
_newest: dict[tuple, int] = {}


def is_stale(ident: tuple) -> bool:
    """Whether a scope's ``ident`` is of an older registry generation than one already seen for its build and
    folder: what was kept for it will not be asked for again (every request reads the newest)."""
    return len(ident) > 2 and ident[2] < _newest.get(ident[:2], ident[2])


def _drop_stale(build_and_folder: tuple, generation: int) -> None:
    """A new registry generation (a publish, a version, an access change): drop the scopes and memo answers of
    the older ones at once. Kept until the least recently used went, they filled the memo's bytes with answers
    nobody would ask for again, a worker's memory growing by each publish (docs/hosts.md)."""
    if generation <= _newest.get(build_and_folder, generation - 1):
        return
    _newest[build_and_folder] = generation
    for key in [k for k in _scopes if is_stale(k)]:
        del _scopes[key]
    _memo.discard(lambda k: isinstance(k, tuple) and bool(k) and isinstance(k[0], tuple) and is_stale(k[0]))


def _scope_for(actor: access.Actor, snap: registry.Snapshot, reader: Extracts) -> Scope:
    visible = snap.visible(actor)
    areas = snap.areas_for(actor)
    ids = tuple(sorted(p.id for p in visible))
    codes = tuple(a.code for a in areas)
    # The data folder too: two folders (tests' worlds, or two apps in one process) may hold the same build
    # and registry generation, with different files behind them.
    key = (reader.build_id, str(reader.data_dir), snap.generation, ids, codes, date.today().isoformat())
    found = _scopes.get(key)
    if found is None:
        with _scopes_lock:
            found = _scopes.get(key)
            if found is None:
                _drop_stale(key[:2], snap.generation)
                if len(_scopes) > 64:
                    _scopes.clear()
                vis = access.visibility_key(actor, snap.rules())
                name = f"{snap.generation}:{vis}:{','.join(codes)}" if ids or codes else "open"
                found = _scopes[key] = Scope(snap, visible, name, areas, key)
    return found


class Catalogue:
    """What one requester may see of the extracts and the published datasets (see the module's docstring).
    Cheap to build (the scope is shared); build one per request and pass it along."""

    def __init__(self, actor: access.Actor, snapshot: registry.Snapshot, reader: Extracts) -> None:
        self.actor = actor
        self.snapshot = snapshot
        self.extracts = reader
        self.scope = _scope_for(actor, snapshot, reader)
        self._places: dict[str, Place] = {}
        self._saved_areas: dict[str, dict | None] = {}

    def anonymous(self) -> Catalogue:
        """The same build and registry as nobody sees them (what is built once for everyone: datapacks)."""
        if self.actor == access.ANONYMOUS:
            return self
        return Catalogue(access.ANONYMOUS, self.snapshot, self.extracts)

    # -- the build -----------------------------------------------------------------------------------------

    @property
    def build_id(self) -> str:
        return self.extracts.build_id

    @property
    def build(self) -> dict:
        return self.extracts.build

    @property
    def build_dir(self) -> Path:
        return self.extracts.build_dir

    @property
    def data_dir(self) -> Path:
        return self.extracts.data_dir

    @property
    def levels(self) -> list[str]:
        """Levels present in this build, in display order."""
        return list(self.extracts.levels)

    def tile_levels(self) -> list[str]:
        return self.extracts.tile_levels()

    @property
    def topics(self) -> list[str]:
        return sorted(set(self.extracts.topics) | self.scope.topics)

    # -- what the requester may see, for cache keys --------------------------------------------------------

    def scope_key(self) -> str:
        """What the requester may see, for cache keys of anything listing variables or places: ``open`` when
        no published dataset or partnership area is visible (everyone shares it), else the registry
        generation and what they see."""
        return self.scope.key

    def memo(self, name: str, *args: Any, compute: Callable[[], T]) -> T:
        """``compute()``, kept for every requester who sees the same datasets (per scope: per build,
        registry generation and visibility). Treat the answer as read-only."""
        return self.scope.memo((name, *args), compute)

    def data_version(self, variable: str) -> str:
        """The data a variable's values come from, for cache keys. Raises NotFound (for a variable the
        requester may not see, as for an unknown one)."""
        return self.variable(variable).key

    def published(self, dataset: str) -> registry.Published | None:
        """A visible published dataset by its store name (``ds<id>``), else None."""
        return self.scope.datasets.get(dataset)

    def place_key(self, authority: str) -> str:
        """The place for cache keys: an authority's code, a partnership area's code with its members, or a
        saved area's with the digest of its codes. Raises NotFound for a saved area the requester may not open."""
        if _is_saved(authority):
            saved = self._saved(authority)
            if saved is None:
                raise NotFound("authority", authority, [ALL, *self.extracts.places, *self.extracts.authority_rows])
            return f"{authority}[{saved['digest']}]"
        members = self._partnership(authority)
        return authority if members is None else f"{authority}[{','.join(members)}]"

    # -- places ---------------------------------------------------------------------------------------------

    def _saved(self, authority: str) -> dict | None:
        """A saved area the requester may open (``A<id>``): name, level, codes, the districts they are in;
        else None (as if unknown). Resolved once per catalogue (per request), for its actor."""
        resolve = _saved_hooks.get("resolve")
        if resolve is None or not _is_saved(authority):
            return None
        if authority in self._saved_areas:
            return self._saved_areas[authority]
        with access.acting_as(self.actor):
            found = resolve(authority)
        out = None
        if found is not None:
            name, level, codes = found
            if level in self.extracts.levels:
                index = self.extracts.area_authorities(level, codes)
                codes = tuple(sorted(c for c in codes if c in index))
                out = {"code": authority, "name": name, "level": level, "codes": codes,
                       "authorities": tuple(sorted({index[c] for c in codes})),
                       "digest": hashlib.sha256(" ".join(codes).encode()).hexdigest()[:16]}
        self._saved_areas[authority] = out
        return out

    def saved_places(self) -> list[dict]:
        """The saved areas the requester may open, shaped like ``authorities()`` (most have none)."""
        listing = _saved_hooks.get("listing")
        if listing is None:
            return []
        with access.acting_as(self.actor):
            codes = listing()
        return [self.authority(code) for code in codes if self._saved(code) is not None]

    def _partnership(self, authority: str) -> tuple[str, ...] | None:
        """A partnership area's member authorities (when the requester may open it), else None."""
        if not authority.startswith("P"):
            return None
        area = self.scope.areas.get(authority)
        return area.authorities if area is not None else None

    def _place_row(self, authority: str) -> dict | None:
        """A place larger than a district (``name``, ``kind``, ``authorities``, ``bbox``): a region, Wales, a
        combined authority, or a partnership's area when the requester may open it (else None: as if unknown)."""
        place = self.extracts.places.get(authority)
        if place is None and _is_saved(authority):
            saved = self._saved(authority)
            if saved is None:
                return None
            rows = self.extracts.authority_rows
            boxes = [rows[a]["bbox"] for a in saved["authorities"] if rows.get(a, {}).get("bbox")]
            return {"code": authority, "name": f"{saved['name']} (saved area)", "kind": "saved",
                    "authorities": saved["authorities"], "level": saved["level"], "areas": len(saved["codes"]),
                    "bbox": ([min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                              max(b[3] for b in boxes)] if boxes else None)}
        if place is not None or not authority.startswith("P"):
            return place
        members = self._partnership(authority)
        if members is None:
            return None
        area = self.scope.areas[authority]
        rows = self.extracts.authority_rows
        boxes = [rows[a]["bbox"] for a in members if a in rows and rows[a].get("bbox")]
        return {"code": authority, "name": f"{area.name} (partnership)", "kind": "partnership",
                "partnership": area.name, "authorities": tuple(members),
                "bbox": ([min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                          max(b[3] for b in boxes)] if boxes else None)}

    def _small_levels(self, authority: str) -> list[str]:
        members = self._partnership(authority)
        if members is not None:  # a partnership area: the levels any member has, in display order
            found = {lv for a in members for lv in self.extracts.small_levels(a)}
            return [lv for lv in extracts.LEVELS if lv in found]
        return self.extracts.small_levels(authority)

    def _place_levels(self, authority: str) -> list[str]:
        """The levels with areas in ``all`` (the overview ``lad`` first) or in a place (its districts')."""
        reader = self.extracts
        if authority == ALL:
            return [NATIONAL_LEVEL, *[lv for lv in reader.levels if lv != NATIONAL_LEVEL and reader.all_counts.get(lv)]]
        row = self._place_row(authority)
        if row.get("kind") == "saved":  # a saved area: its own level only
            return [row["level"]]
        held = {lv for a in self._place_row(authority)["authorities"] for lv in reader.small_levels(a)}
        return [lv for lv in reader.levels if lv in held]

    def place(self, code: str) -> Place:
        """The place ``code`` names, for this requester. Raises NotFound (a partnership's area the requester
        may not open is as unknown as one that does not exist)."""
        found = self._places.get(code)
        if found is not None:
            return found
        reader = self.extracts
        if code == ALL:
            found = Place(ALL, ALL_NAME, "country", None, ALL, tuple(self._place_levels(ALL)))
        else:
            row = self._place_row(code)
            if row is not None:
                members = tuple(row["authorities"])
                saved = self._saved(code) if row["kind"] == "saved" else None
                found = Place(code, row["name"], row["kind"], members, self.place_key(code),
                              tuple(self._place_levels(code)), AreaCodes(saved["codes"]) if saved else None)
            elif code in reader.authority_rows:
                found = Place(code, str(reader.authority_rows[code].get("name") or code), "district", (code,), code,
                              tuple(self._small_levels(code)))
            else:
                raise NotFound("authority", code, [ALL, *reader.places, *reader.authority_rows])
        self._places[code] = found
        return found

    def _check_level(self, level: str) -> str:
        if level not in self.extracts.levels:
            raise NotFound("level", level, self.extracts.levels)
        return level

    def _check_authority(self, authority: str, level: str | None = None) -> Place:
        place = self.place(authority)
        if place.kind != "district":
            if level is not None and level not in place.levels:
                raise NotFound("level", level, list(place.levels),
                               f"{place.name} ({authority}) has no areas at level {level!r}; it has "
                               f"{', '.join(place.levels)}")
            return place
        if level == NATIONAL_LEVEL:
            # One way to each view: local authority districts are mapped together, as the overview.
            raise NotFound("level", level, list(place.levels),
                           f"level {NATIONAL_LEVEL!r} is the national overview: ask for authority {ALL!r}; "
                           f"{authority} has {', '.join(place.levels) or 'no small areas'}")
        if level is not None and level not in place.levels:
            raise NotFound("level", level, list(place.levels),
                           f"{place.name} ({authority}) has no areas at level {level!r}; it has "
                           f"{', '.join(place.levels) or 'none'}")
        return place

    def _check_place(self, authority: str, level: str) -> Place:
        """Authority, then level, then the pair: errors name the first bad part of a URL."""
        self.place(authority)
        self._check_level(level)
        return self._check_authority(authority, level)

    def members(self, authority: str) -> tuple[str, ...] | None:
        """The districts of a place (a region, Wales, a combined authority, a partnership's area),
        ``(authority,)`` for a district and None for ``all`` (every district). Raises NotFound."""
        return self.place(authority).members

    def _level_counts(self, place: Place) -> list[dict]:
        """[{level, vintage, areas}] of a place or ``all`` (sums of their districts')."""
        reader = self.extracts
        if place.codes is not None:  # a saved area: its own areas
            return [{"level": lv, "vintage": reader.vintages.get(lv), "areas": len(place.codes)} for lv in place.levels]
        out = []
        for level in place.levels:
            if place.members is None:
                n = reader.all_counts.get(level, 0)
            else:
                n = sum(d["areas"] for a in place.members for d in reader.area_counts.get(a, [])
                        if d["level"] == level)
            out.append({"level": level, "vintage": reader.vintages.get(level), "areas": n})
        return out

    def authorities(self) -> list[dict]:
        """Every authority: code, name, nation, region, levels [{level, vintage, areas}] (small-area levels
        only; the national overview is authority ``all``), bbox [west, south, east, north]."""
        return [self.extracts.authority_dict(code) for code in self.extracts.authority_rows]

    def authority(self, code: str) -> dict:
        """One authority (see ``authorities``), a place (a region, Wales, a combined authority, a partnership's
        area: with its ``kind`` and ``authorities``) or ``all`` (England and Wales: the national overview at
        level ``lad`` and every small area). Raises NotFound."""
        place = self.place(code)
        reader = self.extracts
        if code == ALL:
            # England and Wales: the districts with small areas (the UK's box would centre on Scotland's seas)
            boxes = [r["bbox"] for c, r in reader.authority_rows.items() if r.get("bbox") and reader.small_levels(c)]
            bbox = ([min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                     max(b[3] for b in boxes)] if boxes else None)
            return {"code": ALL, "name": ALL_NAME, "kind": "country", "nation": None, "region": None,
                    "levels": self._level_counts(place), "bbox": bbox}
        if place.kind != "district":
            row = self._place_row(code)
            out = {"code": code, "name": place.name, "kind": place.kind,
                   "nation": None if place.kind in ("partnership", "saved") else "Wales" if code.startswith("W")
                   else "England",
                   "region": place.name if place.kind == "region" else None,
                   "levels": self._level_counts(place), "bbox": row.get("bbox"),
                   "authorities": list(place.members or ())}
            if place.kind == "partnership":
                out.update(partnership=row["partnership"], members=list(place.members or ()))
            return out
        out = reader.authority_dict(code)
        rebasing = reader.rebasing((code,))
        if rebasing:
            out["lsoa11_lsoa21"] = rebasing
        return out

    def larger_places(self) -> list[dict]:
        """Every place larger than a district (regions, Wales, combined authorities), as ``authority``."""
        return [self.authority(code) for code in self.extracts.places]

    def partnership_places(self) -> list[dict]:
        """The partnership areas the requester may open, shaped like ``authorities()`` (most have none)."""
        return [self.authority(code) for code in self.scope.areas]

    def rebasing(self, authority: str) -> dict[str, int] | None:
        """How the place's 2011 LSOAs map to 2021 ones: counts of ``unchanged``, ``split``, ``merged`` and
        ``complex`` LSOAs, ``estimated`` (those whose re-based 2021 figures are estimates) and ``areas``;
        None where it has no 2011 LSOAs (or the build has no lookup; a saved area: its districts' counts would
        not be its own). Raises NotFound."""
        place = self.place(authority)
        return None if place.codes is not None else self.extracts.rebasing(place.members)

    def rebasing_rows(self, authority: str) -> pd.DataFrame | None:
        """A district's rows of the LSOA 2011 -> 2021 lookup (see ``Extracts.rebasing_rows``)."""
        return self.extracts.rebasing_rows(authority)

    def estimates(self, row: Mapping, authority: str, level: str) -> frozenset[str] | None:
        """Codes of the areas whose figures of the variable ``row`` are estimates there, or None when the
        variable has no estimates at all (not a re-based figure, or another level)."""
        return self.extracts.estimates(row, self.place(authority).areas, level)

    # -- variables ------------------------------------------------------------------------------------------

    def _row(self, variable: str) -> dict | None:
        if builder.is_code(variable):  # a built indicator: its code carries its definition, checked here
            return self.extracts.built_row(variable)
        row = self.extracts.rows.get(variable)
        if row is None and variable.startswith("ds"):
            row = self.scope.rows.get(variable)
        return row

    def variable(self, id: str) -> Variable:
        """One variable (a fresh copy of its catalogue row, and typed facts). Raises NotFound listing valid ids."""
        row = self._row(id)
        if row is None:
            raise NotFound("variable", id, [*self.extracts.rows, *self.scope.rows])
        published = self.scope.datasets[row["dataset"]] if row.get("published") else None
        key = (f"{row['dataset']}v{row['version']}:{published.file.name}" if published is not None
               else self.build_id)
        return Variable(row, published, key)

    def _has_data(self, row: Mapping, authority: str, level: str) -> bool:
        if level not in (row.get("levels") or ()):
            return False
        place = self._place_row(authority) if authority != ALL else None
        if place is not None:  # a region, Wales, a combined authority, a partnership's area: any of its districts
            return any(self._has_data(row, a, level) for a in place["authorities"])
        if row.get("published"):
            if authority == ALL:
                return any(lv == level for _, lv in self.scope.places.get(row["dataset"], []))
            return authority in self.scope.authorities.get(row["id"], ())
        return self.extracts.has_data(row, authority, level)

    def has_data(self, variable: str, authority: str, level: str) -> bool:
        """Whether ``variable`` has data for ``authority`` at ``level``. Raises NotFound for an unknown or
        invalid variable (a built indicator's code says what is wrong with it)."""
        return self._has_data(self.variable(variable), authority, level)

    def built_tables(self) -> dict[str, builder.Table]:
        """The census tables indicators can be built from, by dataset id (atlas/builder.py)."""
        return self.extracts.built_tables()

    def _available(self, row: Mapping) -> list[str]:
        """Where a variable has data, as ``authority/level`` (what a values URL takes)."""
        return [f"{a}/{lv}" for a, lv in self.places(row["id"])]

    def places(self, variable: str) -> list[tuple[str, str]]:
        """Every (authority, level) where the variable has data (the national overview as (``all``, ``lad``)).
        Raises NotFound."""
        row = self.variable(variable)
        places = (self.scope.places if row.get("published") else self.extracts.dataset_places).get(row["dataset"], [])
        out = [(a, lv) for a, lv in places if lv != NATIONAL_LEVEL and self._has_data(row, a, lv)]
        if self._has_data(row, ALL, NATIONAL_LEVEL):
            out.insert(0, (ALL, NATIONAL_LEVEL))
        return out

    def variables(self, authority: str | None = None, level: str | None = None, topic: str | None = None,
                  q: str | None = None) -> list[dict]:
        """Catalogue rows (plain types, fresh copies), filtered: with data for ``authority`` and/or at
        ``level``, in ``topic``, and matching every word of ``q`` (case-insensitive, in id, label, table, table
        title or topic). Raises NotFound for an unknown authority, level or topic."""
        if level is not None:
            self._check_level(level)
        if authority is not None:
            self._check_authority(authority, level)
            if authority == ALL and level is None:
                level = NATIONAL_LEVEL
        scope = self.scope
        if topic is not None and topic not in self.extracts.topics and topic not in scope.topics:
            raise NotFound("topic", topic, self.topics)
        words = (q or "").lower().split()
        out = self._build_variables(authority, level, topic, words)
        for row in scope.rows.values():
            if topic is not None and row.get("topic") != topic:
                continue
            if authority is not None and level is not None:
                if not self._has_data(row, authority, level):
                    continue
            elif authority is not None:
                if not any(self._has_data(row, authority, lv) for lv in row.get("levels") or ()
                           if lv != NATIONAL_LEVEL):
                    continue
            elif level is not None:
                if level not in (row.get("levels") or ()):
                    continue
            if words:
                text = " ".join(str(row.get(k) or "") for k in _SEARCHED).lower()
                if not all(w in text for w in words):
                    continue
            out.append(dict(row))
        return out

    def _build_variables(self, authority: str | None, level: str | None, topic: str | None,
                         words: list[str]) -> list[dict]:
        """``variables()`` of the build's catalogue: the same filters as the published rows', computed on the
        reader's columns (atlas/extracts.py ``CatalogueRows``), then only the rows kept made into dicts."""
        rows = self.extracts.rows
        kept = np.ones(len(rows), dtype=bool)
        if topic is not None:
            kept &= rows.where("topic", lambda t: t == topic)
        if authority is not None:
            place = self._place_row(authority) if authority != ALL else None
            # A region, Wales, a combined authority, a partnership's or a saved area: any of its districts.
            members = None if authority == ALL else tuple(place["authorities"]) if place is not None else (authority,)
            levels = ([level] if level is not None
                      else [lv for lv in self.extracts.coverage.levels if lv != NATIONAL_LEVEL])
            here = np.zeros(len(rows), dtype=bool)
            for lv in levels:
                here |= self.extracts.rows_with_data(members, lv)
            kept &= here
        elif level is not None:
            kept &= rows.where("levels", lambda held: level in (held or ()))
        at = np.flatnonzero(kept)
        if words and len(at):
            at = at[rows.matching(_SEARCHED, words, at)]
        return rows.select(at)

    def _file(self, variable: Variable, level: str) -> str:
        """The Parquet file a variable's values are read from: the build's, or the published version's local
        copy (fetched from object storage and checked the first time; storage.Unavailable while it cannot be)."""
        if variable.get("points"):  # a table of points: its area variables, aggregated (atlas/pointdata.py)
            return pointdata.level_file(self, self.scope.datasets[variable["dataset"]], level)
        if variable.published is not None:
            pub = variable.published
            return str(storage.local_copy(pub.object_key, pub.sha256, self.data_dir))
        return self.extracts.values_file(variable, level)

    def _resolve(self, authority: str, level: str, variable: str) -> tuple[Place, Variable]:
        """Validate a values request; the place and the variable, or NotFound naming the first bad part."""
        place = self._check_place(authority, level)
        try:
            var = self.variable(variable)
        except NotFound as exc:
            if exc.status != 404:  # a built indicator's definition that is wrong: its own message
                raise
            here = [r["id"] for r in self.variables(authority=authority, level=level)]
            where = "the national overview" if authority == ALL else authority
            raise NotFound("variable", variable, here,
                           f"unknown variable {variable!r}; {len(here)} variables have data for {where} at "
                           f"level {level!r}, such as {', '.join(here[:10])}") from None
        if not self._has_data(var, authority, level):
            found = self._available(var)
            where = "the national overview" if authority == ALL else authority
            raise NotFound("variable", variable, found,
                           f"variable {variable!r} has no data for {where} at level {level!r} (it exists "
                           f"{coverage.why_not(self, var, authority, level)}); it is available for "
                           f"{', '.join(found[:20]) or 'nowhere'}"
                           + (f" ... ({len(found)} in all)" if len(found) > 20 else ""))
        return place, var

    def audit_read(self, variable: Mapping, detail: str) -> None:
        """Every read of restricted published data is in its organisation's audit log (once per request and
        dataset), with this requester as its reader."""
        if variable.get("published") and variable.get("access") != "public":
            pub = self.scope.datasets[variable["dataset"]]
            audit.read(pub.id, pub.rule.org_id, detail, url=db.database_url(data_dir=self.data_dir),
                       actor=self.actor)

    def values(self, authority: str, level: str, variable: str) -> pd.DataFrame:
        """One row per area of ``authority`` at ``level`` (ordered by code, like the geometry): code, name,
        full_name (the friendly name: "Birmingham 043C, in Nechells ward"; the name where no ward is known),
        value (float, NaN when missing), rank (1 = highest value within the authority or place, ties share the
        lowest rank, <NA> for a missing value) and rank_national (among every area with a value at that
        level; <NA> unless ``level`` is one of the variable's ``national_levels``). Authority ``all`` at level
        ``lad`` is the national overview. Raises NotFound.

        Two more columns where they apply: ``estimated`` (bool) for a re-based Census 2021 figure or a change
        2011 -> 2021 at 2011 LSOAs (see ``estimates``); and, for a categorical variable, ``category`` (the
        category code as text, None when missing) and ``label`` (the category's label), its ``value`` being
        NaN and its ranks <NA> throughout: categories are not numbers, and are never ranked. Figures carried
        from other areas add ``extracts.CARRIED_FIELDS``."""
        place, var = self._resolve(authority, level, variable)
        self.audit_read(var, f"values {authority}/{level}/{var.id}")
        return self.extracts.values(var, self._file(var, level), place.areas, level)

    def _national(self, level: str, variable: str) -> tuple[Variable, str]:
        self._check_level(level)
        var = self.variable(variable)
        if var.categorical:
            raise NotFound("variable", variable, [],
                           f"variable {variable!r} is categorical (category codes): it has no national numbers "
                           "to rank or classify against")
        if level not in (var.get("levels") or ()):
            raise NotFound("variable", variable, self._available(var),
                           f"variable {variable!r} has no data at level {level!r}")
        return var, self._file(var, level)

    def national_values(self, level: str, variable: str) -> Any:
        """Every non-missing value of ``variable`` at ``level`` across all authorities (float64, in code
        order), for classifying against the national distribution. A fresh copy each call. Raises NotFound."""
        var, path = self._national(level, variable)
        return self.extracts.national_values(var, path, level)

    # -- areas ----------------------------------------------------------------------------------------------

    def area_names(self, authority: str, level: str) -> tuple[list[str], list[str]]:
        """Codes (in code order, the geometry's and the paint's order) and friendly names ("Birmingham 043C,
        in Nechells ward") of ``authority``'s areas at ``level``. Raises NotFound."""
        place = self._check_place(authority, level)
        codes, _names, full_names = self.extracts.areas(place.areas, level)
        return codes.tolist(), list(full_names)

    def area_short_names(self, authority: str, level: str) -> tuple[list[str], list[str]]:
        """Codes (in code order) and names ("Birmingham 043C") of ``authority``'s areas at ``level``, without
        reading any values. Raises NotFound."""
        place = self._check_place(authority, level)
        codes, names, _full_names = self.extracts.areas(place.areas, level)
        return codes.tolist(), list(names)

    def area_count(self, authority: str, level: str) -> int:
        """How many areas ``authority`` (a district, a place or ``all``) has at ``level``. Raises NotFound."""
        place = self._check_place(authority, level)
        return len(self.extracts.areas(place.areas, level)[0])

    def area_position(self, authority: str, level: str, code: str) -> int | None:
        """Where area ``code`` is in ``authority``'s areas at ``level`` (code order), None if it is not one of
        them. Raises NotFound for an unknown place or level."""
        place = self._check_place(authority, level)
        at = self.extracts.areas(place.areas, level)[0].get_indexer([code])[0]
        return int(at) if at >= 0 else None

    def area_index(self, level: str) -> pd.DataFrame:
        """Every area of the build at ``level``: code, authority (open to everyone). Raises NotFound."""
        return self.extracts.area_index(level)

    def area_bbox(self, level: str, code: str) -> list[float] | None:
        """[west, south, east, north] of an area, None when unknown."""
        return self.extracts.area_bbox(level, code)

    def _keep_geometry(self, place: Place, level: str) -> bool:
        # The whole country's LSOAs as GeoJSON are about 60 MB: made on the rare request for them, never kept.
        return len(self.extracts.areas(place.areas, level)[0]) <= extracts.CACHED_AREAS_MAX

    def area_geojson_bytes(self, authority: str, level: str) -> bytes:
        """The GeoJSON of ``area_geojson``, serialised compactly (kept per build, but for places of more than
        ``CACHED_AREAS_MAX`` areas). Raises NotFound."""
        place = self._check_place(authority, level)
        return self.extracts.geojson_bytes(place.areas, level, self._keep_geometry(place, level))

    def area_geojson(self, authority: str, level: str) -> dict:
        """FeatureCollection of the display geometry of ``authority`` at ``level``, properties code and
        name, ordered by code, coordinates to ``PRECISION`` (5) decimal places. A fresh copy each call
        (callers may modify it). Raises NotFound."""
        place = self._check_place(authority, level)
        if not self._keep_geometry(place, level):
            return self.extracts.feature_collection(place.areas, level)
        import json  # noqa: PLC0415

        return json.loads(self.extracts.geojson_bytes(place.areas, level))

    def area_pbf(self, authority: str, level: str) -> bytes:
        """The same features as ``area_geojson``, as geobuf (kept per build, as above). Raises NotFound."""
        place = self._check_place(authority, level)
        return self.extracts.pbf(place.areas, level, self._keep_geometry(place, level))

    # -- whole datasets -------------------------------------------------------------------------------------

    def datasets_at(self, authority: str, level: str) -> dict[str, list[dict]]:
        """dataset -> its catalogue rows with data for ``authority`` at ``level``, for the requester (kept per
        what the requester may see: a download's existence check, and DCAT's list of distributions). Treat the
        rows as read-only. Raises NotFound for an unknown place or level."""
        place = self._check_place(authority, level)

        def compute() -> dict[str, list[dict]]:
            found: dict[str, list[dict]] = {}
            for row in self.variables(authority=authority, level=level):
                found.setdefault(row["dataset"], []).append(row)
            return found

        return self.memo("datasets_at", place.key, level, compute=compute)

    def dataset_values(self, authority: str, level: str, dataset: str) -> tuple[pd.DataFrame, list[dict]]:
        """A whole dataset for one place, wide: code, name, then one column per variable with data there
        (the catalogue rows are returned beside it). Raises NotFound for a dataset the requester may not
        see or that has no data there."""
        rows = self.datasets_at(authority, level).get(dataset)
        if not rows:
            raise NotFound("dataset", dataset, sorted(self.datasets_at(authority, level)))
        rows = [dict(r) for r in rows]
        var = self.variable(rows[0]["id"])
        self.audit_read(var, f"download {authority}/{level}/{dataset}")
        frame = self.extracts.dataset_frame(rows, self._file(var, level), self.place(authority).areas, level)
        return frame, rows

    def dataset_arrays(self, authority: str, level: str, dataset: str) -> tuple[dict[str, np.ndarray], list[dict]]:
        """A whole dataset for one place as arrays, for aggregating (atlas/profile.py): ``code`` and one array per
        variable with data there (float64 with NaN, or text codes for a categorical one), only the areas the
        file holds, in no particular order; and the catalogue rows. The same checks and audit as
        ``dataset_values``, without names or the carried figures' columns. Raises NotFound likewise."""
        rows = self.datasets_at(authority, level).get(dataset)
        if not rows:
            raise NotFound("dataset", dataset, sorted(self.datasets_at(authority, level)))
        rows = [dict(r) for r in rows]
        var = self.variable(rows[0]["id"])
        self.audit_read(var, f"profile {authority}/{level}/{dataset}")
        return self.extracts.dataset_arrays(rows, self._file(var, level), self.place(authority).areas), rows

    def comparator_stats(self, place: str, level: str) -> pd.DataFrame | None:
        """The aggregation statistics of every built figure of a comparator (a district, region, Wales or
        England, ``E92000001``) at ``level``, computed by the pipeline (``profiles/<level>.parquet``); None where
        the build has none. Published datasets are not in it. Raises NotFound for an unknown level."""
        self._check_level(level)
        return self.extracts.comparator_stats(place, level)

    # -- point datasets: monitoring sites and their readings ---------------------------------------------
    # The build's point datasets (open to everyone, atlas/extracts.py) and the council's tables of points the
    # requester may see (atlas/pointdata.py), by id; atlas/points.py makes the layer's paint, the GeoJSON, a
    # site's series and the nearest sites from these.

    def _published_points(self) -> dict[str, registry.Published]:
        return {k: p for k, p in self.scope.datasets.items() if p.points}

    def point_datasets(self) -> list[dict]:
        """The point datasets the requester may see (``id``, ``title``, ``description``, ``kind``: series or
        snapshot, ``as_of``, ``start``, ``end``, ``measures`` [{id, label, unit, decimals, scale, thresholds or
        bands, lines}], ``lockdown``, ``note``, ``source``, ``licence``, ``sites``), by id."""
        return [dict(row) for row in self.extracts.point_catalogue().values()] + [
            pointdata.point_meta(p) for p in self._published_points().values()]

    def point_dataset(self, dataset: str) -> dict:
        """One point dataset's description. Raises NotFound listing the valid ids."""
        row = self.extracts.point_catalogue().get(dataset)
        if row is None:
            pub = self._published_points().get(dataset)
            if pub is None:
                raise NotFound("dataset", dataset,
                               list(self.extracts.point_catalogue()) + list(self._published_points()))
            return pointdata.point_meta(pub)
        return dict(row)

    def point_sites(self, dataset: str, authority: str | None = None) -> pd.DataFrame:
        """The sites of a point dataset (site, name, type, network, lon, lat, authority, authority_name, lsoa11,
        lsoa21, place, measures), by site code; only those in ``authority``'s districts when given (a district,
        a place, a partnership's area; ``all``: every site in England and Wales). Raises NotFound."""
        published = self._published_points().get(dataset)
        if published is not None:
            return pointdata.sites(self, published, authority)
        self.point_dataset(dataset)
        if authority is None:
            return self.extracts.point_sites(dataset, None)
        members = self.members(authority)
        return self.extracts.point_sites(dataset, members, located_only=members is None)

    def point_readings(self, dataset: str, measure: str, time: str | None = None,
                       site: str | None = None) -> pd.DataFrame:
        """Readings of one measure (site, time, value, band, note), by time then site: of one ``time`` and/or
        one ``site`` when given. Raises NotFound for an unknown dataset or measure."""
        row = self.point_dataset(dataset)
        measures = [m["id"] for m in row.get("measures") or []]
        if measure not in measures:
            raise NotFound("measure", measure, measures)
        if row.get("published"):
            found = pointdata.readings(self, self._published_points()[dataset], measure, site)
            return found[found["time"] == time] if time is not None else found
        return self.extracts.point_readings(dataset, measure, time, site)

    def point_times(self, dataset: str) -> list[str]:
        """Every time a point dataset has readings at (days of a daily series; one for a snapshot), in order."""
        published = self._published_points().get(dataset)
        if published is not None:
            return [published.as_of]
        self.point_dataset(dataset)
        return self.extracts.point_times(dataset)

    def point_series(self, dataset: str, site: str) -> pd.DataFrame:
        """Every reading of one site (measure, time, value, band, note), by measure then time."""
        published = self._published_points().get(dataset)
        if published is not None:  # every version's readings (atlas/pointdata.py)
            return pointdata.series(self, published, site)
        self.point_dataset(dataset)
        return self.extracts.point_series(dataset, site)

    # -- what depends on no one: answered by the reader ------------------------------------------------------

    def area_shape(self, level: str, code: str) -> tuple[Any, str, str] | None:
        """One area's display polygon, friendly name and district (see ``Extracts.area_shape``)."""
        return self.extracts.area_shape(level, code)

    def area_shapes(self, level: str, codes: list[str] | None = None) -> tuple:
        """Codes, names, labels, districts and polygons of the areas at ``level`` (see ``Extracts.area_shapes``)."""
        return self.extracts.area_shapes(level, codes)


def build(actor: access.Actor = access.ANONYMOUS, data_dir: Path | None = None) -> Catalogue:
    """A catalogue for ``actor`` on the current build of ``data_dir`` (``ATLAS_DATA_DIR``) and the registry as it
    is now. Raises db.Unavailable when the registry cannot be read, FileNotFoundError without extracts."""
    data_dir = Path(data_dir) if data_dir is not None else settings.load().data_dir
    return Catalogue(actor, registry.snapshot(data_dir), extracts.current(data_dir))


def of_request() -> Catalogue:
    """The catalogue of the Flask request being served, built on first use from the actor the web layer
    resolved for it (web/auth.py: ``flask.g.atlas_actor``), and kept for the rest of the request so that one
    answer never mixes two builds or two registries. Outside a request (the CLI, the feed puller, a test calling
    a callback), the actor of ``access.acting_as`` (anonymous unless one is set)."""
    import flask  # noqa: PLC0415 - the domain uses flask only for the request's memo

    if not flask.has_request_context():
        return build(access.current())
    found = flask.g.get("atlas_catalogue")
    if found is None:
        found = flask.g.atlas_catalogue = build(flask.g.get("atlas_actor", access.current()))
    return found
