"""Where a variable has data, and why it has none at a given place: the words of every coverage message.

The catalogue says for each variable its ``coverage`` (the source's own reach: England, Wales, Camden,
Trafford, Output Areas where OA polygons exist...), its ``levels`` and the ``authorities`` with values; the
reader says which (authority, level) pairs hold a file. From these, for a place (authority and level):

- ``why_not(cat, row, authority, level)``: why the variable has no data there, in a short phrase that
  completes "it exists ..." ("in Camden only", "in England only", "for this authority at electoral wards
  (December 2022) only", "in areas with OA polygons only (7 authorities: Camden, Cardiff, ...), at output
  areas (2011)").
- ``gaps(cat, authority, level, available)``: the tables that exist elsewhere but not here, grouped by
  topic and reason, so the picker can list them in a few lines instead of thousands of options.
- ``summary(cat, row)``: where a variable exists, for the catalogue (levels, number of authorities).

Pure functions over the request's catalogue passed in (its public methods only); nothing here reads files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from atlas.catalogue import Catalogue

__all__ = ["LEVEL_LABELS", "NAMED_UP_TO", "gaps", "level_label", "summary", "why_not"]

ALL = "all"
NATIONAL_LEVEL = "lad"
LEVEL_LABELS: dict[str, str] = {
    "lsoa11": "Lower layer super output areas (2011)",
    "oa11": "Output areas (2011)",
    "lsoa21": "Lower layer super output areas (2021)",
    "oa21": "Output areas (2021)",
    "ward22": "Electoral wards (December 2022)",
    "lad": "Local authority districts (2021)",
}


def level_label(level: str) -> str:
    return LEVEL_LABELS.get(level, level)

#: Up to this many authorities are named in a reason; more are counted.
NAMED_UP_TO = 8
#: Coverages that are place names, said as they are ("England only").
_PLACES = frozenset({"England", "Wales", "London", "England and Wales", "Camden", "Trafford"})
#: The catalogue's longer coverage phrases, in the picker's shorter words.
_SHORTER = {"Output Areas where OA polygons exist": "areas with OA polygons"}


def _levels_text(levels: list[str]) -> str:
    labels = [_lower_first(level_label(lv)) for lv in levels]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _name(cat: Catalogue, code: str) -> str:
    try:
        return str(cat.authority(code).get("name") or code)
    except LookupError:
        return code


def _reach(cat: Catalogue, row: dict) -> str:
    """The source's reach in a few words: "in Camden only", "in England only", "in areas with LSOA 2021
    polygons only (15 authorities)", "in wards with results only (181 authorities)"."""
    authorities = sorted(row.get("authorities") or [])
    coverage = str(row.get("coverage") or "").strip()
    if len(authorities) == 1:
        return f"in {_name(cat, authorities[0])} only"
    if coverage in _PLACES:
        return f"in {coverage} only"
    words = _SHORTER.get(coverage) or (coverage[:1].lower() + coverage[1:] if coverage else "some areas")
    n = len(authorities)
    if not n:
        return f"in {words} only"
    if n <= NAMED_UP_TO:
        names = sorted(_name(cat, a) for a in authorities)
        return f"in {words} only ({n} authorities: {', '.join(names)})"
    return f"in {words} only ({n} authorities)"


def _levels_here(cat: Catalogue, row: dict, authority: str, level: str) -> list[str]:
    """The other levels at which ``authority`` has this variable."""
    if authority == ALL:
        return []
    places = _places(cat, row)
    return [lv for a, lv in places if a == authority and lv != level]


def _places(cat: Catalogue, row: dict) -> list[tuple[str, str]]:
    try:
        return list(cat.places(row["id"]))
    except (LookupError, AttributeError):
        return []


def why_not(cat: Catalogue, row: dict, authority: str, level: str) -> str:
    """Why the variable of catalogue ``row`` has no data for ``authority`` at ``level``, as a phrase that
    completes "it exists ...": where it does exist, and the source's reach."""
    here = _levels_here(cat, row, authority, level)
    if here:
        return f"for this authority at {_levels_text(here)} only"
    levels = [lv for lv in row.get("levels") or [] if lv != NATIONAL_LEVEL]
    if authority == ALL:
        if not levels:
            return "nowhere on the map"
        return "by small area only, not by district: choose an authority"
    if level in levels and _covers(cat, row, authority):
        # The source reaches this place and level, but no area here has a value (a relative change whose
        # 2011 base is 0 in every area): the true reason, not the source's reach.
        place = cat.authority(authority)
        note = " (" + row["note"].split(". ")[-1].rstrip(".").lower() + ")" if "empty where" in str(
            row.get("note") or "").lower() else ""
        return (f"elsewhere: no area of {place['name']} has a value at {_levels_text([level])}{note}")
    text = _reach(cat, row)
    if level not in (row.get("levels") or []) and levels:
        text += f", at {_levels_text(levels)}"
    return text


def _covers(cat: Catalogue, row: dict, authority: str) -> bool:
    """Whether the variable's source reaches ``authority``'s nation (its ``coverage``) though it has no values
    there."""
    try:
        place = cat.authority(authority)
    except LookupError:
        return False
    coverage = str(row.get("coverage") or "")
    nation = str(place.get("nation") or "")
    if not coverage or not nation or row.get("published"):
        return False
    return coverage == "England and Wales" and nation in ("England", "Wales") or coverage == nation


def summary(cat: Catalogue, row: dict) -> dict:
    """Where a variable exists, for the catalogue: its levels, the number of authorities with values, and
    the source's reach in words."""
    authorities = row.get("authorities") or []
    return {"levels": list(row.get("levels") or []), "authorities": len(authorities),
            "reach": _reach(cat, row)}


def gaps(cat: Catalogue, authority: str, level: str, available: set[str], catalogue: list[dict]) -> list[dict]:
    """The tables with no data here that exist elsewhere, grouped by topic and reason, in topic order:
    ``[{topic, reason, tables, variables, examples}]`` (``examples``: up to three table names).

    ``available``: ids with data here; ``catalogue``: every catalogue row (id, topic, table, table_title,
    levels, authorities, coverage). A table counts as here when any of its variables is."""
    tables: dict[tuple[str, str], list[dict]] = {}
    for row in catalogue:
        tables.setdefault((row.get("topic") or "Other", row.get("table") or ""), []).append(row)
    grouped: dict[tuple[str, str], dict] = {}
    for (topic, table), rows in tables.items():
        if any(r["id"] in available for r in rows):
            continue
        reason = why_not(cat, rows[0], authority, level)
        entry = grouped.setdefault((topic, reason), {"topic": topic, "reason": reason, "tables": 0,
                                                     "variables": 0, "examples": []})
        entry["tables"] += 1
        entry["variables"] += len(rows)
        if len(entry["examples"]) < 3:
            entry["examples"].append(f"{table} {rows[0].get('table_title') or ''}".strip() or topic)
    return sorted(grouped.values(), key=lambda g: (g["topic"], -g["tables"], g["reason"]))
