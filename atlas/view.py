"""The one function that decides what a view shows: ``build(store, state) -> View``.

Every place that shows a view — the explorer's map, legend, hover card and table, the compare view, the
image export, the embed page and ``GET /api/view.json`` — takes its classes, printed labels, counts,
colours, printed values and ranks from here. The browser only paints what it is sent.

The rules, each decided once:

- **Precision.** Every variable has a printed precision (the catalogue's ``decimals`` where the build set
  it, otherwise from its unit: percentages 1 decimal place, counts, ranks and deciles none, ages 1,
  averages and ratios 2). Values are rounded to it *before* they are classified, so the value a person
  reads is the value that was classified.
- **Breaks.** Quantile breaks snap down to a data value; every other scheme's breaks are rounded to the
  printed precision; custom breaks are kept as typed. A break that leaves a class holding nothing (two
  breaks rounded together, a snapped quantile) is merged, and the note says so.
- **Labels never lie.** Class i holds ``breaks[i-1] < v <= breaks[i]``. Its label runs from the smallest
  printable value above the previous break (``breaks[i-1]`` plus one unit of the printed precision) to its
  own break; the lowest class starts at the lowest value. So integer variables get "1 – 2", "3 – 4", a
  class of one value reads "7", and every printed value lies inside its class's printed label. Custom
  breaks below every value give an empty lowest class labelled "up to ..." everywhere.
- **Ranks** are the store's (``store.values``: 1 = highest value, ties share the best rank), on the
  full-precision values, so the view and ``/api/values`` give the same numbers. A variable that is itself
  a publisher's rank or decile is not ranked again: its rank fields are empty and ``ranked`` is False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atlas import cache, classify, palettes
from atlas.store import UNRANKED_UNITS
from atlas.viewstate import ALL, ViewState, effective_scheme, level_label

__all__ = [
    "NO_DATA", "UNRANKED_UNITS", "AreaRows", "ClassRow", "View", "build", "class_labels", "decimals_for",
    "format_number", "format_value", "printed_breaks",
]

NO_DATA = "#ffffff"
#: Printed precision by unit, where the catalogue does not give one.
_DECIMALS_BY_UNIT = {
    "percentage": 1, "count": 0, "people": 0, "rank": 0, "decile": 0, "sum": 0, "years": 1, "average": 2,
    "ratio": 2, "per hectare": 1, "per km2": 1,
}
MINUS = "\u2212"  # a true minus sign in printed numbers
DASH = " \u2013 "  # between the bounds of a class
HISTOGRAM_BINS = 24


# -- numbers -----------------------------------------------------------------------------------------------

def decimals_for(row: dict, values: np.ndarray | None = None) -> int:
    """The printed precision of a variable: the catalogue's ``decimals``, else by unit, else the fewest
    decimals (at most 2) that print the values as published."""
    given = row.get("decimals")
    if given is not None and not (isinstance(given, float) and math.isnan(given)):
        return int(given)
    unit = (row.get("unit") or "").lower()
    if unit in _DECIMALS_BY_UNIT:
        return _DECIMALS_BY_UNIT[unit]
    if values is not None:
        finite = values[np.isfinite(values)]
        for d in range(3):
            if finite.size == 0 or np.allclose(finite, np.round(finite, d), rtol=0, atol=1e-9):
                return d
    return 2


def format_number(value: float | None, decimals: int) -> str:
    """``1234.5`` -> "1,234.5" at exactly ``decimals`` places, a true minus sign, "no data" for missing."""
    if value is None or not math.isfinite(value):
        return "no data"
    text = f"{abs(value):,.{decimals}f}"
    negative = value < 0 and text.strip("0.,") != ""
    return (MINUS if negative else "") + text


def _break_text(value: float, decimals: int) -> str:
    """A break as printed: at the variable's precision, or as typed when a custom break is finer."""
    if math.isclose(value, round(value, decimals), rel_tol=0, abs_tol=1e-9):
        return format_number(value, decimals)
    text = f"{abs(value):,.6f}".rstrip("0").rstrip(".")
    return (MINUS if value < 0 else "") + text


def format_value(value: float | None, decimals: int, unit: str) -> str:
    """A value as the map prints it: with "%" for percentages, the unit word for rates."""
    text = format_number(value, decimals)
    if text == "no data":
        return text
    if unit == "percentage":
        return text + "%"
    if unit in ("per hectare", "per km2", "years"):
        return f"{text} {unit}"
    return text


def _step(decimals: int) -> float:
    return 10.0 ** -decimals


def _next_printable(value: float, decimals: int) -> float:
    """The smallest value printable at ``decimals`` places that is strictly above ``value``."""
    scaled = value * 10**decimals
    nearest = round(scaled)
    base = nearest if math.isclose(scaled, nearest, rel_tol=0, abs_tol=1e-6) else math.floor(scaled)
    return round((base + 1) / 10**decimals, decimals)


def class_labels(breaks: list[float], lowest: float, decimals: int, unit: str) -> list[dict]:
    """The printed bounds and label of each class (see the module's rules): ``lower`` is None for an
    empty lowest class below the data ("up to ..."), and for a class that no printable value can be in."""
    sign = "%" if unit == "percentage" else ""
    out: list[dict] = []
    for i, upper in enumerate(breaks):
        lower = lowest if i == 0 else _next_printable(breaks[i - 1], decimals)
        upper_text = _break_text(upper, decimals) + sign
        if i == 0 and lower > upper:
            out.append({"lower": None, "upper": upper, "label": f"up to {upper_text}"})
        elif lower > upper + 1e-12:
            prev = _break_text(breaks[i - 1], decimals) + sign
            out.append({"lower": None, "upper": upper, "label": f"none (over {prev}, up to {upper_text})"})
        elif math.isclose(lower, upper, rel_tol=0, abs_tol=_step(decimals) / 100):
            out.append({"lower": lower, "upper": upper, "label": upper_text})
        else:
            out.append({"lower": lower, "upper": upper,
                        "label": _break_text(lower, decimals) + sign + DASH + upper_text})
    return out


def printed_breaks(raw_breaks: list[float], basis: np.ndarray, scheme: str, decimals: int) -> list[float]:
    """Breaks a person can read: quantiles snapped down to a data value of ``basis`` (sorted, printed
    values), other schemes rounded to the printed precision, custom breaks as typed; then any break
    that leaves a class of ``basis`` empty is dropped (merged into the class above), except for custom
    breaks, whose classes are the person's own."""
    b = np.asarray(raw_breaks, dtype="float64")
    if scheme == "custom":
        return [float(x) for x in b]
    if scheme == "quantiles":
        at = np.searchsorted(basis, b + 1e-9, side="right") - 1  # the largest data value <= each break
        b = basis[np.clip(at, 0, basis.size - 1)]
    else:
        b = np.round(b, decimals)
    b = np.unique(b)
    b[-1] = max(b[-1], basis[-1])
    occupied = np.bincount(classify.class_index(basis, b), minlength=b.size) > 0
    occupied[-1] = True
    return [float(x) for x in b[occupied]]


# -- the view --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassRow:
    index: int
    lower: float | None  # as printed; None for a class that holds nothing printable
    upper: float
    label: str
    count: int
    colour: str


@dataclass
class AreaRows:
    """One entry per area, in the geometry's order (by code)."""

    codes: list[str]
    names: list[str]
    values: list[float | None]  # as printed (rounded to the view's decimals)
    text: list[str]  # the value as printed, with its unit
    classes: list[int]  # -1: no data
    rank: list[int | None]  # within the place; None when missing or not ranked
    rank_national: list[int | None]


@dataclass
class View:
    """Everything one view shows. ``to_json`` is its twin at /api/view.json; ``paint`` what a switch sends."""

    state: ViewState
    scheme: str  # the scheme used (custom breaks that cannot be used fall back to quantiles)
    place: str
    variable: dict
    decimals: int
    unit: str
    classes: list[ClassRow]
    k_requested: int
    missing: int
    notes: list[str]
    areas: AreaRows
    ranked: bool
    rank_note: str
    national: dict | None  # {"count", "coverage"} where national ranks are given
    histogram: dict | None
    messages: list[str] = field(default_factory=list)  # for the page: custom breaks refused, ...

    @property
    def k(self) -> int:
        return len(self.classes)

    @property
    def breaks(self) -> list[float]:
        return [c.upper for c in self.classes]

    @property
    def colours(self) -> list[str]:
        return [c.colour for c in self.classes]

    @property
    def title(self) -> str:
        where = "England and Wales" if self.state.authority == ALL else self.place
        return f"{self.variable.get('label') or self.state.variable}: {where}, {level_label(self.state.level).lower()}"

    @property
    def method(self) -> str:
        """"5 classes, Quantiles, breaks within Camden" (and how many were asked for, when fewer)."""
        k, kr = self.k, self.k_requested
        text = ("1 class" if k == 1 else f"{k} classes") + (f" ({kr} asked for)" if kr != k and k else "")
        text += ", " + classify.SCHEMES.get(self.scheme, self.scheme)
        if self.state.authority == ALL:
            return text
        if self.state.scope == "national" and self.national:
            return text + f", breaks across {self.national['coverage']}"
        return text + f", breaks within {self.place}"

    @property
    def legend_title(self) -> str:
        label = self.variable.get("label") or self.state.variable
        unit = self.unit
        word = "per cent" if unit == "percentage" else unit
        if unit and unit != "percentage" and word.lower() not in label.lower():
            return f"{label} ({word})"
        return label

    @property
    def foot(self) -> str:
        text = "Each class includes its upper bound."
        if self.ranked:
            text += " Rank 1 is the highest value"
            text += f" ({self.variable['polarity']})." if self.variable.get("polarity") else "."
        else:
            text += " " + self.rank_note
        return text

    def legend(self) -> dict:
        """The legend as every consumer draws it."""
        return {"title": self.legend_title, "method": self.method, "notes": list(self.notes),
                "rows": [{"label": c.label, "count": c.count, "colour": c.colour} for c in self.classes],
                "missing": self.missing, "foot": self.foot, "histogram": self.histogram}

    def to_json(self, areas: bool = True) -> dict:
        """The view's JSON twin (GET /api/view.json): exactly what the map, legend and table show."""
        v = self.variable
        out: dict[str, Any] = {
            "view": self.state.as_dict(), "scheme": self.scheme, "place": self.place, "title": self.title,
            "variable": {k: v.get(k) for k in ("id", "label", "unit", "denominator", "polarity", "coverage",
                                               "vintage", "source", "licence", "topic", "table", "cell", "as_of",
                                               "stale", "version", "publisher")
                         if k in v or k not in ("as_of", "stale", "version", "publisher")},
            "decimals": self.decimals, "k": self.k, "k_requested": self.k_requested,
            "classes": [{"class": c.index, "label": c.label, "lower": c.lower, "upper": c.upper,
                         "count": c.count, "colour": c.colour} for c in self.classes],
            "no_data": {"count": self.missing, "colour": NO_DATA},
            "legend": self.legend(), "notes": list(self.notes), "messages": list(self.messages),
            "ranked": self.ranked, "rank_note": self.rank_note, "national": self.national,
        }
        if areas:
            a = self.areas
            out["areas"] = [
                {"code": code, "name": name, "value": value, "text": text, "class": cls, "rank": rank,
                 "rank_national": rn}
                for code, name, value, text, cls, rank, rn in zip(
                    a.codes, a.names, a.values, a.text, a.classes, a.rank, a.rank_national, strict=True)]
        return out

    def details(self) -> dict:
        """What hover cards and the table need beyond the paint, by column in geometry order (fetched by
        the browser only when it shows them)."""
        a = self.areas
        ranked = sum(r is not None for r in a.rank) if self.ranked else 0
        return {"key": f"{self.state.authority}/{self.state.level}", "var": self.state.variable, "text": a.text,
                "v": a.values, "rank": a.rank if self.ranked else None, "ranked": ranked,
                "rn": a.rank_national if self.national else None}

    def paint(self) -> dict:
        """What a switch sends the browser: one class digit per area (``-`` for no data) and the legend."""
        digits = "".join("-" if c < 0 else str(c) for c in self.areas.classes)
        return {
            "key": f"{self.state.authority}/{self.state.level}", "n": len(digits), "cls": digits,
            "c": self.colours, "var": self.state.variable, "label": self.variable.get("label") or "",
            "unit": self.unit, "place": self.place, "all": self.state.authority == ALL, "k": self.k,
            "ranked": self.ranked, "rankNote": self.rank_note, "national": self.national,
            "legend": self.legend(), "classLabels": [c.label for c in self.classes],
        }


def _histogram(values: np.ndarray, breaks: list[float], colours: list[str], lowest: float,
               decimals: int, unit: str) -> dict | None:
    finite = values[np.isfinite(values)]
    if finite.size == 0 or not breaks:
        return None
    lo, hi = float(min(finite.min(), lowest)), float(finite.max())
    width = (hi - lo) / HISTOGRAM_BINS if hi > lo else 1.0
    counts = np.bincount(np.clip(((finite - lo) / width).astype(int), 0, HISTOGRAM_BINS - 1),
                         minlength=HISTOGRAM_BINS)
    mids = lo + (np.arange(HISTOGRAM_BINS) + 0.5) * width
    cls = classify.class_index(mids, breaks)
    return {"lo": format_value(lo, decimals, unit), "hi": format_value(hi, decimals, unit),
            "counts": [int(c) for c in counts], "colours": [colours[i] for i in cls.tolist()],
            "marks": [round(100 * (b - lo) / (hi - lo), 2) if hi > lo else 0.0 for b in breaks[:-1]]}


def _rank_note(row: dict, national: dict | None, n: int) -> str:
    unit = (row.get("unit") or "").lower()
    polarity = row.get("polarity") or ""
    where = f"{national['count']:,} areas of {national['coverage']}" if national else f"{n:,} areas"
    what = "rank" if unit == "rank" else "decile"
    return (f"This is the publisher's own {what} ({where}"
            + (f"; {polarity}" if polarity else "") + "), shown as published and not ranked again.")


def _classification(store: Any, state: ViewState, scheme: str) -> dict:
    """The palette-free part of a view: printed values, breaks, counts and notes (cached across workers).
    Raises classify.ClassifyError for custom breaks that cannot be used."""
    df = store.values(state.authority, state.level, state.variable)
    row = store.variable(state.variable)
    raw = df["value"].to_numpy(dtype="float64")
    decimals = decimals_for(row, raw)
    printed = np.round(raw, decimals)
    national_ok = state.authority != ALL and state.level in (row.get("national_levels") or [])
    basis = None
    if state.scope == "national" and national_ok:
        basis = np.round(store.national_values(state.level, state.variable), decimals)
    out: dict[str, Any] = {"decimals": decimals, "values": [None if not math.isfinite(v) else float(v)
                                                             for v in printed.tolist()],
                           "breaks": [], "lowest": None, "k_requested": state.k, "notes": []}
    try:
        result = classify.classify(printed, scheme, state.k,
                                   custom_breaks=state.breaks if scheme == "custom" else None, reference=basis)
    except classify.ClassifyError as exc:
        if scheme == "custom":
            raise
        out["notes"] = [str(exc).capitalize() + "."]  # nothing to classify: every area is "no data"
        return out
    sorted_basis = np.sort((basis if basis is not None else printed)[np.isfinite(basis if basis is not None
                                                                                 else printed)])
    breaks = printed_breaks(result.breaks, sorted_basis, scheme, decimals)
    if breaks[-1] < np.nanmax(printed):  # breaks from the nation stop below a value here (classify widened)
        breaks[-1] = float(np.nanmax(printed))
    notes = [result.note] if result.note else []
    if len(breaks) < result.k and scheme != "custom":
        notes.append(f"{result.k} classes were computed, {len(breaks)} shown: at the printed precision "
                     f"({decimals} decimal place{'s' if decimals != 1 else ''}) some breaks fell together or "
                     "bounded a class holding no area.")
    out.update({"breaks": breaks, "lowest": float(min(sorted_basis[0], np.nanmin(printed))),
                "k_requested": result.k_requested, "notes": notes})
    return out


def classification(store: Any, state: ViewState, scheme: str) -> dict:
    # data_version: the build, or a published dataset's current version; it raises NotFound for a variable
    # the requester may not see, so a cached classification is never served to someone denied it.
    key = cache.make_key("view", store.data_version(state.variable), state.authority, state.level, state.variable,
                         scheme, state.k,
                         state.breaks if scheme == "custom" else "", state.scope)
    return cache.cached(key, lambda: _classification(store, state, scheme))


def build(store: Any, state: ViewState) -> View:
    """The whole view of ``state`` (a resolved, valid ViewState: see viewstate.resolve).

    Custom breaks that cannot classify these values fall back to quantiles, with a message."""
    messages: list[str] = []
    scheme = effective_scheme(state)
    try:
        part = classification(store, state, scheme)
    except classify.ClassifyError as exc:
        messages.append(f"Custom breaks {state.breaks!r} cannot be used: {exc}. Quantiles are shown instead.")
        scheme = "quantiles"
        part = classification(store, state, scheme)
    row = store.variable(state.variable)
    df = store.values(state.authority, state.level, state.variable)
    decimals = part["decimals"]
    unit = (row.get("unit") or "").lower()
    values = np.array([np.nan if v is None else v for v in part["values"]], dtype="float64")
    breaks = part["breaks"]
    k = len(breaks)
    colours = palettes.colours(state.palette, k, state.reverse) if k else []
    cls = classify.class_index(values, breaks) if k else np.full(values.size, -1, dtype="int8")
    counts = np.bincount(cls[cls >= 0], minlength=k) if k else np.zeros(0, dtype=int)
    labels = class_labels(breaks, part["lowest"], decimals, unit) if k else []
    classes = [ClassRow(i, lab["lower"], lab["upper"], lab["label"], int(counts[i]), colours[i])
               for i, lab in enumerate(labels)]
    place = "England and Wales" if state.authority == ALL else store.authority(state.authority)["name"]
    ranked = unit not in UNRANKED_UNITS
    national_ok = state.authority != ALL and state.level in (row.get("national_levels") or [])
    national = ({"count": int(store.national_values(state.level, state.variable).size),
                 "coverage": row.get("coverage") or "the nation"} if national_ok else None)

    def ints(series: Any) -> list[int | None]:
        missing = series.isna().to_numpy()
        return [None if m else int(r) for r, m in zip(series.to_numpy(dtype="int64", na_value=0), missing,
                                                      strict=True)]

    rank = ints(df["rank"]) if ranked else [None] * len(df)
    rank_national = ints(df["rank_national"]) if ranked else [None] * len(df)  # as /api/values gives them
    areas = AreaRows(codes=df["code"].tolist(), names=df["name"].tolist(), values=part["values"],
                     text=[format_value(v, decimals, unit) for v in part["values"]],
                     classes=[int(c) for c in cls.tolist()], rank=rank, rank_national=rank_national)
    return View(
        state=state, scheme=scheme, place=place, variable=row, decimals=decimals, unit=unit, classes=classes,
        k_requested=part["k_requested"] if k else state.k, missing=int(np.sum(cls < 0)),
        # A published dataset's as-of date and version (and that it is stale) in every view of it.
        notes=[*part["notes"], *([row["status"]] if row.get("status") else [])],
        areas=areas, ranked=ranked,
        rank_note="" if ranked else _rank_note(row, national if national_ok else None, len(df)),
        national=national if ranked else None,
        histogram=_histogram(values, breaks, colours, part["lowest"], decimals, unit) if k else None,
        messages=messages)
