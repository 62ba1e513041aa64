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
from dash import ClientsideFunction, Input, Output, State, html, no_update

from atlas import compare as cv
from atlas import mapview as view
from atlas import store as store_module
from atlas import viewstate as state
from ui import ids
from ui.ids import COMPARE as C

__all__ = ["render_compare", "render_profile"]

log = logging.getLogger(__name__)

_HIDE = {"display": "none"}
_SHOW: dict = {}


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
    Output(C.SECTION, "style"), Output(C.VIEW, "value"), Output(C.VARIABLE_B, "value"), Output(C.PAYLOAD_B, "data"),
    Output(C.RELATION, "data"), Output(C.STATE, "data"), Output(C.MESSAGE, "children"),
    Output(C.TITLE_A, "children"), Output(C.TITLE_B, "children"),
    Input(C.SEARCH, "data"),
    State(C.STATE, "data"),
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
    Output(C.PROFILE, "children"),
    Input(C.SELECTED, "data"), Input(C.STATE, "data"), Input(C.TOPIC, "value"), Input(C.PICKS, "value"),
    prevent_initial_call=True,
)
def render_profile(selected: str | None, cstate: dict | None, topic: str | None, picks: list[str] | None) -> Any:
    if not _profile_inputs_ok(selected, cstate, topic, picks):
        return no_update
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
    Output(C.DOWNLOAD, "data"),
    Input(C.DOWNLOAD_BUTTON, "n_clicks"),
    State(C.SELECTED, "data"), State(C.STATE, "data"), State(C.TOPIC, "value"), State(C.PICKS, "value"),
    prevent_initial_call=True,
)
def download_profile(_: int | None, selected: str | None, cstate: dict | None, topic: str | None,
                     picks: list[str] | None) -> Any:
    if not _profile_inputs_ok(selected, cstate, topic, picks, "authority", "level"):
        return no_update
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
    Output(C.SEARCH, "data"),
    Input(ids.URL, "search"), State(C.STATE, "data"),
)

dash.clientside_callback(
    ClientsideFunction("compare", "options"),
    Output(C.VARIABLE_B, "options"), Output(C.PICKS, "options"), Output(C.VARIABLE_B, "value", allow_duplicate=True),
    Input(ids.VARIABLE, "options"), Input(C.STATE, "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("compare", "write_url"),
    Output(ids.URL, "search", allow_duplicate=True),
    Input(C.VIEW, "value"), Input(C.VARIABLE_B, "value"),
    State(C.STATE, "data"), State(ids.URL, "search"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("compare", "combine"),
    Output(C.LAYERS["a"], "url"), Output(C.LAYERS["a"], "hideout"),
    Output(C.LAYERS["b"], "url"), Output(C.LAYERS["b"], "hideout"),
    Output(C.LAYERS["bv"], "url"), Output(C.LAYERS["bv"], "hideout"),
    Input(ids.PAYLOAD, "data"), Input(C.PAYLOAD_B, "data"), Input(C.RELATION, "data"), Input(ids.AREAS, "data"),
    Input(C.HIGHLIGHT, "data"), Input(C.STATE, "data"), Input(ids.OPACITY, "value"),
    prevent_initial_call=True,
)

# The scatter plot is SVG written by compare.js into its container (no plotly: see assets/compare.js); the
# output named here is never set, it only orders the callback after the payloads.
dash.clientside_callback(
    ClientsideFunction("compare", "scatter"),
    Output(C.SCATTER, "className"), Output(C.STATS, "children"),
    Input(ids.PAYLOAD, "data"), Input(C.PAYLOAD_B, "data"), Input(C.RELATION, "data"), Input(ids.AREAS, "data"),
    Input(C.HIGHLIGHT, "data"), State(C.STATE, "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("compare", "map_click"),
    Output(C.SELECTED, "data"), Output(C.HIGHLIGHT, "data", allow_duplicate=True),
    Input(C.LAYERS["a"], "clickData"), Input(C.LAYERS["b"], "clickData"), Input(C.LAYERS["bv"], "clickData"),
    State(C.SELECTED, "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("compare", "from_table"),
    Output(C.SELECTED, "data", allow_duplicate=True), Output(C.HIGHLIGHT, "data", allow_duplicate=True),
    Input(ids.SELECTED, "data"),
    prevent_initial_call=True,
)
