"""The one function that decides what a view shows: ``build(cat, state) -> View``.

Every place that shows a view — the explorer's map, legend, hover card and table, the compare view, the
image export, the embed page and ``GET /api/view.json`` — takes its classes, printed labels, counts,
colours, printed values and ranks from here. The browser only paints what it is sent.

The rules, each decided once:

- **Precision.** Every variable has a printed precision (the catalogue's ``decimals`` where the build set
  it, otherwise from its unit: percentages 1 decimal place, counts, ranks and deciles none, ages 1,
  averages and ratios 2). Values are rounded to it once, from the full-precision value the extracts cat,
  halves away from zero (``round_half_away``), *before* they are classified, so the value a person reads is
  the value that was classified.
- **Breaks.** Quantile breaks snap down to a data value; every other scheme's breaks are rounded to the
  printed precision; custom breaks are kept as typed. A break that leaves a class holding nothing (two
  breaks rounded together, a snapped quantile) is merged, and the note says so.
- **Labels never lie.** Class i holds ``breaks[i-1] < v <= breaks[i]``. Its label runs from the smallest
  printable value above the previous break (``breaks[i-1]`` plus one unit of the printed precision) to its
  own break; the lowest class starts at the lowest value. So integer variables get "1 – 2", "3 – 4", a
  class of one value reads "7", and every printed value lies inside its class's printed label. Custom
  breaks below every value give an empty lowest class labelled "up to ..." everywhere.
- **Ranks** are the extracts reader's (``Catalogue.values``: 1 = highest value, ties share the best rank), on the
  full-precision values, so the view and ``/api/values`` give the same numbers. A variable that is itself
  a publisher's rank or decile is not ranked again: its rank fields are empty and ``ranked`` is False.
- **Centred classes.** A variable with a catalogue ``centre`` (the changes 2011 -> 2021: centre 0) always
  has a break at the centre, so falls and rises never share a class (a value at the centre counts with
  the class below, as every class includes its upper bound); with a diverging palette (its default, the
  catalogue's ``palette``) the two sides take the two hues, equally light at equal distance in classes
  from the centre.
- **Categories.** A categorical variable (classifications, election winners) has one class per category
  present, in the catalogue's order, labelled with the category's label and code, with the publisher's
  colour where the catalogue has one and otherwise a qualitative ColorBrewer colour (``category_colours``);
  no scheme, number of classes, scope or palette applies, and nothing is ranked.
- **Estimates.** Re-based Census 2021 figures (and changes computed from them) are estimates for the 2011
  LSOAs merged in 2021: flagged per area, counted in a legend note with the authority's LSOA changes.
- **The paint** carries one character per area from ``CLASS_ALPHABET`` (``0-9``, ``A-Z``, ``a-z``: 62
  classes; ``-`` no data), decoded in one place in the browser (``window.atlas.classAt``).
"""

from __future__ import annotations

import colorsys
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from atlas import air, cache, classify, mapview, palettes
from atlas.extracts import CARRIED_FIELDS, UNRANKED_UNITS, is_categorical
from atlas.printing import MINUS, decimals_for, format_number, format_value, round_half_away
from atlas.viewstate import ALL, ViewState, effective_scheme, is_overview

if TYPE_CHECKING:
    from atlas.catalogue import Catalogue

__all__ = [
    "CATEGORY_SCHEME", "CLASS_ALPHABET", "MAX_CLASSES", "NO_DATA", "UNRANKED_UNITS", "AreaRows", "ClassRow", "View",
    "build", "carried_rows", "category_colours", "centred_breaks", "centred_colours", "class_char", "class_labels",
    "decimals_for", "format_number", "format_value", "printed_breaks", "range_text", "round_half_away",
    "variable_note",
]

#: One character per area in a paint: class i is CLASS_ALPHABET[i], "-" is no data. Digits first, so a
#: numeric view (at most 10 classes) reads as before; letters give categorical views up to 62 classes.
#: The browser decodes it in one place (assets/atlas.js, window.atlas.classAt).
CLASS_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
MAX_CLASSES = len(CLASS_ALPHABET)
#: The ``scheme`` of a categorical view: its classes are the categories themselves.
CATEGORY_SCHEME = "categories"
#: What the hover card and table say of an area whose figure is an estimate.
ESTIMATE_WORDS = ("Estimate: this 2011 LSOA was merged with others in 2021; the 2021 figure is shared among "
                  "them by their 2011 shares")
#: What the table prints beside a figure carried from another area, by its status (the hover card says why).
CARRIED_WORDS = {"merged": "merged", "split": "split", "irregular": "changed irregularly", "recoded": "recoded"}
#: Qualitative ColorBrewer schemes for categories without a publisher's colour: Set2 up to 8, Set3 up to 12.
QUALITATIVE = (("Set2", 8), ("Set3", 12))

NO_DATA = "#ffffff"
DASH = " \u2013 "  # between the bounds of a class
HISTOGRAM_BINS = 24


def _break_text(value: float, decimals: int) -> str:
    """A break as printed: at the variable's precision, or as typed when a custom break is finer."""
    if math.isclose(value, round(value, decimals), rel_tol=0, abs_tol=1e-9):
        return format_number(value, decimals)
    text = f"{abs(value):,.6f}".rstrip("0").rstrip(".")
    return (MINUS if value < 0 else "") + text


def _step(decimals: int) -> float:
    return 10.0 ** -decimals


def _next_printable(value: float, decimals: int) -> float:
    """The smallest value printable at ``decimals`` places that is strictly above ``value``."""
    scaled = value * 10**decimals
    nearest = round(scaled)
    base = nearest if math.isclose(scaled, nearest, rel_tol=0, abs_tol=1e-6) else math.floor(scaled)
    return round((base + 1) / 10**decimals, decimals)


def class_char(c: int) -> str:
    """The paint's character for class ``c`` (-1: no data)."""
    return "-" if c < 0 else CLASS_ALPHABET[c]


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
    if scheme in classify.GIVEN_BREAKS:
        return [float(x) for x in b]
    if scheme == "quantiles":
        at = np.searchsorted(basis, b + 1e-9, side="right") - 1  # the largest data value <= each break
        b = basis[np.clip(at, 0, basis.size - 1)]
    else:
        b = round_half_away(b, decimals)
    b = np.unique(b)
    b[-1] = max(b[-1], basis[-1])
    occupied = np.bincount(classify.class_index(basis, b), minlength=b.size) > 0
    occupied[-1] = True
    return [float(x) for x in b[occupied]]


def centred_breaks(breaks: list[float], basis: np.ndarray, centre: float) -> tuple[list[float], bool]:
    """Breaks with one at ``centre`` when the values (``basis``, sorted) lie on both sides of it, so values
    at or below the centre and values above it never share a class. A class the new break leaves empty is
    merged into its neighbour (never across the centre). Returns the breaks and whether one was added."""
    if not breaks or basis.size == 0 or not (basis[0] <= centre < basis[-1]) or centre in breaks:
        return list(breaks), False
    b = np.array(sorted([*breaks, centre]), dtype="float64")
    occupied = np.bincount(classify.class_index(basis, b), minlength=b.size) > 0
    keep = occupied | (b == centre)
    keep[-1] = True
    if not occupied[b == centre][0]:
        # Nothing in (previous break, centre]: the class below ends at the centre instead.
        below = np.flatnonzero(b < centre)
        keep[below[-1]] = False
    b = b[keep]
    while b.size > classify.K_MAX:
        # One class more than a palette may have (9 asked for, and the centre): the two neighbouring classes
        # on one side of the centre holding fewest areas together become one.
        counts = np.bincount(classify.class_index(basis, b), minlength=b.size)
        inner = [i for i in range(b.size - 1) if b[i] != centre]
        merge = min(inner, key=lambda i: counts[i] + counts[i + 1])
        b = np.delete(b, merge)
    return [float(x) for x in b], True


def centred_colours(palette: str, breaks: list[float], centre: float, reverse: bool) -> list[str] | None:
    """Colours for classes split at ``centre`` by a diverging palette: the classes at or below the centre
    take the first hue, those above the second, the lightest next to the centre on both sides, so equal
    lightness means an equal number of classes from the centre. None where the palette is not diverging or
    cannot give enough colours on one side (the plain palette is used then)."""
    if palettes.PALETTES.get(palette) != "diverging":
        return None
    below = sum(1 for b in breaks if b <= centre)
    above = len(breaks) - below
    side = max(below, above)
    if side == 0 or 2 * side > palettes.max_classes(palette):
        return None
    if side == 1:
        full = palettes.colours(palette, 3, reverse)
        left, right = [full[0]], [full[2]]
    else:
        full = palettes.colours(palette, 2 * side, reverse)
        left, right = full[:side], full[side:]
    return left[side - below:] + right[:above]


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(max(0.0, min(1.0, v)) * 255):02x}" for v in rgb)


def _rgb(colour: str) -> tuple[float, float, float]:
    return tuple(int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


def _shade(colour: str, j: int, m: int) -> str:
    """The j-th of m shades of ``colour`` (darker to lighter, the middle one the colour itself)."""
    if m <= 1:
        return colour
    h, lightness, sat = colorsys.rgb_to_hls(*_rgb(colour))
    offset = -0.22 + 0.44 * j / (m - 1)
    return _hex(colorsys.hls_to_rgb(h, min(0.82, max(0.22, lightness + offset)), sat))


def _hues(n: int) -> list[str]:
    """n evenly spaced hues at one lightness and saturation (the last resort beyond 12 categories)."""
    return [_hex(colorsys.hls_to_rgb(((i * 0.618034) % 1.0), 0.62, 0.55)) for i in range(n)]


def _qualitative(n: int) -> tuple[list[str], str]:
    for name, top in QUALITATIVE:
        if n <= top:
            return palettes.qualitative(name, n), name
    return palettes.qualitative("Set3", 12) + _hues(n - 12), "Set3 and evenly spaced hues"


def category_colours(categories: list[dict], present: list[str] | None = None) -> tuple[dict[str, str], str]:
    """A colour for each category code, and a sentence saying where the colours come from.

    1. The catalogue's colour where it has one (the publisher's, e.g. conventional party colours).
    2. The others, in the catalogue's order, from a qualitative ColorBrewer scheme (Set2 up to 8, Set3 up
       to 12), so a category has the same colour in every authority.
    3. More than 12 without a colour: where their codes are a hierarchy of at most 8 parents (the OAC's
       groups 1a, 1b... under supergroups 1..8), each parent takes the colour its own category would (the
       supergroup map's colour) and its children shades of it, darker to lighter; otherwise only the
       categories ``present`` in the view are coloured, in the catalogue's order, from Set2 (up to 8 present)
       or Set3 (up to 12), beyond that with evenly spaced hues (a category's colour may then differ between
       authorities).
    """
    given = {c["code"]: c["colour"] for c in categories if c.get("colour")}
    missing = [c["code"] for c in categories if not c.get("colour")]
    out = dict(given)
    if not missing:
        return out, ("Colours: the catalogue's (the publisher's, a conventional scheme, or a diverging one for a "
                     "change).")
    source = "the publisher's where there is one, otherwise " if given else ""
    if len(missing) <= QUALITATIVE[-1][1]:
        colours, name = _qualitative(len(missing))
        out.update(zip(missing, colours, strict=True))
        return out, f"Colours: {source}ColorBrewer {name} (qualitative)."
    parents: dict[str, list[str]] = {}
    for code in missing:
        parents.setdefault(code[:-1], []).append(code)
    # A hierarchy of codes: all of one length, each a parent's code and one lower-case letter (OAC: 1a-8d).
    hierarchy = (len({len(code) for code in missing}) == 1 and len(missing[0]) >= 2
                 and all(code[-1].islower() for code in missing))
    if hierarchy and len(parents) <= QUALITATIVE[0][1]:
        base, name = _qualitative(len(parents))
        for colour, children in zip(base, parents.values(), strict=True):
            for j, code in enumerate(children):
                out[code] = _shade(colour, j, len(children))
        return out, (f"Colours: {source}ColorBrewer {name} by parent class (the code without its last "
                     "character, e.g. the supergroup of an OAC group), in shades for its members.")
    shown = [code for code in (present or []) if code in set(missing)]
    colours, name = _qualitative(len(shown)) if shown else ([], "Set3")
    out.update(zip(shown, colours, strict=True))
    return out, (f"Colours: {source}ColorBrewer {name} for the categories present here, in the catalogue's "
                 "order (too many categories for a scheme to colour them all alike everywhere).")


# -- the view --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassRow:
    index: int
    lower: float | None  # as printed; None for a class that holds nothing printable, and for a category
    upper: float | None  # None for a category
    label: str
    count: int
    colour: str
    code: str | None = None  # the category's code (categorical views only)


@dataclass
class AreaRows:
    """One entry per area, in the geometry's order (by code)."""

    codes: list[str]
    #: Names ("Birmingham 043C") and friendly names ("Birmingham 043C, in Nechells ward") as the values frame
    #: holds them: pandas string arrays on Arrow's buffers, shared with the reader's cache. Read by position or
    #: iterated (each read makes its text then); never a list of 34,753 new strings per view of every LSOA.
    names: Sequence[str]
    full_names: Sequence[str]
    values: list[Any]  # as printed (rounded to the view's decimals); a categorical view's category codes
    text: list[str]  # the value as printed, with its unit; a category's label and code
    classes: list[int]  # -1: no data
    rank: list[int | None]  # within the place; None when missing or not ranked
    rank_national: list[int | None]
    estimated: list[bool] | None = None  # per area, for re-based figures (None: the variable has no estimates)
    carried: list[dict | None] | None = None  # per area, for figures carried from other areas (``carried_rows``)
    why: list[str | None] | None = None  # per area without a value, why (categorical views with a reason_variable)


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
    categorical: bool = False
    estimates: dict | None = None  # {"count", "note", "areas" (LSOA changes of the authority)} for re-based figures
    centre: float | None = None  # the break that divides the classes (change variables), when there is one
    carried: dict | None = None  # {"counts" by status, "ranges", "note"} for figures carried from other areas
    #: Population-weighted exposure of the place (atlas/air.py) for a variable with thresholds, with its words.
    exposure: dict | None = None

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
        return mapview.title(self.state, self.place, self.variable)

    @property
    def method(self) -> str:
        """"5 classes, Quantiles, breaks within Camden" (and how many were asked for, when fewer)."""
        k, kr = self.k, self.k_requested
        if self.categorical:
            present = "1 category" if k == 1 else f"{k} categories"
            return f"{present} present of the {kr} of the classification, in its order"
        text = ("1 class" if k == 1 else f"{k} classes") + (f" ({kr} asked for)" if kr != k and k else "")
        text += ", " + classify.SCHEMES.get(self.scheme, self.scheme)
        if is_overview(self.state):
            return text
        if self.state.authority == ALL:
            return text + f", breaks across {self.place}"
        if self.state.scope == "national" and self.national:
            return text + f", breaks across {self.national['coverage']}"
        return text + f", breaks within {self.place}"

    @property
    def legend_title(self) -> str:
        label = self.variable.get("label") or self.state.variable
        unit = self.unit
        if self.categorical:
            return label
        word = "per cent" if unit == "percentage" else unit
        if unit and unit != "percentage" and word.lower() not in label.lower():
            return f"{label} ({word})"
        return label

    @property
    def foot(self) -> str:
        if self.categorical:
            return "Each colour is one category; categories are not classed or ranked."
        text = "Each class includes its upper bound."
        if self.ranked:
            text += " Rank 1 is the highest value"
            text += f" ({self.variable['polarity']})." if self.variable.get("polarity") else "."
        else:
            text += " " + self.rank_note
        return text

    def legend(self) -> dict:
        """The legend as every consumer draws it."""
        out = {"title": self.legend_title, "method": self.method, "notes": list(self.notes),
               "rows": [{"label": c.label, "count": c.count, "colour": c.colour} for c in self.classes],
               "missing": self.missing, "foot": self.foot, "histogram": self.histogram}
        if self.carried and self.carried["ranges"]:
            # Split areas have a range, not a figure: drawn unfilled like no data, but named apart.
            out["ranges"] = {"count": self.carried["ranges"], "label": self.carried["ranges_label"]}
        return out

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
            "kind": "categorical" if self.categorical else "numeric",
            "classes": [{"class": c.index, "label": c.label, "lower": c.lower, "upper": c.upper,
                         "count": c.count, "colour": c.colour, **({"code": c.code} if self.categorical else {})}
                        for c in self.classes],
            "no_data": {"count": self.missing, "colour": NO_DATA},
            "legend": self.legend(), "notes": list(self.notes), "messages": list(self.messages),
            "ranked": self.ranked, "rank_note": self.rank_note, "national": self.national,
            "centre": self.centre, "estimates": self.estimates, "carried": self.carried,
            "thresholds": air.thresholds(v) or None,
            "exposure": ({k: x for k, x in self.exposure.items() if k != "decimals"} if self.exposure else None),
        }
        if areas:
            a = self.areas
            out["areas"] = [
                {"code": code, "name": name, "full_name": full_name, "value": value, "text": text, "class": cls,
                 "rank": rank, "rank_national": rn}
                for code, name, full_name, value, text, cls, rank, rn in zip(
                    a.codes, a.names, a.full_names, a.values, a.text, a.classes, a.rank, a.rank_national,
                    strict=True)]
            if a.estimated is not None:
                for area, flag in zip(out["areas"], a.estimated, strict=True):
                    area["estimated"] = flag
            if a.carried is not None:
                for area, carried in zip(out["areas"], a.carried, strict=True):
                    area.update(carried or {"carried": None})
        return out

    def details(self) -> dict:
        """What hover cards and the table need beyond the paint, by column in geometry order (fetched by
        the browser only when it shows them)."""
        a = self.areas
        ranked = sum(r is not None for r in a.rank) if self.ranked else 0
        out = {"key": f"{self.state.authority}/{self.state.level}", "var": self.state.variable, "text": a.text,
               "v": a.values, "rank": a.rank if self.ranked else None, "ranked": ranked,
               "rn": a.rank_national if self.national else None, "est": None, "estNote": None}
        if a.estimated is not None and self.estimates:
            # Indices of the areas whose figure is an estimate (a few per authority), and what to say of them.
            out["est"] = [i for i, flag in enumerate(a.estimated) if flag]
            out["estNote"] = ESTIMATE_WORDS
        if a.carried is not None:
            # Areas whose figures are not their own (merged, split, irregular): by index, the word the table
            # prints beside the value and the sentence the hover card and the table's tooltip say.
            out["carried"] = {str(i): [CARRIED_WORDS.get(c["carried"], c["carried"]), c["carried_note"]]
                              for i, c in enumerate(a.carried) if c and c["carried"] != "unchanged"}
        return out

    def rows(self, sort: str, descending: bool, page: int, size: int, find: str | None = None) -> dict:
        """One page of the table, in the table's order, with the figures of its rows only: what the browser
        fetches for the table's visible page (and for a selection, ``find``: the page holding that area)
        instead of every area's details. ``sort`` is a table column (``name``, ``value``, ``rank``, ``rn``,
        ``class``); missing values come last in either direction, ties in geometry order (as the browser
        sorts when it holds every area's details)."""
        a = self.areas
        n = len(a.codes)

        def key(i: int) -> Any:
            if sort == "name":
                return a.names[i].casefold()
            if sort == "value":
                return a.values[i]
            if sort == "rank":
                if self.ranked:
                    return a.rank[i]
                return None if a.values[i] is None else -a.values[i]
            if sort == "rn":
                return a.rank_national[i] if self.national else None
            if sort == "class":
                return a.classes[i] if a.classes[i] >= 0 else None
            return i

        keyed = [(key(i), i) for i in range(n)]
        # Stable, also reversed: ties stay in geometry order in either direction.
        present = sorted((kv for kv in keyed if kv[0] is not None), key=lambda kv: kv[0], reverse=descending)
        order = [i for _, i in present] + [i for k, i in keyed if k is None]
        pages = max(1, math.ceil(n / size))
        if find is not None and find in a.codes:
            page = order.index(a.codes.index(find)) // size
        page = min(pages - 1, max(0, page))
        shown = order[page * size:(page + 1) * size]
        if find is not None and find in a.codes and a.codes.index(find) not in shown:
            shown.append(a.codes.index(find))
        est = {i for i, flag in enumerate(a.estimated) if flag} if a.estimated is not None else set()
        return {"key": f"{self.state.authority}/{self.state.level}", "var": self.state.variable,
                "sort": sort, "dir": "desc" if descending else "asc", "page": page, "pages": pages,
                "order": order[page * size:(page + 1) * size],
                "ranked": sum(r is not None for r in a.rank) if self.ranked else 0,
                "estNote": ESTIMATE_WORDS if est else None,
                "rows": {str(i): {"text": a.text[i], "rank": a.rank[i] if self.ranked else None,
                                  "rn": a.rank_national[i] if self.national else None, "est": i in est,
                                  **({"carried": self._carried_words(i)} if self._carried_words(i) else {})}
                         for i in shown}}

    def _carried_words(self, i: int) -> list[str] | None:
        """A carried figure's word and sentence for area i (as ``details`` gives them), None for the others."""
        c = self.areas.carried[i] if self.areas.carried is not None else None
        if not c or c["carried"] == "unchanged":
            return None
        return [CARRIED_WORDS.get(c["carried"], c["carried"]), c["carried_note"]]

    def _why(self) -> dict:
        return _why_paint(self.areas.why or [])

    def paint(self) -> dict:
        """What a switch sends the browser: one character per area (``CLASS_ALPHABET``, ``-`` for no data),
        the colours, the legend, and the words the hover card and table print for each class."""
        chars = "".join(class_char(c) for c in self.areas.classes)
        # The hover card's and table's class words ("Class 2 of 5: 3.7% – 5.1%", "2 of 5 (3.7% – 5.1%)") are
        # made in the browser from ``classLabels`` and ``k`` (assets/atlas.js classWords): sent once, not thrice.
        if self.categorical:
            columns = [["name", "Area"], ["class", "Category"]]
            unranked = ""
        else:
            columns = [["name", "Area"], ["value", "Value"], ["rank", "Rank" if self.ranked else "Order"]]
            if self.national:
                columns.append(["rn", "National rank"])
            columns.append(["class", "Class"])
            unranked = "" if self.ranked else "As published; not ranked again"
        return {
            "key": f"{self.state.authority}/{self.state.level}", "n": len(chars), "cls": chars,
            "c": self.colours, "var": self.state.variable, "label": self.variable.get("label") or "",
            "unit": self.unit, "place": self.place, "all": is_overview(self.state), "k": self.k,
            "ranked": self.ranked, "rankNote": self.rank_note, "national": self.national,
            "legend": self.legend(), "classLabels": [c.label for c in self.classes], "columns": columns,
            "sort": "class" if self.categorical else "rank", "unranked": unranked, "categorical": self.categorical,
            # The place's population-weighted exposure (a variable with thresholds), for the hover card's foot.
            **({"exposure": self.exposure["lines"][:2]} if self.exposure else {}),
            # A published dataset's as-of date and version (and that it is stale), for the hover card.
            **({"asOf": self.variable["status"]} if self.variable.get("status") else {}),
            # The variable's own caveat (ties, multi-member wards, definitions), in the hover card as in the legend.
            "notes": [variable_note(self.variable)] if variable_note(self.variable) else [],
            # A categorical view's empty areas, why (one character per area: an index into the reasons, "-"
            # where the area has a value): its hover card and table say it without a details request.
            **({"why": self._why()} if self.areas.why else {}),
        }


def _why_paint(why: list[str | None]) -> dict:
    labels = list(dict.fromkeys(w for w in why if w))
    at = "".join("-" if w is None else CLASS_ALPHABET[labels.index(w)] for w in why)
    return {"labels": labels, "at": at}


def variable_note(row: dict) -> str:
    """The catalogue's caveat of a variable, as the legend and hover card print it ("" when it has none)."""
    note = str(row.get("note") or "").strip()
    return f"Note: {note}" if note else ""


def _histogram(values: np.ndarray, breaks: list[float], colours: list[str], lowest: float,
               decimals: int, unit: str) -> dict | None:
    finite = values[np.isfinite(values)]
    if finite.size == 0 or not breaks:
        return None
    # The axis runs over the values shown (this place's), both ends alike: with national breaks, the lowest
    # class starts at the nation's minimum, which is not a value of this histogram.
    lo, hi = float(finite.min()), float(finite.max())
    width = (hi - lo) / HISTOGRAM_BINS if hi > lo else 1.0
    counts = np.bincount(np.clip(((finite - lo) / width).astype(int), 0, HISTOGRAM_BINS - 1),
                         minlength=HISTOGRAM_BINS)
    mids = lo + (np.arange(HISTOGRAM_BINS) + 0.5) * width
    cls = classify.class_index(mids, breaks)
    return {"lo": format_value(lo, decimals, unit), "hi": format_value(hi, decimals, unit),
            "counts": [int(c) for c in counts], "colours": [colours[i] for i in cls.tolist()],
            "marks": [round(100 * (b - lo) / (hi - lo), 2) if hi > lo else 0.0 for b in breaks[:-1]]}


def _threshold_lines(values: np.ndarray, items: list[dict], decimals: int, unit: str) -> list[dict]:
    """Where the thresholds fall on the histogram's axis (% from its left end), those inside its range."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return []
    lo, hi = float(finite.min()), float(finite.max())
    return [{"left": round(100 * (t["value"] - lo) / (hi - lo), 2) if hi > lo else 0.0,
             "label": f"{t['label']}: {format_value(t['value'], decimals, unit)}"}
            for t in items if lo <= t["value"] <= hi]


def _limits(store: Any, state: ViewState, row: dict, scheme: str, decimals: int, unit: str
            ) -> tuple[list[str], dict | None]:
    """A variable judged against thresholds (atlas/air.py): the legend's words for them (which breaks the
    "Guideline and limits" classes use; how many areas and people are above each) and the place's exposure."""
    items = air.thresholds(row)
    if not items:
        return [], None
    named = "; ".join(f"{format_value(t['value'], decimals, unit)} {t['label']}" for t in items)
    basis = items[0].get("basis") or ""
    if scheme == "limits":
        notes = [f"Classes break at the guideline and limits ({basis}s): {named}. Each class includes its upper "
                 "bound, so an area at exactly a threshold meets it."]
    else:
        notes = [f"Guideline and limits ({basis}s): {named}. Choose the classes \"Guideline and limits\" to map "
                 "areas against them."]
    try:
        summary = air.exposure(store, state.authority, state.level, state.variable)
    except air.ExposureError as exc:
        return [*notes, f"Population-weighted exposure is not available here: {exc}."], None
    place = store.authority(state.authority)["name"]
    lines = air.exposure_lines(summary, place)
    return [*notes, *lines], {**summary, "lines": lines, "place": place}


def range_text(low: float, high: float, parts: int, decimals: int, unit: str) -> str:
    """A split area's figures, never averaged: "deciles 2 and 4" (two parts), "ranks 1,204 to 9,311" (more)."""
    word = {"rank": "ranks", "decile": "deciles", "score": "scores"}.get(unit, "")
    a, b = format_value(low, decimals, unit), format_value(high, decimals, unit)
    return f"{word} {a}{' and ' if parts == 2 else ' to '}{b}".strip()


def carried_rows(df: Any, printed: list[Any], decimals: int, unit: str) -> tuple[list[dict | None], list[str]]:
    """Per area of a view of carried figures (``Catalogue.values`` has ``carried``...): its status, note, parts
    and range, and the text printed for its value: the figure as published, "7 (both parts)" where every part
    of a split area has it, or the parts' range ("deciles 2 and 4") where they differ (no class then)."""
    rows: list[dict | None] = []
    texts: list[str] = []
    columns = {k: df[k].tolist() if k in df.columns else [None] * len(df) for k in CARRIED_FIELDS}
    for i, value in enumerate(printed):
        status = columns["carried"][i]
        if status is None:
            rows.append(None)
            texts.append(format_value(value, decimals, unit))
            continue
        parts = columns["parts"][i]
        parts = int(parts) if parts is not None and math.isfinite(parts) else 1
        low, high = columns["low"][i], columns["high"][i]
        low = low if low is not None and math.isfinite(low) else None
        high = high if high is not None and math.isfinite(high) else None
        row = {"carried": status, "carried_note": columns["carried_note"][i] or "", "parts": parts,
               "low": None if low is None else round(low, decimals),
               "high": None if high is None else round(high, decimals)}
        rows.append(row)
        if value is None and low is not None and high is not None:
            texts.append(range_text(low, high, parts, decimals, unit))
        elif value is not None and parts > 1:
            texts.append(format_value(value, decimals, unit) + (" (both parts)" if parts == 2 else
                                                                f" (all {parts} parts)"))
        else:
            texts.append(format_value(value, decimals, unit))
    return rows, texts


def _carried(rows: list[dict | None], classes: list[int], level: str, unit: str) -> dict | None:
    """The legend's words for carried figures: how many areas are merged, split, irregular, and how many
    split areas have a range rather than a figure (drawn unfilled, like no data, and named apart)."""
    flagged = [r for r in rows if r]
    if not flagged:
        return None
    counts = Counter(r["carried"] for r in flagged)
    ranges = sum(1 for r, c in zip(rows, classes, strict=True) if r and c < 0 and r["low"] is not None)
    what = {"decile": "decile", "rank": "rank", "score": "score"}.get(unit, "figure")
    if level == "lad":
        note = (f"{counts.get('merged', 0):,} of these districts merged in April 2023 into larger districts: they "
                "show their 2024 district's figures (File 10), shared and flagged; the others are File 10's own."
                if counts.get("merged") else "Every district here is one File 10 summarises as it is.")
        note += " Shown as published, never re-ranked."
    else:
        parts = [f"{counts.get('unchanged', 0):,} unchanged in 2021 (their own figures)"]
        if counts.get("merged"):
            parts.append(f"{counts['merged']:,} merged into a larger 2021 LSOA (its figures, shared, flagged)")
        if counts.get("split"):
            parts.append(f"{counts['split']:,} split (a range over their parts, never an average)")
        if counts.get("irregular"):
            parts.append(f"{counts['irregular']:,} changed irregularly")
        note = ("On 2011 LSOAs these figures are carried from the 2021 LSOAs they were published for (ONS exact-fit "
                "lookup): " + ", ".join(parts) + ".")
        if ranges:
            note += (f" {ranges:,} split area{'s have' if ranges != 1 else ' has'} no single {what} and "
                     f"{'are' if ranges != 1 else 'is'} drawn unfilled.")
        note += " Not ranked again."
    return {"counts": dict(counts), "ranges": ranges, "note": note,
            "ranges_label": f"No single {what}: split in 2021 (the range is in the hover card and table)"}


def _carried_rank_note(row: dict, level: str) -> str:
    where = "2024 districts (File 10)" if level == "lad" else "2021 LSOAs"
    return (f"These figures are carried from the {where} they were published for, so they are shown as "
            "published and not ranked again.")


def _rank_note(row: dict, national: dict | None, n: int) -> str:
    unit = (row.get("unit") or "").lower()
    polarity = row.get("polarity") or ""
    where = f"{national['count']:,} areas of {national['coverage']}" if national else f"{n:,} areas"
    what = "rank" if unit == "rank" else "decile"
    return (f"This is the publisher's own {what} ({where}"
            + (f"; {polarity}" if polarity else "") + "), shown as published and not ranked again.")


def _classification(cat: Catalogue, state: ViewState, scheme: str) -> dict:
    """The palette-free part of a view: printed values, breaks, counts and notes (cached across workers).
    Raises classify.ClassifyError for custom breaks that cannot be used."""
    df = cat.values(state.authority, state.level, state.variable)
    row = cat.variable(state.variable)
    raw = df["value"].to_numpy(dtype="float64")
    decimals = decimals_for(row, raw)
    printed = round_half_away(raw, decimals)
    national_ok = state.authority != ALL and state.level in (row.get("national_levels") or [])
    basis = None
    if state.scope == "national" and national_ok:
        basis = round_half_away(cat.national_values(state.level, state.variable), decimals)
    out: dict[str, Any] = {"decimals": decimals, "values": [None if not math.isfinite(v) else float(v)
                                                             for v in printed.tolist()],
                           "breaks": [], "lowest": None, "k_requested": state.k, "notes": []}
    try:
        given = air.preset_breaks(row) if scheme == "limits" else state.breaks if scheme == "custom" else None
        result = classify.classify(printed, scheme, state.k, custom_breaks=given, reference=basis)
    except classify.ClassifyError as exc:
        if scheme in classify.GIVEN_BREAKS:
            raise
        out["notes"] = [str(exc).capitalize() + "."]  # nothing to classify: every area is "no data"
        return out
    sorted_basis = np.sort((basis if basis is not None else printed)[np.isfinite(basis if basis is not None
                                                                                 else printed)])
    breaks = printed_breaks(result.breaks, sorted_basis, scheme, decimals)
    if breaks[-1] < np.nanmax(printed):  # breaks from the nation stop below a value here (classify widened)
        breaks[-1] = float(np.nanmax(printed))
    notes = [result.note] if result.note else []
    centre = row.get("centre")
    if centre is not None and math.isfinite(centre) and scheme not in classify.GIVEN_BREAKS:
        breaks, added = centred_breaks(breaks, sorted_basis, float(centre))
        if added:
            notes.append(f"A break at {format_number(float(centre), decimals)} was added so that falls and rises "
                         "never share a class.")
    if len(breaks) < result.k and scheme not in classify.GIVEN_BREAKS:
        notes.append(f"{result.k} classes were computed, {len(breaks)} shown: at the printed precision "
                     f"({decimals} decimal place{'s' if decimals != 1 else ''}) some breaks fell together or "
                     "bounded a class holding no area.")
    out.update({"breaks": breaks, "lowest": float(min(sorted_basis[0], np.nanmin(printed))),
                "k_requested": result.k_requested, "notes": notes})
    return out


def _reasons(cat: Catalogue, state: ViewState, row: dict) -> list[str | None] | None:
    """Why each area has no value, where the catalogue names a variable that says so (``reason_variable``:
    an election's ``le<year>_result``): its category label per area (None where it has none), else None."""
    reason = row.get("reason_variable")
    if not reason:
        return None
    try:
        df = cat.values(state.authority, state.level, reason)
    except LookupError:
        return None
    return [None if label is None or (isinstance(label, float) and math.isnan(label)) else str(label)
            for label in df["label"].tolist()] if "label" in df.columns else None


def _missing_note(texts: list[str], reasons: list[str | None] | None, missing: list[bool]) -> str | None:
    """The legend's words for the areas without a value, by reason ("No data: 27 wards. No result: ...")."""
    if not reasons or not any(missing):
        return None
    counts = Counter(r or "no reason recorded" for r, m in zip(reasons, missing, strict=True) if m)
    return "No data, by reason: " + "; ".join(f"{n:,} {r[:1].lower() + r[1:]}" for r, n in counts.most_common()) + "."


def _estimates(cat: Catalogue, state: ViewState, row: dict, flags: Any) -> dict | None:
    """The legend's words and counts for re-based figures: how many areas here are estimates, and how the
    authority's 2011 LSOAs map to 2021 ones."""
    if flags is None:
        return None
    count = int(np.sum(flags))
    changes = cat.rebasing(state.authority)
    note = (f"{count:,} of these {len(flags):,} areas' figures {'is an estimate' if count == 1 else 'are estimates'}"
            " (2011 LSOAs merged into one 2021 LSOA, whose figure is shared among them by their 2011 shares).")
    if changes:
        note += (f" Of {changes['areas']:,} LSOAs here, {changes['unchanged']:,} are unchanged since 2011, "
                 f"{changes['split']:,} split (summed back, exact), {changes['merged']:,} merged"
                 + (f" and {changes['complex']:,} changed irregularly" if changes.get("complex") else "") + ".")
    return {"count": count, "note": note, "areas": changes}


def _place_row(cat: Catalogue, authority: str) -> dict | None:
    try:
        return cat.authority(authority)
    except LookupError:
        return None


def classification(cat: Catalogue, state: ViewState, scheme: str) -> dict:
    # data_version: the build, or a published dataset's current version; it raises NotFound for a variable
    # the requester may not see, so a cached classification is never served to someone denied it.
    key = cache.make_key("view", cat.data_version(state.variable), cat.place_key(state.authority), state.level,
                         state.variable,
                         scheme, state.k,
                         state.breaks if scheme == "custom" else "", state.scope)
    return cache.cached(key, lambda: _classification(cat, state, scheme))


def build(cat: Catalogue, state: ViewState) -> View:
    """The whole view of ``state`` (a resolved, valid ViewState: see viewstate.resolve).

    Custom breaks that cannot classify these values fall back to quantiles, with a message."""
    row = dict(cat.variable(state.variable))
    # The view credits its own publishers (a variable several give: Camden's CDRC pack and Nomis's tables).
    row["source"] = mapview.view_source(row, _place_row(cat, state.authority), state.level)
    if is_categorical(row):
        return _build_categorical(cat, state, row)
    messages: list[str] = []
    scheme = effective_scheme(state)
    try:
        part = classification(cat, state, scheme)
    except classify.ClassifyError as exc:
        messages.append(f"Custom breaks {state.breaks!r} cannot be used: {exc}. Quantiles are shown instead.")
        scheme = "quantiles"
        part = classification(cat, state, scheme)
    df = cat.values(state.authority, state.level, state.variable)
    decimals = part["decimals"]
    unit = (row.get("unit") or "").lower()
    values = np.array([np.nan if v is None else v for v in part["values"]], dtype="float64")
    breaks = part["breaks"]
    k = len(breaks)
    centre = row.get("centre")
    centred = centre is not None and math.isfinite(centre) and scheme not in classify.GIVEN_BREAKS and k > 0
    colours = ((centred and centred_colours(state.palette, breaks, float(centre), state.reverse))
               or palettes.colours(state.palette, k, state.reverse)) if k else []
    cls = classify.class_index(values, breaks) if k else np.full(values.size, -1, dtype="int8")
    counts = np.bincount(cls[cls >= 0], minlength=k) if k else np.zeros(0, dtype=int)
    labels = class_labels(breaks, part["lowest"], decimals, unit) if k else []
    classes = [ClassRow(i, lab["lower"], lab["upper"], lab["label"], int(counts[i]), colours[i])
               for i, lab in enumerate(labels)]
    place = cat.authority(state.authority)["name"]
    ranked = unit not in UNRANKED_UNITS
    national_ok = state.authority != ALL and state.level in (row.get("national_levels") or [])
    national = ({"count": int(cat.national_values(state.level, state.variable).size),
                 "coverage": row.get("coverage") or "the nation"} if national_ok else None)

    def ints(series: Any) -> list[int | None]:
        missing = series.isna().to_numpy()
        return [None if m else int(r) for r, m in zip(series.to_numpy(dtype="int64", na_value=0), missing,
                                                      strict=True)]

    # Figures carried from other areas (IoD 2025 on 2011 LSOAs, File 10 on 2021 districts) are never ranked again.
    carried = "carried" in df.columns
    ranked = ranked and not carried
    rank = ints(df["rank"]) if ranked else [None] * len(df)
    rank_national = ints(df["rank_national"]) if ranked else [None] * len(df)  # as /api/values gives them
    flags = df["estimated"].to_numpy(dtype=bool) if "estimated" in df.columns else None
    if carried:
        carried_area, texts = carried_rows(df, part["values"], decimals, unit)
    else:
        carried_area, texts = None, [format_value(v, decimals, unit) for v in part["values"]]
    reasons = _reasons(cat, state, row)
    if reasons is not None:  # an empty area says why (an election's tie, no election that year...)
        texts = [f"no data: {r[:1].lower() + r[1:]}" if t == "no data" and r else t for t, r in zip(
            texts, reasons, strict=True)]
    areas = AreaRows(codes=df["code"].tolist(), names=df["name"].array, full_names=df["full_name"].array,
                     values=part["values"], text=texts,
                     classes=[int(c) for c in cls.tolist()], rank=rank, rank_national=rank_national,
                     estimated=None if flags is None else [bool(f) for f in flags], carried=carried_area)
    estimates = _estimates(cat, state, row, flags)
    carried_summary = _carried(carried_area, areas.classes, state.level, unit) if carried_area else None
    notes = list(part["notes"])
    if centred:
        notes.append(f"Classes at or below {format_value(float(centre), decimals, unit)} are falls, those above are "
                     "rises" + (", in the palette's two hues, lightest next to it." if palettes.PALETTES.get(
                         state.palette) == "diverging" else "."))
    if estimates:
        notes.append(estimates["note"])
    if carried_summary:
        notes.append(carried_summary["note"])
    ranges = carried_summary["ranges"] if carried_summary else 0
    why = _missing_note(texts, reasons, [v is None for v in part["values"]])
    if why:
        notes.append(why)
    limits, exposure = _limits(cat, state, row, scheme, decimals, unit)
    notes += limits
    if variable_note(row):
        notes.append(variable_note(row))
    histogram = _histogram(values, breaks, colours, part["lowest"], decimals, unit) if k else None
    if histogram and air.thresholds(row):
        histogram["lines"] = _threshold_lines(values, air.thresholds(row), decimals, unit)
    return View(
        state=state, scheme=scheme, place=place, variable=row, decimals=decimals, unit=unit, classes=classes,
        k_requested=part["k_requested"] if k else state.k, missing=int(np.sum(cls < 0)) - ranges,
        # A published dataset's as-of date and version (and that it is stale) in every view of it.
        notes=[*notes, *([row["status"]] if row.get("status") else [])],
        areas=areas, ranked=ranked, estimates=estimates, centre=float(centre) if centred else None,
        carried=carried_summary,
        rank_note="" if ranked else (_carried_rank_note(row, state.level) if carried else
                                     _rank_note(row, national if national_ok else None, len(df))),
        national=national if ranked else None, histogram=histogram, messages=messages, exposure=exposure)


def _build_categorical(cat: Catalogue, state: ViewState, row: dict) -> View:
    """A categorical view: one class per category present (the catalogue's order), labelled with its label
    and code, coloured by ``category_colours``, counted; no scheme, classes, scope or palette apply."""
    df = cat.values(state.authority, state.level, state.variable)
    codes = df["category"].tolist()
    categories = list(row.get("categories") or [])
    known = {c["code"] for c in categories}
    counts = Counter(c for c in codes if c is not None)
    # A code the catalogue does not list (never expected: the build checks) is shown as itself, last.
    extra = [{"code": c, "label": c, "colour": None} for c in sorted(counts) if c not in known]
    order = [c for c in categories + extra if counts.get(c["code"])]
    notes: list[str] = []
    if len(order) > MAX_CLASSES:
        # More categories than the paint has characters: the rarest share one class, said in the legend.
        keep = sorted(order, key=lambda c: -counts[c["code"]])[:MAX_CLASSES - 1]
        kept = {c["code"] for c in keep}
        rest = [c["code"] for c in order if c["code"] not in kept]
        order = [c for c in order if c["code"] in kept]
        other = {"code": "other", "label": f"Other ({len(rest)} categories)", "colour": "#bdbdbd"}
        counts["other"] = sum(counts[c] for c in rest)
        codes = ["other" if c in set(rest) else c for c in codes]
        order.append(other)
        notes.append(f"{len(rest)} of the rarest categories share the class 'Other': a map shows at most "
                     f"{MAX_CLASSES} classes.")
    colours, colour_note = category_colours(categories + extra, [c["code"] for c in order])
    if row.get("method") == "change" and row.get("note"):
        notes.append(row["note"])  # what was compared, and the publisher's caution (IoD 2019 to 2025)
    notes.append(colour_note)
    if variable_note(row):
        notes.append(variable_note(row))

    def text(c: dict) -> str:
        return c["label"] if c["label"] == c["code"] or c["code"] == "other" else f"{c['label']} ({c['code']})"

    index = {c["code"]: i for i, c in enumerate(order)}
    classes = [ClassRow(i, None, None, text(c), int(counts[c["code"]]), colours.get(c["code"]) or "#bdbdbd",
                        code=c["code"]) for i, c in enumerate(order)]
    cls = [index.get(c, -1) if c is not None else -1 for c in codes]
    labels = {c["code"]: text(c) for c in order}
    place = cat.authority(state.authority)["name"]
    n = len(df)
    reasons = _reasons(cat, state, row) if row.get("reason_variable") != row.get("id") else None
    why = [r if c is None and r else None for c, r in zip(codes, reasons or [None] * n, strict=True)]
    missing_note = _missing_note([], reasons, [c is None for c in codes])
    if missing_note:
        notes.append(missing_note)
    areas = AreaRows(codes=df["code"].tolist(), names=df["name"].array, full_names=df["full_name"].array,
                     values=[None if c is None else str(c) for c in df["category"].tolist()],
                     text=[labels.get(c, "no data") if c is not None else (
                         f"no data: {w[:1].lower() + w[1:]}" if w else "no data") for c, w in zip(codes, why,
                                                                                                  strict=True)],
                     classes=cls, rank=[None] * n, rank_national=[None] * n,
                     why=why if any(why) else None)
    return View(
        state=state, scheme=CATEGORY_SCHEME, place=place, variable=row, decimals=0, unit="category",
        classes=classes, k_requested=len(categories + extra), missing=sum(1 for c in cls if c < 0), notes=notes,
        areas=areas, ranked=False, rank_note="Categories are not ranked.", national=None, histogram=None,
        messages=[], categorical=True)
