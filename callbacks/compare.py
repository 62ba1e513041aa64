"""The compare view: two maps side by side, their relationship (a scatter plot and its correlation), a
bivariate map, and the profile of the areas clicked or pinned.

It sits on the explorer's view: the explorer's controls set variable A and the classification, and its
``render`` callback sends A's paint as ever. The address adds ``view``, ``variable_b`` and ``areas``.

- ``gate`` (clientside): passes a change on to the server only when the compare view is, was or is asked
  to be open, so the explorer's own switches make no request for it.
- ``render_compare`` (server): B's paint (by atlas.view, like A's) when B or its classification changed,
  and the relation (correlation in words, the bivariate map as one class digit per area, the scatter
  plot as a dcc.Graph created only when the compare view opens) when A or B changed.
- ``render_profile`` and ``download_profile`` (server): the profile of the areas and its CSV.
- Clientside (assets/compare.js, ``window.dash_clientside.compare``): the three maps painted from the
  paints, their synced pan and zoom, legends, and the links between points, areas and the table.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import dash
from dash import ClientsideFunction, Input, Output, State, html, no_update

from atlas import access, catalogue, extracts, mapview
from atlas import compare as cv
from atlas import view as atlas_view
from atlas import viewstate as state
from ui import compare as layout
from ui import ids
from ui.ids import COMPARE as C

__all__ = ["compare_view_of", "render_compare", "render_compare_view", "render_profile", "variable_b_options"]

log = logging.getLogger(__name__)

_HIDE = {"display": "none"}
_SHOW: dict = {}
MAX_TEXT = 200


# -- server callbacks ------------------------------------------------------------------------------------

def _resolve(search: str | None, s: Any) -> tuple[state.ViewState, dict[str, str], list[str]]:
    raw, messages = state.parse_query(search)
    resolved = state.resolve(raw, s, lambda a, lv: mapview.available_variables(s, a, lv), messages)
    return resolved.state, raw, list(resolved.messages)


def _place(s: Any, base: state.ViewState) -> str:
    return "England and Wales" if base.authority == state.ALL else s.authority(base.authority)["name"]


def compare_view_of(search: str | None, s: Any) -> tuple[state.ViewState, cv.CompareState, list[str]]:
    """The explorer's view and the compare keys of the query string ``search``, with messages about the
    compare keys only (the explorer reports its own)."""
    base, raw, _ = _resolve(search, s)
    available = mapview.available_variables(s, base.authority, base.level)
    codes = s.values(base.authority, base.level, base.variable)["code"].tolist() if base.variable else []
    cmp, messages = cv.resolve_compare(raw, base, s, available, codes)
    return base, cmp, messages


def _text(value: Any) -> str:
    return str(value)[:MAX_TEXT] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""


def compare_search(trigger: Any, explorer: Any, previous: Any) -> str | None:
    """The query string the compare view is asked for: the explorer's canonical view, plus the compare keys
    from the address (``source`` "nav"), from the compare controls ("control"), or kept from the previous
    compare view ("view": the explorer's view changed; pinned areas go when the place changes)."""
    if not isinstance(trigger, dict) or not isinstance(explorer, dict) or not isinstance(explorer.get("search"), str):
        return None
    base = explorer["search"]
    source = trigger.get("source")
    prev = previous if isinstance(previous, dict) else {}
    if source == "nav":
        raw, _ = state.parse_query(_text(trigger.get("search")))
        keys = [(k, raw[k]) for k in state.COMPARE_KEYS if k in raw]
    elif source == "control":
        pins = trigger.get("pins")
        pins = [p for p in pins if isinstance(p, str)][: cv.MAX_PINNED + 1] if isinstance(pins, list) else \
            list(prev.get("areas") or [])
        keys = [("view", _text(trigger.get("view")) or "explore"),
                ("variable_b", _text(trigger.get("variable_b")) or prev.get("variable_b") or ""),
                ("areas", ",".join(pins))]
    else:
        here = explorer.get("state") if isinstance(explorer.get("state"), dict) else {}
        same_place = (prev.get("authority"), prev.get("level")) == (here.get("authority"), here.get("level"))
        keys = [("view", prev.get("view") or "explore"), ("variable_b", prev.get("variable_b") or ""),
                ("areas", ",".join(prev.get("areas") or []) if same_place else "")]
    keys = [(k, v) for k, v in keys if v]
    return base + ("&" + urlencode(keys, safe=",") if keys else "")


def render_compare_view(search: str | None, previous: dict | None, s: Any, via: str = "view") -> dict:
    """Everything ``render_compare`` may send, as a dict; None for "unchanged"."""
    raw, _ = state.parse_query(search)
    if (raw.get("view") or "explore").lower() == "explore":
        # The explorer's own view: nothing to resolve or send (its pages must not pay for this one).
        return {"view": "explore", "variable_b": None, "payload_b": None, "relation": None, "messages": [],
                "titles": None, "graph": None, "stats": None,
                "state": {"view": "explore", "variable_b": raw.get("variable_b", ""), "areas": [], "search": None,
                          "keys": "", "via": via}}
    base, cmp, messages = compare_view_of(search, s)
    prev = previous if isinstance(previous, dict) else {}
    out: dict[str, Any] = {"view": cmp.view, "variable_b": None, "payload_b": None, "relation": None,
                           "messages": messages, "titles": None, "graph": None, "stats": None}
    keys = cv.compare_keys(cmp)
    if cmp.view != "compare" or not base.variable or not cmp.variable_b:
        if cmp.view == "compare":
            out["messages"] = messages + [f"Nothing to compare: only one variable has data for {_place(s, base)}."]
        # "said": a message stands in the explore view (compare not offered here); the gate (assets/compare.js)
        # then passes the explorer's next view on, so the message goes when the place or level changes.
        out["state"] = {"view": cmp.view, "variable_b": cmp.variable_b, "areas": list(cmp.areas), "keys": keys,
                        "via": via, "said": cmp.view != "compare" and bool(out["messages"])}
        return out
    place = _place(s, base)
    sb = cv.state_b(s, base, cmp.variable_b)
    key_b = sb.as_dict()
    key_rel = [base.authority, base.level, base.variable, cmp.variable_b]
    was = prev.get("view") == "compare"
    view_b = None  # built once, for B's map and the relation alike (every LSOA: 12-14 MB a view)
    if not was or prev.get("key_b") != key_b:
        view_b = atlas_view.build(s, sb)
        out["payload_b"] = {**view_b.paint(), **mapview.map_geometry(s, sb.authority, sb.level),
                            "details": None if view_b.categorical else _details_url(sb), "which": "b"}
    if not was or prev.get("key_rel") != key_rel:
        view_a = atlas_view.build(s, replace(base, scheme="quantiles", breaks="") if base.scheme == "custom" else base)
        view_b = view_b or atlas_view.build(s, sb)
        rel = cv.relation(s, view_a, view_b)
        outline = mapview.outline(s, base.authority, base.level)
        rel["bbox"] = outline.get("bbox") or [-5.8, 49.9, 1.8, 55.9]
        rel.update(mapview.map_geometry(s, base.authority, base.level))
        rel["place"] = place
        out["relation"] = rel
        out["titles"] = [f"A: {rel['labels'][0]}", f"B: {rel['labels'][1]}"]
        # No scatter plot of categories: the plot's place says why (render_compare draws it as text).
        out["graph"] = cv.scatter_figure(view_a, view_b) if rel.get("none") is None else {"none": rel["none"]}
        out["stats"] = rel["text"]
    if prev.get("variable_b") != cmp.variable_b or not was:
        out["variable_b"] = cmp.variable_b
    out["state"] = {"view": cmp.view, "variable_b": cmp.variable_b, "areas": list(cmp.areas), "key_b": key_b,
                    "key_rel": key_rel, "authority": base.authority, "level": base.level,
                    "variable": base.variable, "search": cv.compare_query(base, cmp), "keys": keys, "via": via}
    return out


def _details_url(st: state.ViewState) -> str:
    return "/api/view.json?" + urlencode([("authority", st.authority), ("level", st.level),
                                          ("variable", st.variable), ("fields", "details")])


def _nu(value: Any) -> Any:
    return no_update if value is None else value


def _b_options(s: Any, cstate: dict | None, variable_b: str | None) -> list[dict] | None:
    if not isinstance(variable_b, str) or not variable_b or not isinstance(cstate, dict) \
            or not isinstance(cstate.get("authority"), str) or not isinstance(cstate.get("level"), str):
        return None
    try:
        row = s.variable(variable_b)
    except extracts.NotFound:
        return None
    options = mapview.variable_options(s, cstate["authority"], cstate["level"], group=mapview.group_key(row))
    return mapview.with_built_option(s, options, variable_b, cstate["authority"], cstate["level"])


@dash.callback(
    Output(C.SECTION, "style"), Output(C.VIEW, "value"), Output(C.VARIABLE_B, "value"),
    Output(C.VARIABLE_B, "options"), Output(C.PAYLOAD_B, "data"), Output(C.RELATION, "data"),
    Output(C.STATE, "data"), Output(C.MESSAGE, "children"), Output(C.TITLE_A, "children"),
    Output(C.TITLE_B, "children"), Output(C.SCATTER, "children"), Output(C.STATS, "children"),
    Input(C.SEARCH, "data"),
    State(ids.STATE, "data"), State(C.STATE, "data"),
    prevent_initial_call=True,
)
@access.declares("site.view")
def render_compare(trigger: Any, explorer: Any, previous: Any) -> tuple:
    """The compare view asked for. Never raises: a failure shows a message."""
    search = compare_search(trigger, explorer, previous)
    if search is None:
        return (no_update,) * 12
    via = "control" if trigger.get("source") == "control" else "nav" if trigger.get("source") == "nav" else "view"
    try:
        s = catalogue.of_request()
        r = render_compare_view(search, previous if isinstance(previous, dict) else None, s, via)
        options = _b_options(s, r["state"], r["variable_b"])
    except FileNotFoundError:
        return (_HIDE,) + (no_update,) * 11
    except Exception:  # noqa: BLE001 - a view that fails must say so, never show a traceback
        log.exception("could not render the compare view for %r", search)
        return (no_update,) * 7 + ([html.P("Sorry, the comparison could not be drawn; the problem has been "
                                           "logged.")],) + (no_update,) * 4
    titles = r["titles"] or [None, None]
    if r["graph"] is not None and "none" in r["graph"]:
        graph = html.P(r["graph"]["none"], className="compare-none")
    else:
        graph = layout.graph(r["graph"]) if r["graph"] is not None else None
    return (_SHOW if r["view"] == "compare" else _HIDE, r["view"], _nu(r["variable_b"]), _nu(options),
            _nu(r["payload_b"]), _nu(r["relation"]), r["state"], [html.P(m) for m in r["messages"]] or None,
            _nu(titles[0]), _nu(titles[1]), _nu(graph), _nu(r["stats"]))


@dash.callback(
    Output(C.VARIABLE_B, "options", allow_duplicate=True),
    Input(C.VARIABLE_B, "search_value"),
    State(C.STATE, "data"),
    prevent_initial_call=True,
)
@access.declares("site.view")
def variable_b_options(typed: Any, cstate: Any) -> Any:
    """Variable B's list: B's own table, or the variables here matching the words typed."""
    if not isinstance(cstate, dict) or not isinstance(cstate.get("authority"), str) \
            or not isinstance(cstate.get("level"), str):
        return no_update
    s = catalogue.of_request()
    text = _text(typed)
    try:
        if not text.strip():
            return no_update  # keep the results: a B just picked from them must stay among the options
        found = mapview.search_variables(s, cstate["authority"], cstate["level"], text)
    except extracts.NotFound:
        return no_update
    return found or [{"label": f"No variable here matches {text!r}", "value": "", "disabled": True}]


@dash.callback(
    Output(C.PICKS, "options"),
    Input(C.PICKS, "search_value"), Input(C.STATE, "data"),
    State(C.PICKS, "value"),
    prevent_initial_call=True,
)
@access.declares("site.view")
def pick_options(typed: Any, cstate: Any, picked: Any) -> Any:
    """The profile's "pick variables" list: the variables here matching the words typed, with those
    already picked kept (a multi-select drops a value that is not among its options)."""
    if not isinstance(cstate, dict) or cstate.get("view") != "compare" or not isinstance(cstate.get("authority"), str) \
            or not isinstance(cstate.get("level"), str):
        return no_update
    s = catalogue.of_request()
    kept = [p for p in picked if isinstance(p, str)][:cv.PROFILE_MAX] if isinstance(picked, list) else []
    options = []
    for variable in kept:
        try:
            options.append({"label": s.variable(variable)["label"], "value": variable})
        except extracts.NotFound:
            continue
    try:
        found = mapview.search_variables(s, cstate["authority"], cstate["level"], _text(typed) or "")
    except extracts.NotFound:
        return no_update
    return options + [o for o in found if o["value"] not in set(kept)]


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
    available = mapview.available_variables(s, base.authority, base.level)
    names_df = s.values(base.authority, base.level, base.variable)
    names = dict(zip(names_df["code"], names_df["name"], strict=True))
    codes = [c for c in profile_codes(cstate, selected) if c in names]
    variables, note = cv.profile_variables(s, base, cstate["variable_b"], topic, picks, available)
    rows = cv.profile(s, base, codes, variables) if codes else []
    return [note] if note else [], rows, codes, names, _place(s, base)


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _profile_inputs_ok(selected: Any, cstate: Any, topic: Any, picks: Any, *keys: str) -> bool:
    """The profile callbacks' inputs have the types the page sends (a hand-made request may send anything);
    ``keys`` must be strings in ``cstate``."""
    optional_text = (str, type(None))
    return (isinstance(cstate, dict) and "variable_b" in cstate and isinstance(cstate.get("search"), optional_text)
            and all(isinstance(cstate.get(k), str) for k in keys)
            and isinstance(cstate.get("view"), optional_text) and isinstance(cstate.get("variable_b"), optional_text)
            and isinstance(cstate.get("authority"), optional_text) and isinstance(cstate.get("level"), optional_text)
            and (cstate.get("areas") is None or _is_text_list(cstate["areas"]))
            and isinstance(selected, optional_text) and isinstance(topic, optional_text)
            and (picks is None or _is_text_list(picks)))


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
            shown = (a.get("text") or "no data") if r.get("categorical") else _fmt(a["value"], r["unit"])
            cells.append(html.Td([shown, html.Br(), html.Small(
                "" if pct is None else f"higher than {_ordinal_pct(pct)}% of {place}{judged}")], className="num"))
        cells.append(html.Td(r.get("mode") or "no data" if r.get("categorical") else _fmt(r["median"], r["unit"]),
                             className="num"))
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
    Output(C.PROFILE, "children"),
    Input(C.SELECTED, "data"), Input(C.STATE, "data"),
    # The lists are created with the compare view (ui/compare.py); the explorer's table selects before.
    Input(C.TOPIC, "value", allow_optional=True), Input(C.PICKS, "value", allow_optional=True),
    prevent_initial_call=True,
)
@access.declares("site.view")
def render_profile(selected: str | None, cstate: dict | None, topic: str | None, picks: list[str] | None) -> Any:
    if not _profile_inputs_ok(selected, cstate, topic, picks):
        return no_update
    if not cstate or cstate.get("view") != "compare" or not cstate.get("search"):
        return no_update
    try:
        notes, rows, codes, names, place = render_profile_view(catalogue.of_request(), cstate, selected, topic,
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
    Output(C.DOWNLOAD, "data"),
    Input(C.DOWNLOAD_BUTTON, "n_clicks"),
    State(C.SELECTED, "data"), State(C.STATE, "data"), State(C.TOPIC, "value", allow_optional=True),
    State(C.PICKS, "value", allow_optional=True),
    prevent_initial_call=True,
)
@access.declares("site.view")
def download_profile(_: int | None, selected: str | None, cstate: dict | None, topic: str | None,
                     picks: list[str] | None) -> Any:
    if not _profile_inputs_ok(selected, cstate, topic, picks, "authority", "level"):
        return no_update
    if not cstate or not cstate.get("search"):
        return no_update
    _, rows, codes, names, place = render_profile_view(catalogue.of_request(), cstate, selected, topic, picks)
    if not codes:
        return no_update
    filename = f"profile-{cstate['authority']}-{cstate['level']}-{'-'.join(codes)}.csv"
    return {"content": cv.profile_csv(rows, names, place), "filename": filename, "type": "text/csv",
            "base64": False}


# -- clientside (assets/compare.js) ----------------------------------------------------------------------

# The explorer's switches must not pay for the compare view: a change reaches render_compare only when the
# compare view is (or was just) on, or the address names a view; otherwise no request is made at all.
dash.clientside_callback(
    ClientsideFunction("compare", "gate"),
    Output(C.SEARCH, "data"),
    Input(ids.STATE, "data"), Input(C.VIEW, "value"), Input(C.VARIABLE_B, "value", allow_optional=True),
    Input(C.PINS, "data"), State(C.STATE, "data"), State(ids.NAV, "data"), State(C.PARTS, "data"),
    prevent_initial_call=True,
)

# The maps' layers are created with the compare view (ui/compare.py), after the explorer's first paint has
# already run this: compare.combine sets their url and hideout with set_props once they exist. The output
# named here is never set: it keeps the callback to pages with the compare section (not /embed).
dash.clientside_callback(
    ClientsideFunction("compare", "combine"),
    Output(C.SECTION, "className"),
    Input(ids.PAYLOAD, "data"), Input(C.PAYLOAD_B, "data"), Input(C.RELATION, "data"), Input(ids.AREAS, "data"),
    Input(C.HIGHLIGHT, "data"), Input(C.STATE, "data"), Input(ids.OPACITY, "value"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("compare", "map_click"),
    Output(C.SELECTED, "data"), Output(C.HIGHLIGHT, "data", allow_duplicate=True),
    Input(C.LAYER_A, "clickData"), Input(C.LAYER_B, "clickData"), Input(C.LAYER_BV, "clickData"),
    State(C.SELECTED, "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("compare", "from_table"),
    Output(C.SELECTED, "data", allow_duplicate=True), Output(C.HIGHLIGHT, "data", allow_duplicate=True),
    Input(ids.SELECTED, "data"),
    prevent_initial_call=True,
)

# The scatter plot (dcc.Graph) and the maps find each other: a point hovered outlines its area; points
# clicked or boxed highlight their areas; areas highlighted are selected among the points. A density (more
# areas than points can show): a cell clicked highlights its areas; areas highlighted outline their cells.
dash.clientside_callback(
    ClientsideFunction("compare", "graph_hover"),
    Output(C.HOVERED, "data"),
    Input(C.GRAPH, "hoverData"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("compare", "graph_select"),
    Output(C.HIGHLIGHT, "data", allow_duplicate=True),
    Input(C.GRAPH, "selectedData"), Input(C.GRAPH, "clickData"),
    State(C.HIGHLIGHT, "data"), State(C.GRAPH, "figure"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("compare", "graph_highlight"),
    Output(C.GRAPH, "figure"),
    Input(C.HIGHLIGHT, "data"),
    State(C.GRAPH, "figure"),
    prevent_initial_call=True,
)
