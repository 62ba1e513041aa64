"""The extracts reader: the one module that talks to DuckDB, over one build of the extracts.

It answers typed questions about the build's files (values of a column for a set of districts, geometry,
vector tiles, the search index, the areas containing a point, postcodes) and knows nothing of who is
asking: it is handed the districts of a place and the file of a variable by the request's catalogue
(atlas/catalogue.py), which decides what the requester may see. Nothing else imports duckdb and no SQL
leaves this file.

- One in-memory DuckDB connection per process and build, opened lazily on first use and re-opened when
  ``os.getpid()`` changes, so a connection is never shared across gunicorn's fork; each thread gets its
  own cursor (sharing one connection across threads without a cursor fails under load: DESIGN.md,
  "Gotchas"). DuckDB's memory is bounded (``ATLAS_DUCKDB_MEMORY_MB``), one thread per query.
- A reader is bound to one build folder for its life. ``current()`` gives the reader of the build
  ``ATLAS_DATA_DIR/current`` names now: when the link moves (a new build, or a newer build synced from
  object storage by atlas/builds.py), the next request gets a reader on the new build while requests
  under way finish on theirs, so no answer ever mixes two builds.
- Each reader holds a shared ``flock`` on its build's ``build.json`` (taken with its connection, after
  any fork), and the pipeline never prunes a build it cannot lock exclusively: a build in use is never
  removed.
- Values from callers are only ever bound parameters. Identifiers (a dataset's file, a variable's column)
  are handed over by the catalogue after the caller's string was found there, and are quoted.
- Memory: per-build caches are bounded (geometry, names, national ranks), frames are never held, and the
  search and locate indexes are read from the build's files on demand (atlas/search.py, atlas/locate.py).
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import geobuf
import numpy as np
import pandas as pd
import shapely
import shapely.errors

from atlas import builder, settings

__all__ = ["ALL", "ALL_NAME", "CARRIED_FIELDS", "CARRIED_HIGH", "CARRIED_LOW", "CARRIED_NOTE", "CARRIED_PARTS",
           "CARRIED_STATUS", "CATEGORICAL", "CHANGE_KINDS", "AreaCodes", "Bounded", "CatalogueRows", "Coverage",
           "ESTIMATED_METHODS", "Extracts", "LEVELS", "NATIONAL_LEVEL", "NotFound", "PLACE_KINDS", "PRECISION",
           "REBASED_LEVEL", "UNRANKED_UNITS", "current", "is_categorical", "quote_identifier"]

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
#: Above this many areas a place's geometry is not kept in the per-build cache (it is rebuilt on the rare
#: request for it: the whole country's LSOAs as GeoJSON are about 60 MB).
CACHED_AREAS_MAX = 10_000
#: Bytes of encoded geometry (GeoJSON and geobuf) a reader keeps, least recently used dropped first.
GEOMETRY_CACHE_BYTES = 16 * 1024 * 1024
#: Bytes of national figures a reader keeps (each variable's ranks and values at a level, least recently used
#: dropped first): at LSOA level 1.8 MB a variable, at output areas 9 MB. Kept by count (64), they grew a
#: worker by every variable it had mapped at a small-area level.
NATIONAL_BYTES = 24 * 1024 * 1024
#: Places whose area codes and names a reader keeps (the whole country's LSOAs are about 6 MB of them).
NAMES_CACHED = 48
#: Degrees an area's stored bounding box (5 decimal places) is widened by when looking for the areas around a
#: point: twice the most that rounding can have taken off.
BOX_MARGIN = 1e-5
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

class AreaCodes(tuple):
    """A saved area's own area codes (atlas/areas.py), handed to the reader in place of districts: its areas
    are those codes, whatever districts they are in."""

    __slots__ = ()

    def __hash__(self) -> int:  # never the same cache key as a tuple of districts
        return hash(("codes", tuple(self)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AreaCodes) and tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)


#: A place's areas as the reader takes them: a tuple of district codes, a saved area's own codes
#: (``AreaCodes``), or None for every area.
Members = tuple[str, ...] | None


class NotFound(LookupError):
    """An authority, level, variable or area that the extracts do not hold (or that the requester may not
    see: the same answer).

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


def plain(value: Any) -> Any:
    """numpy / pyarrow scalars and arrays as plain Python (for JSON and for callers' dicts)."""
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:  # NaN
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def is_categorical(row: Mapping) -> bool:
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


def quote_identifier(name: str) -> str:
    # Only ever called with catalogue ids, but quoted properly anyway so no name can end the identifier.
    return '"' + name.replace('"', '""') + '"'


def column_sql(row: Mapping) -> str:
    """What a values query selects for a catalogue row: its column (a quoted catalogue id), or a built
    indicator's share of its cells (catalogue ids, quoted: atlas/builder.py)."""
    if row.get("built"):
        return builder.value_sql(row["built"])
    return quote_identifier(row["id"])


def _rank_desc(values: np.ndarray) -> np.ndarray:
    """1 + the number of values strictly greater: rank 1 is the highest and ties share the lowest rank
    (SQL's RANK(), pandas' method="min"). NaN positions get 0; callers mask them."""
    present = ~np.isnan(values)
    ordered = np.sort(-values[present])
    ranks = np.zeros(len(values), dtype="int64")
    ranks[present] = np.searchsorted(ordered, -values[present], side="left") + 1
    return ranks


def _positions(ordered: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Where each of ``wanted`` is in ``ordered`` (distinct codes, sorted), -1 where it is not: pandas'
    ``get_indexer`` without its hash table, which keeps a Python string of every code beside it for as long
    as the index lives (the national ranks of one variable at LSOA level were 4 MB of it, kept per variable)."""
    if not len(ordered):
        return np.full(len(wanted), -1, dtype="int64")
    at = np.minimum(np.searchsorted(ordered, wanted), len(ordered) - 1)
    return np.where(ordered[at] == wanted, at, -1)


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


def _floats(data: Any) -> np.ndarray:
    return data.filled(np.nan) if np.ma.isMaskedArray(data) else np.asarray(data, dtype="float64")


V = TypeVar("V")


def _nbytes(value: Any) -> int:
    """The bytes of an array, or of a tuple of arrays."""
    return sum(a.nbytes for a in value) if isinstance(value, tuple) else value.nbytes


class Bounded:
    """A small thread-safe LRU memo, bounded by entries or by the bytes of its values (``size``)."""

    def __init__(self, limit: int, size: Callable[[Any], int] | None = None) -> None:
        self.limit, self.by_bytes = limit, size is not None
        self.size: Callable[[Any], int] = size or (lambda _: 1)
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._used = 0
        self._lock = threading.Lock()

    def get(self, key: Any, compute: Callable[[], V]) -> V:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found[0]
        value = compute()
        cost = self.size(value)
        if self.by_bytes and cost > self.limit // 4:
            return value  # too big to keep: computed again on the rare request for it
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, cost)
                self._used += cost
                while self._used > self.limit and self._items:
                    _, (_, dropped) = self._items.popitem(last=False)
                    self._used -= dropped
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._used = 0

    def discard(self, test: Callable[[Any], bool]) -> None:
        """Drop the entries whose key passes ``test``."""
        with self._lock:
            for key in [k for k in self._items if test(k)]:
                self._used -= self._items.pop(key)[1]


#: Catalogue rows a reader keeps as dicts once asked for (a variable switch asks for the same few again and again).
ROWS_CACHED = 512


def _python_value(value: Any, name: str) -> Any:
    """A catalogue value as the rows give it: plain Python, NaN as None, text interned (a dataset's source and
    licence repeat for each of its variables), a list of texts as a list, categories parsed."""
    value = plain(value)
    if name == "categories":
        return _categories(value)
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, list):
        return [sys.intern(v) if isinstance(v, str) else v for v in value]
    return value


def _objects(values: list) -> np.ndarray:
    """A 1-d object array of ``values`` (numpy would make a list of lists two-dimensional)."""
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


#: What joins a list's texts into one to encode the list (never in a district code or a level's name; a list
#: holding it is encoded one by one).
_JOIN = "\x1f"


def _encoded(array: Any) -> tuple[np.ndarray, list]:
    """Codes (int32, one per value) and the distinct values (Python) of an Arrow array: by Arrow's dictionary
    encoding, a list of texts by its texts joined; by Python where Arrow cannot (a list holding ``_JOIN``)."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    try:
        if pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
            if not pa.types.is_string(array.type.value_type) or pc.any(
                    pc.match_substring(pc.list_flatten(array), _JOIN)).as_py():
                raise NotImplementedError("not a list of texts that joins")
            encoded = pc.dictionary_encode(pc.binary_join(array, _JOIN), null_encoding="encode")
            distinct = [None if v is None else v.split(_JOIN) if v else [] for v in encoded.dictionary.to_pylist()]
            # "" is both [] and [""]: kept only if every list's length agrees with its decoding.
            lengths = np.array([-1 if v is None else len(v) for v in distinct], dtype=np.int64)
            held = pc.fill_null(pc.list_value_length(array), -1).to_numpy(zero_copy_only=False)
            codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
            if not np.array_equal(lengths[codes], held):
                raise NotImplementedError("lists of empty texts")
            return codes, distinct
        encoded = pc.dictionary_encode(array, null_encoding="encode")
        return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32), encoded.dictionary.to_pylist()
    except NotImplementedError:  # pyarrow's ArrowNotImplementedError too: a type it cannot encode
        found: dict[Any, int] = {}
        values = array.to_pylist()
        codes = np.fromiter((found.setdefault(tuple(v) if isinstance(v, list) else v, len(found)) for v in values),
                            dtype=np.int32, count=len(values))
        return codes, [list(v) if isinstance(v, tuple) else v for v in found]


class CatalogueRows(Mapping):
    """The build's catalogue, a row per variable by id (in id order), held as columns rather than 6,000 dicts:
    each column as numpy codes into its distinct values, each value kept once (a dataset's source and licence,
    a set of districts, repeated by thousands of variables, are one object each). Rows are made into dicts when
    asked for: ``rows[id]`` from a small cache (treat it as read-only), ``select`` fresh ones for listings.
    Filters over every row (``where``, ``matching``) are computed on the codes. Immutable but for its caches,
    so threads share it."""

    def __init__(self, names: list[str], ids: list[str], columns: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        #: The catalogue's columns, in the file's order (the order of every row dict's keys).
        self.names = names
        self._ids = ids
        self._pos = {id_: i for i, id_ in enumerate(ids)}
        #: name -> (codes: one per row, distinct values: an object array).
        self._columns = columns
        self._cache = Bounded(ROWS_CACHED)
        self._texts: dict[tuple[str, ...], list[str]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, id_: str) -> dict:
        at = self._pos[id_]  # KeyError for an unknown id, as a dict
        return self._cache.get(id_, lambda: self.select(np.array([at]))[0])

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, id_: object) -> bool:
        return id_ in self._pos

    def values(self) -> list[dict]:  # type: ignore[override] - every row at once, fresh, not one by one
        return self.select(np.arange(len(self._ids)))

    def items(self) -> list[tuple[str, dict]]:  # type: ignore[override]
        return list(zip(self._ids, self.values(), strict=True))

    def position(self, id_: str) -> int | None:
        """Where a variable is in the catalogue's order, None for an id the build does not hold."""
        return self._pos.get(id_)

    def column(self, name: str) -> list:
        """Every row's value of one column (None for a column the build does not have), in order."""
        return self._values(name, np.arange(len(self._ids)))

    def _values(self, name: str, at: np.ndarray) -> list:
        held = self._columns.get(name)
        if held is None:
            return [None] * len(at)
        codes, distinct = held
        return distinct[codes[at]].tolist()

    def select(self, positions: np.ndarray) -> list[dict]:
        """Fresh dicts of the rows at ``positions`` (catalogue order), with every column of the file. Their
        values are shared with every other row holding the same: treat lists as read-only, as ever."""
        columns = [self._values(name, positions) for name in self.names]
        names = self.names
        return [dict(zip(names, values)) for values in zip(*columns)]  # noqa: B905 - equal lengths by making

    def codes(self, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """A column's codes (one per row) and distinct values; None for a column the build does not have."""
        return self._columns.get(name)

    def where(self, name: str, test: Callable[[Any], bool]) -> np.ndarray:
        """For every row, in order: ``test(value)`` of its ``name``, tested once per distinct value."""
        held = self._columns.get(name)
        if held is None:
            return np.full(len(self._ids), bool(test(None)))
        codes, distinct = held
        return np.fromiter((bool(test(v)) for v in distinct), dtype=bool, count=len(distinct))[codes]

    def matching(self, fields: tuple[str, ...], words: list[str], among: np.ndarray) -> np.ndarray:
        """Which of the rows at positions ``among`` hold each of ``words`` (lower case) in their ``fields``
        joined by spaces and lowered (as callers lower the words). The lowered texts are made on the first
        search and kept (1.5 MB)."""
        texts = self._texts.get(fields)
        if texts is None:
            columns = [self.column(f) for f in fields]
            made = [" ".join(str(v or "") for v in values).lower() for values in zip(*columns)]  # noqa: B905
            with self._lock:
                texts = self._texts.setdefault(fields, made)
        return np.fromiter((all(w in texts[i] for w in words) for i in among.tolist()), dtype=bool,
                           count=len(among))


class Coverage:
    """Which districts each dataset's values file has rows for, at each level (coverage.parquet), as one boolean
    array [dataset, level, district] (22,000 rows of text otherwise), with each catalogue row's dataset and set
    of districts as codes into it: what ``has_data`` and the catalogue's filters ask."""

    def __init__(self, datasets: list[str], levels: list[str], authorities: list[str], held: np.ndarray,
                 row_dataset: np.ndarray, row_authorities: np.ndarray, authority_sets: np.ndarray) -> None:
        self.datasets = {d: i for i, d in enumerate(datasets)}
        self.levels = {lv: i for i, lv in enumerate(levels)}
        self.authorities = {a: i for i, a in enumerate(authorities)}
        self._dataset_names, self._level_names, self._authority_names = datasets, levels, authorities
        self.held = held
        #: Per catalogue row: its dataset's index (-1: no file anywhere), its set of districts' index.
        self.row_dataset = row_dataset
        self.row_authorities = row_authorities
        #: [set of districts, district]: whether the catalogue says the variable has values there.
        self.authority_sets = authority_sets

    def __contains__(self, key: object) -> bool:
        """(dataset, level, district): whether the dataset's file at that level has rows for the district."""
        try:
            dataset, level, authority = key  # type: ignore[misc]
            return bool(self.held[self.datasets[dataset], self.levels[level], self.authorities[authority]])
        except (KeyError, TypeError, ValueError):
            return False

    def anywhere(self, dataset: str, level: str) -> bool:
        d, lv = self.datasets.get(dataset), self.levels.get(level)
        return d is not None and lv is not None and bool(self.held[d, lv].any())

    def places(self, dataset: str) -> list[tuple[str, str]]:
        """[(district, level)] where the dataset's files have rows, by level then district."""
        d = self.datasets.get(dataset)
        if d is None:
            return []
        levels, authorities = np.nonzero(self.held[d])
        return [(self._authority_names[a], self._level_names[lv])
                for lv, a in zip(levels.tolist(), authorities.tolist(), strict=True)]

    def rows_with_data(self, members: Iterable[str] | None, level: str) -> np.ndarray:
        """For every catalogue row: whether its dataset's file at ``level`` has rows for one of ``members``
        (None: for any district) and the catalogue says it has values there (its districts)."""
        n = len(self.row_dataset)
        lv = self.levels.get(level)
        if lv is None:
            return np.zeros(n, dtype=bool)
        known = self.row_dataset >= 0
        dataset = np.where(known, self.row_dataset, 0)
        if members is None:
            return known & self.held[:, lv, :].any(axis=1)[dataset]
        found = np.zeros(n, dtype=bool)
        for authority in members:
            a = self.authorities.get(authority)
            if a is not None:
                found |= self.held[:, lv, a][dataset] & self.authority_sets[self.row_authorities, a]
        return found & known


class _DatasetPlaces(Mapping):
    """dataset -> [(district, level)] where its file has rows, made from the coverage array when asked."""

    def __init__(self, coverage: Coverage) -> None:
        self._coverage = coverage

    def __getitem__(self, dataset: str) -> list[tuple[str, str]]:
        if dataset not in self._coverage.datasets:
            raise KeyError(dataset)
        return self._coverage.places(dataset)

    def __iter__(self) -> Iterator[str]:
        return iter(self._coverage.datasets)

    def __len__(self) -> int:
        return len(self._coverage.datasets)


class Extracts:
    """Read-only access to one build of the extracts (a folder ``builds/<id>``)."""

    def __init__(self, build_dir: Path, data_dir: Path | None = None) -> None:
        build_dir = Path(build_dir)
        if not (build_dir / "build.json").exists():
            raise FileNotFoundError(
                f"no extracts in {build_dir}; run `python -m pipeline build`")
        self.build_dir = build_dir.resolve()
        self.data_dir = Path(data_dir) if data_dir is not None else self.build_dir.parent.parent
        self.build = json.loads((self.build_dir / "build.json").read_text())
        self.build_id: str = str(self.build["id"])
        self._pid: int | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._reading: Any = None  # this process's open build.json, holding the shared lock
        self._local = threading.local()
        self._lock = threading.RLock()
        self._names = Bounded(NAMES_CACHED)
        self._geometry = Bounded(GEOMETRY_CACHE_BYTES, len)
        self._national = Bounded(NATIONAL_BYTES, _nbytes)
        self._columns_memo = Bounded(256)
        self._tile_readers: dict[str, Any] = {}
        self._memo: dict[str, Any] = {}
        self._load_tables()

    @classmethod
    def open(cls, data_dir: Path) -> Extracts:
        """A reader on the build ``data_dir/current`` names now."""
        current = Path(data_dir) / "current"
        if not (current / "build.json").exists():
            raise FileNotFoundError(
                f"no extracts in {current} (ATLAS_DATA_DIR={data_dir}); run `python -m pipeline build`")
        return cls(current.resolve(), data_dir)

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
                    config = settings.load()
                    con = duckdb.connect(":memory:", config={
                        # Bounded: the buffer manager's pages (decompressed Parquet) count against it; a query
                        # needing more spills to the temporary folder or fails, never grows the worker.
                        "memory_limit": f"{config.duckdb_memory_mb}MB",
                        "threads": 1,  # many small queries, several workers on 2 cores
                        # jemalloc's background threads purge the pages a large query (the whole country's
                        # LSOAs) freed: without them DuckDB's allocator keeps them until its next activity
                        # of that size (docs/hosts.md, "Memory per worker").
                        "allocator_background_threads": True,
                    })
                    # GLOBAL: a plain SET is session-local and would not reach the threads' cursors (found
                    # here: without it every query re-read the Parquet footers, 3 ms instead of 0.8 ms).
                    con.execute("SET GLOBAL enable_object_cache = true")
                    con.execute("SET GLOBAL parquet_metadata_cache = true")
                    self._con = con
                    self._local = threading.local()
                    self._pid = pid
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            assert self._con is not None
            cursor = self._local.cursor = self._con.cursor()
        return cursor

    def _hold_build(self) -> None:
        """Take a shared flock on the build's build.json for the life of this reader, so the pipeline
        never prunes the build while this process reads it. A forked child shares its parent's open file
        (and lock) but takes its own, since the parent may go. Raises FileNotFoundError if the build has
        just been (or is being) removed (``current`` then reopens on the build ``current`` names)."""
        handle = open(self.build_dir / "build.json", "rb")  # noqa: SIM115 - kept open: it holds the lock
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            # Only the pruner takes it exclusively, and only to remove the build.
            handle.close()
            raise FileNotFoundError(f"build {self.build_dir.name} is being removed") from None
        self._reading = handle

    def close(self) -> None:
        """Release the connection and the build's lock (a reader replaced by a newer build's)."""
        with self._lock:
            if self._con is not None and self._pid == os.getpid():
                self._con.close()
            self._con = None
            self._pid = None
            if self._reading is not None:
                self._reading.close()
                self._reading = None
            for reader in self._tile_readers.values():
                reader[1].close()
            self._tile_readers.clear()

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        return self._cursor().execute(sql, params or []).df()

    def arrow(self, sql: str, params: list[Any] | None = None) -> Any:
        """The result as a pyarrow Table. For large results of text: ``query`` makes a Python string of every
        cell on the way to a pandas frame, and their brief peak stays in the worker's heap (the 34,753 LSOAs'
        codes, names and labels left it 16-20 MB larger for good); arrow's own pool gives its memory back."""
        return self._cursor().sql(sql, params=params or []).to_arrow_table()

    def rows_of(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        return self._cursor().execute(sql, params or []).fetchall()

    def memo(self, name: str, compute: Callable[[], V]) -> V:
        """A value derived from this build's files alone, computed once per reader."""
        found = self._memo.get(name)
        if found is None:
            with self._lock:
                found = self._memo.get(name)
                if found is None:
                    found = self._memo[name] = compute()
        return found

    # -- small tables, held in Python: they are the source of every identifier ---------------------------

    def file(self, *parts: str) -> str:
        return str(self.build_dir.joinpath(*parts))

    def _load_tables(self) -> None:
        auth = self.query("SELECT * FROM read_parquet(?) ORDER BY code", [self.file("authorities.parquet")])
        #: Every district (UK local authority, December 2021) by code, as the build holds it.
        self.authority_rows: dict[str, dict] = {row["code"]: {k: plain(v) for k, v in row.items()}
                                                for row in auth.to_dict("records")}
        #: The build's catalogue: a row per variable, by id (held as columns: ``CatalogueRows``).
        self.rows: CatalogueRows = self._load_catalogue(self.file("catalogue.parquet"))
        #: Where each dataset's files have rows, and where the catalogue says each variable has values.
        self.coverage: Coverage = self._load_coverage(self.file("coverage.parquet"))
        #: dataset -> [(authority, level)] where its file has rows.
        self.dataset_places: Mapping[str, list[tuple[str, str]]] = _DatasetPlaces(self.coverage)
        self.levels: list[str] = [lv for lv in LEVELS if (self.build_dir / "areas" / f"{lv}.parquet").exists()]
        counts = []
        for level in self.levels:
            counts.append(self.query(
                "SELECT authority, level, any_value(vintage) AS vintage, count(*) AS areas "
                "FROM read_parquet(?) GROUP BY authority, level", [self.file("areas", f"{level}.parquet")]))
        #: district -> [{level, vintage, areas}] in display order.
        self.area_counts: dict[str, list[dict]] = {}
        for row in pd.concat(counts).to_dict("records") if counts else []:
            self.area_counts.setdefault(row["authority"], []).append(
                {"level": row["level"], "vintage": plain(row["vintage"]), "areas": int(row["areas"])})
        for levels in self.area_counts.values():
            levels.sort(key=lambda d: LEVELS.index(d["level"]) if d["level"] in LEVELS else len(LEVELS))
        topics = self.rows.codes("topic")
        self.topics: list[str] = sorted({t for t in (topics[1] if topics else self.rows.column("topic")) if t})
        #: Places larger than a district, by code: each is the set of its districts (pipeline/places.py).
        self.places: dict[str, dict] = {}
        if (self.build_dir / "places.parquet").exists():
            rows = self.query("SELECT code, name, kind, authorities, bbox FROM read_parquet(?) ORDER BY code",
                              [self.file("places.parquet")])
            for row in rows.to_dict("records"):
                row = {k: plain(v) for k, v in row.items()}
                row["authorities"] = tuple(row["authorities"])
                self.places[row["code"]] = row
        #: level -> how many areas England and Wales have there.
        self.all_counts: dict[str, int] = {}
        for levels in self.area_counts.values():
            for d in levels:
                self.all_counts[d["level"]] = self.all_counts.get(d["level"], 0) + d["areas"]
        #: level -> its vintage.
        self.vintages = {d["level"]: d["vintage"] for levels in self.area_counts.values() for d in levels}
        self._load_rebasing()

    def _load_catalogue(self, path: str) -> CatalogueRows:
        """The catalogue as columns of codes (``CatalogueRows``). Read by pyarrow, not DuckDB, and never as a
        frame of Python objects: its lists of districts are 2 million strings, which DuckDB's reader decodes
        into memory that stays resident (20 MB), and a frame of them left a worker 70 MB larger for good;
        Arrow's pool gives its memory back once the columns are encoded (``release_unused``)."""
        import pyarrow as pa  # noqa: PLC0415 - loaded with pandas' strings anyway
        import pyarrow.compute as pc  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415

        table = pq.ParquetFile(path, memory_map=True).read(use_threads=False)
        table = table.take(pc.sort_indices(table["id"]))  # id order, as every listing has always been
        n = table.num_rows
        ids = [sys.intern(str(v)) for v in table.column("id").to_pylist()]
        columns: dict[str, tuple[np.ndarray, np.ndarray]] = {"id": (np.arange(n, dtype=np.int32), _objects(ids))}
        for name in table.column_names:
            if name != "id":
                codes, distinct = _encoded(table.column(name).combine_chunks())
                columns[name] = (codes, _objects([_python_value(v, name) for v in distinct]))
        names = table.column_names
        del table
        pa.default_memory_pool().release_unused()
        return CatalogueRows(names, ids, columns)

    def _load_coverage(self, path: str) -> Coverage:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.compute as pc  # noqa: PLC0415

        cov = self._cursor().sql("SELECT dataset, level, authority FROM read_parquet(?)",
                                 params=[path]).to_arrow_table()
        sets = self.rows.codes("authorities")
        listed = sets[1] if sets is not None else _objects([None])
        row_sets = sets[0] if sets is not None else np.zeros(len(self.rows), dtype=np.int32)
        datasets, levels = (sorted(v for v in pc.unique(cov[c]).to_pylist() if v) for c in ("dataset", "level"))
        authorities = sorted({v for v in pc.unique(cov["authority"]).to_pylist() if v}
                             | {a for found in listed for a in found or ()})

        def index(column: str, values: list[str]) -> np.ndarray:
            found = pc.index_in(cov[column], value_set=pa.array(values, type=pa.string()))
            return pc.fill_null(found, -1).to_numpy(zero_copy_only=False)

        at = [index("dataset", datasets), index("level", levels), index("authority", authorities)]
        kept = (at[0] >= 0) & (at[1] >= 0) & (at[2] >= 0)
        held = np.zeros((len(datasets), len(levels), len(authorities)), dtype=bool)
        held[at[0][kept], at[1][kept], at[2][kept]] = True
        where = {a: i for i, a in enumerate(authorities)}
        authority_sets = np.zeros((len(listed), len(authorities)), dtype=bool)
        for k, found in enumerate(listed):
            authority_sets[k, [where[a] for a in found or ()]] = True
        position = {d: i for i, d in enumerate(datasets)}
        row_dataset = np.fromiter((position.get(d, -1) for d in self.rows.column("dataset")), dtype=np.int64,
                                  count=len(self.rows))
        return Coverage(datasets, levels, authorities, held, row_dataset, row_sets, authority_sets)

    def _load_rebasing(self) -> None:
        """The LSOA 2011 -> 2021 lookup: which 2011 LSOAs' re-based 2021 figures are estimates, and how many
        LSOAs of each kind of change every authority has. Small (one row per 2011 LSOA)."""
        self._estimated: dict[str, frozenset[str]] = {}
        self._rebasing: dict[str, dict[str, int]] = {}
        path = self.build_dir / "lookups" / "lsoa11_lsoa21.parquet"
        if not path.exists():
            return
        # Counted by DuckDB: the lookup's 34,753 rows never become Python objects.
        for authority, change, n, estimated in self.rows_of(
                "SELECT authority, change, count(*), count(*) FILTER (WHERE estimated) FROM read_parquet(?) "
                "GROUP BY authority, change ORDER BY authority, change", [str(path)]):
            counts = self._rebasing.setdefault(str(authority), {kind: 0 for kind in CHANGE_KINDS})
            if change is not None:
                counts[str(change)] = counts.get(str(change), 0) + int(n)
            counts["estimated"] = counts.get("estimated", 0) + int(estimated)
            counts["areas"] = counts.get("areas", 0) + int(n)
        for counts in self._rebasing.values():  # estimated and areas last, as they have always been
            counts["estimated"] = counts.pop("estimated")
            counts["areas"] = counts.pop("areas")
        for authority, codes in self.rows_of("SELECT authority, list(code) FROM read_parquet(?) WHERE estimated "
                                             "GROUP BY authority", [str(path)]):
            self._estimated[str(authority)] = frozenset(codes)

    # -- districts and levels ----------------------------------------------------------------------------

    def small_levels(self, authority: str) -> list[str]:
        """The small-area levels a district has areas at, in display order."""
        return [d["level"] for d in self.area_counts.get(authority, []) if d["level"] != NATIONAL_LEVEL]

    def authority_dict(self, code: str) -> dict:
        """A district: code, name, nation, region, levels [{level, vintage, areas}] (small areas), bbox."""
        row = self.authority_rows[code]
        levels = [dict(d) for d in self.area_counts.get(code, []) if d["level"] != NATIONAL_LEVEL]
        return {"code": code, "name": row.get("name"), "nation": row.get("nation"),
                "region": row.get("region"), "levels": levels, "bbox": row.get("bbox")}

    def has_data(self, row: Mapping, authority: str, level: str) -> bool:
        """Whether a variable of the build has values for a district (or ``all``) at ``level``."""
        if level not in (row.get("levels") or ()):
            return False
        if authority == ALL:
            return self.coverage.anywhere(row["dataset"], level)
        if (row["dataset"], level, authority) not in self.coverage:
            return False
        at = self.rows.position(row["id"])
        a = self.coverage.authorities.get(authority)
        if at is not None and a is not None:
            return bool(self.coverage.authority_sets[self.coverage.row_authorities[at], a])
        return authority in (row.get("authorities") or ())  # a built indicator's row: its table's districts

    def rows_with_data(self, members: Iterable[str] | None, level: str) -> np.ndarray:
        """For every catalogue row, in order: whether the variable has values at ``level`` for one of the
        districts ``members`` (None: ``all``), as ``has_data`` answers for each."""
        levels = self.rows.where("levels", lambda held: level in (held or ()))
        return levels & self.coverage.rows_with_data(members, level)

    def rebasing(self, members: Members) -> dict[str, int] | None:
        """Counts of the 2011 LSOAs of ``members`` (None: every district) by kind of change 2011 -> 2021,
        ``estimated`` and ``areas``; None where they have none (or the build has no lookup)."""
        if members is None:
            held = list(self._rebasing.values())
        else:
            held = [self._rebasing[a] for a in members if a in self._rebasing]
        if not held:
            return None
        if len(held) == 1:
            return dict(held[0])
        return {k: sum(c.get(k, 0) for c in held) for k in held[0]}

    def rebasing_rows(self, authority: str) -> pd.DataFrame | None:
        """The district's rows of the LSOA 2011 -> 2021 lookup: code, change, estimated, lsoa21 (the 2021
        LSOAs it maps to, space-separated), by code; None where it has none."""
        if authority not in self._rebasing:
            return None
        df = self.query("SELECT code, change, estimated, array_to_string(lsoa21, ' ') AS lsoa21 "
                        "FROM read_parquet(?) WHERE authority = ? ORDER BY code",
                        [self.file("lookups", "lsoa11_lsoa21.parquet"), authority])
        df["estimated"] = df["estimated"].astype(bool)
        return df

    def estimates(self, row: Mapping, members: Members, level: str) -> frozenset[str] | None:
        """Codes of the areas of ``members`` whose figures of the variable ``row`` are estimates, or None when
        the variable has no estimates at all (not a re-based figure, or another level)."""
        if row.get("method") not in ESTIMATED_METHODS or level != REBASED_LEVEL:
            return None
        if members is None:
            return frozenset().union(*self._estimated.values()) if self._estimated else frozenset()
        if isinstance(members, AreaCodes):
            every = frozenset().union(*self._estimated.values()) if self._estimated else frozenset()
            return every & frozenset(members)
        return frozenset().union(*(self._estimated.get(a, frozenset()) for a in members))

    def values_file(self, row: Mapping, level: str) -> str:
        """The values file of a build variable at ``level``."""
        return self.file("values", level, f"{row['dataset']}.parquet")

    # -- values ------------------------------------------------------------------------------------------

    @staticmethod
    def _where(members: Members, sql: str, params: list[Any]) -> tuple[str, list[Any]]:
        """``sql`` restricted to the areas of ``members`` (every area for None); a fixed filter shape, the
        districts only as bound parameters."""
        if members is None:
            return sql, params
        if isinstance(members, AreaCodes):  # a saved area: its own areas, whatever districts they are in
            return sql + " WHERE list_contains(?, code)", [*params, list(members)]
        if len(members) == 1:
            return sql + " WHERE authority = ?", [*params, members[0]]
        return sql + " WHERE list_contains(?, authority)", [*params, list(members)]

    def columns(self, path: str) -> frozenset[str]:
        """The column names of a Parquet file (a build's or a published version's: both never change)."""
        return self._columns_memo.get(path, lambda: frozenset(
            self.query("SELECT name FROM parquet_schema(?)", [path])["name"]))

    def areas(self, members: Members, level: str) -> tuple[pd.Index, Any, Any]:
        """Codes (in code order), names and friendly labels ("Birmingham 043C, in Nechells ward") of the
        areas of ``members`` (None: every area) at ``level``."""

        def read() -> tuple[pd.Index, Any, Any]:
            path = self.file("areas", f"{level}.parquet")
            has_label = "label" in self.columns(path)
            # Fixed column names and a fixed filter shape; the place's districts are bound parameters.
            sql, params = self._where(members, "SELECT code, name, "  # noqa: S608
                                      + ("label" if has_label else "name AS label")
                                      + " FROM read_parquet(?)", [path])
            table = self.arrow(sql + " ORDER BY code", params)
            # Kept as pandas string arrays (on arrow's buffers, never a Python string per cell), so each
            # values() frame is built without converting.
            return (pd.Index(pd.array(table["code"], dtype="str")), pd.array(table["name"], dtype="str"),
                    pd.array(table["label"], dtype="str"))

        return self._names.get((members, level), read)

    def values(self, row: Mapping, path: str, members: Members, level: str) -> pd.DataFrame:
        """One row per area of ``members`` at ``level`` (ordered by code, like the geometry): code, name,
        full_name, value (float, NaN when missing), rank (1 = highest value within the place, ties share the
        lowest rank, <NA> for a missing value) and rank_national (<NA> unless ``level`` is one of the
        variable's ``national_levels``); ``estimated`` for re-based figures, ``category`` and ``label`` for a
        categorical variable (its value NaN and its ranks <NA>), and the carried fields where the file has
        them. ``row`` is the variable's catalogue row and ``path`` its values file (the catalogue's)."""
        column = column_sql(row)
        codes, names, full_names = self.areas(members, level)
        if is_categorical(row):
            frame = self._category_frame(row, path, column, members, codes, names, full_names)
        else:
            frame = self._numeric_frame(row, path, column, members, level, codes, names, full_names)
        estimated = self.estimates(row, members, level)
        if estimated is not None:
            frame["estimated"] = frame["code"].isin(estimated).to_numpy(dtype=bool)
        return frame

    def _numeric_frame(self, row: Mapping, path: str, column: str, members: Members, level: str,
                       codes: pd.Index, names: Any, full_names: Any) -> pd.DataFrame:
        # The column is a quoted catalogue id and the file a catalogue dataset's; the caller's strings reach
        # DuckDB only as bound parameters. Names and ranks are joined here rather than in SQL: the areas
        # are already in memory, and one narrow Parquet scan is the cheapest query DuckDB can do.
        carried = self._carried_sql(row, path)
        sql = "SELECT code, CAST(" + column + " AS DOUBLE) AS value" + carried + " FROM read_parquet(?)"  # noqa: S608
        got = self._cursor().execute(*self._where(members, sql, [path])).fetchnumpy()
        raw = _floats(got["value"])
        value = np.full(len(codes), np.nan)
        pos = codes.get_indexer(np.asarray(got["code"], dtype=object))
        value[pos[pos >= 0]] = raw[pos >= 0]
        # Figures carried from other areas are shown as published and never ranked again: a merged area's
        # figure is its 2021 area's, shared, and a split area has a range, not a figure.
        ranked = (row.get("unit") or "").lower() not in UNRANKED_UNITS and not carried
        if ranked and level in (row.get("national_levels") or []):
            national_codes, national_ranks = self.national_ranks(row, path, level)
            at = _positions(national_codes, codes.to_numpy(dtype=str))
            rank_national = _int_array(np.where(at >= 0, national_ranks[at], 0), at < 0)
        else:
            rank_national = _no_ints(len(codes))
        missing = np.isnan(value)
        # Ranks on the full-precision values (the extracts store them unrounded): ties only for equal values.
        # A figure its publisher ranked (catalogue ``rank_variable``: WIMD's scores) is ordered by the
        # publisher's rank instead, whose order the published (rounded) score cannot reproduce.
        order = value
        published = self._published_rank(row, path, members, codes) if ranked else None
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
                    data = _floats(data)
                    out = np.full(len(codes), np.nan)
                else:
                    mask = np.ma.getmaskarray(data) if np.ma.isMaskedArray(data) else np.zeros(len(data), bool)
                    data = np.where(mask, None, np.asarray(data, dtype=object))
                    data = np.where(pd.isna(data) | (data == ""), None, data)
                    out = np.full(len(codes), None, dtype=object)
                out[pos[where]] = np.asarray(data)[where]
                # Text as Python objects, None where missing (pandas would infer a string dtype holding NaN).
                frame[field] = out if field in ("low", "high", "parts") else pd.Series(out, dtype=object)
        return frame

    def _carried_sql(self, row: Mapping, path: str) -> str:
        """The select list's extra columns for figures carried from other areas (``CARRIED_FIELDS``), or ""
        where the values file holds none. Column names from the file's own schema and the catalogue id."""
        columns = self.columns(path)
        if CARRIED_STATUS not in columns:
            return ""
        out = (", " + quote_identifier(CARRIED_STATUS) + " AS carried, " + quote_identifier(CARRIED_NOTE)
               + " AS carried_note")
        if CARRIED_PARTS in columns:
            out += ", CAST(" + quote_identifier(CARRIED_PARTS) + " AS DOUBLE) AS parts"
        low, high = row["id"] + CARRIED_LOW, row["id"] + CARRIED_HIGH
        if low in columns and high in columns:
            out += (", CAST(" + quote_identifier(low) + " AS DOUBLE) AS low, CAST(" + quote_identifier(high)
                    + " AS DOUBLE) AS high")
        return out

    def _rank_column(self, row: Mapping, path: str) -> str | None:
        rank_id = row.get("rank_variable")
        if rank_id and rank_id in self.rows and rank_id in self.columns(path):
            return rank_id
        return None

    def _published_rank(self, row: Mapping, path: str, members: Members, codes: pd.Index) -> np.ndarray | None:
        """The publisher's rank of each area's figure (float, NaN where missing), for a variable whose catalogue
        names one (``rank_variable``, a column of the same file); None otherwise."""
        rank_id = self._rank_column(row, path)
        if rank_id is None:
            return None
        sql = ("SELECT code, CAST(" + quote_identifier(rank_id)  # noqa: S608 - a catalogue id, quoted
               + " AS DOUBLE) AS value FROM read_parquet(?)")
        got = self._cursor().execute(*self._where(members, sql, [path])).fetchnumpy()
        raw = _floats(got["value"])
        out = np.full(len(codes), np.nan)
        pos = codes.get_indexer(np.asarray(got["code"], dtype=object))
        out[pos[pos >= 0]] = raw[pos >= 0]
        return out

    def _category_frame(self, row: Mapping, path: str, column: str, members: Members, codes: pd.Index,
                        names: Any, full_names: Any) -> pd.DataFrame:
        """A categorical variable's codes and labels per area (the text codes as stored, exactly)."""
        sql = "SELECT code, CAST(" + column + " AS VARCHAR) AS category FROM read_parquet(?)"  # noqa: S608
        got = self._cursor().execute(*self._where(members, sql, [path])).fetchall()
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

    def national_ranks(self, row: Mapping, path: str, level: str) -> tuple[np.ndarray, np.ndarray]:
        """Codes (sorted, as fixed-width text) and national ranks of every area with a value of ``row`` at
        ``level`` (cached per reader, by the file read: a published variable's file changes with its version)."""

        def read() -> tuple[np.ndarray, np.ndarray]:
            column = column_sql(row)
            rank_id = self._rank_column(row, path)
            if rank_id is not None:
                # The publisher's own national rank (WIMD ranks its unrounded scores), as published.
                rank_column = quote_identifier(rank_id)
                sql = ("SELECT code, CAST(" + rank_column + " AS BIGINT) AS rank "  # noqa: S608
                       "FROM read_parquet(?) WHERE " + column + " IS NOT NULL AND " + rank_column + " IS NOT NULL")
            else:
                sql = ("SELECT code, rank() OVER (ORDER BY " + column + " DESC) AS rank "  # noqa: S608
                       "FROM read_parquet(?) WHERE " + column + " IS NOT NULL")  # a quoted catalogue id
            got = self._cursor().execute(sql, [path]).fetchnumpy()
            codes = np.asarray(got["code"], dtype=str)
            order = np.argsort(codes, kind="stable")  # by code point, as ``_positions`` searches them
            codes, ranks = codes[order], np.asarray(got["rank"], dtype="int64")[order]
            codes.flags.writeable = ranks.flags.writeable = False
            return codes, ranks

        return self._national.get(("ranks", level, row["id"], path), read)

    def national_values(self, row: Mapping, path: str, level: str) -> np.ndarray:
        """Every non-missing value of ``row`` at ``level`` across all districts (float64, in code order), for
        classifying against the national distribution. A fresh copy each call (cached per reader)."""

        def read() -> np.ndarray:
            column = column_sql(row)
            df = self.query("SELECT CAST(" + column + " AS DOUBLE) AS value FROM read_parquet(?) "  # noqa: S608
                            "WHERE " + column + " IS NOT NULL ORDER BY code", [path])
            values = df["value"].to_numpy(dtype="float64")
            values.flags.writeable = False
            return values

        return self._national.get(("values", level, row["id"], path), read).copy()

    def area_index(self, level: str) -> pd.DataFrame:
        """Every area at ``level`` in this build: code, authority (what an upload's codes are checked
        against). Raises NotFound for an unknown level."""
        if level not in self.levels:
            raise NotFound("level", level, self.levels)
        return self.query("SELECT code, authority FROM read_parquet(?) ORDER BY code",
                          [self.file("areas", f"{level}.parquet")])

    def dataset_frame(self, rows: list[Mapping], path: str, members: Members, level: str) -> pd.DataFrame:
        """A whole dataset for the areas of ``members``, wide: code, name, full_name, then one column per
        variable of ``rows`` (text for a categorical one), and the carried fields where the file has them."""
        # A categorical variable's column holds category codes (text), the others numbers.
        columns = ", ".join("CAST(" + quote_identifier(r["id"])
                            + (" AS VARCHAR" if is_categorical(r) else " AS DOUBLE") + ") AS "
                            + quote_identifier(r["id"]) for r in rows)
        held = self.columns(path)
        if CARRIED_STATUS in held:
            # Carried figures say per area what they are, and a split area's range (<id>_low, <id>_high).
            columns += (", " + quote_identifier(CARRIED_STATUS) + " AS carried, " + quote_identifier(CARRIED_NOTE)
                        + " AS carried_note")
            if CARRIED_PARTS in held:
                columns += ", CAST(" + quote_identifier(CARRIED_PARTS) + " AS DOUBLE) AS parts"
            for r in rows:
                if r["id"] + CARRIED_LOW in held:
                    columns += "".join(", CAST(" + quote_identifier(r["id"] + suffix) + " AS DOUBLE) AS "
                                       + quote_identifier(f"{r['id']}_{word}")
                                       for suffix, word in ((CARRIED_LOW, "low"), (CARRIED_HIGH, "high")))
        sql = "SELECT code, " + columns + " FROM read_parquet(?)"  # noqa: S608 - catalogue ids, quoted
        got = self.query(*self._where(members, sql, [path]))
        codes, names, full_names = self.areas(members, level)
        frame = pd.DataFrame({"code": codes.array, "name": names, "full_name": full_names})
        return frame.merge(got, on="code", how="left")

    def dataset_arrays(self, rows: list[Mapping], path: str, members: Members) -> dict[str, np.ndarray]:
        """A whole dataset for the areas of ``members`` as arrays, for aggregating (atlas/profile.py): ``code``
        and one array per variable of ``rows`` (float64 with NaN, or text codes for a categorical one), only the
        areas the file holds, in no particular order; without names or the carried figures' columns."""
        columns = ", ".join("CAST(" + quote_identifier(r["id"]) + (" AS VARCHAR" if is_categorical(r)
                                                                    else " AS DOUBLE") + ") AS "
                            + quote_identifier(r["id"]) for r in rows)
        sql = "SELECT code, " + columns + " FROM read_parquet(?)"  # noqa: S608 - catalogue ids, quoted
        got = self._cursor().execute(*self._where(members, sql, [path])).fetchnumpy()
        out = {}
        for name, data in got.items():
            if np.ma.isMaskedArray(data):
                data = data.filled(np.nan) if data.dtype.kind == "f" else np.where(data.mask, None, data.data)
            out[name] = np.asarray(data)
        return out

    def comparator_stats(self, place: str, level: str) -> pd.DataFrame | None:
        """The aggregation statistics (atlas/aggregation.py ``STATS``) of every built figure of a comparator
        (a district, region, Wales or England, ``E92000001``) at ``level``, computed by the pipeline
        (``profiles/<level>.parquet``); None where the build has none (an older build)."""
        path = self.build_dir / "profiles" / f"{level}.parquet"
        if not path.exists():
            return None
        return self.query("SELECT * FROM read_parquet(?) WHERE place = ?", [str(path), place])

    def built_tables(self) -> dict[str, builder.Table]:
        """The census tables indicators can be built from, by dataset id (built once per reader)."""
        return self.memo("built_tables", lambda: builder.tables(self.rows.values()))

    def built_row(self, code: str) -> dict:
        """The catalogue row of a built indicator's code (atlas/builder.py); NotFound (status 400) saying what
        is wrong with it. Depends on the build alone: kept per reader, at most 512 codes."""
        memo = self.memo("built_rows", dict)
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
        return dict(found)

    # -- geometry ----------------------------------------------------------------------------------------

    def feature_collection(self, members: Members, level: str) -> dict:
        """FeatureCollection of the display geometry of the areas of ``members`` at ``level``, properties code
        and name, ordered by code, coordinates to ``PRECISION`` decimal places (a fresh one each call)."""
        # DuckDB reads the GeoParquet geometry column as its GEOMETRY type, which arrives in Python as WKB.
        sql, params = self._where(members, "SELECT code, name, geometry FROM read_parquet(?)",
                                  [self.file("areas", f"{level}.parquet")])
        rows = self._cursor().execute(sql + " ORDER BY code", params).fetchall()
        geoms = _rounded(shapely.from_wkb([bytes(r[2]) for r in rows]))
        features = [
            {"type": "Feature", "properties": {"code": code, "name": name},
             "geometry": shapely.geometry.mapping(geom)}
            for (code, name, _), geom in zip(rows, geoms, strict=True)]
        return {"type": "FeatureCollection", "features": features}

    def geojson_bytes(self, members: Members, level: str, keep: bool = True) -> bytes:
        """The GeoJSON of ``feature_collection``, serialised compactly; kept (bounded by bytes) when ``keep``."""

        def encode() -> bytes:
            return json.dumps(self.feature_collection(members, level), separators=(",", ":")).encode()

        return self._geometry.get(("geojson", members, level), encode) if keep else encode()

    def pbf(self, members: Members, level: str, keep: bool = True) -> bytes:
        """The same features as geobuf; kept (bounded by bytes) when ``keep``."""

        def encode() -> bytes:
            return geobuf.encode(self.feature_collection(members, level), PRECISION, 2)

        return self._geometry.get(("pbf", members, level), encode) if keep else encode()

    # -- vector tiles -------------------------------------------------------------------------------------

    def tile_levels(self) -> list[str]:
        """Levels with vector tiles (tiles/<level>.pmtiles: every small area of England and Wales)."""
        return [lv for lv in self.levels if (self.build_dir / "tiles" / f"{lv}.pmtiles").exists()]

    def tile(self, level: str, z: int, x: int, y: int) -> bytes | None:
        """One vector tile (Mapbox Vector Tile bytes, uncompressed) of ``level``, None where there is none.
        Raises NotFound for a level without tiles. The archive is memory-mapped: its pages are the page
        cache's, shared by every worker of the host."""
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

    # -- search and location ----------------------------------------------------------------------------

    def search_batches(self, size: int = 8_192) -> Iterator[Any]:
        """The search index (search.parquet: districts, places, wards, LSOAs, OAs, postcode districts) in
        pyarrow slices of ``size`` rows, each row with its number in the file (``row``): what
        atlas/search.py derives its matching columns from, a slice at a time, so the index is never whole in a
        worker's memory. Nothing for a build made before the index existed."""
        path = self.build_dir / "search.parquet"
        if not path.exists():
            return
        # Not sorted (a sort would hold the whole table in DuckDB's memory): the scan keeps the file's order, and
        # every reader of the derived index orders by ``row`` itself.
        relation = self._cursor().sql("SELECT file_row_number AS row, * EXCLUDE (file_row_number) "
                                      "FROM read_parquet(?, file_row_number = true)", params=[str(path)])
        yield from relation.to_arrow_reader(size)  # pyarrow RecordBatches: one schema, whatever a slice holds

    def search_matches(self, path: str, key: str, q: str, words: list[str], starts: bool, by_words: bool,
                       within: bool) -> list[tuple[int, str, str, int, int, int]]:
        """The rows of a derived search index (``path``, written by atlas/search.py from ``search_batches``)
        that match, each once with the first way it matched (``stage``): 0 its code is ``key``, 1 its name is
        ``q``, 2 (``starts``) its name starts with ``q``, 3 (``by_words``) a word of its name starts with each
        of ``words``, 4 (``by_words``) so does a word of its name or of where it is, 5 (``within``) its name
        holds ``q``. Each as (row, kind, code, name's length, kind's rank, stage), in row order."""
        return self.rows_of(
            "SELECT row, kind, code, length, kind_rank, stage FROM (SELECT row, kind, code, length, kind_rank, "
            "CASE WHEN key = ? THEN 0 WHEN norm = ? THEN 1 WHEN ? AND starts_with(norm, ?) THEN 2 "
            "WHEN ? AND list_bool_and(list_transform(?, lambda w: contains(' ' || norm, ' ' || w))) THEN 3 "
            "WHEN ? AND list_bool_and(list_transform(?, lambda w: contains(context, ' ' || w))) THEN 4 "
            "WHEN ? AND contains(' ' || norm, ?) THEN 5 END AS stage FROM read_parquet(?)) "
            "WHERE stage IS NOT NULL ORDER BY row",
            [key, q, starts, q, by_words, words, by_words, words, within, q, path])

    def search_names(self, path: str, shortest: int, longest: int) -> list[str]:
        """The distinct names (normalised) of a derived search index from ``shortest`` to ``longest``
        characters long, in the order of their first row (the candidates for a close spelling)."""
        return [r[0] for r in self.rows_of(
            "SELECT norm FROM read_parquet(?) WHERE length BETWEEN ? AND ? GROUP BY norm ORDER BY min(row)",
            [path, shortest, longest])]

    def search_named(self, path: str, names: list[str]) -> list[tuple[int, str, str, int, int, str]]:
        """The rows of a derived search index whose name (normalised) is one of ``names``: (row, kind, code,
        name's length, kind's rank, name), in row order."""
        return self.rows_of("SELECT row, kind, code, length, kind_rank, norm FROM read_parquet(?) "
                            "WHERE list_contains(?, norm) ORDER BY row", [path, names])

    def search_rows(self, path: str, rows: list[int]) -> dict[int, dict]:
        """Whole rows of a derived search index by row number (the index's own columns, missing as None)."""
        cursor = self._cursor().execute(
            "SELECT * EXCLUDE (norm, context, key, kind_rank, length) FROM read_parquet(?) "
            "WHERE list_contains(?, row)", [path, [int(r) for r in rows]])
        names = [d[0] for d in cursor.description]
        out = {}
        for values in cursor.fetchall():
            row = {k: (None if isinstance(v, float) and v != v else plain(v))
                   for k, v in zip(names, values, strict=True)}
            out[int(row.pop("row"))] = row
        return out

    def area_bbox(self, level: str, code: str) -> list[float] | None:
        """[west, south, east, north] of an area (from the search index, on disk), None when unknown."""
        path = self.build_dir / "search.parquet"
        if level == NATIONAL_LEVEL and code in self.authority_rows:
            box = self.authority_rows[code].get("bbox")
            if box:
                return [float(v) for v in box]
        if not path.exists() or "west" not in self.columns(str(path)):
            return None
        found = self.rows_of("SELECT west, south, east, north FROM read_parquet(?) WHERE level = ? AND code = ? "
                             "AND kind IN ('lsoa', 'oa', 'ward') LIMIT 1", [str(path), level, code])
        if not found or any(v is None for v in found[0]):
            return None
        return [float(v) for v in found[0]]

    def area_shapes(self, level: str, codes: list[str] | None = None, districts: tuple[str, str] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Codes, names, labels, districts and polygons (shapely, WGS84) of the areas held at ``level`` (only
        those of ``codes`` when given, and only those of districts from ``districts[0]`` to ``districts[1]``
        when given), for point-in-polygon look-ups (atlas/locate.py) and saved areas' shapes (atlas/areas.py).
        Raises NotFound."""
        if level not in self.levels:
            raise NotFound("level", level, self.levels)
        path = self.file("areas", f"{level}.parquet")
        label = "label" if "label" in self.columns(path) else "name"
        sql = "SELECT code, name, " + label + ", authority, geometry FROM read_parquet(?)"  # noqa: S608
        params: list[Any] = [path]
        if codes is not None:
            sql += " WHERE list_contains(?, code)"
            params.append(list(codes))
            if districts is not None:
                sql += " AND authority BETWEEN ? AND ?"
                params.extend(districts)
        rows = self.rows_of(sql + " ORDER BY code", params)  # the column is one of two fixed names
        out_codes = np.array([r[0] for r in rows], dtype=object)
        names = np.array([r[1] for r in rows], dtype=object)
        labels = np.array([r[2] for r in rows], dtype=object)
        authorities = np.array([r[3] for r in rows], dtype=object)
        return out_codes, names, labels, authorities, shapely.from_wkb([bytes(r[4]) for r in rows])

    def _has_boxes(self) -> bool:
        path = self.build_dir / "search.parquet"
        return path.exists() and "west" in self.columns(str(path))

    def areas_around(self, level: str, lon: float, lat: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``area_shapes`` of the areas at ``level`` whose bounding box holds (lon, lat): the few candidates a
        point-in-polygon look-up tests (atlas/locate.py). The boxes are read where the build keeps them, on
        disk (the search index's for small areas and wards, the districts' table for districts), never a
        spatial index per worker. Boxes are stored to 5 decimal places, so each is widened by
        ``BOX_MARGIN``: a candidate too many costs one exact test, a candidate missed would be a wrong
        answer. Raises NotFound for a level the build does not hold."""
        if level not in self.levels:
            raise NotFound("level", level, self.levels)
        if level == NATIONAL_LEVEL:
            codes = [code for code, row in self.authority_rows.items() if row.get("bbox") is not None
                     and row["bbox"][0] - BOX_MARGIN <= lon <= row["bbox"][2] + BOX_MARGIN
                     and row["bbox"][1] - BOX_MARGIN <= lat <= row["bbox"][3] + BOX_MARGIN]
            return self.area_shapes(level, codes)
        if not self._has_boxes():
            return self.area_shapes(level)  # a build made before the index kept boxes: every area is a candidate
        found = self.rows_of(
            "SELECT code, authority FROM read_parquet(?) WHERE level = ? AND kind IN ('lsoa', 'oa', 'ward') "
            "AND west <= ? AND east >= ? AND south <= ? AND north >= ?",
            [self.file("search.parquet"), level, lon + BOX_MARGIN, lon - BOX_MARGIN, lat + BOX_MARGIN,
             lat - BOX_MARGIN])
        if not found:
            return self.area_shapes(level, [])
        # The areas' files are written by district: the candidates' range of districts lets DuckDB skip the row
        # groups of every other district (4 ms instead of 30-40 for the whole country's LSOAs).
        authorities = [r[1] for r in found]
        return self.area_shapes(level, [r[0] for r in found], (min(authorities), max(authorities)))

    def area_shape(self, level: str, code: str) -> tuple[Any, str, str] | None:
        """One area's display polygon (shapely, WGS84), its friendly name and its district; None when there is
        no such area. Raises NotFound for an unknown level."""
        if level not in self.levels:
            raise NotFound("level", level, self.levels)
        path = self.file("areas", f"{level}.parquet")
        label = "label" if "label" in self.columns(path) else "name"
        sql = "SELECT geometry, " + label + ", authority FROM read_parquet(?) WHERE code = ?"  # noqa: S608
        found = self.rows_of(sql, [path, code])  # the column is one of two fixed names
        return (shapely.from_wkb(bytes(found[0][0])), str(found[0][1]), str(found[0][2])) if found else None

    def area_authorities(self, level: str, codes: Iterable[str]) -> dict[str, str]:
        """code -> district of the areas of ``codes`` the build holds at ``level`` (the others left out), read
        from the level's file (a whole level's index would be 5 MB a worker). Raises NotFound for a level the
        build does not hold."""
        if level not in self.levels:
            raise NotFound("level", level, self.levels)
        # A join on the codes (an upload's may be every area of the level): one hash table, not a scan of the
        # list for each area.
        return dict(self.rows_of("SELECT a.code, a.authority FROM read_parquet(?) AS a "
                                 "JOIN (SELECT unnest(?::VARCHAR[]) AS code) AS wanted ON a.code = wanted.code",
                                 [self.file("areas", f"{level}.parquet"), list(codes)]))

    def codes_of(self, level: str, authorities: Iterable[str]) -> list[str]:
        """The codes of every area of ``authorities`` at ``level``. Raises NotFound for a level the build does not
        hold."""
        if level not in self.levels:
            raise NotFound("level", level, self.levels)
        return [code for (code,) in self.rows_of("SELECT code FROM read_parquet(?) WHERE list_contains(?, authority)",
                                                 [self.file("areas", f"{level}.parquet"), list(authorities)])]

    def _postcode_rows(self, sql: str, params: list[Any]) -> list[dict]:
        path = self.build_dir / "postcodes.parquet"
        if not path.exists():
            return []
        cursor = self._cursor().execute(sql, [str(path), *params])
        names = [d[0] for d in cursor.description]
        out = []
        for values in cursor.fetchall():
            row = {k: plain(v) for k, v in zip(names, values, strict=True)}
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
        def compute() -> dict:
            path = self.build_dir / "search_notes.json"
            notes = json.loads(path.read_text()) if path.exists() else {}
            return {"tiles": [], "districts": [], "postcode_areas": {}, **notes}

        return self.memo("search_notes", compute)

    def labels(self, band: str) -> bytes:
        """The reference layer's names of one band (labels/<band>.json, pipeline/places.py). Raises NotFound."""
        folder = self.build_dir / "labels"
        bands = sorted(p.stem for p in folder.glob("*.json")) if folder.exists() else []
        if band not in bands:
            raise NotFound("band", band, bands)
        return (folder / f"{band}.json").read_bytes()

    # -- point datasets of the build: monitoring sites and their readings (the build's points/) ---------
    # Kept apart from the area tables: a point dataset is a table of sites (places with coordinates) and one
    # of readings (site, measure, time, value), not values per area. The catalogue joins the council's tables
    # of points to these (atlas/pointdata.py); atlas/points.py makes the layer's paint, the GeoJSON, a site's
    # series and the nearest sites.

    def point_catalogue(self) -> dict[str, dict]:
        """The build's point datasets by id (points/datasets.parquet; empty when the build has none). Treat the
        rows as read-only."""
        def compute() -> dict[str, dict]:
            path = self.build_dir / "points" / "datasets.parquet"
            found: dict[str, dict] = {}
            if path.exists():
                for row in self.query("SELECT * FROM read_parquet(?) ORDER BY id", [str(path)]).to_dict("records"):
                    row = {k: plain(v) for k, v in row.items()}
                    for key in ("measures", "lockdown", "inputs"):
                        row[key] = json.loads(row[key]) if row.get(key) else None
                    row["open"] = True
                    found[row["id"]] = row
            return found

        return self.memo("point_catalogue", compute)

    def _point_file(self, dataset: str, readings: bool = False) -> str:
        if dataset not in self.point_catalogue():  # the id becomes a path only by being found in the catalogue
            raise NotFound("dataset", dataset, list(self.point_catalogue()))
        return self.file("points", f"{dataset}{'_readings' if readings else ''}.parquet")

    def point_sites(self, dataset: str, members: Members, located_only: bool = False) -> pd.DataFrame:
        """The sites of one of the build's point datasets, by site code: those in the districts ``members``
        (every site for None; with ``located_only``, only those inside England and Wales). Raises NotFound."""
        sql = "SELECT * FROM read_parquet(?)"
        params: list[Any] = [self._point_file(dataset)]
        if members is not None:
            sql += " WHERE list_contains(?, authority)"
            params.append(list(members))
        elif located_only:
            sql += " WHERE lsoa11 IS NOT NULL"
        frame = self.query(sql + " ORDER BY site", params)
        frame["measures"] = [list(m) if m is not None else [] for m in frame["measures"]]
        return frame

    def point_readings(self, dataset: str, measure: str, time: str | None = None,
                       site: str | None = None) -> pd.DataFrame:
        """Readings of one measure (site, time, value, band, note) of one of the build's point datasets, by time
        then site: of one ``time`` and/or one ``site`` when given. Raises NotFound for an unknown dataset."""
        sql = "SELECT site, time, value, band, note FROM read_parquet(?) WHERE measure = ?"
        params: list[Any] = [self._point_file(dataset, readings=True), measure]
        if time is not None:
            sql += " AND time = ?"
            params.append(time)
        if site is not None:
            sql += " AND site = ?"
            params.append(site)
        return self.query(sql + " ORDER BY time, site", params)

    def point_times(self, dataset: str) -> list[str]:
        """Every time one of the build's point datasets has readings at, in order. Raises NotFound."""
        path = self._point_file(dataset, readings=True)
        return [str(t) for t in self.query("SELECT DISTINCT time FROM read_parquet(?) ORDER BY time", [path])["time"]]

    def point_series(self, dataset: str, site: str) -> pd.DataFrame:
        """Every reading of one site (measure, time, value, band, note), by measure then time. Raises NotFound."""
        path = self._point_file(dataset, readings=True)
        return self.query("SELECT measure, time, value, band, note FROM read_parquet(?) WHERE site = ? "
                          "ORDER BY measure, time", [path, site])

_readers: dict[tuple[int, Path], Extracts] = {}
_readers_lock = threading.Lock()


def current(data_dir: Path | None = None) -> Extracts:
    """This process's reader of the build ``ATLAS_DATA_DIR/current`` names now, opened on first use (so after
    a fork). When the link has moved since (a new build, or one synced from object storage), a reader on
    the new build is opened and the old one is let go: requests under way keep theirs to the end, and it is
    closed once none holds it."""
    data_dir = Path(data_dir) if data_dir is not None else settings.load().data_dir
    key = (os.getpid(), data_dir)
    reader = _readers.get(key)
    try:
        now = (data_dir / "current").resolve(strict=True)
    except OSError:
        now = None
    if reader is None or now != reader.build_dir or not reader.build_dir.exists():
        with _readers_lock:
            reader = _readers.get(key)
            if reader is None or now != reader.build_dir or not reader.build_dir.exists():
                # The old reader is simply let go: requests under way hold it to their end, and then its
                # connection and its open build.json (the shared lock) are freed with it.
                reader = _readers[key] = Extracts.open(data_dir)
                for stale in [k for k in _readers if k[0] != os.getpid()]:
                    del _readers[stale]  # inherited across a fork: never used here
    return reader
