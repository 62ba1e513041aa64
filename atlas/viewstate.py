"""The URL is the state: parse a query string into a valid view, with a message for everything refused.

Pure functions: ``parse_query`` turns any string into at most one raw value per known key, and
``resolve`` checks each value against the extracts (through the request's catalogue passed in) and the classification
and palette modules, replacing what is unusable by a sensible fallback and saying so in plain words.
``to_query`` is the inverse, so ``resolve(parse_query(to_query(s)))`` gives ``s`` back with no message.
Nothing here raises on user input.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode

from atlas import air, builder, classify, coverage, palettes
from atlas.coverage import LEVEL_LABELS, level_label

__all__ = [
    "CLASSIFICATION_KEYS", "COMPARE_KEYS", "DEFAULTS", "KEYS", "LEVEL_LABELS", "MAP_KEYS", "PLACE_NAME", "POINT_KEYS",
    "NATION_DEFAULTS", "PREFERRED_VARIABLES", "Resolved", "StrictError", "ViewState", "breaks_problem", "changed_keys",
    "data_levels", "default_palette", "effective_scheme", "format_map", "format_pin", "ignored_for_categories",
    "is_overview", "level_label", "parse_area", "parse_map", "parse_pin", "parse_query", "resolve", "resolve_strict",
    "to_query", "with_built",
]

ALL = "all"
NATIONAL_LEVEL = "lad"
PLACE_NAME = "England and Wales"  # the place ``all``
KEYS: tuple[str, ...] = ("authority", "level", "variable", "scheme", "k", "breaks", "scope", "palette",
                         "reverse", "opacity")
#: Keys that set how a numeric variable is classified and coloured; a categorical variable ignores them.
CLASSIFICATION_KEYS: tuple[str, ...] = ("scheme", "k", "breaks", "scope", "palette", "reverse")
#: Keys of the compare view (callbacks/compare_view.py resolves them); the explorer's own view ignores them.
COMPARE_KEYS: tuple[str, ...] = ("view", "variable_b", "areas")
#: Keys of the /embed page (which controls it shows, its legend); accepted here so they raise no message.
EMBED_KEYS: tuple[str, ...] = ("controls", "legend")
#: Keys of the map itself, beside the view: the selected area (``area=E01009203``) and the map's position
#: (``map=<zoom>/<lat>/<lon>``, as OpenStreetMap writes it). The browser writes them as they change; a link
#: with them reopens the same area selected at the same place (see ``parse_map``).
MAP_KEYS: tuple[str, ...] = ("area", "map", "pin")
#: Keys of the point layer beside the view (atlas/points.py resolves them): the point dataset, its measure, the
#: day (or time) shown and the site whose card is open.
POINT_KEYS: tuple[str, ...] = ("points", "measure", "day", "site")
MAP_ZOOM = (4, 18)
MAP_BOUNDS = (49.0, -9.0, 61.0, 3.0)  # south, west, north, east: around England and Wales
#: The path of the embeddable page (ui/pages/embed.py); web/security.py lets other sites frame it.
EMBED_PATH = "/embed"
SCOPES: tuple[str, ...] = ("local", "national")
MAX_QUERY = 2000  # characters; a longer query string is refused whole (nothing legitimate is this long)
MAX_VALUE = 200

#: Shown first where they have data: a census figure every area has, then deprivation; on the LSOAs of 2021,
#: a Census 2021 figure every area has, then today's indices (what compare sets beside a nation's default).
PREFERRED_VARIABLES: tuple[str, ...] = (
    "ks102ew0018", "ks102ew0014_pct", "imd2019_imd_decile", "wimd2019_wimd_rank", "c21_population_density",
    "ts037_bad_or_very_bad_pct", "imd2025_imd_decile", "wimd2025_wimd_rank")

#: What a map of an authority (or a place) opens on when the address names no variable: today's deprivation,
#: its own nation's index as published, on the 2021 LSOAs it was published for. England's and Wales's indices
#: are separate variables, never ranked or classed together.
NATION_DEFAULTS: dict[str, tuple[str, str]] = {"England": ("lsoa21", "imd2025_imd_decile"),
                                               "Wales": ("lsoa21", "wimd2025_wimd_rank")}

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def is_overview(state: ViewState) -> bool:
    """The national overview: every district of England and Wales (click one to open its small areas)."""
    return state.authority == ALL and state.level == NATIONAL_LEVEL


@dataclass(frozen=True)
class ViewState:
    """One valid view of the explorer; every field has a value (no None)."""

    authority: str = ALL
    level: str = NATIONAL_LEVEL
    variable: str = ""
    scheme: str = "quantiles"
    k: int = 5
    breaks: str = ""  # custom breaks as typed (only kept when scheme is custom)
    scope: str = "local"
    palette: str = palettes.DEFAULT_PALETTE
    reverse: bool = False
    opacity: float = 0.8

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULTS = ViewState()


@dataclass(frozen=True)
class Resolved:
    state: ViewState
    messages: tuple[str, ...]  # one sentence each, for the page; empty when the URL was fine
    #: Whether the variable is the place's default (the address named none, or one with no data here): a
    #: new place chosen next gets its own default rather than keeping it.
    variable_default: bool = False


class CatalogueLike(Protocol):
    def authority(self, code: str) -> dict: ...
    def variable(self, id: str) -> dict: ...
    def has_data(self, variable: str, authority: str, level: str) -> bool: ...


def parse_query(search: str | None) -> tuple[dict[str, str], list[str]]:
    """Raw values of the known keys in ``search`` (``?a=b&...`` or ``a=b&...``), last one winning, and
    messages about what was ignored (unknown keys, values too long, a query too long to be real)."""
    messages: list[str] = []
    if not search:
        return {}, messages
    if not isinstance(search, str):
        return {}, ["The address could not be read; showing the default view."]
    if len(search) > MAX_QUERY:
        return {}, [f"The address is too long to be a view of this atlas ({len(search):,} characters); "
                    "showing the default view."]
    raw: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in parse_qsl(search.lstrip("?"), keep_blank_values=True):
        key = _CONTROL_CHARS.sub("", key).strip()
        value = _CONTROL_CHARS.sub("", value).strip()
        if key in EMBED_KEYS:  # the embed page's own keys (ui/embed.py), not part of any view
            continue
        if key in KEYS or key in COMPARE_KEYS or key in MAP_KEYS or key in POINT_KEYS:
            if len(value) > MAX_VALUE:
                messages.append(f"The value given for {key} is too long ({len(value)} characters); ignored.")
                continue
            raw[key] = value
        elif key:
            unknown.append(key[:30])
    if unknown:
        shown = ", ".join(repr(k) for k in sorted(set(unknown))[:5])
        messages.append(f"Ignored unknown address parameter{'s' if len(set(unknown)) > 1 else ''} {shown}: "
                        f"the atlas understands {', '.join(KEYS + COMPARE_KEYS + MAP_KEYS)}.")
    return raw, messages


_MAP = re.compile(r"^([0-9]{1,2})/(-?[0-9]{1,2}(?:\.[0-9]{1,6})?)/(-?[0-9]{1,3}(?:\.[0-9]{1,6})?)$")
_AREA = re.compile(r"^[EWSN][0-9]{8}$")


def parse_map(text: str | None) -> tuple[int, float, float] | None:
    """``"14/52.46120/-1.92560"`` -> (14, 52.4612, -1.9256); None for anything else (a zoom outside 4-18, a
    centre outside England and Wales' surroundings, garbage)."""
    match = _MAP.match(str(text or "").strip())
    if not match:
        return None
    zoom, lat, lon = int(match.group(1)), float(match.group(2)), float(match.group(3))
    south, west, north, east = MAP_BOUNDS
    if not (MAP_ZOOM[0] <= zoom <= MAP_ZOOM[1] and south <= lat <= north and west <= lon <= east):
        return None
    return zoom, lat, lon


def format_map(zoom: int, lat: float, lon: float) -> str:
    return f"{zoom}/{lat:.5f}/{lon:.5f}"


_PIN = re.compile(r"^(-?[0-9]{1,2}(?:\.[0-9]{1,6})?),(-?[0-9]{1,3}(?:\.[0-9]{1,6})?)$")


def parse_pin(text: str | None) -> tuple[float, float] | None:
    """``"52.45327,-1.92790"`` (a searched postcode's or place's point, or the reader's own: ``pin=``) ->
    (lat, lon); None for anything else or a point far from England and Wales."""
    match = _PIN.match(str(text or "").strip())
    if not match:
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    south, west, north, east = MAP_BOUNDS
    return (lat, lon) if south <= lat <= north and west <= lon <= east else None


def format_pin(lat: float, lon: float) -> str:
    return f"{lat:.5f},{lon:.5f}"


def parse_area(text: str | None) -> str | None:
    """An area code as typed in the address (upper-cased), or None when it cannot be one."""
    code = str(text or "").strip().upper()
    return code if _AREA.match(code) else None


def to_query(state: ViewState) -> str:
    """The query string of ``state`` (keys in URL order; custom breaks only with the custom scheme)."""
    params: list[tuple[str, str]] = [
        ("authority", state.authority), ("level", state.level), ("variable", state.variable),
        ("scheme", state.scheme), ("k", str(state.k))]
    if state.scheme == "custom" and state.breaks:
        params.append(("breaks", state.breaks))
    params += [("scope", state.scope), ("palette", state.palette), ("reverse", "1" if state.reverse else "0"),
               ("opacity", _fmt_opacity(state.opacity))]
    return "?" + urlencode(params)


def _fmt_opacity(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def breaks_problem(breaks: str) -> str | None:
    """Why custom breaks cannot be used (the map then shows quantiles), or None when they can."""
    if not breaks.strip():
        return ("Custom classes: type the upper bounds of the classes, increasing and separated by commas "
                "(e.g. 10, 20, 30); quantiles are shown until then.")
    try:
        classify.parse_breaks(breaks)
    except classify.ClassifyError as exc:
        return f"Custom breaks {breaks!r} cannot be used: {exc}. Quantiles are shown until they are fixed."
    return None


def effective_scheme(state: ViewState) -> str:
    """The scheme the map is classified with: custom only when its breaks can be used."""
    if state.scheme == "custom" and breaks_problem(state.breaks):
        return "quantiles"
    return state.scheme


def default_palette(row: dict | None) -> str:
    """The palette a variable is drawn in unless the address names one: the catalogue's ``palette`` (RdBu,
    diverging, for the changes 2011 -> 2021), else the atlas's default."""
    name = (row or {}).get("palette")
    if isinstance(name, str) and name:
        known = {p.lower(): p for p in palettes.PALETTES}
        if name.lower() in known:
            return known[name.lower()]
    return DEFAULTS.palette


def ignored_for_categories(raw: dict[str, str], st: ViewState) -> str | None:
    """For a categorical variable, a message naming the classification keys the address set (to other
    than their defaults), which do not apply; None when there are none. The keys stay in the state, so
    switching back to a numeric variable keeps them."""
    given = []
    for key in CLASSIFICATION_KEYS:
        value = (raw.get(key) or "").strip()
        if not value:
            continue
        default = {"scheme": DEFAULTS.scheme, "k": str(DEFAULTS.k), "scope": "local", "palette": DEFAULTS.palette,
                   "reverse": "0", "breaks": ""}[key]
        if value.lower() != default.lower() and not (key == "reverse" and value.lower() in ("false", "no", "off")):
            given.append(key)
    if not given:
        return None
    return (f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to a categorical variable: each "
            "category has its own colour, and categories are neither classed nor ranked.")


def _authority_levels(info: dict) -> list[str]:
    return [d["level"] for d in info.get("levels") or []]


def data_levels(info: dict, available: Callable[[str, str], list[str]]) -> list[str]:
    """The authority's levels that have at least one variable (some have boundaries only, e.g. OAs
    outside Camden), in the catalogue's order."""
    return [lv for lv in _authority_levels(info) if available(info["code"], lv)]


def _nation_default(info: dict) -> tuple[str, str] | None:
    """(level, variable) a district or place of one nation opens on; None for England and Wales as a whole
    and for a place across nations (a partnership's area)."""
    if info.get("code") == ALL:
        return None
    return NATION_DEFAULTS.get(info.get("nation") or "")


def _default_level(info: dict, levels: list[str], variable: str, available: Callable[[str, str], list[str]]
                   ) -> str:
    """The level an address without one opens at: the first with data for the variable it names, else the
    nation's default (its deprivation index's own LSOAs), else the place's first."""
    if variable:
        for level in levels:
            ids = available(info["code"], level)
            if variable in ids or variable.lower() in ids:
                return level
        return levels[0]
    chosen = _nation_default(info)
    if chosen and chosen[0] in levels and chosen[1] in available(info["code"], chosen[0]):
        return chosen[0]
    return levels[0]


def resolve(raw: dict[str, str], cat: CatalogueLike, available: Callable[[str, str], list[str]],
            messages: list[str] | None = None) -> Resolved:
    """A valid ViewState from raw URL values, falling back field by field, with a message per fallback.

    ``available(authority, level)`` lists the variable ids with data there (catalogue order); it is
    passed in so the caller can cache it. The catalogue answers ``authority`` and ``variable`` look-ups.
    """
    messages = list(messages or [])
    state = DEFAULTS
    available, built_problem = with_built(cat, raw.get("variable", ""), available)

    # Authority and level decide which variables exist, so they come first.
    authority = raw.get("authority", ALL) or ALL
    info: dict | None = None
    try:
        info = cat.authority(authority)
    except LookupError:
        upper = authority.upper()
        try:
            info = cat.authority(upper)
            authority = upper
        except LookupError:
            messages.append(f"There is no local authority or place with code {authority!r}; showing England and "
                            "Wales. Choose an authority, a region or a combined authority from the list, or "
                            "click one on the map.")
            authority, info = ALL, None
    if info is not None and not data_levels(info, available):
        nation = info.get("nation") or "this nation"
        messages.append(f"{info['name']} ({nation}) has no small-area data in this atlas, which maps England "
                        "and Wales; showing the national view.")
        authority, info = ALL, None
    if info is None:
        info = cat.authority(ALL)

    level_raw = raw.get("level", "")
    levels = data_levels(info, available)
    level = level_raw or _default_level(info, levels, raw.get("variable", ""), available)
    if level not in levels:
        name = PLACE_NAME if authority == ALL else info["name"]
        if level in _authority_levels(info):
            messages.append(f"{name} has boundaries but no data at {level_label(level).lower()} in "
                            f"this atlas; showing {level_label(levels[0]).lower()}.")
        else:
            messages.append(f"{name} has no areas at level {level_raw!r}; it has "
                            f"{', '.join(level_label(lv) for lv in levels)}. Showing {level_label(levels[0])}.")
        level = levels[0]
    state = replace(state, authority=authority, level=level)

    ids = available(authority, level)
    chosen_by_default = False
    place = PLACE_NAME if authority == ALL else info["name"]
    variable = raw.get("variable", "")
    if variable and variable not in ids:
        lowered = variable.lower()
        if lowered in ids:
            variable = lowered
    if not ids:
        messages.append(f"No variables have data for {place} at {level_label(level)}.")
        variable = ""
    elif variable not in ids:
        nation = _nation_default(info)
        preferred = ((nation[1],) if nation else ()) + PREFERRED_VARIABLES
        fallback = next((v for v in preferred if v in ids), ids[0])
        if built_problem:
            messages.append(f"{built_problem[0].upper()}{built_problem[1:]}; showing "
                            f"{cat.variable(fallback)['label']} instead.")
        elif variable:
            try:
                row = cat.variable(variable)
                where = _where(cat, row, authority, level)
                messages.append(f"{row['label']} ({variable}) has no data for {place} at "
                                f"{level_label(level).lower()}" + (f": it exists {where}" if where else "")
                                + f"; showing {cat.variable(fallback)['label']} instead.")
            except LookupError:
                messages.append(f"There is no variable {variable!r}; showing "
                                f"{cat.variable(fallback)['label']}. Pick a variable from the list.")
        variable = fallback
        chosen_by_default = True
    state = replace(state, variable=variable)

    scheme = raw.get("scheme", DEFAULTS.scheme) or DEFAULTS.scheme
    if scheme not in classify.SCHEMES:
        messages.append(f"Unknown classification scheme {scheme!r}; using quantiles. Schemes: "
                        f"{', '.join(classify.SCHEMES)}.")
        scheme = DEFAULTS.scheme

    k = DEFAULTS.k
    if raw.get("k"):
        try:
            k = int(raw["k"])
        except ValueError:
            k = None
        if k is None or not classify.K_MIN <= k <= classify.K_MAX:
            messages.append(f"The number of classes must be a whole number from {classify.K_MIN} to "
                            f"{classify.K_MAX}, not {raw['k']!r}; using {DEFAULTS.k}.")
            k = DEFAULTS.k

    # A categorical variable is drawn by category: the classification keys are kept as given (valid), so
    # switching back to a numeric variable keeps them, but say nothing about them here (the explorer says
    # once, on opening an address, that they do not apply: ignored_for_categories).
    categorical = bool(variable) and cat.variable(variable).get("kind") == "categorical"
    if scheme == "limits" and variable and not categorical and not air.thresholds(cat.variable(variable)):
        messages.append(f"The classes \"Guideline and limits\" are for figures judged against a guideline or legal "
                        f"limit (an air pollutant's); {cat.variable(variable)['label']} has none, so quantiles "
                        "are shown.")
        scheme = DEFAULTS.scheme
    breaks = raw.get("breaks", "")
    if scheme == "custom":
        problem = breaks_problem(breaks)
        if problem and not categorical:
            messages.append(problem)
    else:
        breaks = ""

    scope = raw.get("scope", "local") or "local"
    if scope not in SCOPES:
        messages.append(f"Unknown scope {scope!r}: breaks are computed 'local'ly (within the authority) or "
                        "'national'ly; using local.")
        scope = "local"
    if scope == "national" and variable and not categorical:
        row = cat.variable(variable)
        if authority == ALL:
            scope = "local"  # the national view is national already: one scope, no message needed
        elif level not in (row.get("national_levels") or []):
            messages.append(f"{row['label']} does not cover a whole nation at {level_label(level).lower()}, so "
                            "its breaks are computed within the authority.")
            scope = "local"
    elif authority == ALL:
        scope = "local"

    fallback_palette = default_palette(cat.variable(variable)) if variable else DEFAULTS.palette
    palette = raw.get("palette", "") or fallback_palette
    known = {name.lower(): name for name in palettes.PALETTES}
    if palette.lower() in known:
        palette = known[palette.lower()]
    else:
        messages.append(f"Unknown ColorBrewer palette {palette!r}; using {fallback_palette}. Palettes: "
                        f"{', '.join(palettes.PALETTES)}.")
        palette = fallback_palette

    reverse = DEFAULTS.reverse
    if raw.get("reverse"):
        flag = raw["reverse"].lower()
        if flag in ("1", "true", "yes", "on"):
            reverse = True
        elif flag in ("0", "false", "no", "off"):
            reverse = False
        else:
            messages.append(f"reverse must be 1 or 0, not {raw['reverse']!r}; colours are not reversed.")

    opacity = DEFAULTS.opacity
    if raw.get("opacity"):
        try:
            opacity = float(raw["opacity"])
        except ValueError:
            opacity = math.nan
        if not (0.1 <= opacity <= 1):
            messages.append(f"Opacity must be a number from 0.1 to 1, not {raw['opacity']!r}; using "
                            f"{_fmt_opacity(DEFAULTS.opacity)}.")
            opacity = DEFAULTS.opacity
        opacity = round(opacity, 2)

    state = replace(state, scheme=scheme, k=k, breaks=breaks, scope=scope, palette=palette, reverse=reverse,
                    opacity=opacity)
    return Resolved(state, tuple(messages), chosen_by_default)


def with_built(cat: CatalogueLike, variable: str, available: Callable[[str, str], list[str]]
               ) -> tuple[Callable[[str, str], list[str]], str | None]:
    """``available`` with the built indicator ``variable`` (atlas/builder.py) added where it has data, and
    None; or ``available`` unchanged and what is wrong with the code (a sentence from the catalogue). Any other
    ``variable`` changes nothing."""
    if not builder.is_code(variable):
        return available, None
    try:
        cat.variable(variable)
    except LookupError as exc:
        return available, str(getattr(exc, "message", exc))

    def with_it(authority: str, level: str) -> list[str]:
        ids = available(authority, level)
        try:
            here = cat.has_data(variable, authority, level)
        except (LookupError, AttributeError):
            here = False
        return [*ids, variable] if here else ids
    return with_it, None


def _where(cat: CatalogueLike, row: dict, authority: str, level: str) -> str:
    """Where a variable with no data here exists, and why (atlas.coverage); empty if it cannot be said."""
    try:
        return coverage.why_not(cat, row, authority, level)
    except (LookupError, AttributeError, TypeError):
        return ""


def changed_keys(raw: dict[str, str], st: ViewState) -> list[str]:
    """The view keys whose value the explorer's resolver did not take as given (it fell back)."""
    bad: list[str] = []
    if raw.get("authority") and raw["authority"].upper() != st.authority.upper():
        bad.append("authority")
    if raw.get("level") and raw["level"] != st.level:
        bad.append("level")
    if (raw.get("variable") and raw["variable"] != st.variable and raw["variable"].lower() != st.variable) \
            or not st.variable:
        bad.append("variable")
    if raw.get("scheme") and raw["scheme"] != st.scheme:
        bad.append("scheme")
    if raw.get("k") and raw["k"] != str(st.k):
        bad.append("k")
    if st.scheme == "custom" and breaks_problem(st.breaks):
        bad.append("breaks")
    if raw.get("scope") and raw["scope"] != st.scope:
        bad.append("scope")
    if raw.get("palette") and raw["palette"].lower() != st.palette.lower():
        bad.append("palette")
    if raw.get("reverse") and raw["reverse"].lower() not in (
            ("1", "true", "yes", "on") if st.reverse else ("0", "false", "no", "off")):
        bad.append("reverse")
    if raw.get("opacity"):
        try:
            if not math.isclose(float(raw["opacity"]), st.opacity, abs_tol=0.005):
                bad.append("opacity")
        except ValueError:
            bad.append("opacity")
    return bad


class StrictError(ValueError):
    """A query the view would have to change to show: ``parameters`` names the keys, ``messages`` says why."""

    def __init__(self, parameters: list[str], messages: list[str]) -> None:
        self.parameters = parameters
        self.messages = messages
        super().__init__(" ".join(messages))


def resolve_strict(raw: dict[str, str], cat: CatalogueLike, available: Callable[[str, str], list[str]]) -> ViewState:
    """The view of ``raw`` exactly as asked, or StrictError naming every key the explorer would have had to
    change (for links that must mean one thing: exports and the view's JSON twin)."""
    resolved = resolve(raw, cat, available)
    if resolved.messages:
        raise StrictError(changed_keys(raw, resolved.state) or ["query"], list(resolved.messages))
    return resolved.state
