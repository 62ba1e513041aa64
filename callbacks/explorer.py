"""The explorer's callbacks: the URL drives the view; the controls write the URL.

- ``render`` (server): URL -> controls, the switch payload, and (only when the authority or level
  changes) the variable options, the areas' names and the map's viewport. It is the only server callback
  of a switch, and it sends nothing that has not changed beyond the payload and a few short strings.
- Clientside (assets/atlas.js, ``window.dash_clientside.atlas``): controls -> URL (``write_url``, which
  pushes a history entry only when the controls differ from the view last rendered, so setting the
  controls from the URL never loops), the layer's ``url`` + ``hideout`` (``combine``), map clicks, the
  legend and the table.

Each callback parses, calls pure functions (viewstate.py, mapview.py) and returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, no_update

from atlas import mapview as view
from atlas import store as store_module
from atlas import viewstate as state
from ui import ids

__all__ = ["Rendered", "render", "render_view"]

log = logging.getLogger(__name__)

_SHOW = {}
_HIDE = {"display": "none"}


@dataclass
class Rendered:
    """Everything ``render`` may send; ``None`` in the optional part means "unchanged, send nothing"."""

    state: state.ViewState
    messages: list[str]
    payload: dict | None  # None: unchanged (an opacity change)
    canonical: dict  # the state as a dict, with its query string, for write_url to compare with
    title: str | None = None
    attribution: str | None = None
    level_options: list[dict] | None = None
    variable_options: list[dict] | None = None
    scope_options: list[dict] | None = None
    areas: dict | None = None
    viewport: dict | None = None
    outline: dict | None = None
    controls: set[str] = field(default_factory=set)  # the controls whose value must be (re)set


def controls_to_set(raw: dict[str, str], prev: dict, st: state.ViewState) -> set[str]:
    """The controls that may not show ``st`` already: those whose value differs from the previous view
    (back/forward, a new authority's level) or from what the URL asked for (a fallback). The others hold
    the value the user just chose, and re-setting them would only re-render them."""
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


def render_view(search: str | None, previous: dict | None, s: Any) -> Rendered:
    """The view for the URL ``search``, given the previous rendered state (``None`` on first load)."""
    raw, messages = state.parse_query(search)
    resolved = state.resolve(raw, s, lambda a, lv: view.available_variables(s, a, lv), messages)
    st = resolved.state
    messages = list(resolved.messages)
    prev = previous.get("state") if isinstance(previous, dict) else None
    prev = prev if isinstance(prev, dict) else {}
    place_changed = (prev.get("authority"), prev.get("level")) != (st.authority, st.level)
    geometry = view.geometry_url(s.build_id, st.authority, st.level)
    info = None if st.authority == state.ALL else s.authority(st.authority)
    payload, more = view.payload(s, st, geometry, info["name"] if info else "England and Wales")
    messages += more
    if prev and {**prev, "opacity": None} == {**st.as_dict(), "opacity": None}:
        payload = None  # only the opacity changed: the browser applies it without a new payload
    row = s.variable(st.variable)
    out = Rendered(state=st, messages=messages, payload=payload,
                   canonical={"state": st.as_dict(), "search": state.to_query(st)},
                   controls=controls_to_set(raw, prev, st))
    if place_changed or prev.get("variable") != st.variable:
        out.title = view.title(st, info["name"] if info else "", row)
        out.attribution = view.attribution(row)
        out.scope_options = view.scope_options(row, st)
    if place_changed:
        out.level_options = view.level_options(s, info)
        out.variable_options = view.variable_options(s, st.authority, st.level)
        areas = view.areas_data(s, st)
        if st.authority == state.ALL:
            areas["nodata"] = view.national_no_data(s.authorities(), areas["codes"])
        out.areas = areas
        out.outline = view.outline(s, st.authority, st.level)
        bbox = out.outline.get("bbox") or (info or {}).get("bbox")
        if st.authority == state.ALL or not bbox:
            bbox = [-5.8, 49.9, 1.8, 55.9]  # England and Wales; the UK's box would centre on Scotland's seas
        out.viewport = {"bounds": [[bbox[1], bbox[0]], [bbox[3], bbox[2]]], "transition": "fitBounds"}
    return out


_N_OUTPUTS = len(ids.CONTROLS) + 15
_MESSAGE_AT = len(ids.CONTROLS) + 11


def _only_message(text: str) -> tuple:
    out = [no_update] * _N_OUTPUTS
    out[_MESSAGE_AT] = [dash.html.P(text)]
    return tuple(out)


def _or_no_update(value: Any) -> Any:
    return no_update if value is None else value


@dash.callback(
    [Output(key, "value") for key in ids.CONTROLS] + [
        Output(ids.LEVEL, "options"), Output(ids.LEVEL_ROW, "style"), Output(ids.VARIABLE, "options"),
        Output(ids.SCOPE, "options"), Output(ids.SCOPE_ROW, "style"), Output(ids.BREAKS_ROW, "style"),
        Output(ids.PAYLOAD, "data"), Output(ids.AREAS, "data"), Output(ids.MAP, "viewport"),
        Output(ids.OUTLINE, "data"), Output(ids.STATE, "data"), Output(ids.MESSAGE, "children"),
        Output(ids.TITLE, "children"), Output(ids.ATTRIBUTION, "children"),
        Output(ids.SELECTED, "data", allow_duplicate=True)],
    Input(ids.URL, "search"),
    State(ids.STATE, "data"),
    prevent_initial_call="initial_duplicate",
)
def render(search: str | None, previous: dict | None) -> tuple:
    """URL -> view. Never raises: a failure shows a message and keeps the map as it was."""
    try:
        r = render_view(search, previous, store_module.get_store())
    except FileNotFoundError as exc:
        return _only_message(f"The data is not available on this server yet: {exc}.")
    except Exception:  # noqa: BLE001 - a view that fails must say so, never show a traceback
        log.exception("could not render the view for %r", search)
        return _only_message("Sorry, this view could not be drawn; the problem has been logged. "
                             "Try another variable or authority.")
    st = r.state
    values = {**st.as_dict(), "reverse": ["1"] if st.reverse else []}
    controls = [values[key] if key in r.controls else no_update for key in ids.CONTROLS]
    level_row = _SHOW if st.authority != state.ALL and len(r.level_options or [None, None]) > 1 else _HIDE
    if r.level_options is None:
        level_row = no_update
    scope_row = (_HIDE if st.authority == state.ALL else _SHOW) if "authority" in r.controls else no_update
    breaks_row = (_SHOW if st.scheme == "custom" else _HIDE) if "scheme" in r.controls else no_update
    message = [dash.html.P(m) for m in r.messages] or None
    return (*controls, _or_no_update(r.level_options), level_row, _or_no_update(r.variable_options),
            _or_no_update(r.scope_options), scope_row, breaks_row, _or_no_update(r.payload), _or_no_update(r.areas),
            _or_no_update(r.viewport), _or_no_update(r.outline), r.canonical, message,
            _or_no_update(r.title), _or_no_update(r.attribution),
            None if r.areas is not None else no_update)


# -- clientside: everything a switch derives in the browser (assets/atlas.js) ----------------------------

dash.clientside_callback(
    ClientsideFunction("atlas", "write_url"),
    Output(ids.URL, "search"),
    [Input(key, "value") for key in ids.CONTROLS],
    State(ids.STATE, "data"), State(ids.URL, "search"),
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
# named here is never set, it only orders the callback after the payload (see toHtml in assets/atlas.js).
dash.clientside_callback(
    ClientsideFunction("atlas", "legend"),
    Output(ids.LEGEND, "className"),
    Input(ids.PAYLOAD, "data"), Input(ids.AREAS, "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("atlas", "table"),
    Output(ids.TABLE, "className"),
    Input(ids.PAYLOAD, "data"), Input(ids.AREAS, "data"), Input(ids.SELECTED, "data"),
    Input(ids.TABLE_SORT, "data"), Input(ids.TABLE_PAGE, "data"),
    prevent_initial_call=True,
)
