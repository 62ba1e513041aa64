"""Pure functions behind the compare view: its URL keys, the second variable's view, the relationship
between the two variables (correlation, scatter plot, bivariate classes) and the neighbourhood profile.

The compare view is the explorer's view (``state.ViewState``: authority, level, variable A and its
classification) plus three URL keys: ``view`` (explore|compare), ``variable_b`` and ``areas`` (pinned area
codes, comma-separated, at most four). Everything reads the request's catalogue through the same functions as the data
API (``cat.values``, ``cat.national_values``), and nothing here raises on user input: a value that
cannot be used falls back with a plain message, as the explorer's ``state.resolve`` does.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import numpy as np

from atlas import classifyd, csvsafe, view, viewstate
from atlas.printing import UNIT_WORDS
from atlas.view import View
from atlas.viewstate import ALL, PREFERRED_VARIABLES, ViewState, level_label, to_query

__all__ = [
    "BIVARIATE_COLOURS", "BIVARIATE_SOURCE", "DENSITY_ABOVE", "DENSITY_CELLS", "MAX_PINNED", "PROFILE_MAX",
    "CompareState", "bivariate_classes", "categorical_note", "compare_keys", "compare_query", "correlation",
    "correlation_text", "density_figure", "percentile_rank",
    "polarity_statement",
    "profile", "profile_csv", "profile_variables", "relation", "resolve_compare", "scatter_figure", "state_b",
    "thirds", "versus",
]

VIEWS = ("explore", "compare")
MAX_PINNED = 4
PROFILE_MAX = 25  # variables of a topic shown at once: a profile is read, not scrolled

#: Joshua Stevens' 3x3 "blue-pink" bivariate scheme ("Bivariate Choropleth Maps: A How-to Guide", 2015).
#: Index 3 * class_b + class_a: A (x, across) runs to teal, B (y, up) to pink, both high to deep blue.
BIVARIATE_COLOURS: tuple[str, ...] = (
    "#e8e8e8", "#ace4e4", "#5ac8c8",
    "#dfb0d6", "#a5add3", "#5698b9",
    "#be64ac", "#8c62aa", "#3b4994",
)
BIVARIATE_SOURCE = ("Bivariate colours: Joshua Stevens, \u201cBivariate Choropleth Maps: A How-to Guide\u201d "
                    "(2015), https://www.joshuastevens.net/cartography/make-a-bivariate-choropleth-map/")


@dataclass(frozen=True)
class CompareState:
    view: str = "explore"
    variable_b: str = ""
    areas: tuple[str, ...] = ()


def _default_b(available: list[str], a: str) -> str:
    return next((v for v in PREFERRED_VARIABLES if v in available and v != a),
                next((v for v in available if v != a), ""))


def resolve_compare(raw: dict[str, str], base: ViewState, s: Any, available: list[str],
                    codes: list[str]) -> tuple[CompareState, list[str]]:
    """The compare keys of ``raw`` checked against the resolved explorer view ``base``.

    ``available``: variable ids with data at the view's authority and level; ``codes``: its area codes.
    """
    messages: list[str] = []
    place = "England and Wales" if base.authority == ALL else s.authority(base.authority)["name"]
    where = f"{place} at {level_label(base.level).lower()}"

    chosen = (raw.get("view") or "explore").lower()
    if chosen not in VIEWS:
        messages.append(f"Unknown view {raw['view']!r}: the atlas has {' and '.join(VIEWS)}; showing explore.")
        chosen = "explore"

    b = raw.get("variable_b", "")
    built_b, built_problem = viewstate.with_built(s, b, lambda a, lv: list(available))
    available = built_b(base.authority, base.level)  # a built indicator for B, where it has data here
    if b and b not in available and b.lower() in available:
        b = b.lower()
    if b and b == base.variable:
        fallback = _default_b(available, base.variable)
        messages.append(f"Variable B is the same as variable A ({_label(s, b)}); a variable compared with itself "
                        f"says nothing. Showing {_label(s, fallback)} as B; choose another in the Variable B list.")
        b = fallback
    elif b and b not in available:
        fallback = _default_b(available, base.variable)
        if built_problem:
            messages.append(f"Variable B: {built_problem}; showing {_label(s, fallback)} as variable B instead.")
        else:
            try:
                row = s.variable(b)
                messages.append(f"{row['label']} ({b}) has no data for {where}; showing {_label(s, fallback)} as "
                                "variable B instead.")
            except LookupError:
                messages.append(f"There is no variable {b!r} for variable B; showing {_label(s, fallback)}. Pick "
                                "one from the Variable B list.")
        b = fallback
    elif not b:
        b = _default_b(available, base.variable)

    pinned: list[str] = []
    known = set(codes)
    for code in (raw.get("areas") or "").split(","):
        code = code.strip()
        if not code:
            continue
        if code not in known and code.upper() in known:
            code = code.upper()
        if code not in known:
            messages.append(f"There is no area {code[:20]!r} in {where}; it is not pinned. Click an area on a "
                            "compare map to open its profile and pin it.")
        elif code not in pinned:
            pinned.append(code)
    if len(pinned) > MAX_PINNED:
        messages.append(f"At most {MAX_PINNED} areas can be pinned side by side; keeping the first {MAX_PINNED}.")
        pinned = pinned[:MAX_PINNED]
    return CompareState(chosen, b, tuple(pinned)), messages


def _label(s: Any, variable: str) -> str:
    if not variable:
        return "nothing (no other variable has data here)"
    try:
        return str(s.variable(variable).get("label") or variable)
    except LookupError:
        return variable


def compare_keys(cmp: CompareState) -> str:
    """The compare keys of the address (empty in the explore view, which has none)."""
    if cmp.view != "compare":
        return ""
    extra = [("view", cmp.view)]
    if cmp.variable_b:
        extra.append(("variable_b", cmp.variable_b))
    if cmp.areas:
        extra.append(("areas", ",".join(cmp.areas)))
    return "?" + urlencode(extra, safe=",")


def compare_query(base: ViewState, cmp: CompareState) -> str:
    """The URL query of the compare view: the explorer's keys, then the compare keys."""
    keys = compare_keys(cmp) or "?" + urlencode([("view", cmp.view)])
    return to_query(base) + "&" + keys[1:]


# -- variable B's map ------------------------------------------------------------------------------------

def state_b(s: Any, base: ViewState, variable_b: str) -> ViewState:
    """B's view: A's classification settings applied to B (its own breaks). Custom breaks are A's numbers,
    meaningless for B, so B is then classed by quantiles; national scope only where B is national."""
    row = s.variable(variable_b)
    scope = base.scope if base.level in (row.get("national_levels") or []) else "local"
    scheme = "quantiles" if base.scheme == "custom" else base.scheme
    return replace(base, variable=variable_b, scheme=scheme, breaks="", scope=scope)


# -- the relationship ------------------------------------------------------------------------------------

def correlation(a: Any, b: Any) -> dict:
    """Pearson and Spearman correlation of the areas having both values, the number used and left out.

    ``r``/``rho`` are None (with ``note``) when fewer than three areas have both values or either
    variable is constant among them.
    """
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    both = np.isfinite(a) & np.isfinite(b)
    x, y = a[both], b[both]
    out: dict[str, Any] = {"n": int(both.sum()), "left_out": int((~both).sum()), "r": None, "p_r": None,
                           "rho": None, "p_rho": None, "note": None}
    if out["n"] < 3:
        out["note"] = f"Only {out['n']} area{'s' if out['n'] != 1 else ''} {'have' if out['n'] != 1 else 'has'} " \
                      "both values: too few for a correlation."
        return out
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        out["note"] = "One of the variables has the same value in every area with both values: no correlation."
        return out
    # scipy.stats, in the host's classification process under gunicorn: 60 MB no worker then holds
    r, p, rho, p_rho = classifyd.correlation(x, y)
    out.update(r=r, p_r=p, rho=rho, p_rho=p_rho)
    return out


def thirds(s: Any, st: ViewState) -> View:
    """A variable in thirds (quantiles, k=3) for the bivariate map, by the one view function, so its
    labels are printed as honestly as the explorer's."""
    return view.build(s, replace(st, scheme="quantiles", k=3, breaks="", scope="local"))


def _thirds_of(s: Any, st: ViewState) -> tuple[np.ndarray, int, list[str], str]:
    """A variable's thirds as the relation needs them: each area's class, how many classes, their printed
    labels and the view's notes. The whole view is dropped here: for every LSOA of England and Wales it is
    12-14 MB of printed rows, and two at once set a worker's peak (docs/hosts.md, "Memory per worker")."""
    t = thirds(s, st)
    return np.asarray(t.areas.classes, dtype=np.int64), t.k, [c.label for c in t.classes], " ".join(t.notes)


def bivariate_classes(ca: Any, cb: Any, ka: int, kb: int) -> np.ndarray:
    """Bivariate class 0..8 (= 3 * class of B + class of A, the index into BIVARIATE_COLOURS) per area, -1
    where either is missing. With fewer than three classes (ties), classes spread to the ends of the
    3x3 grid (2 classes: low and high)."""
    a = _spread(np.asarray(ca, dtype="int64"), ka)
    b = _spread(np.asarray(cb, dtype="int64"), kb)
    return np.where((a >= 0) & (b >= 0), 3 * b + a, -1).astype("int8")


def _spread(cls: np.ndarray, k: int) -> np.ndarray:
    if k == 2:
        return np.where(cls >= 0, cls * 2, -1)
    return cls


def _strength(r: float) -> str:
    a = abs(r)
    word = ("no" if a < 0.1 else "a weak" if a < 0.3 else "a moderate" if a < 0.5 else "a fairly strong"
            if a < 0.7 else "a strong")
    return word + ("" if a < 0.1 else " positive" if r > 0 else " negative") + " relationship"


def correlation_text(corr: dict) -> str:
    """The correlation in words, as the compare view prints it."""
    left = f" ({corr['left_out']:,} left out: they lack A or B)" if corr["left_out"] else " (none left out)"
    if corr["r"] is None:
        return f"{corr['note'] or 'No correlation.'} {corr['n']:,} areas have both values{left}."
    return (f"Pearson r = {corr['r']:.3f}, Spearman ρ = {corr['rho']:.3f}: {_strength(corr['rho'])}, over "
            f"{corr['n']:,} areas with both values{left}.")


def categorical_note(view_a: View, view_b: View) -> str | None:
    """What the compare view says when A or B is categorical (a classification: categories, not numbers),
    for which there is no correlation, scatter plot or bivariate map; None when both are numeric."""
    which = [name for name, v in (("A", view_a), ("B", view_b)) if v.categorical]
    if not which:
        return None
    label = " and ".join(f"{w} ({(view_a if w == 'A' else view_b).variable.get('label')})" for w in which)
    verb = "is a classification" if len(which) == 1 else "are classifications"
    return (f"No correlation, scatter plot or bivariate map: {label} {verb} (categories, not numbers), which "
            "cannot be correlated or divided into thirds. The maps, their legends and the profile still compare "
            "them.")


def relation(s: Any, view_a: View, view_b: View) -> dict:
    """Everything the compare view shows about A and B together: the correlation (from the full-precision
    values, as the API serves them) in numbers and words, and the bivariate map (thirds of each) as one
    class digit per area with its 3x3 counts and the thirds' printed labels. With a categorical A or B
    there is none of these, and ``none`` says so plainly."""
    base = view_a.state
    none = categorical_note(view_a, view_b)
    if none:
        n = len(view_a.areas.codes)
        return {
            "key": f"{base.authority}/{base.level}", "a": view_a.state.variable, "b": view_b.state.variable,
            "corr": None, "text": none, "none": none, "cls": "-" * n, "colours": list(BIVARIATE_COLOURS),
            "counts": [0] * 9, "missing": n, "thirds": {"a": [], "b": [], "note_a": "", "note_b": ""},
            "labels": [view_a.variable.get("label") or view_a.state.variable,
                       view_b.variable.get("label") or view_b.state.variable],
        }
    a = s.values(base.authority, base.level, view_a.state.variable)["value"].to_numpy(dtype="float64")
    b = s.values(base.authority, base.level, view_b.state.variable)["value"].to_numpy(dtype="float64")
    corr = correlation(a, b)
    (cls_a, k_a, labels_a, notes_a), (cls_b, k_b, labels_b, notes_b) = (_thirds_of(s, view_a.state),
                                                                        _thirds_of(s, view_b.state))
    cls = bivariate_classes(cls_a, cls_b, k_a, k_b)
    counts = np.bincount(cls[cls >= 0], minlength=9)
    return {
        "key": f"{base.authority}/{base.level}", "a": view_a.state.variable, "b": view_b.state.variable,
        "corr": corr, "text": correlation_text(corr),
        "cls": "".join(view.class_char(c) for c in cls.tolist()), "colours": list(BIVARIATE_COLOURS),
        "counts": [int(c) for c in counts], "missing": int(np.sum(cls < 0)),
        "thirds": {"a": labels_a, "b": labels_b, "note_a": notes_a, "note_b": notes_b},
        "labels": [view_a.variable.get("label") or view_a.state.variable,
                   view_b.variable.get("label") or view_b.state.variable],
    }


#: Above this many areas with both values the plot is a density of areas (counts in a grid of cells), not one
#: point per area: 32,844 SVG points (England and Wales's LSOAs) took 8-11 s to draw and 1.5 MB to send, and
#: a cloud that dense hides its own shape. London's 4,835 LSOAs stay points.
DENSITY_ABOVE = 6000
#: Cells across each axis of the density.
DENSITY_CELLS = 60


def _hover_format(v: View, axis: str) -> str:
    # The value as the maps print it, at the variable's precision with its unit: no text per point.
    unit = "%" if v.unit == "percentage" else (f" {v.unit}" if v.unit in UNIT_WORDS else "")
    return f"%{{{axis}:,.{v.decimals}f}}{unit}"


def scatter_figure(view_a: View, view_b: View) -> dict:
    """The scatter plot of A (across) against B (up) as a Plotly figure: one point per area with both
    values, at the values as printed, each carrying its area code (``customdata``) so hovering or
    selecting points finds the areas on the maps. Built here, drawn by dcc.Graph. Above ``DENSITY_ABOVE``
    areas, a density instead (``density_figure``).

    Always SVG (``scatter``), never WebGL (``scattergl``), however many points: plotly.js draws WebGL
    traces with regl, which compiles its shaders' glue code with ``new Function``, and the page's
    Content-Security-Policy has no 'unsafe-eval' (web/security.py), so a ``scattergl`` plot is left empty
    with "WebGL is not supported by your browser" in every browser (London's 4,835 LSOAs did that)."""
    a, b = view_a.areas, view_b.areas
    keep = [i for i, (x, y) in enumerate(zip(a.values, b.values, strict=True)) if x is not None and y is not None]
    if len(keep) > DENSITY_ABOVE:
        return density_figure(view_a, view_b, keep)
    trace = {
        "type": "scatter", "mode": "markers",
        "x": [a.values[i] for i in keep], "y": [b.values[i] for i in keep],
        "customdata": [a.codes[i] for i in keep], "text": [a.names[i] for i in keep],
        "hovertemplate": ("%{text} (%{customdata})<br>A: " + _hover_format(view_a, "x") + "<br>B: "
                          + _hover_format(view_b, "y") + "<extra></extra>"),
        "marker": {"size": 7, "color": "#3b4994", "opacity": 0.75, "line": {"width": 0.5, "color": "#ffffff"}},
        "selected": {"marker": {"color": "#d7301f", "opacity": 1, "size": 10}},
        "unselected": {"marker": {"opacity": 0.3}},
    }
    return {"data": [trace], "layout": _layout(view_a, view_b, dragmode="select")}


def _layout(view_a: View, view_b: View, dragmode: str) -> dict:
    label_a = view_a.variable.get("label") or view_a.state.variable
    label_b = view_b.variable.get("label") or view_b.state.variable
    return {
        "margin": {"l": 70, "r": 14, "t": 10, "b": 56}, "height": 380, "dragmode": dragmode,
        "hovermode": "closest", "clickmode": "event+select", "plot_bgcolor": "#fbfbfb",
        "xaxis": {"title": {"text": "A: " + label_a}, "zeroline": False, "gridcolor": "#e6e6e6"},
        "yaxis": {"title": {"text": "B: " + label_b}, "zeroline": False, "gridcolor": "#e6e6e6"},
        "font": {"family": "system-ui, sans-serif", "size": 12}, "uirevision": view_a.state.authority,
    }


def density_figure(view_a: View, view_b: View, keep: list[int]) -> dict:
    """A against B as the number of areas in each cell of a ``DENSITY_CELLS`` x ``DENSITY_CELLS`` grid over
    the printed values (a heatmap, drawn as an image: no WebGL). ``meta.cells`` gives each area's cell (row *
    columns + column; -1 without both values), in the view's area order, so a cell clicked highlights its areas
    on the maps and areas chosen on a map mark their cells (assets/compare.js); the second trace marks them."""
    a, b = view_a.areas, view_b.areas
    x = np.array([a.values[i] for i in keep], dtype="float64")
    y = np.array([b.values[i] for i in keep], dtype="float64")
    cols = rows = DENSITY_CELLS
    x0, x1 = float(x.min()), float(x.max())
    y0, y1 = float(y.min()), float(y.max())
    dx = (x1 - x0) / cols or 1.0
    dy = (y1 - y0) / rows or 1.0
    cx = np.minimum(((x - x0) / dx).astype(int), cols - 1)
    cy = np.minimum(((y - y0) / dy).astype(int), rows - 1)
    counts = np.zeros((rows, cols), dtype=int)
    np.add.at(counts, (cy, cx), 1)
    cells = [-1] * len(a.codes)
    for k, i in enumerate(keep):
        cells[i] = int(cy[k] * cols + cx[k])
    z = [[int(c) if c else None for c in row] for row in counts]  # empty cells left blank, not the lightest colour
    heat = {
        "type": "heatmap", "z": z, "x0": x0 + dx / 2, "dx": dx, "y0": y0 + dy / 2, "dy": dy,
        # ColorBrewer Blues, light to dark (plotly's named "Blues" runs dark to light).
        "colorscale": [[0, "#eff3ff"], [0.25, "#bdd7e7"], [0.5, "#6baed6"], [0.75, "#3182bd"], [1, "#08519c"]],
        "showscale": True, "zmin": 1,
        "colorbar": {"title": {"text": "areas"}, "thickness": 12},
        "hovertemplate": ("A about " + _hover_format(view_a, "x") + ", B about " + _hover_format(view_b, "y")
                          + ": %{z:,} areas<extra>click: show them on the maps</extra>"),
        "meta": {"cells": cells, "columns": cols, "x0": x0, "dx": dx, "y0": y0, "dy": dy},
    }
    marks = {"type": "scatter", "mode": "markers", "x": [], "y": [], "hoverinfo": "skip", "showlegend": False,
             "marker": {"size": 12, "color": "rgba(0,0,0,0)", "line": {"width": 2.5, "color": "#d7301f"},
                        "symbol": "square"}}
    layout = _layout(view_a, view_b, dragmode="pan")
    layout["annotations"] = [{
        "text": f"{len(keep):,} areas: how many fall in each cell (darker: more)", "showarrow": False,
        "xref": "paper", "yref": "paper", "x": 0, "y": 1.0, "xanchor": "left", "yanchor": "bottom",
        "font": {"size": 11, "color": "#444"}}]
    layout["margin"] = {**layout["margin"], "t": 24}
    return {"data": [heat, marks], "layout": layout}


# -- the neighbourhood profile ------------------------------------------------------------------------------

def percentile_rank(values: Any, value: float) -> float | None:
    """Percentage of the areas with a value below ``value``, counting ties as half (scipy's
    percentileofscore, kind='mean'); None when ``value`` is missing."""
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if value is None or not math.isfinite(value) or v.size == 0:
        return None
    return float(100.0 * (np.sum(v < value) + 0.5 * np.sum(v == value)) / v.size)


def polarity_statement(row: dict) -> str:
    """Which way is better, in plain words, where the catalogue says (else empty: no judgement)."""
    polarity = (row.get("polarity") or "").strip().lower()
    if not polarity:
        return ""
    note = (row.get("description") or "").strip()
    if polarity.startswith("higher"):
        text = "Higher is better"
    elif polarity.startswith("lower"):
        text = "Lower is better"
    else:
        text = polarity.capitalize()
    return text + (f" ({note.rstrip('.')})." if note else ".")


def versus(value: float | None, median: float | None, polarity: str | None) -> str | None:
    """'better', 'worse' or 'level with' the authority's median, where the catalogue says which way is
    better; None where it does not (no judgement) or a value is missing."""
    polarity = (polarity or "").strip().lower()
    if value is None or median is None or not polarity.startswith(("higher", "lower")):
        return None
    if value == median:
        return "level with"
    higher = value > median
    return "better" if higher == polarity.startswith("higher") else "worse"


def profile_variables(s: Any, base: ViewState, variable_b: str, topic: str | None, picked: list[str] | None,
                      available: list[str]) -> tuple[list[str], str | None]:
    """The variables of the profile and a note when some were left out: those picked, else the topic's
    (at most PROFILE_MAX), else A, B and the headline figures."""
    ok = set(available)
    if picked:
        chosen = [v for v in dict.fromkeys(picked) if v in ok]
        note = None if len(chosen) == len(picked) else "Some picked variables have no data here and are left out."
        return chosen[:PROFILE_MAX], note
    if topic:
        rows = [r["id"] for r in s.variables(authority=base.authority, level=base.level, topic=topic)]
        note = None
        if len(rows) > PROFILE_MAX:
            note = (f"Showing the first {PROFILE_MAX} of the {len(rows)} variables of {topic}; pick variables to "
                    "see others.")
        return rows[:PROFILE_MAX], note
    head = [base.variable, variable_b] + [v for v in PREFERRED_VARIABLES if v in ok]
    return [v for v in dict.fromkeys(head) if v], None


def profile(s: Any, base: ViewState, codes: list[str], variables: list[str]) -> list[dict]:
    """One row per variable: each area's value and percentile rank within the authority, the authority's
    median, the national median where the variable is national at this level (over every area of the
    nation at that level), and the polarity statement."""
    rows = []
    for variable in variables:
        meta = s.variable(variable)
        df = s.values(base.authority, base.level, variable)
        if "category" in df.columns:
            rows.append(_category_row(meta, df, codes))
            continue
        values = df["value"].to_numpy(dtype="float64")
        index = {c: i for i, c in enumerate(df["code"].tolist())}
        finite = values[np.isfinite(values)]
        national = None
        if base.authority != ALL and base.level in (meta.get("national_levels") or []):
            every = s.national_values(base.level, variable)
            national = float(np.median(every)) if every.size else None
        median = float(np.median(finite)) if finite.size else None
        areas = []
        for code in codes:
            i = index.get(code)
            v = float(values[i]) if i is not None and math.isfinite(values[i]) else None
            areas.append({"code": code, "value": v,
                          "percentile": percentile_rank(values, v) if v is not None else None,
                          "vs_median": versus(v, median, meta.get("polarity"))})
        rows.append({"variable": variable, "label": meta.get("label") or variable, "unit": meta.get("unit") or "",
                     "areas": areas, "median": median,
                     "national": national, "coverage": meta.get("coverage") or "",
                     "better": polarity_statement(meta)})
    return rows


def _category_row(meta: dict, df: Any, codes: list[str]) -> dict:
    """A categorical variable's profile row: each area's category (label and code), and, in place of the
    medians, the most common category of the place. No percentile, no judgement: categories have no order."""
    text = {c["code"]: (c["label"] if c["label"] == c["code"] else f"{c['label']} ({c['code']})")
            for c in meta.get("categories") or []}
    by_code = dict(zip(df["code"].tolist(), df["category"].tolist(), strict=True))
    present = [c for c in df["category"].tolist() if c is not None]
    mode = None
    if present:
        top = max(set(present), key=lambda c: (present.count(c), -list(text).index(c) if c in text else 0))
        mode = f"most common: {text.get(top, top)} ({present.count(top):,} of {len(df):,} areas)"
    areas = []
    for code in codes:
        category = by_code.get(code)
        areas.append({"code": code, "value": None, "text": text.get(category, category) if category else None,
                      "percentile": None, "vs_median": None})
    return {"variable": meta["id"], "label": meta.get("label") or meta["id"], "unit": "category", "areas": areas,
            "median": None, "mode": mode, "national": None, "coverage": meta.get("coverage") or "",
            "better": "No judgement: categories have no order.", "categorical": True}


def profile_csv(rows: list[dict], names: dict[str, str], place: str) -> str:
    """The profile as CSV: one row per variable, value and percentile per area, medians, polarity."""
    codes = [a["code"] for a in rows[0]["areas"]] if rows else []
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    header = ["variable", "label", "unit"]
    for code in codes:
        header += [f"{code} value", f"{code} percentile in {place}"]
    header += [f"median in {place}", "national median", "national coverage", "which way is better"]
    w.writerow(csvsafe.row(header))
    w.writerow(csvsafe.row(["", "area names", ""] + [x for c in codes for x in (names.get(c, c), "")]
                           + ["", "", "", ""]))
    for r in rows:
        line = [r["variable"], r["label"], r["unit"]]
        for a in r["areas"]:
            line += [a.get("text") or "" if r.get("categorical") else _csv_num(a["value"]),
                     _csv_num(a["percentile"], 1)]
        line += [r.get("mode") or "" if r.get("categorical") else _csv_num(r["median"]), _csv_num(r["national"]),
                 r["coverage"] if r["national"] is not None else "", r["better"]]
        w.writerow(csvsafe.row(line))
    return out.getvalue()


def _csv_num(value: float | None, dp: int | None = None) -> str:
    if value is None:
        return ""
    if dp is not None:
        return f"{value:.{dp}f}"
    return repr(int(value)) if float(value).is_integer() else repr(round(value, 6))
