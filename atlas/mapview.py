"""Pure functions around a view, beside the one that decides what it shows (atlas/view.py): the option
lists of the controls (authorities, levels, tables and their variables, scopes), the variables with data
for a place, the areas' codes and names (sent once per authority and level), the authority's outline,
the geometry's versioned URL, the title and the attribution line.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import shapely
import shapely.errors
import shapely.geometry

from atlas import builder, cache, coverage
from atlas.viewstate import ALL, NATIONAL_LEVEL, ViewState, level_label

if TYPE_CHECKING:
    from atlas.catalogue import Catalogue

__all__ = [
    "BOUNDARIES_ATTRIBUTION", "areas_data", "attribution", "view_source", "authority_options", "available_variables",
    "GAPS_OPTION", "coverage_gaps", "geometry_url", "group_key", "group_options", "larger_places", "level_options",
    "map_geometry",
    "national_no_data", "outline", "scope_options", "search_variables", "tiles_url", "title", "variable_options",
    "with_built_option",
]

BOUNDARIES_ATTRIBUTION = ("Boundaries: Office for National Statistics, Open Government Licence v3.0; "
                          "contains OS data © Crown copyright and database right.")


def geometry_url(build_id: str, authority: str, level: str) -> str:
    """The geobuf of the areas, versioned by build so the browser may keep it for a year."""
    return f"/api/areas/{authority}/{level}.pbf?v={build_id}"


def names_url(build_id: str, authority: str, level: str) -> str:
    """The codes and friendly names of the areas (JSON), versioned by build like the geometry."""
    return f"/api/areas/{authority}/{level}.json?v={build_id}"


def tiles_url(build_id: str, level: str) -> str:
    """The vector tiles of every area of England and Wales at ``level`` (a {z}/{x}/{y} template)."""
    return f"/api/tiles/{level}/{{z}}/{{x}}/{{y}}.mvt?v={build_id}"


def map_geometry(cat: Catalogue, authority: str, level: str) -> dict:
    """How a view's areas are drawn: ``{"geom": "tiles", "url": <tile template>}`` for England and Wales at a
    small-area level (up to 34,753 areas: only the tiles on screen are fetched, see assets/tiles.js), else
    ``{"geom": "geobuf", "url": <the place's areas, fetched whole>}``. Either URL names the build, so the
    browser keeps what it fetched for a year and a switch never fetches geometry again."""
    if authority == ALL and level != NATIONAL_LEVEL and level in cat.tile_levels():
        return {"geom": "tiles", "url": tiles_url(cat.build_id, level)}
    return {"geom": "geobuf", "url": geometry_url(cat.build_id, authority, level)}


def _variable_rows(cat: Catalogue, authority: str, level: str) -> tuple[dict, ...]:
    # Kept per what the requester may see (the catalogue's scope: "open", or the registry's generation and
    # the published datasets visible to them): shared by requesters who see the same datasets, no one else.
    return cat.memo("variable_rows", authority, level, compute=lambda: tuple(
        {k: r.get(k) for k in ("id", "label", "topic", "table", "table_title")}
        for r in cat.variables(authority=authority, level=level)))


_CATALOGUE_FIELDS = ("id", "label", "topic", "table", "table_title", "levels", "authorities", "coverage")


def _catalogue(cat: Catalogue) -> tuple[dict, ...]:
    # Per scope, like _variable_rows: the fields coverage messages need, for every variable.
    return cat.memo("catalogue_fields", compute=lambda: tuple(
        {k: r.get(k) for k in _CATALOGUE_FIELDS} for r in cat.variables()))


def _gaps(cat: Catalogue, authority: str, level: str) -> tuple[dict, ...]:
    def compute() -> tuple[dict, ...]:
        here = {r["id"] for r in _variable_rows(cat, authority, level)}
        return tuple(coverage.gaps(cat, authority, level, here, list(_catalogue(cat))))

    return cat.memo("gaps", authority, level, compute=compute)


def coverage_gaps(cat: Catalogue, authority: str, level: str) -> list[dict]:
    """The tables that exist elsewhere but not for ``authority`` at ``level``, by topic and reason
    (atlas.coverage.gaps): what the Table list says is missing here, and why."""
    return [dict(g) for g in _gaps(cat, authority, level)]


def available_variables(cat: Catalogue, authority: str, level: str) -> list[str]:
    """Ids of the variables with data for ``authority`` at ``level``, in catalogue order."""
    return [r["id"] for r in _variable_rows(cat, authority, level)]


def _groups(cat: Catalogue, authority: str, level: str) -> dict[str, list[dict]]:
    """The variables available here by group (topic and table), in topic, table, id order."""
    rows = sorted(_variable_rows(cat, authority, level),
                  key=lambda r: (r.get("topic") or "~", r.get("table") or "", r["id"]))
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(group_key(r), []).append(r)
    return out


def group_key(row: dict) -> str:
    """The group (topic and table) a variable is picked from, as the Table control's value."""
    return f"{row.get('topic') or 'Other'}|{row.get('table') or ''}"


#: The Table list's one line that stands for every "Not here" line until it is chosen (then they are listed).
GAPS_OPTION = "gaps:show"


def group_options(cat: Catalogue, authority: str, level: str, expanded: bool = False) -> list[dict]:
    """The Table control's options: one per table with data here, under a disabled heading per topic, each
    saying how many variables it holds. At most a few hundred, whatever the authority (Camden's output
    areas: 116 tables for 4,496 variables), so the variable list itself stays short.

    Under each topic, disabled lines say what exists elsewhere but not here, and why ("Not here: 24
    tables, Camden only"), one line per reason, never one per table; a topic with nothing here is listed
    with its lines too, its heading marked "(not here)".

    Folded (``expanded`` False, as a place opens): the tables here only, and one last line
    (``GAPS_OPTION``) counting what exists elsewhere, which lists the lines when chosen."""
    options: list[dict] = []
    by_topic: dict[str, list[dict]] = {}
    for g in _gaps(cat, authority, level):
        by_topic.setdefault(g["topic"], []).append(g)
    groups = _groups(cat, authority, level)
    topics = sorted({k.split("|", 1)[0] for k in groups} | set(by_topic), key=lambda t: (t == "Other", t))

    def missing(topic: str) -> list[dict]:
        out = []
        for i, g in enumerate(by_topic.get(topic, [])):
            tables = "1 table" if g["tables"] == 1 else f"{g['tables']} tables"
            out.append({"label": f"Not here: {tables} ({g['variables']:,} variables), {g['reason']}",
                        "value": f"gap:{topic}:{i}", "disabled": True, "title": "; ".join(g["examples"])})
        return out

    if not expanded:
        gaps = [g for gs in by_topic.values() for g in gs]
        for topic in topics:
            keys = [k for k in groups if k.split("|", 1)[0] == topic]
            if keys:
                options.append({"label": topic, "value": f"topic:{topic}", "disabled": True})
            for key in keys:
                first = groups[key][0]
                title = f"{first.get('table') or ''} {first.get('table_title') or ''}".strip() or topic
                options.append({"label": f"{title} ({len(groups[key])})", "value": key})
        if gaps:
            tables = sum(g["tables"] for g in gaps)
            variables = sum(g["variables"] for g in gaps)
            options.append({"label": f"Not here: {tables:,} more tables ({variables:,} variables) exist elsewhere "
                                     "- choose to list them and why", "value": GAPS_OPTION})
        return options
    for topic in topics:
        keys = [k for k in groups if k.split("|", 1)[0] == topic]
        heading = topic if keys else f"{topic} (not here)"
        options.append({"label": heading, "value": f"topic:{topic}", "disabled": True})
        for key in keys:
            rows = groups[key]
            first = rows[0]
            title = f"{first.get('table') or ''} {first.get('table_title') or ''}".strip() or topic
            options.append({"label": f"{title} ({len(rows)})", "value": key})
        options += missing(topic)
    return options


def variable_options(cat: Catalogue, authority: str, level: str, group: str | None = None,
                     variable: str | None = None) -> list[dict]:
    """The Variable control's options: the variables of ``group`` (by default the group of ``variable``)."""
    groups = _groups(cat, authority, level)
    if group not in groups and variable:
        group = next((k for k, rows in groups.items() if any(r["id"] == variable for r in rows)), None)
    return [{"label": r["label"], "value": r["id"]} for r in groups.get(group or "", [])]


def with_built_option(cat: Catalogue, options: list[dict], variable: object, authority: str, level: str
                      ) -> list[dict]:
    """``options`` with the built indicator ``variable`` (atlas/builder.py) at the end, where it has data here:
    it is in no table's list, and a dropdown drops a value its options do not hold."""
    if not options or not builder.is_code(variable) or any(o.get("value") == variable for o in options):
        return options
    try:
        if not cat.has_data(str(variable), authority, level):
            return options
        label = cat.variable(str(variable))["label"]
    except LookupError:
        return options
    return [*options, {"label": f"{label} (built)", "value": variable}]


def _search_score(row: dict, words: list[str]) -> float | None:
    """How well a variable's words name what was typed (None: a word is missing). A word that is a whole word
    of the label counts most, then a word inside the label, then one only in the table, topic or id; a
    shorter label (a more general figure) ranks first among equals. "IMD" thus finds "Index of Multiple
    Deprivation (IMD) decile" before the 40 domain and indicator variables whose ids begin ``imd2019_``."""
    label = str(row.get("label") or "").lower()
    rest = " ".join(str(row.get(k) or "") for k in ("table", "table_title", "topic", "id")).lower()
    label_words = set(re.findall(r"[a-z0-9]+", label))
    score = 0.0
    for w in words:
        if w in label_words:
            score += 4 + (1 if label.startswith(w) else 0)
        elif w in label:
            score += 2
        elif w in rest:
            score += 1
        else:
            return None
    return score - len(label) / 1000


def _difference(row: dict) -> str:
    """What sets a variable apart from another with nearly the same label: its unit, and how it was made."""
    unit = str(row.get("unit") or "")
    cells, cell = row.get("cells"), row.get("cell")
    if row.get("method") == "apportioned":
        how = "Census 2021 re-based onto 2011 LSOAs"
    elif row.get("method") in ("derived", "change") and cells and cells != cell:
        how = f"computed here as {cells}"
    else:
        source = str(row.get("source") or "").split(",", 1)[0]
        how = "as published" + (f" by {source}" if source else "")
    return f"{unit}, {how}" if unit else how


def search_variables(cat: Catalogue, authority: str, level: str, text: str, limit: int = 50) -> list[dict]:
    """Options for words typed in the Variable control: every word must appear in the label, table, topic
    or id of a variable with data here; the variables whose label names the words first (``_search_score``),
    at most ``limit``, each saying its table, and where two labels read alike ("White: Irish (% of all usual
    residents)" and "White: Irish (%, as published)") how they differ. Below them, up to five variables that
    match but have no data at this level: choosable where this place has them at another level (choosing one
    shows it there), otherwise disabled, saying where they exist and why they are not here."""
    words = [w for w in str(text or "").lower().split() if w][:10]
    if not words:
        return []
    scored = []
    here_ids = set()
    for key, rows in _groups(cat, authority, level).items():
        for r in rows:
            here_ids.add(r["id"])
            score = _search_score(r, words)
            if score is not None:
                scored.append((-score, r["label"], r, key))
    scored.sort(key=lambda t: (t[0], t[1]))
    # The full catalogue rows (units, cells, method) of the few shown: the listing rows are slim.
    found = [(cat.variable(r["id"]), key) for _, _, r, key in scored[:limit]]
    def alike(r: dict) -> tuple:  # labels that read the same: one stem, table and unit
        return str(r["label"]).split(" (")[0].lower(), r.get("table"), r.get("unit")

    stems: dict[tuple, int] = {}
    for r, _ in found:
        stems[alike(r)] = stems.get(alike(r), 0) + 1
    out = []
    for r, key in found:
        label = f"{r['label']} ({r.get('table') or key.split('|')[0]})"
        if stems[alike(r)] > 1:
            label += f": {_difference(r)}"
        out.append({"label": label, "value": r["id"]})
    elsewhere = []
    for r in _catalogue(cat):
        if r["id"] in here_ids:
            continue
        score = _search_score(r, words)
        if score is not None:
            elsewhere.append((-score, r["label"], r))
    elsewhere.sort(key=lambda t: (t[0], t[1]))
    levels = [lv for lv in (d["level"] for d in cat.authority(authority).get("levels") or []) if lv != level]
    for _, _, r in elsewhere[:5]:
        there = [lv for lv in levels if r["id"] in available_variables(cat, authority, lv)]
        if there:
            where = level_label(there[0])
            out.append({"label": f"{r['label']}: not at this level; choose it to show it at "
                                 f"{where[:1].lower() + where[1:]}", "value": r["id"]})
        else:
            why = coverage.why_not(cat, cat.variable(r["id"]), authority, level)
            out.append({"label": f"{r['label']}: not here, {why}", "value": f"elsewhere:{r['id']}",
                        "disabled": True})
    return out


PLACE_WORDS = {"region": "region of England", "nation": "nation", "combined_authority": "combined authority"}


def larger_places(cat: Catalogue) -> list[dict]:
    """The places of the Area list beside the authorities: regions, nations, combined authorities, the
    partnership areas the requester may open (atlas/catalogue.py) and saved areas."""
    return cat.larger_places() + cat.partnership_places() + cat.saved_places()


def authority_options(authorities: list[dict], places: list[dict] | None = None) -> list[dict]:
    """England and Wales first, then the places larger than a district (regions, Wales, combined
    authorities) and every authority by name; those without small-area data say so."""
    options = [{"label": "England and Wales: all local authorities", "value": ALL}]
    for p in sorted(places or [], key=lambda p: (p.get("kind") != "region", p.get("kind") != "nation", p["name"])):
        if p.get("kind") == "saved":  # a saved area (atlas/areas.py): its own areas, across any boundary
            held = sum(d.get("areas") or 0 for d in p.get("levels") or [])
            options.append({"label": f"{p['name']} ({held:,} areas)", "value": p["code"]})
            continue
        n = len(p.get("authorities") or [])
        words = ("" if p.get("kind") == "partnership" else f"{PLACE_WORDS.get(p.get('kind'), 'place')}, ")
        options.append({"label": f"{p['name']} ({words}{n} districts)", "value": p["code"]})
    for a in sorted(authorities, key=lambda a: a["name"]):
        suffix = "" if a.get("levels") else " (no small-area data)"
        where = a.get("region") or a.get("nation")
        if a.get("partnership"):  # a partnership's area (its members only): the authorities it joins
            where = f"{len(a.get('members') or [])} authorities together"
        options.append({"label": f"{a['name']}, {where or ''}{suffix}", "value": a["code"]})
    return options


def level_options(cat: Catalogue, authority_info: dict | None) -> list[dict]:
    """The levels with data for the authority or place (a level with boundaries but no variable is left out)."""
    if authority_info is None:
        authority_info = cat.authority(ALL)
    return [{"label": (f"{level_label(d['level'])}: {d['areas']:,} areas" if d["level"] != NATIONAL_LEVEL
                       else f"{level_label(d['level'])} (the national overview)"), "value": d["level"]}
            for d in authority_info.get("levels") or []
            if available_variables(cat, authority_info["code"], d["level"])]


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


def areas_data(cat: Catalogue, state: ViewState) -> dict:
    """Codes and friendly names ("Birmingham 043C, in Nechells ward") of the areas on the map, in the
    geometry's order: sent once per place and level. For a tiled view (England and Wales at a small-area
    level: 34,753 LSOAs, 1.9 MB of codes and names) only their versioned URL (``names_url``): the browser
    fetches it beside the tiles and keeps it for a year, and paints without it (a paint is one class
    character per area, by position); hover, table and selection use the names once they have arrived."""
    if map_geometry(cat, state.authority, state.level)["geom"] == "tiles":
        return {"key": f"{state.authority}/{state.level}",
                "url": names_url(cat.build_id, state.authority, state.level)}
    df = cat.values(state.authority, state.level, state.variable)
    return {"key": f"{state.authority}/{state.level}", "codes": df["code"].tolist(),
            "names": df["full_name"].tolist()}


def outline(cat: Catalogue, authority: str, level: str) -> dict:
    """The authority's outline as GeoJSON: the union of its areas (so it matches their edges exactly),
    sent once per authority and level and cached. Empty for the national view, whose districts' own
    borders are the outlines."""
    if authority == ALL:
        return {"type": "FeatureCollection", "features": []}
    # place_key: a partnership area's key names its members, so a change of members is a new outline.
    return cache.cached(cache.make_key("outline", cat.build_id, cat.place_key(authority), level),
                        lambda: _outline(cat, authority, level))


def _outline(cat: Catalogue, authority: str, level: str) -> dict:
    collection = cat.area_geojson(authority, level)
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


def title(state: ViewState, place: str, variable_row: dict) -> str:
    """"Mean age (Census 2011): England and Wales, local authority districts (2021)": the data's vintage is
    said where the level's own year (its boundaries') differs from it, so a title never reads as 2021 data
    above a source line of 2011."""
    where = "England and Wales" if state.authority == ALL else place
    label = variable_row.get("label") or state.variable
    level = level_label(state.level)
    vintage = str(variable_row.get("vintage") or "")
    years = set(re.findall(r"(?:19|20)\d\d", vintage))
    if years and not years & set(re.findall(r"(?:19|20)\d\d", level)) and not years & set(
            re.findall(r"(?:19|20)\d\d", label)):
        label = f"{label} ({vintage})"
    return f"{label}: {where}, {level[:1].lower() + level[1:]}"


def view_source(variable_row: dict, place: dict | None = None, level: str | None = None) -> str:
    """The source of the data shown: the catalogue's ``source``, or, for a variable several publishers give
    (``sources``: Camden's CDRC pack beside the national Nomis tables), only those giving this ``level`` for
    this ``place`` (an authority's or place's row), so Leeds is never credited to a pack of Camden's."""
    source = variable_row.get("source") or ""
    parts = variable_row.get("sources")
    if not parts or place is None or level is None:
        return source
    try:
        parts = json.loads(parts) if isinstance(parts, str) else list(parts)
    except ValueError:
        return source
    names = {str(place.get("name") or ""), str(place.get("nation") or ""), "England and Wales"}
    if place.get("code") == ALL:
        names = {"England and Wales"}
    chosen = [p["source"] for p in parts if level in (p.get("levels") or [])
              and any(str(p.get("coverage") or "").startswith(n) for n in names if n)]
    return " ".join(dict.fromkeys(chosen)) or source


def attribution(variable_row: dict, place: dict | None = None, level: str | None = None) -> str:
    """Source and licence of the data shown (the catalogue's own words, the view's own publishers:
    ``view_source``), then the boundaries'."""
    source = (view_source(variable_row, place, level) or "source not recorded").rstrip(". ")
    licence = (variable_row.get("licence") or "licence not recorded").rstrip(". ")
    status = f" {variable_row['status']}." if variable_row.get("status") else ""
    return f"Data: {source}. Licence: {licence}.{status} {BOUNDARIES_ATTRIBUTION}"
