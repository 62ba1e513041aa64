"""What a download says about itself, in vocabularies a tool can check.

- **CSV on the Web** (W3C CSVW, "Metadata Vocabulary for Tabular Data"): beside every CSV the atlas serves,
  ``<file>.csv-metadata.json`` (the name the CSVW locating rules look for) gives the table's title, source,
  licence and vintage, and each column's title, datatype, unit, notes and, for a derived figure, the cells
  it sums (``csvw_table``).
- **Frictionless Data Package**: a datapack's ``datapackage.json`` lists every CSV in it with a Table Schema
  (field names, titles, types, descriptions, missing values, primary key), its sources and licences
  (``datapackage``).
- **GeoPackage** columns get titles and descriptions through the schema extension's ``gpkg_data_columns``
  table (``label_gpkg_columns``), so a GIS shows "Lone parent households (% of households)" for a column
  named ``ks105ew0008_pct``.

Every description is written once here (``column``), from the catalogue row, and says the rounding rule: the
files hold full-precision values; the map prints them once, at the variable's decimals, halves away from
zero. Pure functions, no Flask.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["ROUNDING", "column", "csvw_table", "datapackage", "label_gpkg_columns", "licence_url",
           "row_columns", "variable_description"]

CSVW_CONTEXT = "http://www.w3.org/ns/csvw"
#: The rounding rule, said in every description of a figure.
ROUNDING = ("Values are stored and downloaded at full precision; the map prints each once, at the variable's "
            "printed precision, rounding halves away from zero (12.45 -> 12.5, -0.45 -> -0.5).")

#: The row columns every values download has, beside the variable's own value.
_ROW = {
    "code": ("Area code", "string", "The area's ONS GSS code (LSOA, OA, ward or district)."),
    "name": ("Area name", "string", "The area's name as the boundary publisher gives it."),
    "full_name": ("Area name, with its ward", "string",
                  "The area's friendly name: its name and, for a small area, the ward it lies in."),
    "label": ("Category", "string", "The label of the category whose code is in value."),
    "rank": ("Rank within the place", "integer",
             "1 = the highest value among the place's areas (ties only for equal full-precision values); empty "
             "where the value is missing or is itself a publisher's rank or decile. For a figure its publisher "
             "ranked (WIMD scores), the order of the publisher's own rank."),
    "rank_national": ("National rank", "integer",
                      "1 = the highest value among every area with a value at this level in the variable's "
                      "coverage (England and Wales, England or Wales); for WIMD scores, WIMD's published rank. "
                      "Empty where national ranks do not apply."),
    "estimated": ("Estimate", "boolean",
                  "true where this 2011 LSOA was merged with others in 2021, so its re-based 2021 figure is an "
                  "estimate (the 2021 figure shared among them by their 2011 shares)."),
    "carried": ("Carried from", "string",
                "How this area's figures were carried from the areas they were published for: unchanged, merged, "
                "split or irregular (IoD 2025 and WIMD 2025 on 2011 LSOAs, File 10 on 2021 districts)."),
    "carried_note": ("Why carried", "string", "Which areas the figures come from, and why."),
    "parts": ("Areas it comes from", "integer", "How many published areas this area's figures come from."),
    "low": ("Lowest of the parts", "number", "A split area's lowest published figure (it has no single figure)."),
    "high": ("Highest of the parts", "number", "A split area's highest published figure (it has no single figure)."),
}
_TYPES = {"string": ("string", "string"), "integer": ("integer", "integer"), "number": ("double", "number"),
          "boolean": ("boolean", "boolean")}


def licence_url(text: str | None) -> str | None:
    """The address in a catalogue licence ("Open Government Licence v3.0 (https://...)")."""
    found = re.search(r"https?://[^\s)]+", text or "")
    return found.group(0) if found else None


def variable_description(row: dict) -> str:
    """One paragraph saying what a variable's column holds: unit and denominator, how it was made (the
    cells a derived figure sums), its notes, its printed precision and the rounding rule."""
    unit = row.get("unit") or ""
    parts = [str(row.get("label") or row.get("id"))]
    if row.get("kind") == "categorical":
        cats = "; ".join(f"{c['code']} = {c['label']}" for c in row.get("categories") or [])
        parts.append(f"A category code ({cats}).")
    else:
        what = f"Unit: {unit}" if unit else "Unit: not stated by the publisher"
        if row.get("denominator"):
            what += f", of {row['denominator']}"
        parts.append(what + ".")
    method = row.get("method")
    if row.get("cells") and row.get("cells") != row.get("cell"):
        parts.append(f"{'Derived here' if method in ('derived', 'change') else 'From'}: {row['cells']}.")
    elif row.get("cell"):
        parts.append(f"Published cell {row['cell']} of {row.get('table') or 'its table'}.")
    if row.get("method") == "apportioned":
        parts.append("Re-based onto 2011 LSOAs; merged areas' figures are estimates (see the estimated column).")
    for key in ("description", "note"):
        text = (row.get(key) or "").strip()
        if text and text not in " ".join(parts):
            parts.append(text if text.endswith(".") else text + ".")
    if row.get("kind") != "categorical":
        d = row.get("decimals")
        if d is not None:
            parts.append(f"Printed to {int(d)} decimal place{'' if int(d) == 1 else 's'}. {ROUNDING}")
    return " ".join(p.strip() for p in parts if p)


def column(name: str, row: dict | None = None, *, kind: str | None = None) -> dict:
    """One column, neutral form: name, title, type (Table Schema word), description, unit. ``row`` is the
    variable's catalogue row for a value column; otherwise ``name`` is one of the row columns (``_ROW``) or
    ``<variable>_label`` (a category's label)."""
    if row is None:
        title, typ, text = _ROW.get(name, (name, kind or "string", ""))
        return {"name": name, "title": title, "type": kind or typ, "description": text}
    categorical = row.get("kind") == "categorical"
    unit = "" if categorical else (row.get("unit") or "")
    return {"name": name, "title": str(row.get("label") or row.get("id")),
            "type": "string" if categorical else "number", "description": variable_description(row),
            "unit": unit, "vintage": row.get("vintage") or "", "source": row.get("source") or "",
            "licence": row.get("licence") or ""}


def row_columns(fields: list[str], meta: dict) -> list[dict]:
    """The columns of a one-variable values file (code, name, full_name, value, [label], rank, rank_national,
    [estimated]): ``value`` described by the variable ``meta``."""
    return [column(f, meta) if f == "value" else column(f) for f in fields]


def _sources(rows: list[dict]) -> tuple[list[str], list[str]]:
    sources = list(dict.fromkeys(str(r["source"]) for r in rows if r.get("source")))
    licences = list(dict.fromkeys(str(r["licence"]) for r in rows if r.get("licence")))
    return sources, licences


def csvw_table(url: str, title: str, description: str, columns: list[dict], *, primary_key: str = "code"
               ) -> dict:
    """W3C CSVW metadata for one CSV (``url``: its address, relative to the metadata file or absolute):
    the table's title, description, sources, licences and vintages (Dublin Core), and every column's name,
    title, datatype, unit and description. Empty cells are missing values (``null`` "")."""
    described = [c for c in columns if c.get("source")]
    sources, licences = _sources(described)
    vintages = list(dict.fromkeys(str(c["vintage"]) for c in described if c.get("vintage")))
    out: dict[str, Any] = {
        "@context": [CSVW_CONTEXT, {"@language": "en"}],
        "url": url,
        "dc:title": title,
        "dc:description": description + " " + ROUNDING,
        "dc:publisher": "Neighbourhood Atlas",
    }
    if sources:
        out["dc:source"] = sources if len(sources) > 1 else sources[0]
    if licences:
        urls = [licence_url(t) or t for t in licences]
        out["dc:license"] = urls if len(urls) > 1 else urls[0]
    if vintages:
        out["dc:temporal"] = vintages if len(vintages) > 1 else vintages[0]
    cols = []
    for c in columns:
        col: dict[str, Any] = {"name": c["name"], "titles": c["title"], "datatype": _TYPES[c["type"]][0],
                               "null": "", "dc:description": c.get("description") or c["title"]}
        if c.get("unit"):
            col["schema:unitText"] = c["unit"]
        if c["name"] == primary_key:
            col["required"] = True
        cols.append(col)
    out["tableSchema"] = {"columns": cols, "primaryKey": primary_key}
    return out


def _resource_name(path: str) -> str:
    # Frictionless names: lower case, digits, "-", "_", "."; a path such as "lsoa11/values_ks102ew.csv".
    return re.sub(r"[^a-z0-9._-]+", "-", path.lower()).strip("-")


def resource(path: str, title: str, description: str, columns: list[dict], *, primary_key: str | None = "code"
             ) -> dict:
    """One Frictionless Data Resource: a CSV with its Table Schema."""
    fields = []
    for c in columns:
        field: dict[str, Any] = {"name": c["name"], "title": c["title"], "type": _TYPES[c["type"]][1]}
        if c.get("description"):
            field["description"] = c["description"]
        if c.get("unit"):
            field["unit"] = c["unit"]  # a custom property (Table Schema allows them)
        fields.append(field)
    schema: dict[str, Any] = {"fields": fields, "missingValues": [""]}
    if primary_key:
        schema["primaryKey"] = [primary_key]
    out: dict[str, Any] = {"name": _resource_name(path), "path": path, "title": title, "description": description,
                           "format": "csv", "mediatype": "text/csv", "encoding": "utf-8", "schema": schema}
    described = [c for c in columns if c.get("source")]
    sources, licences = _sources(described)
    if sources:
        out["sources"] = [{"title": s} for s in sources]
    if licences:
        out["licenses"] = [_licence(t) for t in licences]
    return out


def _licence(text: str) -> dict:
    url = licence_url(text)
    title = re.sub(r"\s*\(https?://[^)]*\)", "", text).strip() or text
    name = "OGL-UK-3.0" if "Open Government Licence v3.0" in text else None
    out: dict[str, Any] = {"title": title}
    if url:
        out["path"] = url
    if name:
        out["name"] = name
    return out


def datapackage(name: str, title: str, description: str, resources: list[dict], created: str) -> dict:
    """A Frictionless Data Package descriptor over ``resources`` (``resource``), with every source and licence
    of its resources at package level too."""
    sources: list[dict] = []
    licences: list[dict] = []
    for r in resources:
        sources += [s for s in r.get("sources", []) if s not in sources]
        licences += [lic for lic in r.get("licenses", []) if lic not in licences]
    out: dict[str, Any] = {"name": _resource_name(name), "title": title, "description": description + " " + ROUNDING,
                           "created": created, "resources": resources}
    if sources:
        out["sources"] = sources
    if licences:
        out["licenses"] = licences
    return out


def label_gpkg_columns(path: Path, layer: str, columns: list[dict]) -> None:
    """Give ``layer``'s columns titles and descriptions in ``gpkg_data_columns`` (GeoPackage's schema
    extension, registered in ``gpkg_extensions``), which QGIS and ArcGIS show as field aliases."""
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE IF NOT EXISTS gpkg_data_columns (table_name TEXT NOT NULL, column_name TEXT NOT "
                    "NULL, name TEXT, title TEXT, description TEXT, mime_type TEXT, constraint_name TEXT, "
                    "CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name))")
        con.execute("CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT, column_name TEXT, extension_name "
                    "TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE "
                    "(table_name, column_name, extension_name))")
        for table in ("gpkg_data_columns", "gpkg_data_column_constraints"):
            con.execute("INSERT OR IGNORE INTO gpkg_extensions VALUES (?, NULL, 'gpkg_schema', "
                        "'http://www.geopackage.org/spec/#extension_schema', 'read-write')", (table,))
        con.execute("CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (constraint_name TEXT NOT NULL, "
                    "constraint_type TEXT NOT NULL, value TEXT, min NUMERIC, min_is_inclusive BOOLEAN, max NUMERIC, "
                    "max_is_inclusive BOOLEAN, description TEXT, CONSTRAINT gdcc_ntv UNIQUE (constraint_name, "
                    "constraint_type, value))")
        existing = {r[1] for r in con.execute(f'PRAGMA table_info("{layer.replace(chr(34), "")}")')}
        con.executemany("INSERT OR REPLACE INTO gpkg_data_columns (table_name, column_name, name, title, "
                        "description) VALUES (?, ?, ?, ?, ?)",
                        [(layer, c["name"], c["name"], c["title"], c.get("description") or None)
                         for c in columns if c["name"] in existing])
