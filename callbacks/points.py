"""The point layer's callbacks, the open site's card and the selected area's card.

- ``render_points`` (server): the Points, Reading and Day controls (or the address: ``points``, ``measure``,
  ``day``, ``site``) -> the layer's paint (atlas/points.py: one class character per site, colours, radii,
  legend), the controls' options, the legend, and the layer's state for the address. A switch of day or
  reading sends only the paint; the sites' GeoJSON is fetched once by URL.
- ``site_card`` (server): the site chosen on the map (or in the area card, or by ``site=``) -> its card: name,
  type, district, what it measures, the lockdown comparison, and its readings as a Plotly chart created only
  now (Dash loads plotly.js only when a Graph is drawn).
- ``area_card`` (server): the selected area -> its card: its figure against the guideline and limit and its
  residents (a variable with thresholds), the place's population-weighted exposure, the nearest monitoring
  sites with distances.
- Clientside (assets/points.js, ``window.dash_clientside.points``): the layer's ``url`` + ``hideout``
  (``combine``) and the address's point keys (``write_url``).

Every input is checked before use: a value of the wrong type is treated as absent, never a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update

from atlas import access, air, catalogue, points, viewstate
from ui import ids

__all__ = ["area_card", "area_card_children", "render_points", "render_points_view", "site_card",
           "site_card_children"]

log = logging.getLogger(__name__)

P = ids.POINTS
_SHOW: dict = {}
_HIDE = {"display": "none"}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _text(value: Any) -> str:
    return value[:80] if isinstance(value, str) else ""


def _index(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _raw_from_controls(s: Any, dataset: str, measure: str, day: int | None, step: int, previous: dict) -> dict:
    """The point keys the controls ask for: a new dataset opens at its own first measure and day; the day
    slider's position becomes that day's date (``step`` moves it by a day)."""
    raw = {"points": dataset}
    if not dataset or previous.get("dataset") != dataset:
        return raw
    raw["measure"] = measure
    times = s.point_times(dataset)
    at = day if day is not None else 0
    at = max(0, min(len(times) - 1, at + step))
    raw["day"] = times[at] if times else ""
    if previous.get("site"):
        raw["site"] = previous["site"]
    return raw


def _day_words(time: str) -> str:
    try:
        from datetime import date  # noqa: PLC0415

        return date.fromisoformat(time[:10]).strftime("%A %-d %B %Y")
    except ValueError:
        return time


def _legend(paint: dict, meta: dict) -> list:
    legend = paint["legend"]
    rows = [html.Li(className="legend-row", children=[
        html.Span(className="swatch point-swatch", style={
            "backgroundColor": r["colour"], "width": f"{2 * r['radius']}px", "height": f"{2 * r['radius']}px"}),
        html.Span(r["label"], className="range"),
        html.Span(f"{r['count']:,} site{'' if r['count'] == 1 else 's'}", className="count")])
        for r in legend["rows"]]
    if legend["missing"]:
        rows.append(html.Li(className="legend-row nodata", children=[
            html.Span(className="swatch swatch-nodata"), html.Span("No reading", className="range"),
            html.Span(f"{legend['missing']:,} site{'' if legend['missing'] == 1 else 's'}", className="count")]))
    return [html.H3(legend["title"], className="legend-title"),
            html.Ul(rows, className="legend-classes", **{"aria-label": "Classes of the points"}),
            *[html.P(n, className="legend-note", role="note") for n in legend["notes"]],
            html.P(f"Source: {meta.get('source')} Licence: {meta.get('licence')}", className="legend-foot")]


def render_points_view(s: Any, raw: dict, build_id: str) -> dict:
    """Everything ``render_points`` sends for the point keys ``raw`` (pure: tested without Dash)."""
    state, messages = points.resolve(raw, s)
    out: dict[str, Any] = {"state": state, "messages": messages}
    if not state.dataset:
        out.update(paint=None, measures=[], times=[], legend=[])
        return out
    meta = s.point_dataset(state.dataset)
    # The build's sites never change within a build (?v= the build: cached for a year); a published table of
    # points changes by version, so its address names the version too (and is cached as any other answer).
    tag = f"{build_id}-v{meta['version']}" if meta.get("published") else build_id
    url = f"/api/points/{state.dataset}.geojson?v={tag}"
    paint = points.paint(s, state, url)
    times = s.point_times(state.dataset)
    out.update(paint=paint, meta=meta, times=times, legend=_legend(paint, meta),
               measures=[{"label": m["label"], "value": m["id"]} for m in meta["measures"]])
    return out


_OUTPUTS = [
    Output(P.PAINT, "data"), Output(P.STATE, "data"), Output(P.DATASET, "value"), Output(P.MEASURE, "options"),
    Output(P.MEASURE, "value"), Output(P.MEASURE_ROW, "style"), Output(P.DAY_ROW, "style"), Output(P.DAY, "max"),
    Output(P.DAY, "value"), Output(P.DAY, "marks"), Output(P.DAY_TEXT, "children"), Output(P.LEGEND, "children"),
    Output(P.LEGEND, "hidden"), Output(P.NOTE, "children"), Output(P.SELECTED, "data", allow_duplicate=True),
]


# The address's view reaches render_points only when it names a point layer or one is drawn (``ask`` in
# assets/points.js): a first load without points asked the server for none, and each of its 15 outputs was an
# update of Dash's store.
dash.clientside_callback(
    ClientsideFunction("points", "ask"),
    Output(P.ASK, "data"),
    Input(ids.NAV, "data"), State(P.STATE, "data"),
)


@dash.callback(
    *_OUTPUTS,
    Input(P.ASK, "data"), Input(P.DATASET, "value"), Input(P.MEASURE, "value"), Input(P.DAY, "value"),
    Input(P.DAY_PREV, "n_clicks"), Input(P.DAY_NEXT, "n_clicks"), State(P.STATE, "data"),
    prevent_initial_call=True,
)
@access.declares("site.view")
def render_points(nav: Any, dataset: Any, measure: Any, day: Any, _prev: Any, _next: Any, previous: Any) -> tuple:
    """The point layer the controls or the address ask for; never raises (a failure says so)."""
    try:
        triggered = dash.ctx.triggered_id
    except Exception:  # noqa: BLE001 - called outside a callback (tests): the address decides
        triggered = None
    prev = previous if isinstance(previous, dict) else {}
    s = catalogue.of_request()
    try:
        if triggered in (P.DATASET, P.MEASURE, P.DAY, P.DAY_PREV, P.DAY_NEXT):
            step = -1 if triggered == P.DAY_PREV else 1 if triggered == P.DAY_NEXT else 0
            raw = _raw_from_controls(s, _text(dataset), _text(measure), _index(day), step, prev)
        else:
            search = nav.get("search") if isinstance(nav, dict) else None
            query, _ = viewstate.parse_query(search if isinstance(search, str) else "")
            raw = {k: query[k] for k in points.KEYS if k in query}
        out = render_points_view(s, raw, s.build_id)
    except FileNotFoundError:
        return (no_update,) * (len(_OUTPUTS) - 2) + ("", no_update)
    except Exception:  # noqa: BLE001 - a layer that fails must say so, never show a traceback
        log.exception("could not draw the points for %r", dataset)
        return (no_update,) * (len(_OUTPUTS) - 2) + ("Sorry, these points could not be drawn; the problem has "
                                                      "been logged.", no_update)
    state = out["state"]
    note = " ".join(out["messages"])
    if not state.dataset:
        return (None, {"dataset": "", "keys": ""}, "" if triggered not in (P.DATASET,) else no_update, [], None,
                _HIDE, _HIDE, no_update, no_update, no_update, "", [], True, note, None)
    times, meta = out["times"], out["meta"]
    series = meta.get("kind") == "series" and len(times) > 1
    marks = {i: MONTHS[int(t[5:7]) - 1] for i, t in enumerate(times) if t[8:10] == "01"} if series else None
    note = (note + " " if note else "") + out["paint"]["asOf"] + "."
    canonical = {"dataset": state.dataset, "measure": state.measure, "time": state.time, "site": state.site,
                 "keys": points.to_query(state, with_time=meta.get("kind") == "series")}
    selected = {"dataset": state.dataset, "site": state.site} if state.site else None
    if triggered in (P.DATASET, P.MEASURE, P.DAY, P.DAY_PREV, P.DAY_NEXT) and prev.get("dataset") == state.dataset:
        selected = no_update  # the open card stays open (it follows the day and reading itself)
    return (out["paint"], canonical, state.dataset, out["measures"], state.measure, _SHOW,
            _SHOW if series else _HIDE, max(len(times) - 1, 1), times.index(state.time) if state.time in times else 0,
            marks, _day_words(state.time) if series else f"As of {state.time}", out["legend"], False, note, selected)


# -- the site's card ---------------------------------------------------------------------------------------------

def _reading_at(readings: list[dict], time: Any) -> str:
    """The printed reading at ``time``, else the latest, else "no data"."""
    found = next((r for r in readings if r["time"] == time), readings[-1] if readings else None)
    return found["text"] if found else "no data"


def site_card_children(s: Any, dataset: str, site: str, measure: str, time: str) -> list:
    """The card of one site (pure: tested without a browser)."""
    detail = points.site(s, dataset, site)
    meta = s.point_dataset(dataset)
    measured = [m["id"] for m in detail["measures"]]
    chosen = measure if measure in measured else (measured[0] if measured else "")
    facts = [("Type", detail.get("type") or "not given"), ("Network", detail.get("network")),
             ("District", detail.get("authority_name") or detail.get("place") or "outside the UK's districts"),
             ("Measures", ", ".join(m["label"] for m in detail["measures"]) or "none"),
             ("Where", f"{detail['lat']:.5f}, {detail['lon']:.5f}")]
    children: list = [
        html.Div(className="card-head", children=[
            html.H3(f"{detail['name']} ({detail['site']})"),
            html.Button("Close", type="button", className="card-close", **{"data-atlas-close-site": "1"},
                        title="Close this site's card")]),
        html.Dl([item for k, v in facts for item in (html.Dt(k), html.Dd(v))], className="site-facts"),
    ]
    locked = [m for m in detail["measures"] if m.get("lockdown") and "change_text" in m["lockdown"]]
    if locked:
        head = html.Tr([html.Th("Pollutant", scope="col"), html.Th("Before: 1 Feb - 22 Mar", scope="col"),
                        html.Th("First lockdown: 23 Mar - 31 May", scope="col"), html.Th("Change", scope="col")])
        body = [html.Tr([html.Th(m["label"], scope="row"), html.Td(m["lockdown"]["before"]["text"]),
                         html.Td(m["lockdown"]["during"]["text"]),
                         html.Td(f"{m['lockdown']['change_text']} ({m['lockdown']['change_pct_text']})")])
                for m in locked]
        children.append(html.Table([html.Caption("Mean of the daily means, before and during the 2020 lockdown"),
                                    html.Thead(head), html.Tbody(body)], className="lockdown"))
    for m in detail["measures"]:
        if m["id"] == chosen and m["readings"] and meta.get("kind") == "series":
            children.append(html.P(f"Mean over {m['readings'][0]['time']} to {m['readings'][-1]['time']}: "
                                   f"{m['mean_text']} (annual guidelines and limits apply to a year's mean).",
                                   className="help"))
        if m["id"] == chosen and meta.get("kind") == "snapshot":
            # the reading of the time shown (a published dataset's series spans its versions: the current one's)
            index = [f"{x['label']}: {_reading_at(x['readings'], meta.get('as_of'))}" for x in detail["measures"]]
            children.append(html.Ul([html.Li(x) for x in index], className="site-index"))
    figure = points.site_figure(detail, chosen, time, meta.get("lockdown"))
    m = next((x for x in detail["measures"] if x["id"] == chosen), None)
    caption = (f"{m['label']} at {detail['name']}: {len(m['readings'])} readings ({m.get('period')}), with the "
               "guideline and limit lines" + (" and the first lockdown shaded" if meta.get("lockdown") else "")
               + ". The readings are in the API: " + f"/api/points/{dataset}/{site}.json") if m else ""
    children.append(html.Figure(className="site-figure", children=[
        dcc.Graph(figure=figure, config={"displayModeBar": False, "responsive": True}, className="site-chart"),
        html.Figcaption(caption, className="help")]))
    children.append(html.P(f"Source: {detail['source']} Licence: {detail['licence']}", className="attribution"))
    return children


@dash.callback(
    Output(P.CARD, "children"), Output(P.CARD, "hidden"),
    Input(P.SELECTED, "data"), Input(P.STATE, "data"),
    prevent_initial_call=True,
)
@access.declares("site.view")
def site_card(selected: Any, pstate: Any) -> tuple:
    """The open site's card, or hidden; it follows the layer's day and reading."""
    if not isinstance(selected, dict) or not isinstance(selected.get("dataset"), str) \
            or not isinstance(selected.get("site"), str):
        return [], True
    ps = pstate if isinstance(pstate, dict) else {}
    same = ps.get("dataset") == selected["dataset"]
    try:
        children = site_card_children(catalogue.of_request(), selected["dataset"], selected["site"],
                                      ps.get("measure") if same else "", ps.get("time") if same else "")
    except LookupError:
        return [html.P("That site is not in this dataset.", role="alert")], False
    return children, False


# -- the selected area's card ------------------------------------------------------------------------------------

def area_card_children(s: Any, st: dict, code: str) -> list:
    """The selected area's card (pure): its figure against the guideline and the limit and its residents, the
    place's exposure (a variable with thresholds), and the nearest monitoring sites with distances."""
    level, authority, variable = st["level"], st["authority"], st["variable"]
    children: list = []
    try:
        near = points.near_area(s, level, code)
    except (points.PointError, LookupError):
        return []
    children.append(html.H3(near["name"]))
    lines = air.area_lines(s, authority, level, variable, code) if variable else []
    if lines:
        children.append(html.P(" ".join(lines)))
        try:
            summary = air.exposure(s, authority, level, variable)
            place = s.authority(authority)["name"]
            children.append(html.Ul([html.Li(x) for x in air.exposure_lines(summary, place)], className="exposure"))
        except (air.ExposureError, LookupError) as exc:
            children.append(html.P(f"Population-weighted exposure is not available here: {exc}."))
    for found in near["datasets"]:
        if not found["sites"]:
            continue
        items = [html.Li([html.Button(f"{x['name']} ({x['site']})", type="button", className="site-link",
                                      **{"data-atlas-site": f"{found['dataset']}/{x['site']}"}),
                          f" {x['type']}, {x['km_text']}"]) for x in found["sites"]]
        children.append(html.Div(className="nearest", children=[
            html.H4(f"Nearest sites: {found['title']}"), html.Ol(items)]))
    return children


# The selection and the view reach area_card only when an area is selected or the card is shown (``card_ask``
# in assets/points.js): a first load asked the server for an empty card.
dash.clientside_callback(
    ClientsideFunction("points", "card_ask"),
    Output(ids.AREA_CARD_ASK, "data"),
    Input(ids.SELECTED, "data"), Input(ids.STATE, "data"), State(ids.AREA_CARD, "hidden"),
    prevent_initial_call=True,
)


@dash.callback(
    Output(ids.AREA_CARD, "children"), Output(ids.AREA_CARD, "hidden"),
    Input(ids.AREA_CARD_ASK, "data"), State(ids.STATE, "data"),
    prevent_initial_call=True,
)
@access.declares("site.view")
def area_card(ask: Any, stored: Any) -> tuple:
    """The selected area's card (``ask``: ``{"selected": code}`` from ``card_ask``), or hidden when no area is
    selected."""
    selected = ask.get("selected") if isinstance(ask, dict) else None
    st = stored.get("state") if isinstance(stored, dict) else None
    if not isinstance(selected, str) or not isinstance(st, dict) or st.get("level") == "lad" \
            or not all(isinstance(st.get(k), str) for k in ("authority", "level", "variable")):
        return [], True
    try:
        children = area_card_children(catalogue.of_request(), st, selected[:20])
    except Exception:  # noqa: BLE001 - the card is extra: it must never break the map
        log.exception("could not make the card of %r", selected)
        return [], True
    return children, not children


# -- clientside: the layer and the address (assets/points.js) ------------------------------------------------------

dash.clientside_callback(
    ClientsideFunction("points", "combine"),
    Output(P.LAYER, "url"), Output(P.LAYER, "hideout"),
    Input(P.PAINT, "data"), State(P.LAYER, "url"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("points", "write_url"),
    Output(P.NOTE, "className"),
    Input(P.STATE, "data"), Input(P.SELECTED, "data"),
    prevent_initial_call=True,
)
