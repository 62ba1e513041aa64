"""The data API: every view's data as a URL (JSON, CSV, GeoJSON, geobuf), served from the request's catalogue.

``ROUTES`` below is the whole URL surface, in one table (the datasette pattern); ``GET /api`` serves it.
Routes only parse the URL, ask the request's catalogue (atlas/catalogue.py: what this requester may see) or,
for what depends on no one (tiles, search, locate), the extracts reader, and format the answer: no SQL, no
data logic. Every error is JSON with the valid choices, and no traceback ever reaches a client.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import flask

from atlas import (
    access,
    builder,
    catalogue,
    coverage,
    csvsafe,
    datapack,
    describe,
    extracts,
    locate,
    mapview,
    search,
    viewstate,
)
from atlas import view as atlas_view
from web import compression, errors

__all__ = ["ROUTES", "Route", "blueprint", "init_app"]

log = logging.getLogger(__name__)

blueprint = flask.Blueprint("api", __name__)

MAX_VALID = errors.MAX_VALID
VALUES_FORMATS = ("json", "csv", "geojson", "gpkg", "parquet")
#: The W3C CSVW name of a CSV's metadata: the CSV's own address with this appended.
CSVW_SUFFIX = ".csv-metadata.json"
#: Formats of one view's rows with each area's geometry, written by datapack.py.
GEO_FORMATS = {"geojson": "application/geo+json", "gpkg": "application/geopackage+sqlite3",
               "parquet": "application/vnd.apache.parquet"}
AREAS_FORMATS = ("geojson", "pbf", "json")
YEAR = 31_536_000
DAY = 86_400


@dataclass(frozen=True)
class Route:
    rule: str
    endpoint: str
    help: str


ROUTES: tuple[Route, ...] = (
    Route("/api", "index", "This list of routes, with the build in use and the levels it has."),
    Route("/api/authorities", "authorities",
          "Every local authority: code, name, nation, region, bbox and the levels (with vintage and area "
          "count) it has small-area data for. Authority `all` is the national overview at level `lad`."),
    Route("/api/authorities/<authority>", "authority",
          "One authority, as in /api/authorities; also a place larger than a district (a region E12..., Wales "
          "W92000004, a combined authority E47..., or `all`), with its `kind`, its districts and its levels."),
    Route("/api/tiles/<level>/<z>/<x>/<y>.mvt", "tiles",
          "Vector tiles (Mapbox Vector Tile, layer `areas`, zoom 4-12) of every area of England and Wales at a "
          "small-area level; each feature's `i` is its position in the code order of /api/values/all/<level>/... "
          "Add ?v=<build> to cache a tile for a year. 204 where a tile holds nothing."),
    Route("/api/places", "places",
          "Every place larger than a district (regions, Wales, combined authorities): code, name, kind, its "
          "districts, levels (with area counts) and bbox. Each is an `authority` everywhere a district is."),
    Route("/api/search", "search",
          "Find a place: ?q=<text> (a name in English or Welsh, a code, or a postcode in any spacing and case; "
          "typos forgiven) and ?limit= (1-50, default 10). Each result: kind (country, region, nation, "
          "combined_authority, authority, place, ward, postcode_district, postcode, lsoa, oa), what it is and "
          "where ('village' in 'Richmondshire, North Yorkshire'), code, name, label, authority, level, area (the "
          "area to select), bbox, url (the explorer's view of it); a place or postcode also its point and zoom, "
          "and the areas its point lies in (LSOA 2011 and 2021, Output Area where held, ward); a postcode its "
          "status (live, or terminated with its date) and, where its council changed after 2021, district_now. "
          "`note` says what the atlas cannot answer (a Scottish, Northern Irish or unknown postcode, a name the "
          "gazetteer lacks)."),
    Route("/api/labels/<band>.json", "labels",
          "The reference layer's names: band `main` (districts, cities, towns) or `local` (suburbs, villages, "
          "wards, hamlets): {kinds: {code: [from zoom, to zoom]}, rows: [[name, kind, lon, lat, from zoom]]}. "
          "Add ?v=<build> to cache it for a year."),
    Route("/api/locate", "locate",
          "The areas containing a point: ?lat=&lon= (WGS84 degrees) -> the LSOA of 2011 and of 2021, Output Area "
          "(where held), ward and district, with the explorer's queries to open them; 404 outside England and "
          "Wales."),
    Route("/api/variables", "variables",
          "The variable catalogue, filtered by ?authority=, ?level=, ?topic= and free text ?q= "
          "(every word must match the id, label, table, table title, cell or topic). Each entry says its kind "
          "(numeric or categorical, with its categories), method (published, derived, re-based, apportioned, "
          "change), the exact cells it uses, its coverage and vintage, and where it has data (`where`)."),
    Route("/api/variables/<variable>", "variable",
          "One variable's catalogue entry; also a built indicator's (`b~<table>~<cells>~<cells>~<name>`, see "
          "/api/builder), with its definition under `built` (400 naming what is wrong with a bad one)."),
    Route("/api/builder", "builder_tables",
          "The census tables indicators can be built from (a share of some of a table's counts over its total or "
          "other counts of the same universe): table id, title, levels, cells; ?authority= and ?level= keep "
          "those with data there. A built indicator's code goes wherever a variable code goes."),
    Route("/api/builder/<table>", "builder_table",
          "One table's count cells, numbered as a built indicator's code names them, each with its label and "
          "its universe's total (the default denominator)."),
    Route("/api/values/<authority>/<level>/<variable>.<format>", "values",
          "One row per area: code, name, full_name (its friendly name: 'Birmingham 043C, in Nechells ward'), "
          "value, rank (within the authority or place, 1 = highest value) and "
          "rank_national (where the variable covers a whole nation at that level). A categorical variable's "
          "value is its category code, with the category's `label`, and no ranks; a re-based Census 2021 figure "
          "(or a change 2011 -> 2021) says per area whether it is an estimate (`estimated`). Formats: json (with "
          "the variable's metadata), csv, and with each area's geometry (WGS84): geojson, gpkg (GeoPackage) and "
          "parquet (GeoParquet), which carry the variable's source and licence in their metadata and a title "
          "for every column. Beside the CSV, `<variable>.csv-metadata.json` is its W3C CSV on the Web "
          "metadata (every column's title, datatype, unit, notes; source, licence, vintage)."),
    Route("/api/view.json", "view",
          "Exactly what the map shows for the explorer's own query string (authority, level, variable, scheme, "
          "k, breaks, scope, palette, reverse, opacity): the classes with their printed labels, bounds, counts "
          "and colours, the legend, notes, and for every area its code, name, printed value, class and rank "
          "(the same ranks as /api/values). ?fields=paint or ?fields=details gives the parts the dashboard "
          "fetches (class digits and legend; printed values and ranks by column), and ?fields=rows one page of the "
          "table (sort=name|value|rank|rn|class, dir=asc|desc, page from 0, size 1-100, find=<area code> for the "
          "page holding that area): the order of the page's areas and their printed values and ranks. A query "
          "the map would have "
          "to change is refused (400, or 404 for an unknown authority or variable), naming the parameter."),
    Route("/api/areas/<authority>/<level>.<format>", "areas",
          "Display geometry of the areas (properties code and name, ordered by code), as geojson or pbf "
          "(geobuf); or json: only their codes and friendly names ({\"codes\": [...], \"names\": [...]}, "
          "ordered by code, as the map's tiles number them). Add ?v=<build> to cache it for a year."),
)


class BadFormat(LookupError):
    def __init__(self, value: str, valid: tuple[str, ...]) -> None:
        self.value, self.valid = value, list(valid)
        super().__init__(f"unknown format {value!r}; valid formats: {', '.join(valid)}")


# -- responses ---------------------------------------------------------------------------------------------

def _json_text(payload: Any) -> str:
    # allow_nan=False: a NaN that slipped through is a bug, and must not become invalid JSON for a client.
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _json(payload: Any, status: int = 200) -> flask.Response:
    return flask.Response(_json_text(payload), status=status, mimetype="application/json")


_error = errors.json_error


def _cacheable(response: flask.Response, tag: str, build_id: str, scoped: bool = False) -> flask.Response:
    """Strong ETag, long-lived caching when the URL names the build (?v=), and 304 on a match.

    web.compression compresses the body afterwards (brotli or gzip, cached per worker by this ETag) and
    gives each encoding its own tag (``<tag>:br``); a conditional request for an encoded tag is answered
    there, after compressing.
    """
    scope = "open" if scoped else catalogue.of_request().scope_key()
    if scope != "open":
        # What the requester may see is part of the representation: one requester's 304 never validates
        # another's list (web/auth.py makes such answers private and varies them on Cookie, Authorization).
        tag = f"{tag}:{scope}"
    response.set_etag(tag)
    if flask.request.args.get("v") == build_id:
        # The URL names this build, whose files never change: a year, and no revalidation.
        response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    else:
        response.headers["Cache-Control"] = f"public, max-age={DAY}"
    return response.make_conditional(flask.request)


def _split(filename: str, formats: tuple[str, ...]) -> tuple[str, str]:
    name, dot, fmt = filename.rpartition(".")
    if not dot or fmt not in formats:
        raise BadFormat(fmt if dot else "", formats)
    return name, fmt


def _number(value: float) -> int | float | None:
    """JSON/CSV form of a value: None for missing, whole numbers without a trailing .0."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if float(value).is_integer() and abs(value) < 2**53:
        return int(value)
    return float(value)


def _ints(series: Any) -> list[int | None]:
    """A nullable integer column as plain ints and None."""
    missing = series.isna().to_numpy()
    return [None if m else int(v) for v, m in zip(series.to_numpy(dtype="int64", na_value=0), missing,
                                                      strict=True)]


def _param(name: str) -> str | None:
    value = flask.request.args.get(name, "").strip()
    return value or None


# -- views -------------------------------------------------------------------------------------------------

@access.declares("site.view")
def index() -> flask.Response:
    s = catalogue.of_request()
    return _json({
        "build": s.build_id,
        "levels": s.levels,
        "national_overview": f"/api/values/{extracts.ALL}/{extracts.NATIONAL_LEVEL}/<variable>.json",
        "routes": [{"rule": r.rule, "help": r.help} for r in ROUTES]
        + [{"rule": rule, "help": help} for rule, help in flask.current_app.extensions.get("atlas_routes", [])],
    })


@access.declares("site.view")
def authorities() -> flask.Response:
    s = catalogue.of_request()
    return _cacheable(_json({"build": s.build_id, "authorities": s.authorities()}),
                      f"{s.build_id}:authorities", s.build_id)


@access.declares("site.view")
def authority(authority: str) -> flask.Response:
    s = catalogue.of_request()
    return _cacheable(_json(s.authority(authority)), f"{s.build_id}:authority:{authority}", s.build_id)


@access.declares("site.view")
def variables() -> flask.Response:
    s = catalogue.of_request()
    filters = {name: _param(name) for name in ("authority", "level", "topic", "q")}
    rows = [_described(s, row) for row in s.variables(**filters)]
    # The filters are free text: they enter the ETag only as a digest.
    digest = hashlib.sha256(json.dumps(filters, sort_keys=True).encode()).hexdigest()[:20]
    return _cacheable(_json({"build": s.build_id, "count": len(rows), "variables": rows}),
                      f"{s.build_id}:variables:{digest}", s.build_id)


def _described(s: catalogue.Catalogue, row: dict) -> dict:
    """A catalogue row as the API gives it: every column (kind, method, cells, coverage, vintage, note,
    categories...) and ``where``: its levels, how many authorities have values, and the source's reach."""
    row["where"] = coverage.summary(s, row)
    return row


@access.declares("site.view")
def variable(variable: str) -> flask.Response:
    s = catalogue.of_request()
    return _cacheable(_json(_described(s, s.variable(variable))), f"{s.data_version(variable)}:variable:{variable}",
                      s.build_id)


@access.declares("site.view")
def builder_tables() -> flask.Response:
    _only(("authority", "level"))
    s = catalogue.of_request()
    authority, level = _param("authority"), _param("level")
    if (authority is None) != (level is None):
        raise BadQuery("level" if level is None else "authority", "give both ?authority= and ?level=, or neither")
    if authority is not None and level is not None:
        s.area_count(authority, level)  # NotFound for an unknown place or level
    rows = [{k: v for k, v in builder.describe(t).items() if k != "cells"} | {"cells": len(t.cells)}
            for t in s.built_tables().values()
            if authority is None or level is None or s.has_data(t.cells[0]["id"], authority, level)]
    digest = hashlib.sha256(f"{authority}|{level}".encode()).hexdigest()[:20]
    return _cacheable(_json({"build": s.build_id, "count": len(rows), "tables": rows}),
                      f"{s.build_id}:builder:{digest}", s.build_id)


@access.declares("site.view")
def builder_table(table: str) -> flask.Response:
    s = catalogue.of_request()
    found = s.built_tables().get(table)
    if found is None:
        raise extracts.NotFound("table", table[:60], sorted(s.built_tables()))
    return _cacheable(_json(builder.describe(found)), f"{s.build_id}:builder:{table}", s.build_id)


@access.declares("site.view")
def values(authority: str, level: str, filename: str) -> flask.Response:
    if filename.endswith(CSVW_SUFFIX):
        return _values_csvw(authority, level, filename[:-len(CSVW_SUFFIX)])
    variable, fmt = _split(filename, VALUES_FORMATS)
    s = catalogue.of_request()
    df = s.values(authority, level, variable)
    if fmt in GEO_FORMATS:
        return _geo_values(s, df, authority, level, variable, fmt)
    categorical = "category" in df.columns
    fields = _values_fields(df)
    carried = [f for f in extracts.CARRIED_FIELDS if f in df.columns]
    tag = f"{s.data_version(variable)}:values:{authority}:{level}:{variable}:{fmt}"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(fields)
        for columns in _value_slices(df, fields):
            for cells in zip(*columns.values(), strict=True):
                writer.writerow(csvsafe.row("" if v is None else _csv_flag(v) for v in cells))
        response = flask.Response(out.getvalue(), mimetype="text/csv")
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{authority}_{level}_{variable}.csv"')
        meta = s.variable(variable)
        # The licence, and the CSVW metadata that describes every column (W3C CSVW's "describedby").
        csvw = flask.url_for("api.values", authority=authority, level=level, filename=variable + CSVW_SUFFIX)
        described = f'<{csvw}>; rel="describedby"; type="application/csvm+json"'
        link = _licence_link(meta)
        response.headers["Link"] = f"{link}, {described}" if link else described
        if meta.get("as_of"):
            response.headers["X-Atlas-As-Of"] = meta["as_of"]
            response.headers["X-Atlas-Status"] = meta.get("status", "")
        return _cacheable(response, tag, s.build_id)
    meta = s.variable(variable)
    ranked = (meta.get("unit") or "").lower() not in extracts.UNRANKED_UNITS and not categorical and not carried
    if carried:
        meta["rank_note"] = ("These figures are carried from the areas they were published for (see `carried`), so "
                             "they are shown as published and not ranked again: rank and rank_national are null.")
    elif categorical:
        meta["rank_note"] = ("The value is a category code (its label beside it); categories are not ranked, so "
                             "rank and rank_national are null.")
    elif not ranked:
        meta["rank_note"] = ("The value is the publisher's own rank or decile, shown as published; it is not "
                             "ranked again, so rank and rank_national are null.")
    # The list of every authority the variable covers is long and beside the point here; it is one link away.
    meta.pop("authorities", None)
    place = s.authority(authority)
    payload = {
        "build": s.build_id,
        "authority": {"code": place["code"], "name": place["name"]},
        "level": level,
        "variable": meta,
        "ranked": ranked,
        "national_ranks": ranked and level in (meta.get("national_levels") or []),
        "count": len(df),
        "missing": int(df["category" if categorical else "value"].isna().sum()),
        **({"estimates": _estimates(s, authority, df["estimated"].tolist())} if "estimated" in fields else {}),
        **({"carried": _carried(df["carried"].tolist(), level)} if carried else {}),
        "rows": _ROWS,
        "links": {
            "variable": flask.url_for("api.variable", variable=variable),
            "csv": flask.url_for("api.values", authority=authority, level=level, filename=f"{variable}.csv"),
            **{f"values_{geo}": flask.url_for("api.values", authority=authority, level=level,
                                              filename=f"{variable}.{geo}") for geo in GEO_FORMATS},
            "geojson": flask.url_for("api.areas", authority=authority, filename=f"{level}.geojson",
                                     v=s.build_id),
            "pbf": flask.url_for("api.areas", authority=authority, filename=f"{level}.pbf", v=s.build_id),
        },
    }
    # The rows written a slice at a time into the answer's place for them: never one dict per area of the
    # level at once (34,753 of them for every LSOA: 30 MB of objects for a 5 MB answer).
    head, tail = _json_text(payload).split(json.dumps(_ROWS), 1)
    return _cacheable(flask.Response(b"".join([head.encode(), *_json_rows(df, fields), tail.encode()]),
                                     mimetype="application/json"), tag, s.build_id)


#: Rows of a values answer made (and written) at once.
ROWS_AT_ONCE = 2000
#: Where a values answer's rows go in its JSON, until they are written there.
_ROWS = "\x00atlas: the rows\x00"


def _value_slices(df: Any, fields: list[str]) -> Iterator[dict[str, list]]:
    """``_value_columns`` of ``df``'s rows, ``ROWS_AT_ONCE`` rows at a time (the CSV's and the JSON's)."""
    for start in range(0, len(df), ROWS_AT_ONCE):
        yield _value_columns(df.iloc[start:start + ROWS_AT_ONCE], fields)


def _value_columns(df: Any, fields: list[str]) -> dict[str, list]:
    """The values answer's ``fields`` of ``df``'s rows as plain values, by column: a categorical variable's
    value is its category code (text), with the category's label beside it; a re-based figure says per area
    whether it is an estimate; figures carried from other areas say what each area's figures are (its status,
    why, from how many areas, and a split area's range where it has no single figure)."""
    categorical = "category" in df.columns
    columns: dict[str, list] = {
        "code": df["code"].tolist(), "name": df["name"].tolist(), "full_name": df["full_name"].tolist(),
        "value": df["category"].tolist() if categorical else [_number(v) for v in df["value"].tolist()],
        "rank": _ints(df["rank"]), "rank_national": _ints(df["rank_national"])}
    if categorical:
        columns["label"] = df["label"].tolist()
    if "estimated" in df.columns:
        columns["estimated"] = [bool(flag) for flag in df["estimated"].tolist()]
    for field in extracts.CARRIED_FIELDS:
        if field in df.columns:
            columns[field] = [_number(v) if field in ("low", "high") else
                              None if v is None or (isinstance(v, float) and v != v) else
                              int(v) if field == "parts" else v for v in df[field].tolist()]
    return {k: columns[k] for k in fields}


def _json_rows(df: Any, fields: list[str]) -> list[bytes]:
    """``df``'s rows as the JSON list of objects (keys in the order of ``fields``) that ``_json`` would write,
    in UTF-8 pieces, made ``ROWS_AT_ONCE`` rows at a time."""
    parts = [b"["]
    for n, columns in enumerate(_value_slices(df, fields)):
        rows = [dict(zip(fields, cells, strict=True)) for cells in zip(*columns.values(), strict=True)]
        parts.append((b"," if n else b"") + _json_text(rows)[1:-1].encode())
    parts.append(b"]")
    return parts


def _values_fields(df: Any) -> list[str]:
    """The columns of a values CSV, in order (as ``values`` writes them)."""
    fields = ["code", "name", "full_name", "value"]
    if "category" in df.columns:
        fields.append("label")
    fields += ["rank", "rank_national"]
    if "estimated" in df.columns:
        fields.append("estimated")
    return fields + [f for f in extracts.CARRIED_FIELDS if f in df.columns]


def _values_csvw(authority: str, level: str, variable: str) -> flask.Response:
    """W3C CSVW metadata for /api/values/<authority>/<level>/<variable>.csv: the table's title, source, licence,
    vintage, and every column's title, datatype, unit and description (the cells a derived figure sums, notes,
    printed precision and the rounding rule)."""
    s = catalogue.of_request()
    df = s.values(authority, level, variable)
    meta = s.variable(variable)
    place = s.authority(authority)
    url = flask.url_for("api.values", authority=authority, level=level, filename=f"{variable}.csv", _external=True)
    body = describe.csvw_table(
        url, f"{meta.get('label') or variable}: {place['name']}, {level}",
        f"One row per area of {place['name']} ({authority}) at level {level}: the value of {variable} with its "
        "ranks.", describe.row_columns(_values_fields(df), meta))
    response = _json(body)
    response.mimetype = "application/csvm+json"
    return _cacheable(response, f"{s.data_version(variable)}:csvw:{authority}:{level}:{variable}", s.build_id)


def _csv_flag(value: Any) -> Any:
    """A CSV cell: booleans as true/false (the estimate flag), everything else as it is."""
    return ("true" if value else "false") if isinstance(value, bool) else value


def _estimates(s: catalogue.Catalogue, authority: str, flags: list) -> dict:
    """How many rows are estimates (``flags``, per row), why, and how the authority's 2011 LSOAs map to 2021
    ones."""
    return {"count": sum(1 for flag in flags if flag),
            "why": "Census 2021 figures re-based onto 2011 LSOAs: where 2011 LSOAs were merged into one 2021 LSOA "
                   "(or changed irregularly), the 2021 figure is shared among them by their 2011 shares, an "
                   "estimate (estimated = true). Unchanged and split LSOAs are exact.",
            "lsoa11_lsoa21": s.rebasing(authority)}


def _carried(statuses: list, level: str) -> dict:
    """How many rows' figures are another area's, by status (``statuses``, per row), and the rules."""
    counts: dict[str, int] = {}
    for status in statuses:
        if status and status == status:  # not None, not NaN
            counts[status] = counts.get(status, 0) + 1
    if level == "lad":
        why = ("MHCLG's File 10 summarises the districts of 2024: a December 2021 district merged in April 2023 "
               "(carried = merged) shows its 2024 district's figures, shared by its former districts; the others "
               "(unchanged) are File 10's own.")
    else:
        why = ("Published for the LSOAs of 2021 and carried onto the 2011 LSOAs through the ONS exact-fit lookup: "
               "unchanged (its own figures), merged (the 2021 LSOA it became part of: that area's figures, "
               "shared), split (no single figure: value is null unless every part has the same one, and low and "
               "high are the lowest and highest of its parts; never an average), irregular (ONS 'X': as merged or "
               "split). parts = how many 2021 LSOAs the figures come from.")
    return {"counts": counts, "why": why}


def _licence_link(meta: dict) -> str | None:
    match = re.search(r"https?://[^\s)]+", meta.get("licence") or "")
    return f'<{match.group(0)}>; rel="license"' if match else None


def _geo_values(s: catalogue.Catalogue, df: Any, authority: str, level: str, variable: str, fmt: str
                ) -> flask.Response:
    """The same rows as the JSON, with each area's geometry, as GeoJSON, GeoPackage or GeoParquet."""
    tag = f"{s.data_version(variable)}:values:{authority}:{level}:{variable}:{fmt}"
    scope = s.scope_key()
    tag = tag if scope == "open" else f"{tag}:{scope}"
    held = [t for t in compression.etag_variants(tag) if flask.request.if_none_match.contains(t)]
    if held:
        # Answer a revalidation before writing a GeoPackage that would be thrown away: a 304 for the
        # representation the client holds (identity, or an encoding web.compression made).
        return _cacheable(flask.Response(b"", mimetype=GEO_FORMATS[fmt]), held[0], s.build_id, scoped=True)
    meta = s.variable(variable)
    # Written in the worker's pool (geopandas and GDAL never in a web worker); renderpool.Busy is a 503.
    body = datapack.view_file(df, s.area_geojson_bytes(authority, level), meta, fmt, f"{authority}_{level}_{variable}")
    response = flask.Response(body, mimetype=GEO_FORMATS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{authority}_{level}_{variable}.{fmt}"'
    link = _licence_link(meta)
    if link:
        response.headers["Link"] = link
    return _cacheable(response, tag, s.build_id, scoped=True)


VIEW_FIELDS = ("all", "paint", "details", "rows")
#: fields=rows (one page of the table): its own keys, and what they take.
ROWS_KEYS = {"sort": ("name", "value", "rank", "rn", "class"), "dir": ("asc", "desc")}
ROWS_SIZE = (1, 100)


class BadView(ValueError):
    def __init__(self, status: int, message: str, parameters: list[str], messages: list[str]) -> None:
        self.status, self.parameters, self.messages = status, parameters, messages
        super().__init__(message)


@access.declares("site.view")
def view() -> flask.Response:
    s = catalogue.of_request()
    args = flask.request.args
    repeated = [k for k, values in args.lists() if len(values) > 1]
    fields = args.get("fields", "all")
    extra = ("fields", *ROWS_KEYS, "page", "size", "find") if fields == "rows" else ("fields",)
    unknown = sorted(k for k in args if k not in viewstate.KEYS and k not in extra)
    if repeated or unknown or fields not in VIEW_FIELDS:
        bad = repeated or unknown or ["fields"]
        raise BadView(400, f"cannot show this view: {', '.join(bad)} "
                      + ("given more than once" if repeated else "not understood" if unknown
                         else f"must be one of {', '.join(VIEW_FIELDS)}"), bad,
                      [f"the view's keys are {', '.join(viewstate.KEYS)}, and fields={'|'.join(VIEW_FIELDS)}"])
    raw, messages = viewstate.parse_query(urlencode([(k, args[k]) for k in viewstate.KEYS if k in args]))
    if messages:
        raise BadView(400, " ".join(messages), ["query"], messages)
    try:
        state = viewstate.resolve_strict(raw, s, lambda a, lv: mapview.available_variables(s, a, lv))
    except viewstate.StrictError as exc:
        status = 404 if {"authority", "variable"} & set(exc.parameters) else 400
        raise BadView(status, f"cannot show this view as given ({', '.join(exc.parameters)}): {exc}",
                      exc.parameters, exc.messages) from None
    canonical = viewstate.to_query(state)
    rows = _rows_args(args) if fields == "rows" else None
    asked = fields + (json.dumps(rows, sort_keys=True) if rows else "")
    tag = f"{s.data_version(state.variable)}:view:{hashlib.sha256((canonical + asked).encode()).hexdigest()[:24]}"
    scope = s.scope_key()
    tag = tag if scope == "open" else f"{tag}:{scope}"
    held = [t for t in compression.etag_variants(tag) if flask.request.if_none_match.contains(t)]
    if held:  # a revalidation: answered before the view is built
        return _cacheable(flask.Response(b"", mimetype="application/json"), held[0], s.build_id, scoped=True)
    shown = atlas_view.build(s, state)
    if fields == "paint":
        body: dict[str, Any] = shown.paint()
    elif fields == "details":
        body = shown.details()
    elif rows is not None:
        if shown.categorical:  # its paint holds every category: there are no figures to page through
            raise BadView(400, "fields=rows: a categorical view has no figures to page (its paint has them all)",
                          ["fields"], ["use fields=paint for a categorical variable"])
        body = shown.rows(**rows)
    else:
        body = {"build": s.build_id, "query": canonical, **shown.to_json()}
    return _cacheable(_json(body), tag, s.build_id, scoped=True)


def _rows_args(args: Any) -> dict:
    """fields=rows's keys, checked: sort, dir, page (from 0), size (1-100), find (an area code)."""
    out: dict[str, Any] = {"sort": args.get("sort", "rank"), "descending": args.get("dir", "asc") == "desc",
                           "find": args.get("find") or None}
    for key, allowed in ROWS_KEYS.items():
        if args.get(key, allowed[0] if key == "dir" else "rank") not in allowed:
            raise BadView(400, f"fields=rows: {key} must be one of {', '.join(allowed)}", [key],
                          [f"{key} is one of {', '.join(allowed)}"])
    for key, default, (low, high) in (("page", "0", (0, 10**6)), ("size", "25", ROWS_SIZE)):
        text = args.get(key, default)
        if not re.fullmatch(r"[0-9]{1,7}", text) or not low <= int(text) <= high:
            raise BadView(400, f"fields=rows: {key} must be a whole number from {low} to {high}", [key],
                          [f"{key} is a whole number from {low} to {high}"])
        out[key] = int(text)
    return out


@access.declares("site.view")
def tiles(level: str, z: str, x: str, filename: str) -> flask.Response:
    y, fmt = _split(filename, ("mvt",))
    coords = []
    for name, text in (("z", z), ("x", x), ("y", y)):
        if not re.fullmatch(r"[0-9]{1,5}", text):
            raise BadQuery(name, f"{name} must be a whole number")
        coords.append(int(text))
    zoom, col, row = coords
    if zoom > 24 or col >= 2**zoom or row >= 2**zoom:
        raise BadQuery("z", "no such tile: x and y must be below 2^z, z at most 24")
    s = extracts.current()  # the build's files only: no catalogue (and no database) for a tile
    data = s.tile(level, zoom, col, row)
    response = flask.Response(data or b"", status=200 if data else 204, mimetype="application/vnd.mapbox-vector-tile")
    return _cacheable(response, f"{s.build_id}:tile:{level}:{zoom}:{col}:{row}", s.build_id, scoped=True)


@access.declares("site.view")
def labels(filename: str) -> flask.Response:
    band, _fmt = _split(filename, ("json",))
    s = extracts.current()  # the build's files only: the same names for everyone
    response = flask.Response(s.labels(band), mimetype="application/json")
    return _cacheable(response, f"{s.build_id}:labels:{band}", s.build_id, scoped=True)


@access.declares("site.view")
def places() -> flask.Response:
    s = catalogue.of_request()
    return _cacheable(_json({"build": s.build_id, "places": s.larger_places()}), f"{s.build_id}:places", s.build_id)


class BadQuery(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(message)


def _only(names: tuple[str, ...]) -> None:
    """Refuse repeated and unknown query keys (an API answers what was asked, or says what it did not read)."""
    args = flask.request.args
    for key, values in args.lists():
        if key not in names:
            raise BadQuery(key, f"unknown parameter {key[:40]!r}; this route reads {', '.join(names)}")
        if len(values) > 1:
            raise BadQuery(key, f"{key} given more than once")


@access.declares("site.view")
def search_route() -> flask.Response:
    _only(("q", "limit"))
    text = flask.request.args.get("q", "")
    if len(text) > search.MAX_QUERY:
        raise BadQuery("q", f"q is at most {search.MAX_QUERY} characters")
    limit = flask.request.args.get("limit", "10")
    if not re.fullmatch(r"[0-9]{1,3}", limit) or not 1 <= int(limit) <= search.MAX_LIMIT:
        raise BadQuery("limit", f"limit must be a whole number from 1 to {search.MAX_LIMIT}")
    s = extracts.current()
    found = search.search(s, text, limit=int(limit))
    for r in found["results"]:
        r["url"] = "/" + _open_query(r)
    tag = f"{s.build_id}:search:{hashlib.sha256(f'{text}|{limit}'.encode()).hexdigest()[:24]}"
    return _cacheable(_json({"build": s.build_id, **found}), tag, s.build_id, scoped=True)


def _open_query(result: dict) -> str:
    """The explorer's query string that opens a search result (its district or place and level, the area
    selected; a postcode or a place pinned at its point, the map there at its zoom)."""
    params = [("authority", result["authority"]), ("level", result["level"])]
    if result.get("area"):
        params.append(("area", result["area"]))
    point = result.get("point")
    if point and point[0] is not None:
        lon, lat = point
        if result.get("zoom"):
            params.append(("map", viewstate.format_map(int(result["zoom"]), lat, lon)))
        params.append(("pin", viewstate.format_pin(lat, lon)))
    return "?" + urlencode(params, safe="/,")


_NUMBER = re.compile(r"-?[0-9]{1,3}(\.[0-9]{1,12})?")


@access.declares("site.view")
def locate_route() -> flask.Response:
    _only(("lat", "lon"))
    given = {}
    for key in ("lat", "lon"):
        value = flask.request.args.get(key, "").strip()
        if not _NUMBER.fullmatch(value):
            raise BadQuery(key, f"{key} must be a number in decimal degrees (WGS84), e.g. lat=52.4612&lon=-1.9256")
        given[key] = float(value)
    s = extracts.current()
    try:
        found = locate.locate(s, given["lat"], given["lon"])
    except ValueError as exc:
        raise BadQuery("lat", str(exc)) from None
    areas = found.areas
    if not found.inside:
        lad = areas.get("lad")
        where = f" (it is in {lad['label']})" if lad else ""
        return _error(404, f"the point {given['lat']}, {given['lon']} is outside England and Wales{where}: this atlas "
                           "maps the neighbourhoods of England and Wales", [])
    authority = areas["lsoa11"]["authority"]
    lsoa21 = areas.get("lsoa21")
    out = {"build": s.build_id, "lat": found.lat, "lon": found.lon,
           "lsoa": areas["lsoa11"], "lsoa21": lsoa21, "oa": areas.get("oa11"), "ward": areas.get("ward22"),
           "authority": {"code": authority, "name": s.authority_rows[authority]["name"]},
           "url": "/" + _open_query({"authority": authority, "level": "lsoa11", "area": areas["lsoa11"]["code"]}),
           # The 2021 LSOA (today's deprivation indices and Census 2021 are published for it), opened in its own
           # district: an LSOA of 2021 lies in one.
           "url_lsoa21": None if lsoa21 is None else
           "/" + _open_query({"authority": lsoa21["authority"], "level": "lsoa21", "area": lsoa21["code"]})}
    response = _json(out)
    response.headers["Cache-Control"] = "private, no-store"  # a person's whereabouts: never kept by a cache
    return response


@access.declares("site.view")
def areas(authority: str, filename: str) -> flask.Response:
    level, fmt = _split(filename, AREAS_FORMATS)
    s = catalogue.of_request()
    if fmt == "json":
        codes, names = s.area_names(authority, level)
        response = _json({"authority": authority, "level": level, "codes": codes, "names": names})
    elif fmt == "geojson":
        response = flask.Response(s.area_geojson_bytes(authority, level), mimetype="application/geo+json")
    else:
        response = flask.Response(s.area_pbf(authority, level), mimetype="application/x-protobuf")
    return _cacheable(response, f"{s.build_id}:areas:{authority}:{level}:{fmt}", s.build_id)


@access.declares("site.view")
def unknown(rest: str) -> flask.Response:
    if flask.request.method not in ("GET", "HEAD"):
        return _error(405, f"the data API is read-only: use GET, not {flask.request.method}",
                      [r.rule for r in ROUTES])
    return _error(404, f"no API route matches /api/{rest}", [r.rule for r in ROUTES])


_VIEWS: dict[str, tuple[str, Callable[..., flask.Response]]] = {
    # endpoint -> (Flask rule, view): the Flask spelling of each ROUTES rule
    "index": ("/api", index),
    "authorities": ("/api/authorities", authorities),
    "authority": ("/api/authorities/<authority>", authority),
    "variables": ("/api/variables", variables),
    "variable": ("/api/variables/<variable>", variable),
    "builder_tables": ("/api/builder", builder_tables),
    "builder_table": ("/api/builder/<table>", builder_table),
    # <variable>.<format> and <level>.<format> are one path segment, split by the view so that an unknown
    # format gets the same helpful 404 as any other unknown name.
    "values": ("/api/values/<authority>/<level>/<filename>", values),
    "view": ("/api/view.json", view),
    "tiles": ("/api/tiles/<level>/<z>/<x>/<filename>", tiles),
    "places": ("/api/places", places),
    "search": ("/api/search", search_route),
    "labels": ("/api/labels/<filename>", labels),
    "locate": ("/api/locate", locate_route),
    "areas": ("/api/areas/<authority>/<filename>", areas),
}

for _route in ROUTES:
    _rule, _view = _VIEWS[_route.endpoint]
    blueprint.add_url_rule(_rule, _route.endpoint, _view, methods=["GET"])
blueprint.add_url_rule("/api/<path:rest>", "unknown", unknown,
                       methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
# ``/api/`` itself: <path:rest> needs at least one character, and Dash's catch-all page would answer it.
blueprint.add_url_rule("/api/", "unknown_root", unknown, defaults={"rest": ""},
                       methods=["GET", "POST", "PUT", "PATCH", "DELETE"])


# -- errors: always JSON, never a traceback (web/errors.py) ---------------------------------------------------

@blueprint.after_request
def _open_data(response: flask.Response) -> flask.Response:
    # Open data: any site may fetch it (the embed page on a council's site, a notebook, a GIS).
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


@blueprint.errorhandler(BadFormat)
def _bad_format(exc: BadFormat) -> flask.Response:
    return _error(404, str(exc), exc.valid, what="format", value=exc.value)


@blueprint.errorhandler(BadQuery)
def _bad_query(exc: BadQuery) -> flask.Response:
    return _error(400, str(exc), parameter=exc.parameter)


@blueprint.errorhandler(BadView)
def _bad_view(exc: BadView) -> flask.Response:
    return _error(exc.status, str(exc), parameter=exc.parameters[0], parameters=exc.parameters,
                  messages=exc.messages)


errors.register(blueprint, "/api")

# Shared with the routes registered beside these (web/points.py): one way to answer, cache and refuse.
json_response, cacheable, split, param, only, licence_link = _json, _cacheable, _split, _param, _only, _licence_link


def init_app(server: flask.Flask) -> None:
    """Register the data API on ``server`` (the Dash app's Flask server), with the shared error handling."""
    errors.init_app(server)
    server.register_blueprint(blueprint)


def standalone() -> flask.Flask:
    """The data API alone, without the dashboard: ``gunicorn 'web.api:standalone()'`` serves an open datastore
    (and lets the API be load-tested under real workers without the Dash app)."""
    server = flask.Flask(__name__)
    init_app(server)
    compression.init_app(server)
    return server
