"""Air quality over areas: the thresholds a figure is judged against, and population-weighted exposure.

A variable whose catalogue row has ``thresholds`` (the LAEI's modelled NO2 and PM2.5: the WHO 2021 guideline,
its interim targets, the UK's legal limit and England's 2040 target, each for an annual mean) gets

- the map's **"Guideline and limits"** classes (``classify.PRESET``): one break at each threshold, each class
  including its upper bound (an area at exactly the guideline meets it), named in the legend;
- **population-weighted exposure** for the place on the map (any district, region, partnership area or England
  and Wales): the mean concentration weighted by residents, and how many people live in areas above each
  threshold. Residents are Census 2021 usual residents (``POPULATION``: the 2021 LSOAs' own figure, or the
  figure re-based onto 2011 LSOAs). Whether an area is above a threshold is decided on its printed value, the
  value the map's classes use, so the legend's class counts and these counts always agree; the mean is
  computed from the full-precision values and printed once.

The legend, the hover and selection cards, the view's JSON twin and ``GET /api/exposure/...`` all take these
figures from ``exposure`` here.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from atlas import cache, printing

__all__ = ["POPULATION", "ExposureError", "area_lines", "exposure", "exposure_lines", "preset_breaks", "thresholds"]

#: The residents each level's areas are weighted by (a variable id of the build).
POPULATION: dict[str, str] = {"lsoa11": "ts001_lsoa11_total", "lsoa21": "ts001_total"}
POPULATION_WORDS: dict[str, str] = {
    "lsoa11": "usual residents at Census 2021, re-based onto the 2011 LSOAs (estimates where 2011 LSOAs merged)",
    "lsoa21": "usual residents at Census 2021",
}
#: The thresholds named in every exposure summary (all of them are in the JSON and the API).
HEADLINE_KINDS = ("guideline", "limit")


class ExposureError(LookupError):
    """Exposure cannot be computed for this variable or level (no thresholds, no residents' figure)."""


def thresholds(row: dict) -> list[dict]:
    """The catalogue's ``thresholds`` of a variable ([{value, label, kind, basis}], increasing), [] for none."""
    text = row.get("thresholds")
    if not text:
        return []
    if isinstance(text, list):
        return text
    try:
        items = json.loads(text)
    except (TypeError, ValueError):
        return []
    return [t for t in items if isinstance(t, dict) and isinstance(t.get("value"), (int, float))]


def preset_breaks(row: dict) -> list[float]:
    """The breaks of the "Guideline and limits" classes: one at each threshold."""
    return [float(t["value"]) for t in thresholds(row)]


def _compute(store: Any, authority: str, level: str, variable: str, extra: tuple[float, ...]) -> dict:
    row = store.variable(variable)
    items = thresholds(row)
    if not items:
        raise ExposureError(f"{row.get('label') or variable} has no guideline or limit to measure exposure against")
    pop_id = POPULATION.get(level)
    if pop_id is None:
        raise ExposureError(f"exposure is weighted by residents, which this atlas has at "
                            f"{' and '.join(POPULATION)} only, not at {level!r}")
    values = store.values(authority, level, variable)[["code", "value"]]
    try:
        people = store.values(authority, level, pop_id)[["code", "value"]].rename(columns={"value": "people"})
    except LookupError as exc:
        raise ExposureError(f"no residents' figure for this place at {level!r}") from exc
    frame = values.merge(people, on="code", how="left")
    decimals = printing.decimals_for(row, frame["value"].to_numpy(dtype="float64"))
    unit = (row.get("unit") or "").lower()
    raw = frame["value"].to_numpy(dtype="float64")
    weights = frame["people"].to_numpy(dtype="float64")
    printed = printing.round_half_away(raw, decimals)
    ok = np.isfinite(raw) & np.isfinite(weights)
    total = float(weights[ok].sum())
    mean = float((raw[ok] * weights[ok]).sum() / total) if total > 0 else math.nan
    rows = []
    for item in [*items, *({"value": float(v), "label": "your threshold", "kind": "asked", "basis": ""}
                           for v in extra)]:
        above = ok & (printed > float(item["value"]))
        n_people = float(weights[above].sum())
        value = float(item["value"])
        rows.append({**item, "value": value, "value_text": printing.format_value(value, decimals, unit),
                     "people": int(round(n_people)), "share": (n_people / total * 100) if total > 0 else None,
                     "areas": int(above.sum())})
    return {"variable": variable, "label": row.get("label") or variable, "unit": row.get("unit"), "level": level,
            "population": {"variable": pop_id, "words": POPULATION_WORDS[level], "people": int(round(total)),
                           "areas": int(ok.sum()), "areas_without": int((~ok).sum())},
            "mean": None if math.isnan(mean) else mean,
            "mean_text": printing.format_value(mean, decimals, unit) if not math.isnan(mean) else "no data",
            "decimals": decimals, "thresholds": rows}


def exposure(store: Any, authority: str, level: str, variable: str, extra: tuple[float, ...] = ()) -> dict:
    """Population-weighted exposure of ``authority``'s residents at ``level`` to ``variable`` (see the module):
    ``mean`` (full precision) and ``mean_text`` (printed once), ``population`` (residents counted, their
    source), and per threshold (the catalogue's, then any of ``extra``) the ``people`` and ``areas`` above it
    and their ``share`` (%, full precision) of the residents counted. Raises ExposureError, or NotFound for
    an unknown place, level or variable (and for a variable the requester may not see)."""
    place_key = store.place_key(authority) if hasattr(store, "place_key") else authority
    key = cache.make_key("exposure", store.data_version(variable), place_key, level, variable, *extra)
    return cache.cached(key, lambda: _compute(store, authority, level, variable, tuple(extra)))


def exposure_lines(summary: dict, place: str) -> list[str]:
    """The exposure summary in words, as the legend, the cards and image exports print it."""
    mean = summary["mean_text"]
    lines = [f"Population-weighted mean for {place}: {mean} ({summary['population']['words']}; "
             f"{summary['population']['people']:,} residents in {summary['population']['areas']:,} areas)."]
    for t in summary["thresholds"]:
        if t["kind"] not in HEADLINE_KINDS and t["kind"] != "asked":
            continue
        if t["people"] == 0:
            lines.append(f"No one lives in an area above the {t['label']} ({t['value_text']}, {t['basis']}).")
            continue
        share = printing.format_number(t["share"], 1) if t["share"] is not None else "no data"
        lines.append(f"{t['people']:,} people ({share}%) live in the {t['areas']:,} areas above the {t['label']} "
                     f"({t['value_text']}" + (f", {t['basis']}" if t.get("basis") else "") + ").")
    return lines


def area_lines(store: Any, authority: str, level: str, variable: str, code: str) -> list[str]:
    """What the selected area's card says of one area of a variable with thresholds: its printed value against
    the guideline and the limit, and its residents. [] for a variable without thresholds or an unknown area."""
    row = store.variable(variable)
    items = [t for t in thresholds(row) if t.get("kind") in HEADLINE_KINDS]
    if not items:
        return []
    frame = store.values(authority, level, variable)
    found = frame[frame["code"] == code]
    if found.empty:
        return []
    decimals = printing.decimals_for(row, frame["value"].to_numpy(dtype="float64"))
    unit = (row.get("unit") or "").lower()
    value = float(found["value"].iloc[0])
    if not math.isfinite(value):
        return [f"{row.get('label') or variable}: no data here."]
    printed = printing.round_half_away(value, decimals)
    words = [f"{'above' if printed > t['value'] else 'within'} the {t['label']} "
             f"({printing.format_value(t['value'], decimals, unit)})" for t in items]
    lines = [f"{printing.format_value(value, decimals, unit)}: {', and '.join(words)}."]
    pop_id = POPULATION.get(level)
    if pop_id is not None:
        try:
            people = store.values(authority, level, pop_id)
        except LookupError:
            people = None
        here = people[people["code"] == code]["value"] if people is not None else []
        if len(here) and math.isfinite(float(here.iloc[0])):
            lines.append(f"{int(round(float(here.iloc[0]))):,} residents ({POPULATION_WORDS[level]}).")
    return lines
