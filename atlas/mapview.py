"""Pure functions behind the explorer's callbacks: what the browser is sent for a view.

A switch of variable, scheme, classes, palette or scope sends only ``payload`` (values in the order of the
geometry's features, national ranks where the variable is national at that level, breaks, colours, unit,
note): the browser derives the colours of each area, the legend's counts and histogram, the hover text,
the ranks within the authority and the table from it (assets/atlas.js), with the names from ``areas_data``
and the geometry, both fetched once per authority and level.

Values are rounded to at most five significant figures of the largest (and at most four decimals), and
classified on the server *after* rounding, so the browser, which classifies the same rounded numbers with
the same rule (window.atlas.classIndex), always agrees with the server's breaks.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import shapely
import shapely.errors
import shapely.geometry

from atlas import cache, classify, palettes
from atlas.viewstate import ALL, NATIONAL_LEVEL, ViewState, effective_scheme, level_label

__all__ = [
    "BOUNDARIES_ATTRIBUTION", "areas_data", "attribution", "authority_options", "available_variables",
    "classification_part", "decimals_for", "geometry_url", "group_key", "group_options", "level_options",
    "national_no_data", "outline", "payload", "round_values", "scope_options", "search_variables", "title",
    "variable_options",
]

BOUNDARIES_ATTRIBUTION = ("Boundaries: Office for National Statistics, Open Government Licence v3.0; "
                          "contains OS data © Crown copyright and database right.")


def geometry_url(build_id: str, authority: str, level: str) -> str:
    """The geobuf of the areas, versioned by build so the browser may keep it for a year."""
    return f"/api/areas/{authority}/{level}.pbf?v={build_id}"


@functools.lru_cache(maxsize=512)
def _variable_rows(store: Any, build_id: str, scope: str, authority: str, level: str) -> tuple[dict, ...]:
    # Keyed on the store object, its build and what the requester may see (store.scope_key(): "open", or the
    # registry's generation and the published datasets visible to them): a per-process memo of immutable
    # data that requesters seeing the same datasets share, and no one else is served.
    rows = store.variables(authority=authority, level=level)
    return tuple({k: r.get(k) for k in ("id", "label", "topic", "table", "table_title")} for r in rows)


def available_variables(store: Any, authority: str, level: str) -> list[str]:
    """Ids of the variables with data for ``authority`` at ``level``, in catalogue order."""
    return [r["id"] for r in _variable_rows(store, store.build_id, store.scope_key(), authority, level)]


def _groups(store: Any, authority: str, level: str) -> dict[str, list[dict]]:
    """The variables available here by group (topic and table), in topic, table, id order."""
    rows = sorted(_variable_rows(store, store.build_id, store.scope_key(), authority, level),
                  key=lambda r: (r.get("topic") or "~", r.get("table") or "", r["id"]))
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(group_key(r), []).append(r)
    return out


def group_key(row: dict) -> str:
    """The group (topic and table) a variable is picked from, as the Table control's value."""
    return f"{row.get('topic') or 'Other'}|{row.get('table') or ''}"


def group_options(store: Any, authority: str, level: str) -> list[dict]:
    """The Table control's options: one per table with data here, under a disabled heading per topic, each
    saying how many variables it holds. At most a few hundred, whatever the authority (Camden's output
    areas: 116 tables for 4,496 variables), so the variable list itself stays short."""
    options: list[dict] = []
    topic = None
    for key, rows in _groups(store, authority, level).items():
        here = key.split("|", 1)[0]
        if here != topic:
            topic = here
            options.append({"label": here, "value": f"topic:{here}", "disabled": True})
        first = rows[0]
        title = f"{first.get('table') or ''} {first.get('table_title') or ''}".strip() or here
        options.append({"label": f"{title} ({len(rows)})", "value": key})
    return options


def variable_options(store: Any, authority: str, level: str, group: str | None = None,
                     variable: str | None = None) -> list[dict]:
    """The Variable control's options: the variables of ``group`` (by default the group of ``variable``)."""
    groups = _groups(store, authority, level)
    if group not in groups and variable:
        group = next((k for k, rows in groups.items() if any(r["id"] == variable for r in rows)), None)
    return [{"label": r["label"], "value": r["id"]} for r in groups.get(group or "", [])]


def search_variables(store: Any, authority: str, level: str, text: str, limit: int = 50) -> list[dict]:
    """Options for words typed in the Variable control: every word must appear in the label, table, topic
    or id of a variable with data here; at most ``limit``, each saying its table."""
    words = [w for w in str(text or "").lower().split() if w][:10]
    if not words:
        return []
    out = []
    for key, rows in _groups(store, authority, level).items():
        for r in rows:
            hay = " ".join(str(r.get(k) or "") for k in ("label", "table", "table_title", "topic", "id")).lower()
            if all(w in hay for w in words):
                out.append({"label": f"{r['label']} ({r.get('table') or key.split('|')[0]})", "value": r["id"]})
                if len(out) >= limit:
                    return out
    return out


def authority_options(authorities: list[dict]) -> list[dict]:
    """England and Wales first, then every authority by name; those without small-area data say so."""
    options = [{"label": "England and Wales: all local authorities", "value": ALL}]
    for a in sorted(authorities, key=lambda a: a["name"]):
        suffix = "" if a.get("levels") else " (no small-area data)"
        options.append({"label": f"{a['name']}, {a.get('region') or a.get('nation') or ''}{suffix}",
                        "value": a["code"]})
    return options


def level_options(store: Any, authority_info: dict | None) -> list[dict]:
    """The levels with data for the authority (a level with boundaries but no variable is left out)."""
    if authority_info is None:
        return [{"label": level_label(NATIONAL_LEVEL), "value": NATIONAL_LEVEL}]
    return [{"label": f"{level_label(d['level'])}: {d['areas']:,} areas", "value": d["level"]}
            for d in authority_info.get("levels") or []
            if available_variables(store, authority_info["code"], d["level"])]


def scope_options(variable_row: dict, state: ViewState) -> list[dict]:
    national_ok = state.authority != ALL and state.level in (variable_row.get("national_levels") or [])
    where = variable_row.get("coverage") or "the nation"
    return [
        {"label": "Within this authority", "value": "local"},
        {"label": f"Across {where}" + ("" if national_ok else " (not available for this variable here)"),
         "value": "national", "disabled": not national_ok},
    ]


def national_no_data(authorities: list[dict], codes: list[str]) -> list[int]:
    """Positions (in the national view's feature order) of the districts without small-area data."""
    without = {a["code"] for a in authorities if not a.get("levels")}
    return [i for i, code in enumerate(codes) if code in without]


def areas_data(store: Any, state: ViewState) -> dict:
    """Codes and names of the areas on the map, in the geometry's order: sent once per authority+level."""
    df = store.values(state.authority, state.level, state.variable)
    return {"key": f"{state.authority}/{state.level}", "codes": df["code"].tolist(),
            "names": df["name"].tolist()}


def outline(store: Any, authority: str, level: str) -> dict:
    """The authority's outline as GeoJSON: the union of its areas (so it matches their edges exactly),
    sent once per authority and level and cached. Empty for the national view, whose districts' own
    borders are the outlines."""
    if authority == ALL:
        return {"type": "FeatureCollection", "features": []}
    return cache.cached(cache.make_key("outline", store.build_id, authority, level),
                        lambda: _outline(store, authority, level))


def _outline(store: Any, authority: str, level: str) -> dict:
    collection = store.area_geojson(authority, level)
    geoms = [shapely.geometry.shape(f["geometry"]) for f in collection["features"]]
    try:
        # The areas tile the authority with shared edges, which coverage union dissolves in milliseconds.
        merged = shapely.coverage_union_all(geoms)
    except shapely.errors.GEOSException:
        merged = shapely.union_all(shapely.make_valid(geoms))  # edges not noded alike: the slow, sure way
    # Only the outer rings: slivers between areas whose edges were simplified apart would otherwise be
    # drawn as holes, thick lines across the authority. Specks (< ~1 m²) are dropped too.
    parts = [g for g in shapely.get_parts(merged) if isinstance(g, shapely.Polygon) and g.area > 1e-10]
    rings = shapely.MultiLineString([list(g.exterior.coords) for g in parts])
    # The areas' own extent: authorities.parquet's bbox comes from the generalised district boundary,
    # which can leave a small authority (the City of London) part off the map.
    return {"type": "FeatureCollection", "bbox": [round(b, 6) for b in rings.bounds], "features": [
        {"type": "Feature", "properties": {"code": authority},
         "geometry": shapely.geometry.mapping(shapely.set_precision(rings, 1e-6))}]}


def decimals_for(values: np.ndarray) -> int:
    """Decimals that keep five significant figures of the largest value (at most 4; 0 for whole numbers)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or np.all(finite == np.round(finite)):
        return 0
    top = float(np.max(np.abs(finite)))
    if top == 0:
        return 0
    return int(max(0, min(4, 4 - math.floor(math.log10(top)))))


def round_values(values: np.ndarray, decimals: int) -> list[float | int | None]:
    """Values for JSON: rounded, whole numbers as ints, None for missing."""
    out: list[float | int | None] = []
    rounded = np.round(values, decimals)
    for v in rounded.tolist():
        if v is None or not math.isfinite(v):
            out.append(None)
        elif decimals == 0 or float(v).is_integer():
            out.append(int(v))
        else:
            out.append(v)
    return out


def classification_part(store: Any, state: ViewState, scheme: str) -> dict:
    """Everything of a payload that does not depend on the palette: cached across workers.

    Raises classify.ClassifyError for custom breaks that cannot be used (the caller falls back).
    """
    key = cache.make_key("payload", store.data_version(state.variable), state.authority, state.level, state.variable,
                         scheme, state.k, state.breaks if scheme == "custom" else "", state.scope)
    return cache.cached(key, lambda: _classification_part(store, state, scheme))


def _classification_part(store: Any, state: ViewState, scheme: str) -> dict:
    df = store.values(state.authority, state.level, state.variable)
    row = store.variable(state.variable)
    raw = df["value"].to_numpy(dtype="float64")
    decimals = decimals_for(raw)
    values = round_values(raw, decimals)
    national = state.level in (row.get("national_levels") or [])
    part: dict[str, Any] = {
        "key": f"{state.authority}/{state.level}", "n": len(values), "v": values, "dp": decimals,
        "var": state.variable, "label": row.get("label") or state.variable, "unit": row.get("unit") or "",
        "scope": state.scope, "scheme": scheme, "schemeLabel": classify.SCHEMES.get(scheme, scheme),
        "all": state.authority == ALL, "pol": row.get("polarity") or None,
    }
    if national and state.authority != ALL:
        ranks = df["rank_national"]
        part["rn"] = [None if m else int(r) for r, m in zip(ranks.to_numpy(dtype="int64", na_value=0),
                                                             ranks.isna().to_numpy(), strict=True)]
        part["nn"] = int(store.national_values(state.level, state.variable).size)
        part["cov"] = row.get("coverage") or ""
    reference = None
    if state.scope == "national" and national and state.authority != ALL:
        reference = np.round(store.national_values(state.level, state.variable), decimals)
    numeric = np.array([np.nan if v is None else v for v in values], dtype="float64")
    try:
        result = classify.classify(numeric, scheme, state.k,
                                   custom_breaks=state.breaks if scheme == "custom" else None,
                                   reference=reference)
    except classify.ClassifyError as exc:
        if scheme == "custom":
            raise
        # Nothing to classify (every value missing): the map shows every area as "no data".
        part.update({"b": [], "lo": None, "k": 0, "kr": state.k, "note": str(exc).capitalize() + "."})
        return part
    part.update({"b": result.breaks, "lo": result.minimum, "k": result.k, "kr": result.k_requested,
                 "note": result.note})
    return part


def payload(store: Any, state: ViewState, geometry: str, place: str = "") -> tuple[dict, list[str]]:
    """The whole switch payload (the cached classification plus this palette's colours and the geometry's
    URL) and messages for the page when custom breaks could not be used."""
    messages: list[str] = []
    scheme = effective_scheme(state)
    try:
        part = classification_part(store, state, scheme)
    except classify.ClassifyError as exc:
        messages.append(f"Custom breaks {state.breaks!r} cannot be used: {exc}. Quantiles are shown instead.")
        part = classification_part(store, state, "quantiles")
    part["url"] = geometry
    part["place"] = place
    part["c"] = palettes.colours(state.palette, part["k"], state.reverse) if part["k"] else []
    part["pal"] = state.palette
    return part, messages


def title(state: ViewState, place: str, variable_row: dict) -> str:
    where = "England and Wales" if state.authority == ALL else place
    return f"{variable_row.get('label') or state.variable}: {where}, {level_label(state.level).lower()}"


def attribution(variable_row: dict) -> str:
    """Source and licence of the data shown (the catalogue's own words), then the boundaries'."""
    source = (variable_row.get("source") or "source not recorded").rstrip(". ")
    licence = (variable_row.get("licence") or "licence not recorded").rstrip(". ")
    status = f" {variable_row['status']}." if variable_row.get("status") else ""
    return f"Data: {source}. Licence: {licence}.{status} {BOUNDARIES_ATTRIBUTION}"
