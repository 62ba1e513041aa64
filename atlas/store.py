"""The one module that talks to DuckDB: read-only queries over the built extracts.

Every other module asks this one typed questions (``values(authority, level, variable)``) and gets plain
Python or pandas back; nothing else imports duckdb and no SQL leaves this file.

- One in-memory DuckDB connection per process, opened lazily on first use and re-opened when
  ``os.getpid()`` changes, so a connection is never shared across gunicorn's fork.
- Each thread gets its own cursor (``con.cursor()``): sharing one connection across threads without a
  cursor fails under load (DESIGN.md, "Gotchas").
- ``ATLAS_DATA_DIR/current`` is resolved once, when the store opens, and that build is used for the life of
  the process, so swapping the symlink mid-request can never mix two builds in one answer. Each process
  holds a shared ``flock`` on that build's ``build.json`` (taken with its connection, after any fork), and
  the pipeline never removes a build it cannot lock exclusively: a build in use is never pruned.
- Published datasets (atlas/registry.py: councils' own data, each version an immutable Parquet file beside
  the builds) join the build's catalogue here, for the requester only: every catalogue, search and values
  path sees a published variable only when ``access.allowed`` says the request's actor may see its
  dataset; otherwise it does not exist (NotFound, never listed among the valid choices). ``scope_key()`` and
  ``data_version(variable)`` name what the requester sees, for every cache above this one.
- Values from callers are only ever bound parameters. Identifiers (a dataset's file, a variable's column)
  come only from the catalogue and coverage tables, after the caller's string has been looked up there; an
  unknown name raises ``NotFound`` listing the valid choices.
"""

from __future__ import annotations

import fcntl
import functools
import gzip
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb
import geobuf
import numpy as np
import pandas as pd
import shapely
import shapely.errors

from atlas import access, audit, builder, coverage, db, pointdata, registry, settings

__all__ = ["ALL", "ALL_NAME", "CARRIED_FIELDS", "CARRIED_HIGH", "CARRIED_LOW", "CARRIED_NOTE", "CARRIED_PARTS",
           "CARRIED_STATUS",
           "CATEGORICAL", "ESTIMATED_METHODS", "LEVELS", "NATIONAL_LEVEL", "PLACE_KINDS",
           "REBASED_LEVEL", "UNRANKED_UNITS", "NotFound", "Scope", "Store", "get_store", "is_categorical",
           "register_saved"]

#: Every geography level the extracts may hold, in display order.
LEVELS: tuple[str, ...] = ("lsoa11", "oa11", "lsoa21", "oa21", "ward22", "lad")
#: The place of every area of England and Wales: at level ``lad`` the national overview (one area per district),
#: at a small-area level every area the extracts hold (all 34,753 LSOAs of 2011).
ALL = "all"
ALL_NAME = "England and Wales"
NATIONAL_LEVEL = "lad"
#: Places larger than a district (places.parquet): what each ``kind`` is called in words.
PLACE_KINDS = {"region": "region of England", "nation": "nation", "combined_authority": "combined authority",
               "partnership": "partnership's area", "saved": "saved area"}
#: Above this many areas a place's geometry is not kept in the per-process cache (it is rebuilt on the rare
#: request for it: the whole country's LSOAs as GeoJSON are about 60 MB).
CACHED_AREAS_MAX = 10_000
#: Decimal places of coordinates served to browsers: 5 places is about 1 m, well inside the display
#: simplification (5-150 m), and 6 would cost a quarter more gzipped geobuf (Liverpool OAs: 97 KB against
#: 74 KB). Neighbours round their shared vertices alike, so shared edges stay shared. geobuf uses the same
#: integer grid, so GeoJSON and geobuf carry identical features.
PRECISION = 5
#: Units of variables that are themselves a publisher's ranking (IMD ranks and deciles...): their values are
#: shown as published and never ranked again, so ``values()`` gives them no ``rank`` or ``rank_national``.
UNRANKED_UNITS = frozenset({"rank", "decile"})
#: The catalogue's ``kind`` of a variable whose values are category codes (text), not numbers.
CATEGORICAL = "categorical"
#: Methods of variables whose figures for some 2011 LSOAs are estimates: Census 2021 re-based onto 2011 LSOAs
#: where 2011 LSOAs were merged (apportioned), and the change 2011 -> 2021 computed from those figures.
ESTIMATED_METHODS = frozenset({"apportioned", "change"})
#: The level the re-based figures are on (the lookup ``lookups/lsoa11_lsoa21.parquet`` is by 2011 LSOA).
REBASED_LEVEL = "lsoa11"
#: The kinds of LSOA change 2011 -> 2021, in the lookup's words and this order.
CHANGE_KINDS: tuple[str, ...] = ("unchanged", "split", "merged", "complex")
#: Reserved columns of a values file whose figures were carried from other areas (pipeline/deprivation2025.py):
#: each area's status (``unchanged``, ``merged``, ``split``, ``irregular``...) and a sentence saying what its
#: figures are; a variable's range over the parts of a split area is in ``<id>__lo`` and ``<id>__hi``.
CARRIED_STATUS, CARRIED_NOTE, CARRIED_LOW, CARRIED_HIGH = "__status", "__note", "__lo", "__hi"
#: How many areas a carried figure comes from (``__parts``: 1, or the parts of a split area).
CARRIED_PARTS = "__parts"
#: What ``values()`` adds for carried figures, in this order: status, note, how many areas the figures come
#: from, and a split area's range (lowest, highest).
CARRIED_FIELDS: tuple[str, ...] = ("carried", "carried_note", "parts", "low", "high")
#: Catalogue fields searched by ``variables(q=...)``.
_SEARCHED = ("id", "label", "table", "table_title", "cell", "topic", "description")


#: How a saved area's code (``A<id>``) is resolved for the request's actor, and which ones they may open:
#: registered by atlas/areas.py (which owns saved areas: ``register_saved``). ``resolve(code)`` answers
#: (name, level, codes) or None (unknown, or not theirs to open); ``listing()`` the codes they may open.
_saved_hooks: dict[str, Callable[..., Any]] = {}
#: Seconds a resolved saved area is reused within a thread (one request asks for it many times).
SAVED_MEMO_SECONDS = 2.0


def register_saved(resolve: Callable[[str], tuple[str, str, tuple[str, ...]] | None],
                   listing: Callable[[], list[str]]) -> None:
    """Let the store open saved areas as places (called once by atlas/areas.py)."""
    _saved_hooks["resolve"] = resolve
    _saved_hooks["listing"] = listing


class NotFound(LookupError):
    """An authority, level, variable or area that the extracts do not hold.

    ``what`` names the kind of thing, ``value`` is what was asked for and ``valid`` lists what would have
    been accepted (for a variable with no data where it was asked for: the ``authority/level`` pairs where
    it has data).
    """

    def __init__(self, what: str, value: str, valid: Iterable[str], message: str | None = None) -> None:
        self.what = what
        self.value = value
        self.valid = list(valid)
        if message is None:
            shown = ", ".join(self.valid[:20])
            if len(self.valid) > 20:
                shown += f" ... ({len(self.valid)} in all)"
            message = f"unknown {what} {value!r}; valid: {shown or '(none)'}"
        self.message = message
        self.status = 404
        super().__init__(message)


def _plain(value: Any) -> Any:
    """numpy / pyarrow scalars and arrays as plain Python (for JSON and for callers' dicts)."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def is_categorical(row: dict) -> bool:
    """Whether a catalogue row's values are category codes (``kind`` categorical)."""
    return row.get("kind") == CATEGORICAL


def _categories(text: Any) -> list[dict] | None:
    """The catalogue's ``categories`` (JSON text in the extract) as a list of {code, label, colour}, with
    colours in lower case; None for a numeric variable."""
    if not text:
        return None
    items = json.loads(text) if isinstance(text, str) else list(text)
    return [{"code": str(c["code"]), "label": str(c.get("label") or c["code"]),
             "colour": str(c["colour"]).lower() if c.get("colour") else None} for c in items]


def _quote_identifier(name: str) -> str:
    # Only ever called with catalogue ids, but quoted properly anyway so no name can end the identifier.
    return '"' + name.replace('"', '""') + '"'


def _rank_desc(values: np.ndarray) -> np.ndarray:
    """1 + the number of values strictly greater: rank 1 is the highest and ties share the lowest rank
    (SQL's RANK(), pandas' method="min"). NaN positions get 0; callers mask them."""
    present = ~np.isnan(values)
    ordered = np.sort(-values[present])
    ranks = np.zeros(len(values), dtype="int64")
    ranks[present] = np.searchsorted(ordered, -values[present], side="left") + 1
    return ranks


def _rounded(geoms: np.ndarray) -> np.ndarray:
    """Coordinates rounded to PRECISION decimals. Rounding merges a few neighbouring vertices (18 in 69,000
    across four authorities' OAs): they are dropped. Where it collapses a tiny ring to fewer than three
    points (a sliver of a ward), the geometry is snapped to the grid by GEOS instead, which drops the ring."""
    rounded = shapely.transform(geoms, lambda xy: np.round(xy, PRECISION))
    try:
        return shapely.remove_repeated_points(rounded, 0.0)
    except shapely.errors.GEOSException:
        out = []
        for original, geom in zip(geoms, rounded, strict=True):
            try:
                out.append(shapely.remove_repeated_points(geom, 0.0))
            except shapely.errors.GEOSException:
                out.append(shapely.set_precision(original, 10.0 ** -PRECISION))
        return np.array(out, dtype=object)


def _int_array(data: np.ndarray, missing: np.ndarray) -> pd.arrays.IntegerArray:
    return pd.arrays.IntegerArray(np.asarray(data, dtype="int64"), np.asarray(missing, dtype=bool))


def _no_ints(n: int) -> pd.arrays.IntegerArray:
    return _int_array(np.zeros(n, dtype="int64"), np.ones(n, dtype=bool))


class Scope:
    """The published datasets one requester may see, shaped as the store's own tables (rows by id, coverage,
    places, paths). Built once per (registry generation, visible datasets, day) and shared by every
    requester who sees the same datasets."""

    def __init__(self, snap: registry.Snapshot, visible: list[registry.Published], key: str,
                 areas: list[registry.PartnershipArea] = ()) -> None:
        self.key = key
        self.snapshot = snap
        #: The partnership areas the requester may open as places (code ``P<id>`` -> its member authorities).
        self.areas = {a.code: a for a in areas}
        self.datasets = {p.key: p for p in visible}
        self.rows: dict[str, dict] = {}
        self.coverage: set[tuple[str, str, str]] = set()
        self.places: dict[str, list[tuple[str, str]]] = {}
        self.authorities: dict[str, frozenset[str]] = {}
        self.paths: dict[str, str] = {}
        for pub in visible:
            self.paths[pub.key] = str(pub.file)
            self.places[pub.key] = [(a, lv) for lv in pub.levels for a in pub.authorities]
            self.coverage.update((pub.key, lv, a) for lv in pub.levels for a in pub.authorities)
            stale = pub.stale()
            for row in pub.area_variables:
                self.rows[row["id"]] = {**row, "stale": stale, "status": pub.status()}
                self.authorities[row["id"]] = frozenset(pub.authorities)
        self.topics = {row["topic"] for row in self.rows.values() if row.get("topic")}


class Store:
    """Read-only access to one build of the extracts (the one ``current`` pointed at when opened)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        current = self.data_dir / "current"
        if not (current / "build.json").exists():
            raise FileNotFoundError(
                f"no extracts in {current} (ATLAS_DATA_DIR={self.data_dir}); run `python -m pipeline build`")
        # Resolved once: later swaps of `current` do not affect this process.
        self.build_dir = current.resolve()
        self.build = json.loads((self.build_dir / "build.json").read_text())
        self.build_id: str = str(self.build["id"])
        self._pid: int | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._reading: Any = None  # this process's open build.json, holding the shared lock
        self._local = threading.local()
        self._lock = threading.RLock()
        self._area_names: dict[tuple[str, str], tuple[pd.Index, Any, Any]] = {}
        self._tile_readers: dict[str, Any] = {}
        self._load_tables()
        # Geometry and national ranks never change within a build: cache them per store (= per build).
        # Bounded: an OA GeoJSON is up to 0.7 MB; the map asks for geobuf, a fifth of that.
        self._geojson_bytes = functools.lru_cache(maxsize=32)(self._encode_geojson)
        self._pbf_bytes = functools.lru_cache(maxsize=256)(self._encode_pbf)
        self._national = functools.lru_cache(maxsize=256)(self._national_uncached)
        self._built_rows: dict[str, dict] = {}  # built indicators' rows by code (atlas/builder.py)
        self._national_array = functools.lru_cache(maxsize=64)(self._national_values_uncached)
        self._scopes: dict[tuple, Scope] = {}
        self._datasets_at: dict[tuple[str, str, str], dict[str, list[dict]]] = {}

    # -- connection -------------------------------------------------------------------------------------

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on this process's connection (opened here, after any fork)."""
        pid = os.getpid()
        if self._pid != pid:
            with self._lock:
                if self._pid != pid:
                    # A connection inherited across fork is unusable: drop it without closing it (closing
                    # would touch the parent's state) and open a fresh one for this process.
                    self._hold_build()
                    con = duckdb.connect(":memory:")
                    # GLOBAL: a plain SET is session-local and would not reach the threads' cursors (found
                    # here: without it every query re-read the Parquet footers, 3 ms instead of 0.8 ms).
                    con.execute("SET GLOBAL enable_object_cache = true")
                    con.execute("SET GLOBAL parquet_metadata_cache = true")
                    con.execute("SET GLOBAL threads = 1")  # many small queries, several workers on 2 cores
                    self._con = con
                    self._local = threading.local()
                    self._pid = pid
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            assert self._con is not None
            cursor = self._local.cursor = self._con.cursor()
        return cursor

    def _hold_build(self) -> None:
        """Take a shared flock on the build's build.json for the life of this process, so the pipeline
        never prunes the build while this process reads it. A forked child shares its parent's open file
        (and lock) but takes its own, since the parent may go. Raises FileNotFoundError if the build has
        just been (or is being) removed (``get_store`` then reopens on ``current``)."""
        handle = open(self.build_dir / "build.json", "rb")  # kept open: it holds the lock
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            # Only the pruner takes it exclusively, and only to remove the build.
            handle.close()
            raise FileNotFoundError(f"build {self.build_dir.name} is being removed") from None
        self._reading = handle

    def _query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        return self._cursor().execute(sql, params or []).df()

    # -- published datasets, as the request's actor may see them -----------------------------------------

    def _scope(self) -> Scope:
        """The published datasets the request's actor may see (raises db.Unavailable without a database)."""
        snap = registry.snapshot(self.data_dir)
        actor = access.current()
        visible = snap.visible(actor)
        ids = tuple(sorted(p.id for p in visible))
        from datetime import date  # noqa: PLC0415

        areas = snap.areas_for(actor)
        codes = tuple(a.code for a in areas)
        key = (snap.generation, ids, codes, date.today().isoformat())
        found = self._scopes.get(key)
        if found is None:
            with self._lock:
                found = self._scopes.get(key)
                if found is None:
                    if len(self._scopes) > 64:
                        self._scopes.clear()
                    vis = access.visibility_key(actor, snap.rules())
                    name = f"{snap.generation}:{vis}:{','.join(codes)}" if ids or codes else "open"
                    found = self._scopes[key] = Scope(snap, visible, name, areas)
        return found

    def scope_key(self) -> str:
        """What the requester may see, for cache keys of anything listing variables: ``open`` when no
        published dataset is visible (everyone shares it), else the registry generation and their datasets."""
        return self._scope().key

    def data_version(self, variable: str) -> str:
        """The data a variable's values come from, for cache keys: the build, or the published dataset's
        current version. Raises NotFound for a variable the requester may not see (as for an unknown one)."""
        row = self._check_variable(variable)
        if row.get("published"):
            return f"{row['dataset']}v{row['version']}:{self._scope().paths[row['dataset']].rsplit('/', 1)[-1]}"
        return self.build_id

    def published(self, dataset: str) -> registry.Published | None:
        """A visible published dataset by its store name (``ds<id>``), else None."""
        return self._scope().datasets.get(dataset)

    def _row(self, variable: str) -> dict | None:
        if builder.is_code(variable):
            return self._built_row(variable)
        row = self._catalogue.get(variable)
        if row is None and variable.startswith("ds"):
            row = self._scope().rows.get(variable)
        return row

    def _saved(self, authority: str) -> dict | None:
        """A saved area the requester may open (``A<id>``): name, level, codes, the districts they are in;
        else None (as if unknown). Memoised per thread for ``SAVED_MEMO_SECONDS``, per actor."""
        resolve = _saved_hooks.get("resolve")
        if resolve is None or not authority.startswith("A") or not authority[1:].isdigit():
            return None
        memo = getattr(self._local, "saved", None)
        if memo is None:
            memo = self._local.saved = {}
        key = (access.current(), authority)
        hit = memo.get(key)
        if hit is not None and time.monotonic() - hit[0] < SAVED_MEMO_SECONDS:
            return hit[1]
        found = resolve(authority)
        out = None
        if found is not None:
            name, level, codes = found
            if level in self._levels:
                index = self._area_authorities(level)
                codes = tuple(sorted(c for c in codes if c in index))
                out = {"code": authority, "name": name, "level": level, "codes": codes,
                       "authorities": tuple(sorted({index[c] for c in codes})),
                       "digest": hashlib.sha256(" ".join(codes).encode()).hexdigest()[:16]}
        if len(memo) > 256:
            memo.clear()
        memo[key] = (time.monotonic(), out)
        return out

    def _area_authorities(self, level: str) -> dict[str, str]:
        """code -> district of every area at ``level`` (per store, built once a level)."""
        with self._lock:
            cached = getattr(self, "_area_authority_maps", None)
            if cached is None:
                cached = self._area_authority_maps = {}
            found = cached.get(level)
            if found is None:
                df = self.area_index(level)
                found = cached[level] = dict(zip(df["code"], df["authority"], strict=True))
        return found

    def saved_places(self) -> list[dict]:
        """The saved areas the requester may open, shaped like ``authorities()`` (most have none)."""
        listing = _saved_hooks.get("listing")
        return [self.authority(code) for code in (listing() if listing else []) if self._saved(code) is not None]

    def _members(self, authority: str) -> tuple[str, ...] | None:
        """A partnership area's or a saved area's districts (when the requester may open it), else None."""
        if authority.startswith("A"):
            saved = self._saved(authority)
            return saved["authorities"] if saved is not None else None
        if not authority.startswith("P"):
            return None
        area = self._scope().areas.get(authority)
        return area.authorities if area is not None else None

    def place_key(self, authority: str) -> str:
        """The place for cache keys: an authority's code, a partnership area's code with its members, or a
        saved area's with the digest of its codes. Raises NotFound for a saved area the requester may not open."""
        if authority.startswith("A") and authority[1:].isdigit():
            saved = self._saved(authority)
            if saved is None:
                raise NotFound("authority", authority, [ALL, *self._places, *self._authority_rows])
            return f"{authority}[{saved['digest']}]"
        members = self._members(authority)
        return authority if members is None else f"{authority}[{','.join(members)}]"

    def _where(self, authority: str, sql: str, params: list[Any]) -> tuple[str, list[Any]]:
        """``sql`` restricted to ``authority``'s areas (every area for ``all``; a place's or a partnership's
        districts' areas together); a fixed filter shape, the districts only as bound parameters."""
        members = self.members(authority)
        if members is None:
            return sql, params
        saved = self._saved(authority) if authority.startswith("A") else None
        if saved is not None:  # a saved area: its own areas, whatever districts they are in
            return sql + " WHERE list_contains(?, code)", [*params, list(saved["codes"])]
        if len(members) == 1:
            return sql + " WHERE authority = ?", [*params, members[0]]
        return sql + " WHERE list_contains(?, authority)", [*params, list(members)]

    def _place_row(self, authority: str) -> dict | None:
        """A place larger than a district (``name``, ``kind``, ``authorities``, ``bbox``): a region, Wales, a
        combined authority, or a partnership's area when the requester may open it (else None: as if unknown)."""
        place = self._places.get(authority)
        if place is None and authority.startswith("A"):
            saved = self._saved(authority)
            if saved is None:
                return None
            boxes = [self._authority_rows[a]["bbox"] for a in saved["authorities"]
                     if self._authority_rows.get(a, {}).get("bbox")]
            return {"code": authority, "name": f"{saved['name']} (saved area)", "kind": "saved",
                    "authorities": saved["authorities"], "level": saved["level"], "areas": len(saved["codes"]),
                    "bbox": ([min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                              max(b[3] for b in boxes)] if boxes else None)}
        if place is not None or not authority.startswith("P"):
            return place
        members = self._members(authority)
        if members is None:
            return None
        area = self._scope().areas[authority]
        boxes = [self._authority_rows[a]["bbox"] for a in members if self._authority_rows[a].get("bbox")]
        return {"code": authority, "name": f"{area.name} (partnership)", "kind": "partnership",
                "partnership": area.name, "authorities": tuple(members),
                "bbox": ([min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                          max(b[3] for b in boxes)] if boxes else None)}

    def partnership_places(self) -> list[dict]:
        """The partnership areas the requester may open, shaped like ``authorities()`` (most have none)."""
        return [self.authority(code) for code in self._scope().areas]

    def _dataset_path(self, row: dict, level: str) -> str:
        if row.get("points"):  # a table of points: its area variables, aggregated (atlas/pointdata.py)
            return pointdata.level_file(self, self._scope().datasets[row["dataset"]], level)
        if row.get("published"):
            return self._scope().paths[row["dataset"]]
        return str(self.build_dir / "values" / level / f"{row['dataset']}.parquet")

    # -- small tables, held in Python: they are the source of every identifier ---------------------------

    def _file(self, *parts: str) -> str:
        return str(self.build_dir.joinpath(*parts))

    def _load_tables(self) -> None:
        auth = self._query("SELECT * FROM read_parquet(?) ORDER BY code", [self._file("authorities.parquet")])
        self._authority_rows = {row["code"]: {k: _plain(v) for k, v in row.items()}
                                for row in auth.to_dict("records")}
        cat = self._query("SELECT * FROM read_parquet(?) ORDER BY id", [self._file("catalogue.parquet")])
        self._catalogue = {row["id"]: {k: _plain(v) for k, v in row.items()}
                           for row in cat.to_dict("records")}
        for row in self._catalogue.values():
            # Categorical variables carry their categories (code, label, colour) in the publisher's order;
            # parsed once here, so every caller gets a list.
            row["categories"] = _categories(row.get("categories"))
        cov = self._query("SELECT dataset, level, authority, areas FROM read_parquet(?)",
                          [self._file("coverage.parquet")])
        self._coverage: set[tuple[str, str, str]] = set(
            zip(cov["dataset"], cov["level"], cov["authority"], strict=True))
        self._dataset_places: dict[str, list[tuple[str, str]]] = {}
        for dataset, level, authority in sorted(self._coverage):
            self._dataset_places.setdefault(dataset, []).append((authority, level))
        # A dataset's file at a level need not hold every variable of the dataset (the median age has no
        # district figure), and a column may be empty for an authority: the catalogue says where each
        # variable has values, coverage which files exist. Both must agree before a query is built.
        self._variable_authorities = {id_: frozenset(row.get("authorities") or ())
                                      for id_, row in self._catalogue.items()}
        self._levels = [lv for lv in LEVELS if (self.build_dir / "areas" / f"{lv}.parquet").exists()]
        # Names and membership of every area (no geometry): small, and every values() joins to it.
        counts = []
        for level in self._levels:
            counts.append(self._query(
                "SELECT authority, level, any_value(vintage) AS vintage, count(*) AS areas "
                "FROM read_parquet(?) GROUP BY authority, level", [self._file("areas", f"{level}.parquet")]))
        self._area_counts: dict[str, list[dict]] = {}
        for row in pd.concat(counts).to_dict("records") if counts else []:
            self._area_counts.setdefault(row["authority"], []).append(
                {"level": row["level"], "vintage": _plain(row["vintage"]), "areas": int(row["areas"])})
        for levels in self._area_counts.values():
            levels.sort(key=lambda d: LEVELS.index(d["level"]) if d["level"] in LEVELS else len(LEVELS))
        self._topics = sorted({row["topic"] for row in self._catalogue.values() if row.get("topic")})
        # Places larger than a district: each is the set of its districts (pipeline/places.py).
        self._places: dict[str, dict] = {}
        if (self.build_dir / "places.parquet").exists():
            rows = self._query("SELECT code, name, kind, authorities, bbox FROM read_parquet(?) ORDER BY code",
                               [self._file("places.parquet")])
            for row in rows.to_dict("records"):
                row = {k: _plain(v) for k, v in row.items()}
                row["authorities"] = tuple(row["authorities"])
                self._places[row["code"]] = row
        self._all_counts = {}
        for levels in self._area_counts.values():
            for d in levels:
                self._all_counts[d["level"]] = self._all_counts.get(d["level"], 0) + d["areas"]
        self._load_rebasing()

    def _load_rebasing(self) -> None:
        """The LSOA 2011 -> 2021 lookup: which 2011 LSOAs' re-based 2021 figures are estimates, and how many
        LSOAs of each kind of change every authority has. Small (one row per 2011 LSOA)."""
        self._estimated: dict[str, frozenset[str]] = {}
        self._rebasing: dict[str, dict[str, int]] = {}
        path = self.build_dir / "lookups" / "lsoa11_lsoa21.parquet"
        if not path.exists():
            return
        df = self._query("SELECT authority, code, change, estimated FROM read_parquet(?)", [str(path)])
        for authority, part in df.groupby("authority", sort=True):
            counts = {kind: 0 for kind in CHANGE_KINDS}
            for kind, n in part["change"].value_counts().items():
                counts[str(kind)] = int(n)
            counts["estimated"] = int(part["estimated"].sum())
            counts["areas"] = len(part)
            self._rebasing[str(authority)] = counts
            self._estimated[str(authority)] = frozenset(part.loc[part["estimated"].astype(bool), "code"])

    # -- validation: a user's string becomes an identifier only by being found here ----------------------

    def _check_level(self, level: str) -> str:
        if level not in self._levels:
            raise NotFound("level", level, self._levels)
        return level

    def _check_authority(self, authority: str, level: str | None = None) -> str:
        place = self._place_row(authority) if authority != ALL else None
        if authority == ALL or place is not None:
            levels = self._place_levels(authority)
            if level is not None and level not in levels:
                name = ALL_NAME if place is None else place["name"]
                raise NotFound("level", level, levels,
                               f"{name} ({authority}) has no areas at level {level!r}; it has {', '.join(levels)}")
            return authority
        if authority not in self._authority_rows:
            raise NotFound("authority", authority, [ALL, *self._places, *self._authority_rows])
        if level == NATIONAL_LEVEL:
            # One way to each view: local authority districts are mapped together, as the overview.
            raise NotFound("level", level, self._small_levels(authority),
                           f"level {NATIONAL_LEVEL!r} is the national overview: ask for authority {ALL!r}; "
                           f"{authority} has {', '.join(self._small_levels(authority)) or 'no small areas'}")
        if level is not None:
            levels = self._small_levels(authority)
            if level not in levels:
                name = self.authority(authority)["name"]
                raise NotFound("level", level, levels,
                               f"{name} ({authority}) has no areas at level {level!r}; it has "
                               f"{', '.join(levels) or 'none'}")
        return authority

    def _check_place(self, authority: str, level: str) -> None:
        """Authority, then level, then the pair: errors name the first bad part of a URL."""
        self._check_authority(authority)
        self._check_level(level)
        self._check_authority(authority, level)

    def _small_levels(self, authority: str) -> list[str]:
        if authority.startswith("A"):
            saved = self._saved(authority)
            if saved is not None:  # a saved area: its own level only
                return [saved["level"]]
        members = self._members(authority)
        if members is not None:  # a partnership area: the levels any member has, in display order
            found = {lv for a in members for lv in self._small_levels(a)}
            return [lv for lv in LEVELS if lv in found]
        return [d["level"] for d in self._area_counts.get(authority, []) if d["level"] != NATIONAL_LEVEL]

    def members(self, authority: str) -> tuple[str, ...] | None:
        """The districts of a place (a region, Wales, a combined authority), ``(authority,)`` for a district
        and None for ``all`` (every district). Raises NotFound."""
        self._check_authority(authority)
        if authority == ALL:
            return None
        place = self._place_row(authority)
        if place is not None:
            return tuple(place["authorities"])
        return (authority,)

    def _place_levels(self, authority: str) -> list[str]:
        """The levels with areas in ``all`` (the overview ``lad`` first) or in a place (its districts')."""
        if authority == ALL:
            return [NATIONAL_LEVEL, *[lv for lv in self._levels if lv != NATIONAL_LEVEL and self._all_counts.get(lv)]]
        if self._place_row(authority).get("kind") == "saved":
            return [self._place_row(authority)["level"]]
        held = {lv for a in self._place_row(authority)["authorities"] for lv in self._small_levels(a)}
        return [lv for lv in self._levels if lv in held]

    def _level_counts(self, authority: str) -> list[dict]:
        """[{level, vintage, areas}] of a place or ``all`` (sums of their districts')."""
        vintage = {d["level"]: d["vintage"] for levels in self._area_counts.values() for d in levels}
        place = self._place_row(authority) if authority != ALL else None
        if place is not None and place.get("kind") == "saved":
            return [{"level": place["level"], "vintage": vintage.get(place["level"]), "areas": place["areas"]}]
        out = []
        for level in self._place_levels(authority):
            if authority == ALL:
                n = self._all_counts.get(level, 0)
            else:
                n = sum(d["areas"] for a in self._place_row(authority)["authorities"]
                        for d in self._area_counts.get(a, []) if d["level"] == level)
            out.append({"level": level, "vintage": vintage.get(level), "areas": n})
        return out

    def _check_variable(self, variable: str) -> dict:
        row = self._row(variable)
        if row is None:
            raise NotFound("variable", variable, [*self._catalogue, *self._scope().rows])
        return row

    def _has_data(self, row: dict, authority: str, level: str) -> bool:
        if level not in (row.get("levels") or ()):
            return False
        place = self._place_row(authority) if authority != ALL else None
        if place is not None:  # a region, Wales, a combined authority, a partnership's area: any of its districts
            return any(self._has_data(row, a, level) for a in place["authorities"])
        if row.get("published"):
            scope = self._scope()
            if authority == ALL:
                return any(lv == level for _, lv in scope.places.get(row["dataset"], []))
            return authority in scope.authorities.get(row["id"], ())
        if authority == ALL:
            return any(lv == level for _, lv in self._dataset_places[row["dataset"]])
        return ((row["dataset"], level, authority) in self._coverage
                and authority in self._variable_authorities.get(row["id"], frozenset(row.get("authorities") or ())))

    def _available(self, row: dict) -> list[str]:
        """Where a variable has data, as ``authority/level`` (what a values URL takes)."""
        places = (self._scope().places if row.get("published") else self._dataset_places).get(row["dataset"], [])
        out = [f"{a}/{lv}" for a, lv in places
               if lv != NATIONAL_LEVEL and self._has_data(row, a, lv)]
        if self._has_data(row, ALL, NATIONAL_LEVEL):
            out.insert(0, f"{ALL}/{NATIONAL_LEVEL}")
        return out

    # -- built indicators (atlas/builder.py): a code carries its definition, checked against the catalogue ----

    def built_tables(self) -> dict[str, builder.Table]:
        """The census tables indicators can be built from, by dataset id (per store, built once)."""
        with self._lock:
            found = getattr(self, "_built_tables", None)
            if found is None:
                found = self._built_tables = builder.tables(self._catalogue.values())
        return found

    def _built_row(self, code: str) -> dict:
        """The catalogue row of a built indicator's code; NotFound saying what is wrong with it."""
        memo = self._built_rows
        found = memo.get(code)
        if found is None:
            try:
                definition = builder.parse(code)
                found = builder.row(self.built_tables().get(definition.table), code, definition)
            except builder.BuiltError as exc:
                error = NotFound("built indicator", code[:80], [], f"the built indicator {code[:80]!r} cannot be "
                                 f"used: {exc}")
                error.status = 400  # a definition that is wrong, not something absent: the API answers 400
                raise error from None
            if len(memo) > 512:
                memo.clear()
            memo[code] = found
        return found

    def _column_sql(self, row: dict) -> str:
        """What a values query selects for a catalogue row: its column (a quoted catalogue id), or a built
        indicator's share of its cells (catalogue ids, quoted)."""
        if row.get("built"):
            return builder.value_sql(row["built"])
        return _quote_identifier(row["id"])

    def has_data(self, variable: str, authority: str, level: str) -> bool:
        """Whether ``variable`` has data for ``authority`` at ``level``. Raises NotFound for an unknown or
        invalid variable (a built indicator's code says what is wrong with it)."""
        return self._has_data(self._check_variable(variable), authority, level)

    # -- public API --------------------------------------------------------------------------------------

    @property
    def levels(self) -> list[str]:
        """Levels present in this build, in display order."""
        return list(self._levels)

    @property
    def topics(self) -> list[str]:
        return sorted(set(self._topics) | self._scope().topics)

    def authorities(self) -> list[dict]:
        """Every authority: code, name, nation, region, levels [{level, vintage, areas}] (small-area levels
        only; the national overview is authority ``all``), bbox [west, south, east, north]."""
        return [self._authority_dict(code) for code in self._authority_rows]

    def _authority_dict(self, code: str) -> dict:
        row = self._authority_rows[code]
        levels = [dict(d) for d in self._area_counts.get(code, []) if d["level"] != NATIONAL_LEVEL]
        return {"code": code, "name": row.get("name"), "nation": row.get("nation"),
                "region": row.get("region"), "levels": levels, "bbox": row.get("bbox")}

    def rebasing(self, authority: str) -> dict[str, int] | None:
        """How the authority's 2011 LSOAs map to 2021 ones: counts of ``unchanged``, ``split``, ``merged`` and
        ``complex`` LSOAs, ``estimated`` (those whose re-based 2021 figures are estimates) and ``areas``;
        None where the authority has no 2011 LSOAs (or the build has no lookup). A place (a region, Wales, a
        combined authority, a partnership's area, ``all``) sums its districts'."""
        if authority != ALL and (self._place_row(authority) or {}).get("kind") == "saved":
            return None  # its districts' counts would not be its own
        if authority == ALL or self._place_row(authority) is not None:
            members = self._authority_rows if authority == ALL else self._place_row(authority)["authorities"]
            held = [self._rebasing[a] for a in members if a in self._rebasing]
            if not held:
                return None
            return {k: sum(c.get(k, 0) for c in held) for k in held[0]}
        counts = self._rebasing.get(authority)
        return dict(counts) if counts else None

    def rebasing_rows(self, authority: str) -> pd.DataFrame | None:
        """The authority's rows of the LSOA 2011 -> 2021 lookup: code, change, estimated, lsoa21 (the 2021
        LSOAs it maps to, space-separated), by code; None where it has none."""
        if authority not in self._rebasing:
            return None
        df = self._query("SELECT code, change, estimated, array_to_string(lsoa21, ' ') AS lsoa21 "
                         "FROM read_parquet(?) WHERE authority = ? ORDER BY code",
                         [self._file("lookups", "lsoa11_lsoa21.parquet"), authority])
        df["estimated"] = df["estimated"].astype(bool)
        return df

    def estimates(self, row: dict, authority: str, level: str) -> frozenset[str] | None:
        """Codes of the areas whose figures of the variable ``row`` are estimates there, or None when the
        variable has no estimates at all (not a re-based figure, or another level)."""
        if row.get("method") not in ESTIMATED_METHODS or level != REBASED_LEVEL:
            return None
        members = self.members(authority)
        if members is None:
            return frozenset().union(*self._estimated.values()) if self._estimated else frozenset()
        return frozenset().union(*(self._estimated.get(a, frozenset()) for a in members))

    def places(self, variable: str) -> list[tuple[str, str]]:
        """Every (authority, level) where the variable has data (the national overview as (``all``, ``lad``)).
        Raises NotFound."""
        row = self._check_variable(variable)
        out = [(a, lv) for a, lv in self._dataset_places.get(row["dataset"], [])
               if lv != NATIONAL_LEVEL and self._has_data(row, a, lv)]
        if self._has_data(row, ALL, NATIONAL_LEVEL):
            out.insert(0, (ALL, NATIONAL_LEVEL))
        return out

    def authority(self, code: str) -> dict:
        """One authority (see ``authorities``), a place (a region, Wales, a combined authority: with its
        ``kind`` and ``authorities``) or ``all`` (England and Wales: the national overview at level ``lad``
        and every small area). Raises NotFound."""
        self._check_authority(code)
        if code == ALL:
            # England and Wales: the districts with small areas (the UK's box would centre on Scotland's seas)
            boxes = [r["bbox"] for c, r in self._authority_rows.items() if r.get("bbox") and self._small_levels(c)]
            bbox = ([min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
                     max(b[3] for b in boxes)] if boxes else None)
            return {"code": ALL, "name": ALL_NAME, "kind": "country", "nation": None, "region": None,
                    "levels": self._level_counts(ALL), "bbox": bbox}
        place = self._place_row(code)
        if place is not None:
            out = {"code": code, "name": place["name"], "kind": place["kind"],
                   "nation": None if place["kind"] in ("partnership", "saved") else "Wales" if code.startswith("W")
                   else "England",
                   "region": place["name"] if place["kind"] == "region" else None,
                   "levels": self._level_counts(code), "bbox": place.get("bbox"),
                   "authorities": list(place["authorities"])}
            if place["kind"] == "partnership":
                out.update(partnership=place["partnership"], members=list(place["authorities"]))
            return out
        out = self._authority_dict(code)
        rebasing = self.rebasing(code)
        if rebasing:
            out["lsoa11_lsoa21"] = rebasing
        return out

    def larger_places(self) -> list[dict]:
        """Every place larger than a district (regions, Wales, combined authorities), as ``authority``."""
        return [self.authority(code) for code in self._places]

    def variables(self, authority: str | None = None, level: str | None = None, topic: str | None = None,
                  q: str | None = None) -> list[dict]:
        """Catalogue rows (plain types), filtered: with data for ``authority`` and/or at ``level``, in
        ``topic``, and matching every word of ``q`` (case-insensitive, in id, label, table, table title or
        topic). Raises NotFound for an unknown authority, level or topic."""
        if level is not None:
            self._check_level(level)
        if authority is not None:
            self._check_authority(authority, level)
            if authority == ALL and level is None:
                level = NATIONAL_LEVEL
        scope = self._scope()
        if topic is not None and topic not in self._topics and topic not in scope.topics:
            raise NotFound("topic", topic, self.topics)
        words = (q or "").lower().split()
        out = []
        for row in (*self._catalogue.values(), *scope.rows.values()):
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

    def variable(self, id: str) -> dict:
        """One catalogue row (plain types). Raises NotFound listing valid ids."""
        return dict(self._check_variable(id))

    def _values_source(self, authority: str, level: str, variable: str) -> tuple[dict, str, str]:
        """Validate a values request; return (catalogue row, values file, quoted column)."""
        self._check_place(authority, level)
        row = self._row(variable)
        if row is None:
            here = [r["id"] for r in self.variables(authority=authority, level=level)]
            place = "the national overview" if authority == ALL else authority
            raise NotFound("variable", variable, here,
                           f"unknown variable {variable!r}; {len(here)} variables have data for {place} at "
                           f"level {level!r}, such as {', '.join(here[:10])}")
        if not self._has_data(row, authority, level):
            where = self._available(row)
            place = "the national overview" if authority == ALL else authority
            raise NotFound("variable", variable, where,
                           f"variable {variable!r} has no data for {place} at level {level!r} (it exists "
                           f"{coverage.why_not(self, row, authority, level)}); it is available for "
                           f"{', '.join(where[:20]) or 'nowhere'}"
                           + (f" ... ({len(where)} in all)" if len(where) > 20 else ""))
        self._audit_read(row, f"values {authority}/{level}/{row['id']}")
        return row, self._dataset_path(row, level), self._column_sql(row)

    def _audit_read(self, row: dict, detail: str) -> None:
        """Every read of restricted published data is in its organisation's audit log (once per request)."""
        if row.get("published") and row.get("access") != "public":
            pub = self._scope().datasets[row["dataset"]]
            audit.read(pub.id, pub.rule.org_id, detail, url=db.database_url(data_dir=self.data_dir))

    def values(self, authority: str, level: str, variable: str) -> pd.DataFrame:
        """One row per area of ``authority`` at ``level`` (ordered by code, like the geometry):
        code, name, full_name (the friendly name: "Birmingham 043C, in Nechells ward"; the name where no ward is
        known), value (float, NaN when missing), rank (1 = highest value within the authority or place, ties
        share the lowest rank, <NA> for a missing value) and rank_national (among every area with a value at
        that level; <NA> unless ``level`` is one of the variable's ``national_levels``). Authority ``all``
        at level ``lad`` is the national overview. Raises NotFound.

        Two more columns where they apply: ``estimated`` (bool) for a re-based Census 2021 figure or a change
        2011 -> 2021 at 2011 LSOAs (see ``estimates``); and, for a categorical variable, ``category`` (the
        category code as text, None when missing) and ``label`` (the category's label), its ``value`` being
        NaN and its ranks <NA> throughout: categories are not numbers, and are never ranked."""
        row, path, column = self._values_source(authority, level, variable)
        codes, names, full_names = self._areas(authority, level)
        if is_categorical(row):
            frame = self._category_frame(row, path, column, authority, codes, names, full_names)
        else:
            frame = self._numeric_frame(row, path, column, authority, level, codes, names, full_names)
        estimated = self.estimates(row, authority, level)
        if estimated is not None:
            frame["estimated"] = frame["code"].isin(estimated).to_numpy(dtype=bool)
        return frame

    def _numeric_frame(self, row: dict, path: str, column: str, authority: str, level: str, codes: pd.Index,
                       names: Any, full_names: Any) -> pd.DataFrame:
        # The column is a quoted catalogue id and the file a catalogue dataset's; the caller's strings reach
        # DuckDB only as bound parameters. Names and ranks are joined here rather than in SQL: the areas
        # are already in memory, and one narrow Parquet scan is the cheapest query DuckDB can do.
        carried = self._carried_sql(row, path)
        sql = "SELECT code, CAST(" + column + " AS DOUBLE) AS value" + carried + " FROM read_parquet(?)"  # noqa: S608
        got = self._cursor().execute(*self._where(authority, sql, [path])).fetchnumpy()
        raw = got["value"]
        raw = raw.filled(np.nan) if np.ma.isMaskedArray(raw) else np.asarray(raw, dtype="float64")
        value = np.full(len(codes), np.nan)
        pos = codes.get_indexer(np.asarray(got["code"], dtype=object))
        value[pos[pos >= 0]] = raw[pos >= 0]
        # Figures carried from other areas are shown as published and never ranked again: a merged area's
        # figure is its 2021 area's, shared, and a split area has a range, not a figure.
        ranked = (row.get("unit") or "").lower() not in UNRANKED_UNITS and not carried
        if ranked and level in (row.get("national_levels") or []):
            national_codes, national_ranks = self._national(level, row["id"], path)
            at = national_codes.get_indexer(codes)
            rank_national = _int_array(np.where(at >= 0, national_ranks[at], 0), at < 0)
        else:
            rank_national = _no_ints(len(codes))
        missing = np.isnan(value)
        # Ranks on the full-precision values (the extracts store them unrounded): ties only for equal values.
        # A figure its publisher ranked (catalogue ``rank_variable``: WIMD's scores) is ordered by the
        # publisher's rank instead, whose order the published (rounded) score cannot reproduce.
        order = value
        published = self._published_rank(row, path, authority, codes) if ranked else None
        if published is not None:
            order = np.where(np.isnan(published) | missing, np.nan, -published)
        # The frame copies the cached code and name arrays, so a caller may modify what it is given.
        rank = _int_array(_rank_desc(order), missing | (not ranked))
        frame = pd.DataFrame({"code": codes.array, "name": names, "full_name": full_names, "value": value, "rank": rank,
                              "rank_national": rank_national})
        if carried:
            where = pos >= 0
            for field in CARRIED_FIELDS:
                if field not in got:
                    continue
                data = got[field]
                if field in ("low", "high", "parts"):
                    data = data.filled(np.nan) if np.ma.isMaskedArray(data) else np.asarray(data, dtype="float64")
                    column = np.full(len(codes), np.nan)
                else:
                    mask = np.ma.getmaskarray(data) if np.ma.isMaskedArray(data) else np.zeros(len(data), bool)
                    data = np.where(mask, None, np.asarray(data, dtype=object))
                    data = np.where(pd.isna(data) | (data == ""), None, data)
                    column = np.full(len(codes), None, dtype=object)
                column[pos[where]] = np.asarray(data)[where]
                # Text as Python objects, None where missing (pandas would infer a string dtype holding NaN).
                frame[field] = column if field in ("low", "high", "parts") else pd.Series(column, dtype=object)
        return frame

    def _carried_sql(self, row: dict, path: str) -> str:
        """The select list's extra columns for figures carried from other areas (``CARRIED_FIELDS``), or ""
        where the values file holds none. Column names from the file's own schema and the catalogue id."""
        columns = self._columns(path)
        if CARRIED_STATUS not in columns:
            return ""
        out = (", " + _quote_identifier(CARRIED_STATUS) + " AS carried, " + _quote_identifier(CARRIED_NOTE)
               + " AS carried_note")
        if CARRIED_PARTS in columns:
            out += ", CAST(" + _quote_identifier(CARRIED_PARTS) + " AS DOUBLE) AS parts"
        low, high = row["id"] + CARRIED_LOW, row["id"] + CARRIED_HIGH
        if low in columns and high in columns:
            out += (", CAST(" + _quote_identifier(low) + " AS DOUBLE) AS low, CAST(" + _quote_identifier(high)
                    + " AS DOUBLE) AS high")
        return out

    def _published_rank(self, row: dict, path: str, authority: str, codes: pd.Index) -> np.ndarray | None:
        """The publisher's rank of each area's figure (float, NaN where missing), for a variable whose catalogue
        names one (``rank_variable``, a column of the same file); None otherwise."""
        rank_id = row.get("rank_variable")
        if not rank_id or rank_id not in self._catalogue or rank_id not in self._columns(path):
            return None
        sql = ("SELECT code, CAST(" + _quote_identifier(rank_id)  # noqa: S608 - a catalogue id, quoted
               + " AS DOUBLE) AS value FROM read_parquet(?)")
        got = self._cursor().execute(*self._where(authority, sql, [path])).fetchnumpy()
        raw = got["value"]
        raw = raw.filled(np.nan) if np.ma.isMaskedArray(raw) else np.asarray(raw, dtype="float64")
        out = np.full(len(codes), np.nan)
        pos = codes.get_indexer(np.asarray(got["code"], dtype=object))
        out[pos[pos >= 0]] = raw[pos >= 0]
        return out

    def _category_frame(self, row: dict, path: str, column: str, authority: str, codes: pd.Index,
                        names: Any, full_names: Any) -> pd.DataFrame:
        """A categorical variable's codes and labels per area (the text codes as stored, exactly)."""
        sql = "SELECT code, CAST(" + column + " AS VARCHAR) AS category FROM read_parquet(?)"  # noqa: S608
        got = self._cursor().execute(*self._where(authority, sql, [path])).fetchall()
        category = np.full(len(codes), None, dtype=object)
        if got:
            pos = codes.get_indexer(np.asarray([r[0] for r in got], dtype=object))
            found = np.asarray([r[1] for r in got], dtype=object)
            category[pos[pos >= 0]] = found[pos >= 0]
        category = np.where(pd.isna(category) | (category == ""), None, category)
        labels = {c["code"]: c["label"] for c in row.get("categories") or []}
        label = np.asarray([None if c is None else labels.get(c, c) for c in category], dtype=object)
        n = len(codes)
        # Object columns, None where missing (pandas would otherwise infer a string dtype holding NaN).
        return pd.DataFrame({"code": codes.array, "name": names, "full_name": full_names, "value": np.full(n, np.nan),
                             "rank": _no_ints(n), "rank_national": _no_ints(n),
                             "category": pd.Series(category, dtype=object),
                             "label": pd.Series(label, dtype=object)})

    def _areas(self, authority: str, level: str) -> tuple[pd.Index, Any, Any]:
        """Codes (in code order), names and friendly labels ("Birmingham 043C, in Nechells ward") of the
        areas of ``authority`` (a district, a place, a partnership's area or ``all``) at ``level``."""
        key = (self.place_key(authority), level)
        names = self._area_names.get(key)
        if names is None:
            with self._lock:
                names = self._area_names.get(key)
                if names is None:
                    path = self._file("areas", f"{level}.parquet")
                    has_label = "label" in self._columns(path)
                    # Fixed column names and a fixed filter shape; the place's districts are bound parameters.
                    sql, params = self._where(authority, "SELECT code, name, "  # noqa: S608
                                              + ("label" if has_label else "name AS label")
                                              + " FROM read_parquet(?)", [path])
                    df = self._query(sql + " ORDER BY code", params)
                    # Kept as pandas string arrays, so each values() frame is built without converting.
                    names = self._area_names[key] = (pd.Index(pd.array(df["code"], dtype="str")),
                                                     pd.array(df["name"], dtype="str"),
                                                     pd.array(df["label"], dtype="str"))
        return names

    @functools.lru_cache(maxsize=16)  # noqa: B019 - per store (= per build), whose files never change
    def _columns(self, path: str) -> frozenset[str]:
        return frozenset(self._query("SELECT name FROM parquet_schema(?)", [path])["name"])

    def area_position(self, authority: str, level: str, code: str) -> int | None:
        """Where area ``code`` is in ``authority``'s areas at ``level`` (code order), None if it is not one of
        them. Raises NotFound for an unknown place or level."""
        self._check_place(authority, level)
        codes = self._areas(authority, level)[0]
        at = codes.get_indexer([code])[0]
        return int(at) if at >= 0 else None

    def area_bbox(self, level: str, code: str) -> list[float] | None:
        """[west, south, east, north] of an area (from the search index), None when unknown."""
        with self._lock:
            boxes = getattr(self, "_boxes", None)
            if boxes is None:
                t = self.search_table()
                keep = t[t["kind"].isin(["lsoa", "oa", "ward"])] if "west" in t else t.iloc[0:0]
                boxes = self._boxes = {
                    (lv, c): [w, so, e, n] for lv, c, w, so, e, n in zip(
                        keep.get("level", []), keep.get("code", []), keep.get("west", []), keep.get("south", []),
                        keep.get("east", []), keep.get("north", []), strict=True)}
        box = boxes.get((level, code))
        if level == NATIONAL_LEVEL and box is None and code in self._authority_rows:
            box = self._authority_rows[code].get("bbox")
        return [float(v) for v in box] if box else None

    def area_shape(self, level: str, code: str) -> tuple[Any, str, str] | None:
        """One area's display polygon (shapely, WGS84), its friendly name and its district; None when there is
        no such area. Raises NotFound for an unknown level."""
        self._check_level(level)
        path = self._file("areas", f"{level}.parquet")
        label = "label" if "label" in self._columns(path) else "name"
        sql = "SELECT geometry, " + label + ", authority FROM read_parquet(?) WHERE code = ?"  # noqa: S608
        found = self._cursor().execute(sql, [path, code]).fetchone()  # the column is one of two fixed names
        return (shapely.from_wkb(bytes(found[0])), str(found[1]), str(found[2])) if found else None

    def area_names(self, authority: str, level: str) -> tuple[list[str], list[str]]:
        """Codes (in code order, the geometry's and the paint's order) and friendly names ("Birmingham 043C,
        in Nechells ward") of ``authority``'s areas at ``level``. Raises NotFound."""
        self._check_place(authority, level)
        codes, _names, full_names = self._areas(authority, level)
        return codes.tolist(), list(full_names)

    def area_count(self, authority: str, level: str) -> int:
        """How many areas ``authority`` (a district, a place or ``all``) has at ``level``. Raises NotFound."""
        self._check_place(authority, level)
        return len(self._areas(authority, level)[0])

    def _national_uncached(self, level: str, variable: str, _path: str) -> tuple[pd.Index, np.ndarray]:
        # ``_path`` (the file read) is part of the cache key: a published variable's file changes by version.
        """Codes and national ranks of every area with a value at ``level`` (cached per build)."""
        row, path, column = self._national_source(level, variable)
        rank_id = row.get("rank_variable")
        if rank_id and rank_id in self._catalogue and rank_id in self._columns(path):
            # The publisher's own national rank (WIMD ranks its unrounded scores), as published.
            rank_column = _quote_identifier(rank_id)
            df = self._query("SELECT code, CAST(" + rank_column + " AS BIGINT) AS rank "  # noqa: S608
                             "FROM read_parquet(?) WHERE " + column + " IS NOT NULL AND " + rank_column
                             + " IS NOT NULL", [path])
            return pd.Index(df["code"].to_numpy(dtype=object)), df["rank"].to_numpy(dtype="int64")
        df = self._query(  # column: a quoted catalogue id, never the caller's string
            "SELECT code, rank() OVER (ORDER BY " + column + " DESC) AS rank FROM read_parquet(?) "  # noqa: S608
            "WHERE " + column + " IS NOT NULL", [path])
        return pd.Index(df["code"].to_numpy(dtype=object)), df["rank"].to_numpy(dtype="int64")

    def _national_source(self, level: str, variable: str) -> tuple[dict, str, str]:
        self._check_level(level)
        row = self._check_variable(variable)
        if is_categorical(row):
            raise NotFound("variable", variable, [],
                           f"variable {variable!r} is categorical (category codes): it has no national numbers "
                           "to rank or classify against")
        if level not in (row.get("levels") or ()):
            raise NotFound("variable", variable, self._available(row),
                           f"variable {variable!r} has no data at level {level!r}")
        return row, self._dataset_path(row, level), self._column_sql(row)

    def national_values(self, level: str, variable: str) -> np.ndarray:
        """Every non-missing value of ``variable`` at ``level`` across all authorities (float64, in code
        order), for classifying against the national distribution. A fresh copy each call (cached per
        build underneath). Raises NotFound."""
        _, path, _ = self._national_source(level, variable)  # validate before touching the cache
        return self._national_array(level, variable, path).copy()

    def _national_values_uncached(self, level: str, variable: str, _path: str) -> np.ndarray:
        _, path, column = self._national_source(level, variable)
        df = self._query("SELECT CAST(" + column + " AS DOUBLE) AS value FROM read_parquet(?) "  # noqa: S608
                         "WHERE " + column + " IS NOT NULL ORDER BY code", [path])
        values = df["value"].to_numpy(dtype="float64")
        values.flags.writeable = False
        return values

    def area_index(self, level: str) -> pd.DataFrame:
        """Every area at ``level`` in this build: code, authority (what an upload's codes are checked
        against). Raises NotFound for an unknown level."""
        self._check_level(level)
        return self._query("SELECT code, authority FROM read_parquet(?) ORDER BY code",
                           [self._file("areas", f"{level}.parquet")])

    def datasets_at(self, authority: str, level: str) -> dict[str, list[dict]]:
        """dataset -> its catalogue rows with data for ``authority`` at ``level``, for the requester (cached per
        what the requester may see: a download's existence check, and DCAT's list of distributions). Treat the
        rows as read-only. Raises NotFound for an unknown place or level."""
        self._check_place(authority, level)
        key = (self.scope_key(), self.place_key(authority), level)
        found = self._datasets_at.get(key)
        if found is None:
            found = {}
            for row in self.variables(authority=authority, level=level):
                found.setdefault(row["dataset"], []).append(row)
            with self._lock:
                if len(self._datasets_at) > 4096:  # bounded: scopes change with the registry
                    self._datasets_at.clear()
                self._datasets_at[key] = found
        return found

    def dataset_values(self, authority: str, level: str, dataset: str) -> tuple[pd.DataFrame, list[dict]]:
        """A whole dataset for one place, wide: code, name, then one column per variable with data there
        (the catalogue rows are returned beside it). Raises NotFound for a dataset the requester may not
        see or that has no data there."""
        rows = self.datasets_at(authority, level).get(dataset)
        if not rows:
            raise NotFound("dataset", dataset, sorted(self.datasets_at(authority, level)))
        rows = [dict(r) for r in rows]
        path = self._dataset_path(rows[0], level)
        self._audit_read(rows[0], f"download {authority}/{level}/{dataset}")
        # A categorical variable's column holds category codes (text), the others numbers.
        columns = ", ".join("CAST(" + _quote_identifier(r["id"])
                            + (" AS VARCHAR" if is_categorical(r) else " AS DOUBLE") + ") AS "
                            + _quote_identifier(r["id"]) for r in rows)
        held = self._columns(path)
        if CARRIED_STATUS in held:
            # Carried figures say per area what they are, and a split area's range (<id>_low, <id>_high).
            columns += (", " + _quote_identifier(CARRIED_STATUS) + " AS carried, " + _quote_identifier(CARRIED_NOTE)
                        + " AS carried_note")
            if CARRIED_PARTS in held:
                columns += ", CAST(" + _quote_identifier(CARRIED_PARTS) + " AS DOUBLE) AS parts"
            for r in rows:
                if r["id"] + CARRIED_LOW in held:
                    columns += "".join(", CAST(" + _quote_identifier(r["id"] + suffix) + " AS DOUBLE) AS "
                                       + _quote_identifier(f"{r['id']}_{word}")
                                       for suffix, word in ((CARRIED_LOW, "low"), (CARRIED_HIGH, "high")))
        sql = "SELECT code, " + columns + " FROM read_parquet(?)"  # noqa: S608 - catalogue ids, quoted
        got = self._query(*self._where(authority, sql, [path]))
        codes, names, full_names = self._areas(authority, level)
        frame = pd.DataFrame({"code": codes.array, "name": names, "full_name": full_names})
        frame = frame.merge(got, on="code", how="left")
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
        path = self._dataset_path(rows[0], level)
        self._audit_read(rows[0], f"profile {authority}/{level}/{dataset}")
        columns = ", ".join("CAST(" + _quote_identifier(r["id"]) + (" AS VARCHAR" if is_categorical(r)
                                                                     else " AS DOUBLE") + ") AS "
                            + _quote_identifier(r["id"]) for r in rows)
        sql = "SELECT code, " + columns + " FROM read_parquet(?)"  # noqa: S608 - catalogue ids, quoted
        got = self._cursor().execute(*self._where(authority, sql, [path])).fetchnumpy()
        out = {}
        for name, data in got.items():
            if np.ma.isMaskedArray(data):
                data = data.filled(np.nan) if data.dtype.kind == "f" else np.where(data.mask, None, data.data)
            out[name] = np.asarray(data)
        return out, rows

    def comparator_stats(self, place: str, level: str) -> pd.DataFrame | None:
        """The aggregation statistics (atlas/aggregation.py ``STATS``) of every built figure of a comparator
        (a district, region, Wales or England, ``E92000001``) at ``level``, computed by the pipeline
        (``profiles/<level>.parquet``); None where the build has none (an older build). Published datasets are
        not in it. Raises NotFound for an unknown level."""
        self._check_level(level)
        path = self.build_dir / "profiles" / f"{level}.parquet"
        if not path.exists():
            return None
        return self._query("SELECT * FROM read_parquet(?) WHERE place = ?", [str(path), place])

    # -- geometry ----------------------------------------------------------------------------------------

    def _feature_collection(self, authority: str, level: str) -> dict:
        self._check_place(authority, level)
        # DuckDB reads the GeoParquet geometry column as its GEOMETRY type, which arrives in Python as WKB.
        sql, params = self._where(authority, "SELECT code, name, geometry FROM read_parquet(?)",
                                  [self._file("areas", f"{level}.parquet")])
        rows = self._cursor().execute(sql + " ORDER BY code", params).fetchall()
        geoms = shapely.from_wkb([bytes(r[2]) for r in rows])
        geoms = _rounded(geoms)
        features = [
            {"type": "Feature", "properties": {"code": code, "name": name},
             "geometry": shapely.geometry.mapping(geom)}
            for (code, name, _), geom in zip(rows, geoms, strict=True)]
        return {"type": "FeatureCollection", "features": features}

    def _encode_geojson(self, authority: str, level: str) -> bytes:
        return json.dumps(self._feature_collection(authority, level), separators=(",", ":")).encode()

    def _encode_pbf(self, authority: str, level: str) -> bytes:
        return geobuf.encode(self._feature_collection(authority, level), PRECISION, 2)

    def area_geojson_bytes(self, authority: str, level: str) -> bytes:
        """The GeoJSON of ``area_geojson``, serialised compactly (cached per build, but for places of more
        than ``CACHED_AREAS_MAX`` areas). Raises NotFound."""
        self._check_place(authority, level)
        if self._members(authority) is not None or self.area_count(authority, level) > CACHED_AREAS_MAX:
            return self._encode_geojson(authority, level)
        return self._geojson_bytes(authority, level)

    def area_geojson(self, authority: str, level: str) -> dict:
        """FeatureCollection of the display geometry of ``authority`` at ``level``, properties code and
        name, ordered by code, coordinates to ``PRECISION`` (5) decimal places. A fresh copy each call
        (callers may modify it). Raises NotFound."""
        return json.loads(self.area_geojson_bytes(authority, level))

    def area_pbf(self, authority: str, level: str) -> bytes:
        """The same features as ``area_geojson``, as geobuf (cached per build, as above). Raises NotFound."""
        self._check_place(authority, level)
        if self._members(authority) is not None or self.area_count(authority, level) > CACHED_AREAS_MAX:
            return self._encode_pbf(authority, level)
        return self._pbf_bytes(authority, level)


    # -- vector tiles -------------------------------------------------------------------------------------

    def tile_levels(self) -> list[str]:
        """Levels with vector tiles (tiles/<level>.pmtiles: every small area of England and Wales)."""
        return [lv for lv in self._levels if (self.build_dir / "tiles" / f"{lv}.pmtiles").exists()]

    def tile(self, level: str, z: int, x: int, y: int) -> bytes | None:
        """One vector tile (Mapbox Vector Tile bytes, uncompressed) of ``level``, None where there is none.
        Raises NotFound for a level without tiles."""
        if level not in self.tile_levels():
            raise NotFound("level", level, self.tile_levels(), f"no vector tiles of level {level!r}; there are "
                                                               f"tiles of {', '.join(self.tile_levels()) or 'none'}")
        reader = self._tile_readers.get(level)
        if reader is None:
            with self._lock:
                reader = self._tile_readers.get(level)
                if reader is None:
                    from pmtiles.reader import MmapSource, Reader  # noqa: PLC0415 - only where tiles are served

                    handle = open(self.build_dir / "tiles" / f"{level}.pmtiles", "rb")  # noqa: SIM115 - kept open
                    reader = self._tile_readers[level] = (Reader(MmapSource(handle)), handle)
        data = reader[0].get(z, x, y)
        if not data:
            return None
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data

    # -- point datasets: monitoring sites and their readings (the build's points/) -----------------------
    # Kept apart from the area catalogue: a point dataset is a table of sites (places with coordinates) and
    # one of readings (site, measure, time, value), not values per area. atlas/points.py makes the layer's
    # paint, the GeoJSON, a site's series and the nearest sites from these.

    def _point_catalogue(self) -> dict[str, dict]:
        with self._lock:
            found = getattr(self, "_points", None)
            if found is None:
                path = self.build_dir / "points" / "datasets.parquet"
                found = {}
                if path.exists():
                    for row in self._query("SELECT * FROM read_parquet(?) ORDER BY id", [str(path)]).to_dict("records"):
                        row = {k: _plain(v) for k, v in row.items()}
                        for key in ("measures", "lockdown", "inputs"):
                            row[key] = json.loads(row[key]) if row.get(key) else None
                        row["open"] = True
                        found[row["id"]] = row
                self._points = found
        return found

    def point_datasets(self) -> list[dict]:
        """The open point datasets of the build (``id``, ``title``, ``description``, ``kind``: series or
        snapshot, ``as_of``, ``start``, ``end``, ``measures`` [{id, label, unit, decimals, scale, thresholds or
        bands, lines}], ``lockdown``, ``note``, ``source``, ``licence``, ``sites``), by id."""
        return [dict(row) for row in self._point_catalogue().values()] + [
            pointdata.point_meta(p) for p in self._published_points().values()]

    def _published_points(self) -> dict[str, registry.Published]:
        # The City Datastore's tables of points the requester may see (atlas/pointdata.py), by ``ds<id>``.
        return {k: p for k, p in self._scope().datasets.items() if p.points}

    def point_dataset(self, dataset: str) -> dict:
        """One point dataset's description. Raises NotFound listing the valid ids."""
        row = self._point_catalogue().get(dataset)
        if row is None:
            pub = self._published_points().get(dataset)
            if pub is None:
                raise NotFound("dataset", dataset, list(self._point_catalogue()) + list(self._published_points()))
            return pointdata.point_meta(pub)
        return dict(row)

    def _point_file(self, dataset: str, readings: bool = False) -> str:
        self.point_dataset(dataset)  # the id becomes a path only by being found in the catalogue
        return self._file("points", f"{dataset}{'_readings' if readings else ''}.parquet")

    def point_sites(self, dataset: str, authority: str | None = None) -> pd.DataFrame:
        """The sites of a point dataset (site, name, type, network, lon, lat, authority, authority_name, lsoa11,
        lsoa21, place, measures), by site code; only those in ``authority``'s districts when given (a district,
        a place, a partnership's area; ``all``: every site in England and Wales). Raises NotFound."""
        if dataset in self._published_points():
            return pointdata.sites(self, self._published_points()[dataset], authority)
        path = self._point_file(dataset)
        sql = "SELECT * FROM read_parquet(?)"
        params: list[Any] = [path]
        if authority is not None:
            members = self.members(authority)
            if members is None:
                sql += " WHERE lsoa11 IS NOT NULL"
            else:
                sql += " WHERE list_contains(?, authority)"
                params.append(list(members))
        frame = self._query(sql + " ORDER BY site", params)
        frame["measures"] = [list(m) if m is not None else [] for m in frame["measures"]]
        return frame

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
        sql = "SELECT site, time, value, band, note FROM read_parquet(?) WHERE measure = ?"
        params: list[Any] = [self._point_file(dataset, readings=True), measure]
        if time is not None:
            sql += " AND time = ?"
            params.append(time)
        if site is not None:
            sql += " AND site = ?"
            params.append(site)
        return self._query(sql + " ORDER BY time, site", params)

    def point_times(self, dataset: str) -> list[str]:
        """Every time a point dataset has readings at (days of a daily series; one for a snapshot), in order."""
        if dataset in self._published_points():
            return [self._published_points()[dataset].as_of]
        path = self._point_file(dataset, readings=True)
        return [str(t) for t in self._query("SELECT DISTINCT time FROM read_parquet(?) ORDER BY time", [path])["time"]]

    def point_series(self, dataset: str, site: str) -> pd.DataFrame:
        """Every reading of one site (measure, time, value, band, note), by measure then time."""
        if dataset in self._published_points():  # every version's readings (atlas/pointdata.py)
            return pointdata.series(self, self._published_points()[dataset], site)
        path = self._point_file(dataset, readings=True)
        return self._query("SELECT measure, time, value, band, note FROM read_parquet(?) WHERE site = ? "
                           "ORDER BY measure, time", [path, site])

    # -- search and location ----------------------------------------------------------------------------

    def search_table(self) -> pd.DataFrame:
        """The search index (search.parquet: districts, places, wards, LSOAs, OAs, postcodes), read once per
        store. Empty (with its columns) in a build made before the index existed."""
        with self._lock:
            table = getattr(self, "_search", None)
            if table is None:
                path = self.build_dir / "search.parquet"
                table = self._query("SELECT * FROM read_parquet(?)", [str(path)]) if path.exists() else \
                    pd.DataFrame(columns=["kind", "code", "name", "label", "authority", "authority_name", "level"])
                self._search = table
        return table

    def _postcode_rows(self, sql: str, params: list[Any]) -> list[dict]:
        path = self.build_dir / "postcodes.parquet"
        if not path.exists():
            return []
        cursor = self._cursor().execute(sql, [str(path), *params])
        names = [d[0] for d in cursor.description]
        out = []
        for values in cursor.fetchall():
            row = {k: _plain(v) for k, v in zip(names, values, strict=True)}
            for axis in ("lon", "lat"):
                value = row.pop(f"{axis}_e6", None)
                row[axis] = None if value is None else round(value / 1e6, 6)
            out.append(row)
        return out

    def postcode(self, seven: str) -> dict | None:
        """One postcode by its 7-character form ("B15 2TT", "M1  1AE", "AB101AB") from postcodes.parquet
        (pipeline/postcodes.py: every postcode of Great Britain with the areas its point lies in), or None.
        The file is sorted by postcode, so DuckDB reads one row group of it: the index stays on disk, and a
        worker keeps only the file's footer."""
        found = self._postcode_rows("SELECT * FROM read_parquet(?) WHERE pc7 = ?", [seven])
        return found[0] if found else None

    def postcodes_from(self, start: str, limit: int) -> list[dict]:
        """Up to ``limit`` postcodes whose 7-character form starts with ``start``, in postcode order."""
        return self._postcode_rows("SELECT * FROM read_parquet(?) WHERE pc7 >= ? AND pc7 < ? ORDER BY pc7 LIMIT ?",
                                   [start, start + "~", int(limit)])

    def search_notes(self) -> dict:
        """What the search says of its gaps (search_notes.json, pipeline/postcodes.py): the gazetteer's absent
        tiles and the districts they cover, and each postcode area's countries. Empty when not built."""
        with self._lock:
            notes = getattr(self, "_search_notes", None)
            if notes is None:
                path = self.build_dir / "search_notes.json"
                notes = json.loads(path.read_text()) if path.exists() else {}
                self._search_notes = notes = {"tiles": [], "districts": [], "postcode_areas": {}, **notes}
        return notes

    def labels(self, band: str) -> bytes:
        """The reference layer's names of one band (labels/<band>.json, pipeline/places.py). Raises NotFound."""
        folder = self.build_dir / "labels"
        bands = sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []
        if band not in bands:
            raise NotFound("band", band, bands)
        return (folder / f"{band}.json").read_bytes()

    def area_shapes(self, level: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Codes, names, labels, districts and polygons (shapely, WGS84) of every area held at ``level``, for
        point-in-polygon look-ups (atlas/locate.py keeps them in its spatial index). Raises NotFound."""
        self._check_level(level)
        path = self._file("areas", f"{level}.parquet")
        label = "label" if "label" in self._columns(path) else "name"
        sql = "SELECT code, name, " + label + ", authority, geometry FROM read_parquet(?) ORDER BY code"  # noqa: S608
        rows = self._cursor().execute(sql, [path]).fetchall()  # the column is one of two fixed names
        codes = np.array([r[0] for r in rows], dtype=object)
        names = np.array([r[1] for r in rows], dtype=object)
        labels = np.array([r[2] for r in rows], dtype=object)
        authorities = np.array([r[3] for r in rows], dtype=object)
        return codes, names, labels, authorities, shapely.from_wkb([bytes(r[4]) for r in rows])


_stores: dict[tuple[int, Path], Store] = {}
_stores_lock = threading.Lock()


def get_store() -> Store:
    """This process's store for ``settings.load().data_dir``, opened on first use (so after a fork).

    The build in use is kept for the life of the process, unless the pipeline has since pruned it (it
    keeps only the newest few): then the store is reopened on ``current`` rather than failing every query.
    """
    data_dir = settings.load().data_dir
    key = (os.getpid(), data_dir)
    store = _stores.get(key)
    if store is None or not store.build_dir.exists():
        with _stores_lock:
            store = _stores.get(key)
            if store is None or not store.build_dir.exists():
                store = _stores[key] = Store(data_dir)
    return store
