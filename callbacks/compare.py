"""The compare view (issue 4): two maps side by side, their relationship, a bivariate map, and the
profile of the areas clicked or pinned.

It sits on the explorer's view: the explorer's controls set variable A and the classification, and its
``render`` callback sends A's payload as ever. The URL adds ``view``, ``variable_b`` and ``areas``.

- ``render_compare`` (server, on the URL, passed on by the clientside ``gate`` only when the compare view
  is or was on): B's payload (the explorer's compact form) only when B or its
  classification changed, and the relation (correlation, tertile breaks: a few hundred bytes) when A or B
  changed. In the explore view it sends nothing but the hidden style.
- ``render_profile`` and ``download_profile`` (server): the profile of the areas and its CSV.
- Clientside (assets/compare.js, ``window.dash_clientside.compare``): the three maps' styles, their synced
  pan and zoom, legends, the scatter built from the two payloads, linking between points and areas, and
  the compare keys of the URL.
"""

from __future__ import annotations

import logging
from typing import Any

import dash
import dash_leaflet as dl
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update

import mapview as view
import store as store_module
import viewstate as state
from callbacks import compare_view as cv
from callbacks import ids
from layers import compare_areas

__all__ = ["render_compare", "render_profile", "section", "view_switch"]

log = logging.getLogger(__name__)

# Ids: the two controls are named by their URL keys, like the explorer's.
VIEW = "view"
VARIABLE_B = "variable_b"
SECTION = "compare"
MESSAGE = "compare-message"
PAYLOAD_B = "compare-payload-b"
RELATION = "compare-relation"
CSTATE = "compare-state"
SELECTED = "compare-selected"  # the area whose profile is open (clicked on a compare map)
HIGHLIGHT = "compare-highlight"  # codes highlighted on the maps and the scatter
SEARCH = "compare-search"  # the URL's query, passed on by compare.gate only when the compare view needs it
MAPS = {"a": "compare-map-a", "b": "compare-map-b", "bv": "compare-map-bv"}
LAYERS = {"a": "compare-layer-a", "b": "compare-layer-b", "bv": "compare-layer-bv"}
LEGENDS = {"a": "compare-legend-a", "b": "compare-legend-b", "bv": "compare-legend-bv"}
TITLES = {"a": "compare-title-a", "b": "compare-title-b"}
SCATTER = "compare-scatter"
STATS = "compare-stats"
TOPIC = "compare-topic"
PICKS = "compare-picks"
PROFILE = "compare-profile"
DOWNLOAD_BUTTON = "compare-download-button"
DOWNLOAD = "compare-download"

_HIDE = {"display": "none"}
_SHOW: dict = {}
TOPICS = ("Population", "Deprivation", "Health", "Education", "Housing", "Work", "Travel", "Identity")


# -- layout ----------------------------------------------------------------------------------------------

def view_switch() -> html.Div:
    """Explore or compare: always shown, above the map."""
    return html.Div(className="view-switch", children=[
        html.Span("View", id="view-label", className="view-label"),
        html.Div(role="radiogroup", **{"aria-labelledby": "view-label"}, children=dcc.RadioItems(
            id=VIEW, value="explore", inline=True, options=[
                {"label": " Explore one variable", "value": "explore"},
                {"label": " Compare two variables", "value": "compare"}])),
    ])


def _map(key: str) -> dl.MapContainer:
    return dl.MapContainer(
        id=MAPS[key], center=[52.6, -2.0], zoom=6, preferCanvas=True, keyboard=True, className="map",
        attributionControl=False, style={"height": "100%", "width": "100%"},
        children=[compare_areas.build(LAYERS[key])])


def _figure(key: str, heading: str) -> html.Figure:
    return html.Figure(className="compare-figure", children=[
        html.H3(heading, id=TITLES.get(key, f"compare-title-{key}"), className="compare-title"),
        html.Div(_map(key), className="compare-mapbox"),
        html.Div(id=LEGENDS[key], className="legend compare-legend"),
    ])


def section() -> html.Section:
    """The compare view's body, hidden in the explore view."""
    return html.Section(id=SECTION, className="compare", style=_HIDE, **{"aria-label": "Compare two variables"},
                        children=[
        dcc.Store(id=PAYLOAD_B), dcc.Store(id=RELATION), dcc.Store(id=CSTATE), dcc.Store(id=SELECTED),
        dcc.Store(id=HIGHLIGHT, data={"codes": []}), dcc.Store(id=SEARCH),
        html.Div(id=MESSAGE, className="message", role="status", **{"aria-live": "polite"}),
        html.Div(className="field compare-b", children=[
            html.Label("Variable B (variable A is chosen in the Variable list)", htmlFor=VARIABLE_B),
            dcc.Dropdown(id=VARIABLE_B, clearable=False, searchable=True, maxHeight=420,
                         placeholder="Type words of a variable's name"),
        ]),
        html.Div(className="compare-pair", children=[_figure("a", "Variable A"), _figure("b", "Variable B")]),
        html.P("The two maps pan and zoom together. Click an area to open its profile below; it is "
               "highlighted on every map and in the scatter plot.", className="help"),
        html.Div(className="compare-pair", children=[
            html.Figure(className="compare-figure", children=[
                html.H3("A against B", className="compare-title"),
                html.Div(id=SCATTER, className="compare-scatter"),
                html.Div(id=STATS, className="compare-stats", role="status", **{"aria-live": "polite"}),
                html.P("Hover over a point to find its area on the maps; click points, or drag a box around "
                       "them, to highlight their areas (click the background to clear).",
                       className="help"),
            ]),
            html.Figure(className="compare-figure", children=[
                html.H3("A and B together (bivariate, thirds of each)", className="compare-title"),
                html.Div(_map("bv"), className="compare-mapbox"),
                html.Div(id=LEGENDS["bv"], className="legend compare-legend"),
                html.P(cv.BIVARIATE_SOURCE, className="attribution"),
            ]),
        ]),
        html.H3("Neighbourhood profile", id="profile-heading"),
        html.Div(className="compare-profile-controls", children=[
            html.Div(className="field", children=[
                html.Label("Topic", htmlFor=TOPIC),
                dcc.Dropdown(id=TOPIC, clearable=True, searchable=False, placeholder="A, B and headline figures",
                             options=[{"label": t, "value": t} for t in TOPICS]),
            ]),
            html.Div(className="field", children=[
                html.Label("Or pick variables", htmlFor=PICKS),
                dcc.Dropdown(id=PICKS, multi=True, searchable=True, placeholder="Type words of a variable's name"),
            ]),
            html.Button("Download profile (CSV)", id=DOWNLOAD_BUTTON, type="button", className="compare-button"),
            dcc.Download(id=DOWNLOAD),
        ]),
        html.Div(id=PROFILE, className="compare-profile", **{"aria-live": "polite"}),
    ])


# -- server callbacks ------------------------------------------------------------------------------------

def _resolve(search: str | None, s: Any) -> tuple[state.ViewState, dict[str, str], list[str]]:
    raw, messages = state.parse_query(search)
    resolved = state.resolve(raw, s, lambda a, lv: view.available_variables(s, a, lv), messages)
    return resolved.state, raw, list(resolved.messages)


def _place(s: Any, base: state.ViewState) -> str:
    return "England and Wales" if base.authority == state.ALL else s.authority(base.authority)["name"]


def compare_view_of(search: str | None, s: Any) -> tuple[state.ViewState, cv.CompareState, list[str]]:
    """The explorer's view and the compare keys of the URL ``search``, with messages about the compare
    keys only (the explorer reports its own)."""
    base, raw, _ = _resolve(search, s)
    available = view.available_variables(s, base.authority, base.level)
    codes = s.values(base.authority, base.level, base.variable)["code"].tolist() if base.variable else []
    cmp, messages = cv.resolve_compare(raw, base, s, available, codes)
    return base, cmp, messages


def render_compare_view(search: str | None, previous: dict | None, s: Any) -> dict:
    """Everything ``render_compare`` may send, as a dict; None for "unchanged"."""
    raw, _ = state.parse_query(search)
    if (raw.get("view") or "explore").lower() == "explore":
        # The explorer's own view: nothing to resolve or send (its pages must not pay for this one).
        return {"view": "explore", "variable_b": None, "payload_b": None, "relation": None, "messages": [],
                "titles": None, "state": {"view": "explore", "variable_b": raw.get("variable_b", ""),
                                          "areas": [], "search": None}}
    base, cmp, messages = compare_view_of(search, s)
    prev = previous if isinstance(previous, dict) else {}
    out: dict[str, Any] = {"view": cmp.view, "variable_b": None, "payload_b": None, "relation": None,
                           "messages": messages, "titles": None}
    if cmp.view != "compare" or not base.variable or not cmp.variable_b:
        if cmp.view == "compare":
            out["messages"] = messages + [f"Nothing to compare: only one variable has data for {_place(s, base)}."]
        out["state"] = {"view": cmp.view, "variable_b": cmp.variable_b, "areas": list(cmp.areas)}
        return out
    place = _place(s, base)
    sb = cv.state_b(s, base, cmp.variable_b)
    key_b = sb.as_dict()
    key_rel = [base.authority, base.level, base.variable, cmp.variable_b]
    was = prev.get("view") == "compare"
    if not was or prev.get("key_b") != key_b:
        out["payload_b"] = cv.payload_b(s, base, cmp.variable_b, place)
    if not was or prev.get("key_rel") != key_rel:
        part_a = view.classification_part(s, base, state.effective_scheme(base)) if base.scheme != "custom" \
            else view.payload(s, base, "")[0]
        part_b = view.classification_part(s, sb, sb.scheme)
        rel = cv.relation(s, base, cmp.variable_b, part_a["v"], part_b["v"])
        outline = view.outline(s, base.authority, base.level)
        rel["bbox"] = outline.get("bbox") or [-5.8, 49.9, 1.8, 55.9]
        rel["url"] = view.geometry_url(s.build_id, base.authority, base.level)
        rel["place"] = place
        rel["labels"] = [s.variable(base.variable)["label"], s.variable(cmp.variable_b)["label"]]
        out["relation"] = rel
        out["titles"] = [f"A: {rel['labels'][0]}", f"B: {rel['labels'][1]}"]
    if prev.get("variable_b") != cmp.variable_b or not was:
        out["variable_b"] = cmp.variable_b
    out["state"] = {"view": cmp.view, "variable_b": cmp.variable_b, "areas": list(cmp.areas), "key_b": key_b,
                    "key_rel": key_rel, "authority": base.authority, "level": base.level,
                    "variable": base.variable, "search": cv.compare_query(base, cmp)}
    return out


def _nu(value: Any) -> Any:
    return no_update if value is None else value


@dash.callback(
    Output(SECTION, "style"), Output(VIEW, "value"), Output(VARIABLE_B, "value"), Output(PAYLOAD_B, "data"),
    Output(RELATION, "data"), Output(CSTATE, "data"), Output(MESSAGE, "children"),
    Output(TITLES["a"], "children"), Output(TITLES["b"], "children"),
    Input(SEARCH, "data"),
    State(CSTATE, "data"),
    prevent_initial_call=True,
)
def render_compare(search: str | None, previous: dict | None) -> tuple:
    """URL -> the compare view. Never raises: a failure shows a message."""
    try:
        r = render_compare_view(search, previous, store_module.get_store())
    except FileNotFoundError:
        return (_HIDE, no_update, no_update, no_update, no_update, no_update, None, no_update, no_update)
    except Exception:  # noqa: BLE001 - a view that fails must say so, never show a traceback
        log.exception("could not render the compare view for %r", search)
        return (no_update, no_update, no_update, no_update, no_update, no_update,
                [html.P("Sorry, the comparison could not be drawn; the problem has been logged.")],
                no_update, no_update)
    titles = r["titles"] or [None, None]
    return (_SHOW if r["view"] == "compare" else _HIDE, r["view"], _nu(r["variable_b"]), _nu(r["payload_b"]),
            _nu(r["relation"]), r["state"], [html.P(m) for m in r["messages"]] or None,
            _nu(titles[0]), _nu(titles[1]))


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "no data"
    text = f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 1000 else f"{value:,.4g}"
    return text + ("%" if unit == "percentage" else "")


def _ordinal_pct(p: float | None) -> str:
    return "–" if p is None else f"{p:.0f}"


def profile_codes(cstate: dict | None, selected: str | None) -> list[str]:
    pinned = list((cstate or {}).get("areas") or [])
    if selected and selected not in pinned:
        return [selected] + pinned
    return pinned


def render_profile_view(s: Any, cstate: dict, selected: str | None, topic: str | None,
                        picks: list[str] | None) -> tuple[list, list[dict], list[str], dict[str, str], str]:
    """The profile's rows for the areas shown (the clicked one first, then the pinned), with names."""
    base, _, _ = _resolve(cstate["search"], s)
    available = view.available_variables(s, base.authority, base.level)
    names_df = s.values(base.authority, base.level, base.variable)
    names = dict(zip(names_df["code"], names_df["name"], strict=True))
    codes = [c for c in profile_codes(cstate, selected) if c in names]
    variables, note = cv.profile_variables(s, base, cstate["variable_b"], topic, picks, available)
    rows = cv.profile(s, base, codes, variables) if codes else []
    return [note] if note else [], rows, codes, names, _place(s, base)


def _profile_table(rows: list[dict], codes: list[str], names: dict[str, str], pinned: list[str],
                   place: str) -> html.Table:
    head = [html.Th("Variable", scope="col")]
    for code in codes:
        is_pinned = code in pinned
        button = html.Button("Unpin" if is_pinned else "Pin", type="button", className="compare-button",
                             **{"data-cmp-pin": code, "aria-pressed": "true" if is_pinned else "false",
                                "aria-label": f"{'Unpin' if is_pinned else 'Pin'} {names[code]}"})
        head.append(html.Th([html.Span(names[code]), html.Span(f" {code}" if names[code] != code else "",
                                                                className="code"),
                             html.Span(" (pinned)" if is_pinned else " (clicked)", className="code"), " ", button],
                            scope="col"))
    head += [html.Th(f"Median in {place}", scope="col"), html.Th("National median", scope="col"),
             html.Th("Which way is better", scope="col")]
    body = []
    for r in rows:
        cells: list = [html.Th(r["label"], scope="row")]
        for a in r["areas"]:
            pct = a["percentile"]
            judged = f"; {a['vs_median']} the median" if a["vs_median"] else ""
            cells.append(html.Td([_fmt(a["value"], r["unit"]), html.Br(), html.Small(
                "" if pct is None else f"higher than {_ordinal_pct(pct)}% of {place}{judged}")], className="num"))
        cells.append(html.Td(_fmt(r["median"], r["unit"]), className="num"))
        cells.append(html.Td(f"{_fmt(r['national'], r['unit'])} ({r['coverage']})" if r["national"] is not None
                             else "not national here", className="num"))
        cells.append(html.Td(r["better"] or "No judgement: neither way is better."))
        body.append(html.Tr(cells))
    return html.Table(className="areas profile", children=[
        html.Caption("Each area's value, its percentile rank among the areas of " + place + " (ties count half), "
                     "the median of " + place + " and, where the variable covers a whole nation at this level, "
                     "the median of every area of that nation."),
        html.Thead(html.Tr(head)), html.Tbody(body)])


@dash.callback(
    Output(PROFILE, "children"),
    Input(SELECTED, "data"), Input(CSTATE, "data"), Input(TOPIC, "value"), Input(PICKS, "value"),
    prevent_initial_call=True,
)
def render_profile(selected: str | None, cstate: dict | None, topic: str | None, picks: list[str] | None) -> Any:
    if not cstate or cstate.get("view") != "compare" or not cstate.get("search"):
        return no_update
    try:
        notes, rows, codes, names, place = render_profile_view(store_module.get_store(), cstate, selected, topic,
                                                               picks)
    except Exception:  # noqa: BLE001
        log.exception("could not render the profile")
        return html.P("Sorry, the profile could not be drawn; the problem has been logged.")
    if not codes:
        return html.P("Click an area on a compare map to see its profile: its figures beside the median of "
                      f"{place} and of the nation. Pin up to {cv.MAX_PINNED} areas to compare them side by side.")
    out: list = [html.P(n, className="legend-note") for n in notes]
    pinned = list(cstate.get("areas") or [])
    if len(pinned) >= cv.MAX_PINNED:
        out.append(html.P(f"{cv.MAX_PINNED} areas are pinned, the most shown side by side; unpin one to pin "
                          "another.", className="help"))
    out.append(_profile_table(rows, codes, names, pinned, place))
    return out


@dash.callback(
    Output(DOWNLOAD, "data"),
    Input(DOWNLOAD_BUTTON, "n_clicks"),
    State(SELECTED, "data"), State(CSTATE, "data"), State(TOPIC, "value"), State(PICKS, "value"),
    prevent_initial_call=True,
)
def download_profile(_: int | None, selected: str | None, cstate: dict | None, topic: str | None,
                     picks: list[str] | None) -> Any:
    if not cstate or not cstate.get("search"):
        return no_update
    _, rows, codes, names, place = render_profile_view(store_module.get_store(), cstate, selected, topic, picks)
    if not codes:
        return no_update
    filename = f"profile-{cstate['authority']}-{cstate['level']}-{'-'.join(codes)}.csv"
    return {"content": cv.profile_csv(rows, names, place), "filename": filename, "type": "text/csv",
            "base64": False}


# -- clientside (assets/compare.js) ----------------------------------------------------------------------

# The explorer's switches must not pay for the compare view: the URL reaches render_compare only when the
# compare view is (or was just) on, or the URL names a view; otherwise no request is made at all.
dash.clientside_callback(
    ClientsideFunction("compare", "gate"),
    Output(SEARCH, "data"),
    Input(ids.URL, "search"), State(CSTATE, "data"),
)

dash.clientside_callback(
    ClientsideFunction("compare", "options"),
    Output(VARIABLE_B, "options"), Output(PICKS, "options"), Output(VARIABLE_B, "value", allow_duplicate=True),
    Input(ids.VARIABLE, "options"), Input(CSTATE, "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("compare", "write_url"),
    Output(ids.URL, "search", allow_duplicate=True),
    Input(VIEW, "value"), Input(VARIABLE_B, "value"),
    State(CSTATE, "data"), State(ids.URL, "search"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("compare", "combine"),
    Output(LAYERS["a"], "url"), Output(LAYERS["a"], "hideout"),
    Output(LAYERS["b"], "url"), Output(LAYERS["b"], "hideout"),
    Output(LAYERS["bv"], "url"), Output(LAYERS["bv"], "hideout"),
    Input(ids.PAYLOAD, "data"), Input(PAYLOAD_B, "data"), Input(RELATION, "data"), Input(ids.AREAS, "data"),
    Input(HIGHLIGHT, "data"), Input(CSTATE, "data"), Input(ids.OPACITY, "value"),
    prevent_initial_call=True,
)

# The scatter plot is SVG written by compare.js into its container (no plotly: see assets/compare.js); the
# output named here is never set, it only orders the callback after the payloads.
dash.clientside_callback(
    ClientsideFunction("compare", "scatter"),
    Output(SCATTER, "className"), Output(STATS, "children"),
    Input(ids.PAYLOAD, "data"), Input(PAYLOAD_B, "data"), Input(RELATION, "data"), Input(ids.AREAS, "data"),
    Input(HIGHLIGHT, "data"), State(CSTATE, "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("compare", "map_click"),
    Output(SELECTED, "data"), Output(HIGHLIGHT, "data", allow_duplicate=True),
    Input(LAYERS["a"], "clickData"), Input(LAYERS["b"], "clickData"), Input(LAYERS["bv"], "clickData"),
    State(SELECTED, "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("compare", "from_table"),
    Output(SELECTED, "data", allow_duplicate=True), Output(HIGHLIGHT, "data", allow_duplicate=True),
    Input(ids.SELECTED, "data"),
    prevent_initial_call=True,
)
