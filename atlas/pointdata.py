"""Point datasets in the City Datastore: a council's table of points (sensors, schools, incidents, licences, trees)
checked, placed in every level's areas, shown as points and aggregated to areas.

A point dataset is a published dataset (atlas/publish.py: the same access levels, versions, live pulls, as-of
dates and audit) whose level is ``points``. Its metadata names coordinate columns instead of ``code_column``:
``lon_column`` and ``lat_column`` (WGS84 degrees), or ``x_column``, ``y_column`` and ``crs`` (an EPSG code such
as ``EPSG:27700``, British National Grid), transformed with pyproj; optionally ``id_column`` (each point's own
code, else its row number) and ``name_column``. The spec is stored in the dataset's ``code_column`` as JSON.

- **Validation** (``validate``): every coordinate a number; every point inside England and Wales (a district
  polygon of the build holds it) and inside the publisher's own area, or that of a partnership it belongs to
  (``place.publish``, as for areas); ids unique and plain; indicator cells numeric as for areas. Every
  problem names its row. Nothing is stored unless all rows pass.
- **The version file** holds one row per point: ``code`` (its id), ``authority`` (its district), the indicator
  columns (named by variable id), and ``pt_lon``, ``pt_lat``, ``pt_name`` and ``pt_<level>``, the code of the
  area of each level holding the point (point-in-polygon on the build's published polygons; none where the
  build has no areas of that level there).
- **Aggregation** (``level_file``): per area of every level, in the districts the points are in, the number
  of points (0 where none), the number per 1,000 residents (at the LSOA levels, Census 2021 usual residents,
  atlas/air.py's ``POPULATION``), and the sum and the mean of each indicator. Derived once per version, build
  and level into ``published/.derived/`` (written aside, then renamed; ``atlas sweep`` removes those of versions
  no longer current, and a lost file is derived again), so these are variables of the map, compare, exports and
  the API like any other.
- **The point layer** (atlas/points.py) shows a visible point dataset like the monitoring sites: each indicator
  a measure (classed at its quintiles), the current version's as-of date its one time.
- **A point's series** (``series``: the site card's chart, ``/api/points/<dataset>/<site>.json``) spans every
  version: each version's as-of date is a time, a later version of the same date supersedes the earlier.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from atlas import air, audit, db, registry, storage

__all__ = ["DERIVED", "PREFIX", "CoordinateSpec", "candidates", "districts", "level_file", "locate", "parse_spec",
           "point_meta", "readings", "series", "sites", "spec_from_metadata", "validate"]


PREFIX = "pt_"
DERIVED = ".derived"
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_EPSG = re.compile(r"^EPSG:([0-9]{4,6})$", re.IGNORECASE)
#: England and Wales, generously (degrees): a first check before the district polygons decide.
_BOX = (-6.5, 49.8, 2.1, 55.9)


class CoordinateSpec(dict):
    """Which columns hold a point's place: ``lon``/``lat`` (WGS84), or ``x``/``y`` with ``crs``; ``id``, ``name``."""

    @property
    def columns(self) -> list[str]:
        return [self[k] for k in ("lon", "lat", "x", "y", "id", "name") if self.get(k)]


def spec_from_metadata(raw: dict, text: Any, report: Any) -> CoordinateSpec | None:
    """The coordinate columns of ``POST /api/datasets`` metadata (``lon_column``/``lat_column``, or ``x_column``/
    ``y_column`` and ``crs``; ``id_column``, ``name_column``), or None when it names none (an area table).
    Problems go into ``report`` as metadata errors."""
    given = {k: text(raw.get(f"{k}_column"), 200) for k in ("lon", "lat", "x", "y", "id", "name")}
    crs = text(raw.get("crs"), 20)
    if not any(given[k] for k in ("lon", "lat", "x", "y")):
        if crs:
            report.error("metadata", "crs is for x_column and y_column, which are missing", field="crs")
        return None
    spec = CoordinateSpec({k: v for k, v in given.items() if v})
    if given["lon"] or given["lat"]:
        if given["x"] or given["y"]:
            report.error("metadata", "give lon_column and lat_column (WGS84) or x_column, y_column and crs, not both",
                         field="lon_column")
        if not (given["lon"] and given["lat"]):
            report.error("metadata", "lon_column and lat_column go together", field="lon_column")
        if crs and crs.upper() not in ("EPSG:4326", "WGS84"):
            report.error("metadata", "lon_column and lat_column are WGS84 degrees (EPSG:4326); for other "
                         "coordinates give x_column, y_column and crs", field="crs")
    else:
        if not (given["x"] and given["y"]):
            report.error("metadata", "x_column and y_column go together", field="x_column")
        match = _EPSG.match(crs or "")
        if not match:
            report.error("metadata", "crs is required with x_column and y_column: an EPSG code such as EPSG:27700 "
                         "(British National Grid)", field="crs")
        else:
            try:
                _transformer(f"EPSG:{match.group(1)}")
            except Exception:  # noqa: BLE001 - pyproj's CRSError and friends: any is an unknown code
                report.error("metadata", f"crs {crs!r} is not a coordinate reference system pyproj knows",
                             field="crs")
            spec["crs"] = f"EPSG:{match.group(1)}"
    if raw.get("code_column"):
        report.error("metadata", "a table of points has coordinate columns instead of code_column: give one kind",
                     field="code_column")
    names = spec.columns
    if len(set(names)) != len(names):
        report.error("metadata", "one column is named for two roles (coordinates, id, name)", field="lon_column")
    return spec


def parse_spec(text: str) -> CoordinateSpec:
    """The spec stored in a point dataset's ``code_column``."""
    return CoordinateSpec(json.loads(text))


@functools.lru_cache(maxsize=8)
def _transformer(crs: str) -> Any:
    from pyproj import Transformer  # noqa: PLC0415 - loaded only when a table of points is checked

    return Transformer.from_crs(crs, "EPSG:4326", always_xy=True)


@functools.lru_cache(maxsize=64)
def _polygons(build_dir: str, level: str, authorities: tuple[str, ...] | None = None
              ) -> tuple[Any, np.ndarray, np.ndarray]:
    """The build's published polygons of one level (an STRtree, codes, districts), per build: only those of
    the districts ``authorities`` when given (Parquet's row-group statistics skip the rest: reading and
    parsing every LSOA of England and Wales was most of a first publication's time)."""
    if authorities is not None and not authorities:  # no district near: nothing to search
        return shapely.STRtree([]), np.array([], dtype=object), np.array([], dtype=object)
    filters = [("authority", "in", list(authorities))] if authorities is not None else None
    table = pq.read_table(Path(build_dir) / "areas" / f"{level}.parquet", columns=["code", "authority", "geometry"],
                          filters=filters)
    geoms = shapely.from_wkb(table.column("geometry").to_numpy(zero_copy_only=False))
    return (shapely.STRtree(geoms), np.asarray(table.column("code").to_pylist(), dtype=object),
            np.asarray(table.column("authority").to_pylist(), dtype=object))


#: How far (degrees) from a district's polygon a point may be for that district's smaller areas to be searched:
#: generous beside the display polygons' simplification (5-15 m), so a point is never missed by an area holding it.
_NEAR = 0.02


def candidates(build_dir: str, points: np.ndarray) -> tuple[str, ...]:
    """The districts whose polygons are within ``_NEAR`` of any of ``points`` (shapely Points), sorted."""
    tree, _, authorities = _polygons(build_dir, "lad")
    if len(points) == 0:
        return ()
    hits = tree.query(points, predicate="dwithin", distance=_NEAR)[1]
    return tuple(sorted({a for a in authorities[np.unique(hits)] if isinstance(a, str)}))


def districts(build_dir: str, levels: list[str], lon: np.ndarray, lat: np.ndarray,
              points: np.ndarray | None = None, near: tuple[str, ...] | None = None) -> np.ndarray:
    """The district of each point: that of the LSOA holding it (2021, else 2011: the finest polygons, so a
    point agrees with the areas it is counted in), else of the district polygon holding it; None outside all."""
    points = shapely.points(lon, lat) if points is None else points
    near = candidates(build_dir, points) if near is None else near
    found = np.full(len(lon), None, dtype=object)
    for level in [lv for lv in ("lsoa21", "lsoa11") if lv in levels] + ["lad"]:
        todo = np.flatnonzero(pd.isna(found))
        if todo.size == 0:
            break
        within = None if level == "lad" else near
        _, codes, authorities = _polygons(build_dir, level, within)
        at = dict(zip(codes, authorities, strict=True))
        for i, code in zip(todo, locate(build_dir, level, lon[todo], lat[todo], points[todo], within), strict=True):
            found[i] = at.get(code) if code is not None else None
    return found


def locate(build_dir: str, level: str, lon: np.ndarray, lat: np.ndarray, points: np.ndarray | None = None,
           authorities: tuple[str, ...] | None = None) -> np.ndarray:
    """The code of the ``level`` area holding each point (None where none does; on a shared edge, the lowest
    code), by point-in-polygon on the build's polygons (of the districts ``authorities`` only, when given:
    see ``candidates``). ``points``: the same points as shapely Points, when already made."""
    tree, codes, _ = _polygons(build_dir, level, authorities)
    found = np.full(len(lon), None, dtype=object)
    if len(lon) == 0 or len(codes) == 0:
        return found
    points = shapely.points(lon, lat) if points is None else points
    pairs = tree.query(points, predicate="intersects")
    order = np.lexsort((codes[pairs[1]], pairs[0]))
    which, first = np.unique(pairs[0][order], return_index=True)  # each point's lowest code
    found[which] = codes[pairs[1][order][first]]
    return found


#: Control characters taken out of a point table's header cells.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def checked_header(rows: list[list[str]], wanted: list[str], report: Any,
                   control: re.Pattern[str]) -> tuple[list[str], dict[str, int]] | None:
    """A table's header (points' and areas' alike, ``control`` characters taken out) checked against the
    columns ``wanted``: duplicated and missing columns are errors in ``report`` (then None), unused ones a
    note; else the header and column -> position."""
    if not rows:
        report.error("format", "no header row")
        return None
    header = [control.sub("", h).strip().lstrip("\ufeff") for h in rows[0]]
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    for h in dupes:
        report.error("header", f"column {h!r} appears more than once")
    missing = [w for w in wanted if w and w not in header]
    for w in missing:
        report.error("header", f"no column named {w!r}; the columns are {', '.join(repr(h) for h in header[:30])}")
    if dupes or missing:
        return None
    unused = [h for h in header if h and h not in wanted]
    if unused:
        report.notes.append(f"{len(unused)} columns not mapped to an indicator were left out: "
                            + ", ".join(repr(h) for h in unused[:10]))
    return header, {h: i for i, h in enumerate(header)}


#: A plain decimal without sign oddities or exponent: what Arrow's parser reads exactly as ``float()`` does
#: (both round correctly); every other cell goes through the publisher's own ``number``.
_PLAIN = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)"


def _numbers(texts: list[str], number: Any, finite: bool = True) -> tuple[np.ndarray, dict[int, str]]:
    """``number`` (``(text) -> (value, problem)``) of every cell, vectorised: plain decimals are cast by Arrow,
    the rest (missing marks, thousands separators, percentages, anything wrong) read one by one. The values
    (NaN where missing or wrong) and, by position, each problem (with ``finite``, a non-finite number is one)."""
    arr = pa.array(texts, type=pa.string())
    plain = pc.fill_null(pc.match_substring_regex(arr, f"^{_PLAIN}$"), False)
    values = np.full(len(texts), np.nan)
    mask = plain.to_numpy(zero_copy_only=False)
    if mask.any():
        values[mask] = pc.cast(pc.filter(arr, plain), pa.float64()).to_numpy(zero_copy_only=False)
    problems: dict[int, str] = {}
    for i in np.flatnonzero(~mask | ~np.isfinite(values)):
        value, problem = number(texts[i])
        if problem is not None or (finite and (value is None or not math.isfinite(value))):
            problems[int(i)] = problem or "missing"
            value = math.nan
        values[i] = value if value is not None else math.nan
    return values, problems


def validate(rows: list[list[str]], spec: CoordinateSpec, columns: list[str], store: Any, report: Any,
             number: Any, onto: Any = None) -> pd.DataFrame | None:
    """A table of points as the version file's frame (see the module), or None when ``report`` holds errors.
    ``number(text) -> (value, problem)`` reads an indicator cell as for areas; ``onto(authority) -> bool``
    whether the publisher may publish onto that district."""
    checked = checked_header(rows, [*spec.columns, *columns], report, _CONTROL)
    if checked is None:
        return None
    header, at = checked
    # Column by column (numbers parsed by Arrow where plain: see ``_numbers``); the problems are then reported
    # row by row, in the order a row-by-row reading names them.
    body = [(line, row) for line, row in enumerate(rows[1:], start=2) if "".join(row).strip()]
    lines = [line for line, _ in body]

    def column(name: str) -> list[str]:
        i = at[name]
        return [row[i] if i < len(row) else "" for _, row in body]

    problems: list[tuple[int, int, str, str, dict]] = []
    xy = []
    for seq, key in enumerate(("lon", "lat") if spec.get("lon") else ("x", "y")):
        texts = [t.strip() for t in column(spec[key])]
        values, bad = _numbers(texts, number)
        for i in bad:
            problems.append((lines[i], seq, "bad_coordinate", f"{spec[key]}: {texts[i][:40]!r} is not a coordinate",
                             {"column": spec[key], "value": texts[i][:40]}))
        xy.append(values)
    idents = [t.strip() for t in column(spec["id"])] if spec.get("id") else [str(line) for line in lines]
    if spec.get("id"):
        for i, ident in enumerate(idents):
            if not _ID.match(ident):
                problems.append((lines[i], 2, "bad_id", f"{spec['id']}: {ident[:40]!r} is not an id (1 to 40 "
                                 "letters, digits, . _ -)", {"column": spec["id"], "value": ident[:40]}))
    indicators = []
    for j, col in enumerate(columns):
        texts = column(col)
        values, bad = _numbers(texts, number, finite=False)
        for i, problem in bad.items():
            problems.append((lines[i], 3 + j, "not_numeric", f"{col}: {texts[i][:60]!r} is {problem}",
                             {"column": col, "value": texts[i][:60]}))
        indicators.append(values)
    for line, _, kind, message, where in sorted(problems, key=lambda p: (p[0], p[1])):
        report.error(kind, message, row=line, **where)
    names = [t.strip()[:200] for t in column(spec["name"])] if spec.get("name") else [""] * len(body)
    report.rows = len(lines)
    if not lines:
        report.error("format", "the table has a header but no rows")
        return None
    seen: dict[str, int] = {}
    for line, ident in zip(lines, idents, strict=True):
        if ident in seen:
            report.error("duplicate_id", f"{ident} is also on row {seen[ident]}", row=line, code=ident,
                         first_row=seen[ident])
        seen.setdefault(ident, line)
    xs, ys = xy
    if spec.get("crs"):
        lon, lat = _transformer(spec["crs"]).transform(xs, ys)
        lon, lat = np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")
    else:
        lon, lat = xs, ys
    build_dir = str(store.build_dir)
    # The points are made once (shapely), for the districts and every level's areas.
    points = shapely.points(np.nan_to_num(lon), np.nan_to_num(lat))
    near = candidates(build_dir, points)
    district = districts(build_dir, list(store.levels), np.nan_to_num(lon), np.nan_to_num(lat), points, near)
    # Only the points with a problem are visited one by one (a bad coordinate was named above).
    allowed = {d: onto is None or bool(onto(d)) for d in set(district) if d is not None}
    flagged = np.isfinite(lon) & np.isfinite(lat) & np.array([d is None or not allowed[d] for d in district],
                                                              dtype=bool)
    for i in np.flatnonzero(flagged):
        line, ident = lines[i], idents[i]
        where = f"({lon[i]:.5f}, {lat[i]:.5f})"
        if district[i] is None:
            box = _BOX[0] <= lon[i] <= _BOX[2] and _BOX[1] <= lat[i] <= _BOX[3]
            hint = "" if box else (" (are the coordinates swapped, or not WGS84 degrees?)" if not spec.get("crs")
                                   else f" (are they really {spec['crs']}?)")
            report.error("outside_england_wales", f"point {ident} at {where} is not in England or Wales{hint}",
                         row=line, code=ident)
        else:
            report.error("outside_area", f"point {ident} at {where} is in {district[i]}, which this organisation "
                         "does not publish for (its own authority, or a partnership's it belongs to)",
                         row=line, code=ident, authority=district[i])
    if not report.ok:
        return None
    frame = pd.DataFrame({"code": idents, "authority": district.astype(object)})
    for col, values in zip(columns, indicators, strict=True):
        frame[col] = pd.array(values, dtype="float64")
    frame[f"{PREFIX}lon"], frame[f"{PREFIX}lat"] = lon, lat
    frame[f"{PREFIX}name"] = names
    for level in store.levels:
        frame[f"{PREFIX}{level}"] = district if level == "lad" else locate(build_dir, level, lon, lat, points, near)
    authorities = sorted(set(district))
    report.areas, report.authorities = len(lines), authorities
    placed = int(frame[f"{PREFIX}lsoa21"].notna().sum()) if f"{PREFIX}lsoa21" in frame else len(lines)
    report.notes.append(f"{len(lines):,} points in {len(authorities)} districts; each is counted in the area of every "
                        f"level holding it ({placed:,} placed in a 2021 LSOA)")
    return frame.sort_values(["authority", "code"], kind="stable").reset_index(drop=True)


# -- live feeds in JSON -----------------------------------------------------------------------------------------

#: The LAQN's species, the columns a feed of its hourly index gives (the index 1-10 of each; none: no reading).
LAQN_SPECIES = ("NO2", "O3", "PM10", "PM25", "SO2", "CO")


def _listed(value: object) -> list:
    """XML-converted JSON (the LAQN's): one item is an object, several a list, none absent."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _scalar(value: object) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return ""
    return str(value)


def json_rows(data: bytes, report: Any) -> list[list[str]]:
    """A live point feed in JSON as a table (the header first), pulled like a CSV feed: a GeoJSON
    FeatureCollection of points (columns ``id``, ``lon``, ``lat`` and each property), or an LAQN
    ``HourlyAirQualityIndex`` response (the model: ``SiteCode``, ``SiteName``, ``SiteType``, ``lon``, ``lat``, and
    the index of each species, empty where the site had no reading that hour). Problems go into ``report``."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.error("format", f"the feed is not valid JSON: {exc}")
        return []
    if isinstance(doc, dict) and isinstance(doc.get("HourlyAirQualityIndex"), dict):
        rows = [["SiteCode", "SiteName", "SiteType", "lon", "lat", *LAQN_SPECIES]]
        for la in _listed(doc["HourlyAirQualityIndex"].get("LocalAuthority")):
            if not isinstance(la, dict):
                continue
            for site in _listed(la.get("Site")):
                if not isinstance(site, dict):
                    continue
                index = {}
                for sp in _listed(site.get("Species")):
                    if isinstance(sp, dict) and _scalar(sp.get("@AirQualityIndex")) not in ("", "0"):
                        index[_scalar(sp.get("@SpeciesCode")).upper()] = _scalar(sp.get("@AirQualityIndex"))
                rows.append([_scalar(site.get("@SiteCode")), _scalar(site.get("@SiteName")),
                             _scalar(site.get("@SiteType")), _scalar(site.get("@Longitude")),
                             _scalar(site.get("@Latitude")), *(index.get(sp, "") for sp in LAQN_SPECIES)])
        return rows
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" and isinstance(doc.get("features"), list):
        features = [f for f in doc["features"] if isinstance(f, dict)]
        keys = sorted({k for f in features if isinstance(f.get("properties"), dict)
                       for k, v in f["properties"].items() if k not in ("id", "lon", "lat") and _scalar(v)})
        rows = [["id", "lon", "lat", *keys]]
        for i, f in enumerate(features, start=1):
            geometry = f.get("geometry") if isinstance(f.get("geometry"), dict) else {}
            coords = geometry.get("coordinates") if geometry.get("type") == "Point" else None
            lon, lat = (coords[:2] if isinstance(coords, list) and len(coords) >= 2 else ["", ""])
            props = f.get("properties") if isinstance(f.get("properties"), dict) else {}
            ident = _scalar(f.get("id")) or _scalar(props.get("id")) or str(i)
            rows.append([ident, _scalar(lon), _scalar(lat), *(_scalar(props.get(k)) for k in keys)])
        return rows
    report.error("format", "a JSON feed must be a GeoJSON FeatureCollection of points or an LAQN "
                 "HourlyAirQualityIndex response")
    return []


# -- aggregation to areas ---------------------------------------------------------------------------------------

def _points(store: Any, pub: registry.Published) -> pd.DataFrame:
    """A published table of points as stored: this host's checked copy of its version (atlas/storage.py: the
    file itself in a file storage, else fetched from object storage once). Raises storage.Unavailable."""
    return pq.read_table(storage.local_copy(pub.object_key, pub.sha256, Path(store.data_dir))).to_pandas()


def _population(store: Any, level: str) -> pd.Series | None:
    pop_id = air.POPULATION.get(level)
    if pop_id is None:
        return None
    row = store.variable(pop_id)
    path = Path(store.build_dir) / "values" / level / f"{row['dataset']}.parquet"
    frame = pq.read_table(path, columns=["code", pop_id]).to_pandas()
    return frame.set_index("code")[pop_id].astype("float64")


def _aggregate(store: Any, pub: registry.Published, level: str) -> pd.DataFrame:
    points = _points(store, pub)
    areas = store.area_index(level)
    areas = areas[areas["authority"].isin(pub.authorities)][["code", "authority"]].reset_index(drop=True)
    column = f"{PREFIX}{level}"
    placed = points[points[column].notna()] if column in points else points.iloc[0:0]
    groups = placed.groupby(column)
    frame = areas.copy()
    count = groups.size().reindex(frame["code"]).fillna(0).to_numpy(dtype="float64")
    frame[f"{pub.key}_count"] = count
    people = _population(store, level)
    if people is not None:
        residents = people.reindex(frame["code"]).to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            frame[f"{pub.key}_per_1000"] = np.where(residents > 0, count / residents * 1000, np.nan)
    for var in pub.variables:
        vid = var["id"]
        frame[f"{vid}_sum"] = groups[vid].sum(min_count=0).reindex(frame["code"]).fillna(0).to_numpy("float64")
        frame[f"{vid}_mean"] = groups[vid].mean().reindex(frame["code"]).to_numpy("float64")
    return frame


def level_file(store: Any, pub: registry.Published, level: str) -> str:
    """The file of a point dataset's area variables at ``level`` (of its current version), derived on first use
    (see the module)."""
    path = Path(pub.file)
    # In this host's folder beside the published versions (atlas/publish.py's sweep removes those of old
    # versions and builds), whichever storage the versions are kept in.
    folder = registry.published_dir(Path(store.data_dir)) / DERIVED
    target = folder / f"{path.parent.name}-{path.stem}.{store.build_id}.{level}.parquet"
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(_aggregate(store, pub, level), preserve_index=False)
        tmp = folder / f".{target.name}.{uuid.uuid4().hex[:8]}.tmp"
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, target)
    return str(target)


# -- the point layer's view of a published point dataset ------------------------------------------------------

def point_meta(pub: registry.Published) -> dict:
    """A visible point dataset described as the build's monitoring datasets are (atlas/points.py)."""
    measures = [{"id": v["id"], "label": v["label"], "unit": v.get("unit") or "", "period": f"as of {pub.as_of}",
                 "decimals": v["decimals"] if v.get("decimals") is not None else 2, "scale": "value"}
                for v in pub.variables]
    if not measures:
        measures = [{"id": "point", "label": "Where the points are", "unit": "", "period": f"as of {pub.as_of}",
                     "decimals": 0, "scale": "presence"}]
    return {"id": pub.key, "title": pub.title, "description": pub.description, "kind": "snapshot",
            "as_of": pub.as_of, "start": pub.as_of, "end": pub.as_of, "measures": measures, "lockdown": None,
            "note": f"Published by {pub.org_name}; {pub.status()}.", "source": pub.source, "licence": pub.licence,
            "monitoring": False, "published": True, "access": pub.rule.access, "version": pub.version,
            "open": pub.rule.access == "public", "publisher": pub.org_name, "dataset_id": pub.id}


def _audit(pub: registry.Published, detail: str, store: Any) -> None:
    if pub.rule.access != "public":
        audit.read(pub.id, pub.rule.org_id, detail, url=db.database_url(data_dir=store.data_dir))


def sites(store: Any, pub: registry.Published, authority: str | None = None) -> pd.DataFrame:
    """A published point dataset's points shaped as the build's sites (site, name, type, network, lon, lat,
    authority, authority_name, lsoa11, lsoa21, place, measures), by code; those in ``authority``'s districts
    when given."""
    points = _points(store, pub)
    if authority is not None:
        members = store.members(authority)
        if members is not None:
            points = points[points["authority"].isin(list(members))]
    measures = [m["id"] for m in point_meta(pub)["measures"]]
    names = {a["code"]: a["name"] for a in store.authorities()}
    frame = pd.DataFrame({
        "site": points["code"].astype(str), "name": points[f"{PREFIX}name"].where(points[f"{PREFIX}name"] != "",
                                                                                  points["code"]).astype(str),
        "type": "", "network": pub.org_name, "lon": points[f"{PREFIX}lon"], "lat": points[f"{PREFIX}lat"],
        "authority": points["authority"], "authority_name": points["authority"].map(names),
        "lsoa11": points.get(f"{PREFIX}lsoa11"), "lsoa21": points.get(f"{PREFIX}lsoa21"), "place": ""})
    frame["measures"] = [measures] * len(frame)
    _audit(pub, "points", store)
    return frame.sort_values("site", ignore_index=True)


@functools.lru_cache(maxsize=256)
def _versions(url: str, dataset_id: int, count: int) -> tuple[tuple[str, str, str], ...]:
    """(as_of, file, sha256) of the version that holds each time of a dataset, by time: of the versions with one as-of
    date, the latest (a later version of the same time supersedes the earlier; a restore is a later version
    too). Cached by the number of versions, which only grows (a version is never changed or removed)."""
    import sqlalchemy as sa  # noqa: PLC0415 - the registry's database, read only here and in atlas/registry.py

    with db.session(url) as s:
        rows = s.execute(sa.select(db.Version.number, db.Version.as_of, db.Version.file, db.Version.sha256)
                         .where(db.Version.dataset_id == dataset_id).order_by(db.Version.number)).all()
    latest: dict[str, tuple[str, str]] = {}
    for _, as_of, file, sha256 in rows:
        latest[as_of] = (file, sha256)
    return tuple((as_of, file, sha256) for as_of, (file, sha256) in sorted(latest.items()))


def series(store: Any, pub: registry.Published, site: str) -> pd.DataFrame:
    """Every reading of one point of a published dataset (measure, time, value, band, note), by measure then
    time, across all its versions (see ``_versions``): each version's as-of date is a time, so a new version
    with new readings extends the series, and one of the same date replaces that time's readings. A version
    whose object is lost or damaged (``atlas check`` reports it) is left out, as if it had no readings; object
    storage out of reach answers storage.Unavailable (a 503), as for the latest version."""
    url = db.database_url(data_dir=store.data_dir)
    ids = [v["id"] for v in pub.variables] or ["point"]
    parts = []
    for as_of, file, sha256 in _versions(url, pub.id, pub.versions):
        try:
            path = storage.local_copy(registry.object_key(file), sha256, Path(store.data_dir))
            table = pq.read_table(path, filters=[("code", "=", site)])
        except (OSError, pa.ArrowException, storage.Corrupt):
            continue
        points = table.to_pandas()
        if points.empty:
            continue  # not in the table of that time: no reading then
        for vid in ids:
            value = points[vid].to_numpy("float64") if vid in points else (
                np.ones(len(points)) if vid == "point" else np.full(len(points), np.nan))
            parts.append(pd.DataFrame({"measure": vid, "time": as_of, "value": value[:1], "band": None,
                                       "note": None}))
    _audit(pub, "site series", store)
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["measure", "time", "value", "band", "note"])
    return frame.sort_values(["measure", "time"], ignore_index=True)


def readings(store: Any, pub: registry.Published, measure: str | None = None, site: str | None = None
             ) -> pd.DataFrame:
    """The points' values as readings (site, measure, time: the as-of date, value, band, note)."""
    points = _points(store, pub)
    if site is not None:
        points = points[points["code"].astype(str) == site]
    ids = [v["id"] for v in pub.variables] or ["point"]
    parts = []
    for vid in ids:
        if measure is not None and vid != measure:
            continue
        value = points[vid].to_numpy("float64") if vid in points else np.ones(len(points))
        parts.append(pd.DataFrame({"site": points["code"].astype(str).to_numpy(), "measure": vid,
                                   "time": pub.as_of, "value": value, "band": None, "note": None}))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["site", "measure", "time", "value", "band", "note"])
    return frame.sort_values(["measure", "time", "site"], ignore_index=True)
