"""The explorer's callbacks: a control's change goes straight to the server; the address follows.

- ``render`` (server, the only server callback of a switch): its inputs are the controls themselves and
  the view named by the address (``NAV``: the query string at a first load, or after back/forward). It
  resolves the view (atlas.viewstate), builds it (atlas.view: classes, labels, counts, colours) and sends
  the paint (one class digit per area and the legend), the canonical state, and, only when the authority or
  level changes, the option lists, the areas' names and the map's viewport.
- ``variable_search`` (server): the Variable list shows one table's variables (sent when the Table value
  changes, whether a person or ``render`` changed it); typed words search every variable with data here.
- Clientside (assets/atlas.js, ``window.dash_clientside.atlas``): the address written from the canonical
  state (``write_url``, beside the repaint, never before the request), the layer's ``url`` + ``hideout``
  (``combine``), map clicks, the legend and the table.

Every input is checked before use: a value of the wrong type from a forged request is treated as absent
(the view falls back and says so), never a traceback.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import dash
from dash import ClientsideFunction, Input, Output, State, no_update

from atlas import access, builder, catalogue, extracts, locate, mapview, view
from atlas import viewstate as state
from ui import ids

__all__ = ["Rendered", "keep_question", "list_gaps", "render", "render_view", "search_from_controls",
           "variable_search"]

log = logging.getLogger(__name__)

_SHOW: dict = {}
_HIDE = {"display": "none"}
MAX_TEXT = 200


@dataclass
class Rendered:
    """Everything ``render`` may send; ``None`` in the optional part means "unchanged, send nothing"."""

    state: state.ViewState
    messages: list[str]
    payload: dict | None  # None: unchanged (an opacity change)
    canonical: dict  # the state as a dict, with its query string, for write_url and the share tools
    categorical: bool = False  # the variable is drawn by category: no classification controls
    title: str | None = None
    attribution: str | None = None
    level_options: list[dict] | None = None
    group_options: list[dict] | None = None
    group: str | None = None
    variable_options: list[dict] | None = None
    scope_options: list[dict] | None = None
    areas: dict | None = None
    viewport: dict | None = None
    outline: dict | None = None
    selected: str | None = None  # the area the address selects (``area=``), set with a new place or alone
    select: bool = False  # whether ``selected`` is to be sent (a place change clears the selection)
    controls: set[str] = field(default_factory=set)  # the controls whose value must be (re)set
    #: A first render's Area list: its value's option alone, sent with the value (ui/explorer.py area_control)
    area_options: list[dict] | None = None


def _text(value: Any) -> str | None:
    """A control's value as text, or None when it is not a plain value (a forged request's list or dict)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, str)):
        return str(value)[:MAX_TEXT]
    return None


def search_from_controls(values: dict[str, Any], previous: dict | None, palette_default: Any = None,
                         variable_default: Any = False) -> str:
    """The query string the controls ask for. A new authority opens at its own default level with breaks
    computed locally; custom breaks are kept only with the custom scheme. A new variable gets its own
    default palette (a change 2011 -> 2021 is drawn diverging) unless the palette shown was chosen: one that
    is not the previous variable's default (``palette_default``) is kept. Likewise a new place gets its own
    default variable (its nation's deprivation index) unless the variable shown was chosen: one the previous
    view picked by default (``variable_default``) is not kept."""
    prev = previous if isinstance(previous, dict) else {}
    params: list[tuple[str, str]] = []
    authority = _text(values.get(ids.AUTHORITY))
    place_changed = authority != prev.get("authority")
    variable_changed = _text(values.get(ids.VARIABLE)) != prev.get("variable")
    for key in ids.CONTROLS:
        if key in (ids.LEVEL, ids.SCOPE) and place_changed:
            continue
        if key == ids.VARIABLE and place_changed and variable_default is True and not variable_changed:
            continue
        if key == ids.PALETTE and variable_changed and isinstance(palette_default, str) \
                and _text(values.get(key)) == palette_default:
            continue
        raw = values.get(key)
        if key == ids.REVERSE:
            text = "1" if isinstance(raw, list) and "1" in raw else "0"
        else:
            text = _text(raw)
        if key == ids.BREAKS and _text(values.get(ids.SCHEME)) != "custom":
            continue
        if text:
            params.append((key, text))
    return "?" + urlencode(params)


def controls_to_set(raw: dict[str, str], prev: dict, st: state.ViewState) -> set[str]:
    """The controls that may not show ``st`` already: those whose value differs from the previous view
    (back/forward, a new authority's level) or from what was asked for (a fallback). The others hold the
    value the person just chose, and re-setting them would only re-render them."""
    if not prev:
        return set(ids.CONTROLS)
    out = set()
    for key, value in st.as_dict().items():
        if prev.get(key) != value:
            out.add(key)
        elif key in raw and raw[key] != _url_text(key, value):
            out.add(key)
    if (prev.get("authority"), prev.get("level")) != (st.authority, st.level):
        out |= {ids.LEVEL, ids.VARIABLE, ids.SCOPE}  # their options change: set their values with them
    return out


def _url_text(key: str, value: Any) -> str:
    if key == "reverse":
        return "1" if value else "0"
    if key == "opacity":
        return state.to_query(state.ViewState(opacity=value)).rsplit("opacity=", 1)[1]
    return str(value)


def _row_of(s: Any, variable: Any) -> dict | None:
    try:
        return s.variable(variable) if isinstance(variable, str) else None
    except extracts.NotFound:
        return None


def _group_of(s: Any, variable: Any) -> str | None:
    row = _row_of(s, variable)
    return mapview.group_key(row) if row is not None else None


def details_url(st: state.ViewState) -> str:
    """Where the browser fetches the printed values and ranks of a view (they do not depend on the
    classification, so one URL serves every switch of scheme, classes or palette)."""
    return "/api/view.json?" + urlencode([("authority", st.authority), ("level", st.level),
                                          ("variable", st.variable), ("fields", "details")])


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def keep_question(raw: dict[str, str], prev: dict, s: Any) -> tuple[list[str], str | None]:
    """Never change the question behind the person's back (issue 17 §9). When the variable asked for has no
    data at the level asked for (a place opened at its first level, a ward or LSOA 2021 found in search, a
    "not here" variable chosen), the variable is kept and the level changed to one of this place where it
    exists (the previous level first), saying so; ``raw`` is changed in place. Where it exists at no level
    of the place, the level is kept and the message says which variables to pick (the map shows the place's
    first headline figure meanwhile, named as such). Returns the messages and, when the level moved away
    from a found area's level, ``"<its level>/<its code>"`` (to move the map to, not to select)."""
    variable, authority = raw.get("variable"), raw.get("authority") or state.ALL
    if not variable:
        return [], None
    try:
        row = s.variable(variable)
        info = s.authority(authority)
    except LookupError:
        return [], None  # unknown: resolve says so
    levels = [d["level"] for d in info.get("levels") or []]
    asked = raw.get("level") or (levels[0] if levels else "")
    available, _ = state.with_built(s, variable, lambda a, lv: mapview.available_variables(s, a, lv))
    if asked in levels and variable in available(authority, asked):
        return [], None
    here = [lv for lv in levels if variable in available(authority, lv)]
    place = state.PLACE_NAME if authority == state.ALL else info["name"]
    label = row.get("label") or variable
    if not here:
        if raw.get("palette") == state.default_palette(row):
            raw.pop("palette")  # the figure shown meanwhile takes its own colours, not a diverging one's
        return [f"Pick a variable with data for {place} from the Topic and table list: the map shows the figure "
                "named in its title until you do."], None
    previous_level = prev.get("level")
    level = previous_level if previous_level in here else here[0]
    raw["level"] = level
    area = state.parse_area(raw.pop("area", "")) if asked != level and raw.get("area") else None
    said = _lower(state.level_label(asked)) if asked else "the level asked for"
    text = (f"{label} has no data at {said} for {place}; it is shown at {_lower(state.level_label(level))}, "
            "where it exists. To map another level, pick a variable that exists there.")
    if area:
        # A pinned point (a postcode, a place, Near me) lies in one area of the level shown: that one is selected.
        here_area = _pinned_area(raw.get("pin"), s, authority, level)
        if here_area:
            raw["area"] = here_area
            return [text], None
    return [text], (f"{asked}/{area}" if area else None)


def _pinned_area(pin: str | None, s: Any, authority: str, level: str) -> str | None:
    """The area of ``authority`` at ``level`` holding the address's pin, None without one (or outside)."""
    at = state.parse_pin(pin)
    if at is None:
        return None
    try:
        found = locate.locate(s.extracts, at[0], at[1]).areas.get(level)
    except ValueError:
        return None
    if not found or s.area_position(authority, level, found["code"]) is None:
        return None
    return found["code"]


def render_view(search: str | None, previous: dict | None, s: Any, via: str = "nav") -> Rendered:
    """The view for the query string ``search``, given the previous rendered state (``None`` on first
    load); ``via`` says whether the address ("nav") or a control ("control") asked for it."""
    raw, messages = state.parse_query(search)
    prev = previous.get("state") if isinstance(previous, dict) else None
    prev = prev if isinstance(prev, dict) else {}
    kept, moved_area = keep_question(raw, prev, s)
    messages += kept
    resolved = state.resolve(raw, s, lambda a, lv: mapview.available_variables(s, a, lv), messages)
    st = resolved.state
    messages = list(resolved.messages)
    place_changed = (prev.get("authority"), prev.get("level")) != (st.authority, st.level)
    shown = view.build(s, st)
    messages += shown.messages
    if shown.categorical and via == "nav":
        ignored = state.ignored_for_categories(raw, st)  # said once, for an address that set them
        if ignored:
            messages.append(ignored)
    # A categorical paint carries everything its hover card and table show: no details to fetch.
    payload: dict | None = {**shown.paint(), **mapview.map_geometry(s, st.authority, st.level),
                            "details": None if shown.categorical else details_url(st)}
    if prev and {**prev, "opacity": None} == {**st.as_dict(), "opacity": None}:
        payload = None  # only the opacity changed: the browser applies it without a new paint
    out = Rendered(state=st, messages=messages, payload=payload,
                   canonical={"state": st.as_dict(), "search": state.to_query(st), "via": via,
                              "title": shown.title, "palette_default": state.default_palette(shown.variable),
                              "variable_default": resolved.variable_default,
                              "categorical": shown.categorical,
                              # a built indicator fills the builder's form (callbacks/builder.py)
                              "built": builder.is_code(st.variable)},
                   controls=controls_to_set(raw, prev, st), categorical=shown.categorical)
    info = s.authority(st.authority)
    if not prev:
        own = [o for o in mapview.authority_options(s.authorities(), mapview.larger_places(s))
               if o["value"] == st.authority]
        out.area_options = own or None
    if place_changed or prev.get("variable") != st.variable:
        row = shown.variable
        out.title = shown.title
        before = None if place_changed else _row_of(s, prev.get("variable"))
        # Sent only when they differ from the previous variable's (a switch within one source sends neither).
        attribution = mapview.attribution(row, info, st.level)
        if before is None or attribution != mapview.attribution(before, info, st.level):
            out.attribution = attribution
        scope_options = mapview.scope_options(row, st)
        if before is None or scope_options != mapview.scope_options(before, st):
            out.scope_options = scope_options
        group = mapview.group_key(row)
        if place_changed or group != _group_of(s, prev.get("variable")):
            # Only the chosen variable goes with the switch (the list must hold the value it shows): the new
            # table's list follows from variable_search, which the Table value set here triggers anyway.
            # Sending it here too sent it twice, and made a switch to another table cost up to 5 KB more.
            out.group = group
            out.variable_options = [{"label": row.get("label") or st.variable, "value": st.variable}]
    if place_changed:
        out.level_options = mapview.level_options(s, info)
        out.group_options = mapview.group_options(s, st.authority, st.level)
        areas = mapview.areas_data(s, st)
        if state.is_overview(st):
            areas["nodata"] = mapview.national_no_data(s.authorities(), areas["codes"])
        out.areas = areas
        out.outline = mapview.outline(s, st.authority, st.level)
        bbox = out.outline.get("bbox") or (info or {}).get("bbox")
        if st.authority == state.ALL or not bbox:
            bbox = [-5.8, 49.9, 1.8, 55.9]  # England and Wales; the UK's box would centre on Scotland's seas
        out.viewport = {"bounds": [[bbox[1], bbox[0]], [bbox[3], bbox[2]]], "transition": "fitBounds"}
        out.select = True
    _map_keys(out, raw, s, st, via)
    if moved_area:
        # A ward or LSOA 2021 found in search, shown at the level where the variable exists: the map goes to it.
        level, code = moved_area.split("/", 1)
        box = s.area_bbox(level, code)
        if box:
            out.viewport = {"bounds": [[box[1], box[0]], [box[3], box[2]]], "transition": "flyToBounds",
                            "options": {"maxZoom": 15, "padding": [30, 30]}}
    return out


def _map_keys(out: Rendered, raw: dict[str, str], s: Any, st: state.ViewState, via: str) -> None:
    """The address's ``area`` (select it; fly to it) and ``map`` (the map's position) keys."""
    if "area" in raw:
        code = state.parse_area(raw["area"])
        found = s.area_position(st.authority, st.level, code) if code else None
        if found is None:
            where = s.authority(st.authority)["name"]
            out.messages.append(f"There is no area {raw['area'][:20]!r} on this map ({where}, "
                                f"{state.level_label(st.level).lower()}); no area is selected.")
        else:
            out.selected, out.select = code, True
            box = s.area_bbox(st.level, code)
            if box:
                # A chosen area is flown to; one opened by a link is shown at once.
                out.viewport = {"bounds": [[box[1], box[0]], [box[3], box[2]]],
                                "transition": "flyToBounds" if via == "control" else "fitBounds",
                                "options": {"maxZoom": 16, "padding": [30, 30]}}
    if "map" in raw:
        place = state.parse_map(raw["map"])
        if place is None:
            out.messages.append(f"The map position {raw['map'][:40]!r} was not understood (it is written "
                                "zoom/latitude/longitude, e.g. 14/52.46120/-1.92560); the map shows the whole area.")
        else:
            zoom, lat, lon = place
            # A place chosen in the search flies there; a link opens there at once.
            out.viewport = {"center": [lat, lon], "zoom": zoom,
                            "transition": "flyTo" if via == "control" else "setView"}
    if "pin" in raw and state.parse_pin(raw["pin"]) is None:
        # The pin itself is drawn by the browser (assets/places.js) from the address.
        out.messages.append(f"The pin {raw['pin'][:40]!r} was not understood (it is written latitude,longitude, e.g. "
                            "52.45327,-1.92790); no pin is shown.")
    return out


_OUTPUTS = [Output(key, "value") for key in ids.CONTROLS] + [
    Output(ids.LEVEL, "options"), Output(ids.LEVEL_ROW, "style"), Output(ids.GROUP, "options"),
    Output(ids.GROUP, "value"), Output(ids.VARIABLE, "options"), Output(ids.SCOPE, "options"),
    Output(ids.SCOPE_ROW, "style"), Output(ids.BREAKS_ROW, "style"), Output(ids.PAYLOAD, "data"),
    Output(ids.AREAS, "data"), Output(ids.MAP, "viewport"), Output(ids.OUTLINE, "data"), Output(ids.STATE, "data"),
    Output(ids.MESSAGE, "children"), Output(ids.TITLE, "children"), Output(ids.ATTRIBUTION, "children"),
    Output(ids.SELECTED, "data", allow_duplicate=True), Output(ids.AUTHORITY, "options", allow_duplicate=True)] + [
    Output(row, "style") for row in ids.CLASSIFICATION_ROWS] + [
    Output(ids.CATEGORY_NOTE, "hidden"), Output(ids.CATEGORY_NOTE, "children")]
_MESSAGE_AT = len(ids.CONTROLS) + 13
CATEGORY_NOTE = ("Drawn by category: each category of the classification has its own colour, so the classes, "
                 "their number, the breaks' scope and the palette do not apply.")


def _only_message(text: str) -> tuple:
    out: list[Any] = [no_update] * len(_OUTPUTS)
    out[_MESSAGE_AT] = [dash.html.P(text)]
    return tuple(out)


def _or_no_update(value: Any) -> Any:
    return no_update if value is None else value


def _nav_search(nav: Any) -> str | None:
    if isinstance(nav, dict):
        nav = nav.get("search")
    return nav if isinstance(nav, str) else None


@dash.callback(
    *_OUTPUTS,
    Input(ids.NAV, "data"), *[Input(key, "value") for key in ids.CONTROLS],
    State(ids.STATE, "data"),
    prevent_initial_call="initial_duplicate",
)
@access.declares("site.view")
def render(nav: Any, *args: Any) -> tuple:
    """The view the controls or the address ask for. Never raises: a failure shows a message and keeps
    the map as it was."""
    controls, previous = dict(zip(ids.CONTROLS, args[:-1], strict=True)), args[-1]
    previous = previous if isinstance(previous, dict) else None
    try:
        triggered = dash.ctx.triggered_id
    except Exception:  # noqa: BLE001 - called outside a callback (tests): the address decides
        triggered = None
    from_control = bool(triggered in ids.CONTROLS and previous)
    # A place chosen in the search box (or by "Near me") arrives through the address's store with push: it is
    # a person's choice, so it adds to the history like a control's change.
    pushed = triggered == ids.NAV and isinstance(nav, dict) and nav.get("push") is True
    via = "control" if from_control or pushed else "nav"
    prev_state = previous.get("state") if previous and isinstance(previous.get("state"), dict) else None
    # A control's change is read from the controls; a place pushed through the address's store from its search.
    search = (search_from_controls(controls, prev_state, previous.get("palette_default") if previous else None,
                                   previous.get("variable_default") if previous else False)
              if from_control else _nav_search(nav))
    try:
        r = render_view(search, previous, catalogue.of_request(), via)
    except FileNotFoundError as exc:
        return _only_message(f"The data is not available on this server yet: {exc}.")
    except Exception:  # noqa: BLE001 - a view that fails must say so, never show a traceback
        log.exception("could not render the view for %r", search)
        return _only_message("Sorry, this view could not be drawn; the problem has been logged. "
                             "Try another variable or authority.")
    st = r.state
    values = {**st.as_dict(), "reverse": ["1"] if st.reverse else []}
    controls_out = [values[key] if key in r.controls else no_update for key in ids.CONTROLS]
    level_row = _SHOW if len(r.level_options or [None, None]) > 1 else _HIDE
    if r.level_options is None:
        level_row = no_update
    # The classification controls show for a numeric variable and hide for a categorical one: set when the
    # kind of variable changes (or on a first render), and with the controls that decide the two rows.
    was_categorical = previous.get("categorical") if previous else None
    kind_changed = was_categorical is None or bool(was_categorical) != r.categorical
    scope_row = ((_HIDE if st.authority == state.ALL or r.categorical else _SHOW)
                 if "authority" in r.controls or kind_changed else no_update)
    breaks_row = ((_SHOW if st.scheme == "custom" and not r.categorical else _HIDE)
                  if "scheme" in r.controls or kind_changed else no_update)
    rows = [(_HIDE if r.categorical else _SHOW) if kind_changed else no_update for _ in ids.CLASSIFICATION_ROWS]
    note = (not r.categorical, CATEGORY_NOTE if r.categorical else "") if kind_changed else (no_update, no_update)
    message = [dash.html.P(m) for m in r.messages] or None
    return (*controls_out, _or_no_update(r.level_options), level_row, _or_no_update(r.group_options),
            _or_no_update(r.group), _or_no_update(r.variable_options), _or_no_update(r.scope_options), scope_row,
            breaks_row, _or_no_update(r.payload), _or_no_update(r.areas), _or_no_update(r.viewport),
            _or_no_update(r.outline), r.canonical, message, _or_no_update(r.title), _or_no_update(r.attribution),
            r.selected if r.select else no_update, _or_no_update(r.area_options), *rows, *note)


# The Table list's value reaches list_gaps only when its "Not here" line is chosen (``gaps_ask``).
dash.clientside_callback(
    ClientsideFunction("atlas", "gaps_ask"),
    Output(ids.GROUP_GAPS_ASK, "data"),
    Input(ids.GROUP, "value"),
    prevent_initial_call=True,
)


@dash.callback(
    Output(ids.GROUP, "options", allow_duplicate=True), Output(ids.GROUP, "value", allow_duplicate=True),
    Input(ids.GROUP_GAPS_ASK, "data"), State(ids.STATE, "data"),
    prevent_initial_call=True,
)
@access.declares("site.view")
def list_gaps(ask: Any, stored: Any) -> tuple:
    """The Table list's "Not here" line, chosen (``ask``: ``{"group": value}`` from ``gaps_ask``): the list
    unfolds to say what exists elsewhere and why (one line per reason under each topic), and the Table shown
    stays the variable's."""
    group = ask.get("group") if isinstance(ask, dict) else None
    st = stored.get("state") if isinstance(stored, dict) else None
    if group != mapview.GAPS_OPTION or not isinstance(st, dict) or not isinstance(st.get("variable"), str):
        return no_update, no_update
    s = catalogue.of_request()
    try:
        return (mapview.group_options(s, st["authority"], st["level"], expanded=True),
                mapview.group_key(s.variable(st["variable"])))
    except (extracts.NotFound, KeyError, TypeError):
        return no_update, no_update


@dash.callback(
    Output(ids.VARIABLE, "options", allow_duplicate=True),
    Input(ids.VARIABLE, "search_value"), Input(ids.GROUP, "value"),
    State(ids.STATE, "data"),
    prevent_initial_call=True,
)
@access.declares("site.view")
def variable_search(typed: Any, group: Any, stored: Any) -> Any:
    """The Variable list: the chosen table's variables, or (while words are typed) the variables with data
    here that match them, from every table. The chosen variable stays in the list."""
    st = stored.get("state") if isinstance(stored, dict) else None
    if not isinstance(st, dict) or not isinstance(st.get("authority"), str) or not isinstance(st.get("level"), str):
        return no_update
    s = catalogue.of_request()
    try:
        authority, level = st["authority"], st["level"]
        if dash.ctx.triggered_id == ids.VARIABLE:
            text = _text(typed) or ""
            if not text.strip():
                # The list keeps what it shows: a variable just picked from the search's results must stay
                # among the options (a dropdown drops a value that is not), until render sends its table.
                return no_update
            found = mapview.search_variables(s, authority, level, text)
            return found or [{"label": f"No variable here matches {text!r}", "value": "", "disabled": True}]
        options = mapview.variable_options(s, authority, level, group=_text(group))
        options = mapview.with_built_option(s, options, st.get("variable"), authority, level)
        return options or no_update
    except extracts.NotFound:
        return no_update


# -- clientside: the address, the map, the legend and the table (assets/atlas.js) ------------------------

# The Area list holds only its value's option until it is first focused or pressed (ui/explorer.py
# area_control says why): then the whole list, kept from then on.
dash.clientside_callback(
    ClientsideFunction("atlas", "area_options"),
    Output(ids.AUTHORITY, "options"),
    Input(ids.AUTHORITY, "value"), Input(ids.AUTHORITY_OPENED, "data"),
    State(ids.AUTHORITY_LIST, "data"), State(ids.AUTHORITY, "options"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("atlas", "write_url"),
    Output(ids.URL_WRITTEN, "data"),
    Input(ids.STATE, "data"), Input(ids.COMPARE.STATE, "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("atlas", "show_breaks"),
    Output(ids.BREAKS_ROW, "style", allow_duplicate=True),
    Input(ids.SCHEME, "value"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("atlas", "combine"),
    Output(ids.LAYER, "url"), Output(ids.LAYER, "hideout"),
    Input(ids.PAYLOAD, "data"), Input(ids.AREAS, "data"), Input(ids.OPACITY, "value"),
    Input(ids.SELECTED, "data"), State(ids.LAYER, "url"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("atlas", "map_click"),
    Output(ids.AUTHORITY, "value", allow_duplicate=True), Output(ids.SELECTED, "data", allow_duplicate=True),
    Output(ids.MESSAGE, "children", allow_duplicate=True),
    Input(ids.LAYER, "clickData"),
    State(ids.PAYLOAD, "data"), State(ids.AREAS, "data"), State(ids.SELECTED, "data"),
    prevent_initial_call=True,
)

# The legend and the table are written as HTML by atlas.js into their (childless) containers: the output
# named here is never set, it only orders the callback after the paint.
dash.clientside_callback(
    ClientsideFunction("atlas", "legend"),
    Output(ids.LEGEND, "className"),
    Input(ids.PAYLOAD, "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("atlas", "table"),
    Output(ids.TABLE, "className"),
    Input(ids.PAYLOAD, "data"), Input(ids.AREAS, "data"), Input(ids.SELECTED, "data"),
    prevent_initial_call=True,
)
