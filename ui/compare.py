"""The compare view's layout: the View switch and the section holding two maps, the scatter plot, the
bivariate map and the neighbourhood profile (callbacks/compare.py fills them in).

**Created when opened.** The explorer's page carries the section hidden with its stores alone: its body (the
three Leaflet maps, the three lists, the scatter plot's box, the profile: about 50 components) is not drawn
with it. Under a phone's CPU budget the maps and lists alone took 160-240 ms of the first load's blocking
time, and every mounted component re-runs its selector at each update of Dash's store, for a view most
visits never open. The body's layout travels in a store (``PARTS``, JSON the browser parses but React does not
draw), and ``compare.gate`` (assets/compare.js) puts it in place, once, when the compare view is first asked
for, before any compare callback runs. So no callback may write into the body before then: the maps' layers
are painted by ``compare.combine`` through ``set_props`` (an output would have to exist), the lists' inputs
are optional, and the profile's callback, whose output is in the body, is not run before it exists.
"""

from __future__ import annotations

import dash_leaflet as dl
from dash import dcc, html

from atlas import compare as cv
from layers import compare_areas
from ui.ids import COMPARE as C
from ui.routing import validating

__all__ = ["TOPICS", "graph", "section", "view_switch"]

_HIDE = {"display": "none"}
TOPICS = ("Population", "Deprivation", "Health", "Education", "Housing", "Work", "Travel", "Identity")


def view_switch() -> html.Div:
    """Explore or compare: always shown, above the map, with the compare view's messages below it (shown in
    both views: a compare that is not offered falls back to the explorer and says why there)."""
    return html.Div(className="view-switch-block", children=[
        html.Div(className="view-switch", children=[
            html.Span("View", id="view-label", className="view-label"),
            html.Div(role="radiogroup", **{"aria-labelledby": "view-label"}, children=dcc.RadioItems(
                id=C.VIEW, value="explore", inline=True, options=[
                    {"label": " Explore one variable", "value": "explore"},
                    {"label": " Compare two variables", "value": "compare"}])),
        ]),
        html.Div(id=C.MESSAGE, className="message", role="status", **{"aria-live": "polite"}),
    ])


def _map(key: str) -> dl.MapContainer:
    return dl.MapContainer(
        id=C.MAPS[key], center=[52.6, -2.0], zoom=6, preferCanvas=True, keyboard=True, className="map",
        attributionControl=False, style={"height": "100%", "width": "100%"},
        # Not reported to Dash after every move (nothing reads it; it re-rendered each map component per move,
        # three per move here as the maps follow each other: ui/explorer.py the_map).
        trackViewport=False,
        children=[compare_areas.build(C.LAYERS[key])])


def _lists() -> dict:
    """The three lists, by id."""
    return {
        C.VARIABLE_B: dcc.Dropdown(id=C.VARIABLE_B, clearable=False, searchable=True, maxHeight=420,
                                   placeholder="Type words of a variable's name"),
        C.TOPIC: dcc.Dropdown(id=C.TOPIC, clearable=True, searchable=False, placeholder="A, B and headline figures",
                              options=[{"label": t, "value": t} for t in TOPICS]),
        C.PICKS: dcc.Dropdown(id=C.PICKS, multi=True, searchable=True,
                              placeholder="Type words of a variable's name"),
    }


def _figure(key: str, heading: str) -> html.Figure:
    return html.Figure(className="compare-figure", children=[
        html.H3(heading, id=C.TITLES.get(key, f"compare-title-{key}"), className="compare-title"),
        html.Div(_map(key), className="compare-mapbox"),
        html.Div(id=C.LEGENDS[key], className="legend compare-legend"),
    ])


def _body() -> list:
    """Everything the view shows: its list, maps, scatter plot, bivariate map and profile."""
    lists = _lists()
    return [
        html.Div(className="field compare-b", children=[
            html.Label("Variable B (variable A is chosen in the Variable list)", htmlFor=C.VARIABLE_B),
            lists[C.VARIABLE_B],
        ]),
        html.Div(className="compare-pair", children=[_figure("a", "Variable A"), _figure("b", "Variable B")]),
        html.P("The two maps pan and zoom together. Click an area to open its profile below; it is "
               "highlighted on every map and in the scatter plot.", className="help"),
        html.Div(className="compare-pair", children=[
            html.Figure(className="compare-figure", children=[
                html.H3("A against B", className="compare-title"),
                # The dcc.Graph arrives with the first comparison (callbacks/compare.py): plotly.js is loaded
                # only when a Graph is rendered, so the explorer's own page never loads it.
                html.Div(id=C.SCATTER, className="compare-scatter"),
                html.Div(id=C.STATS, className="compare-stats", role="status", **{"aria-live": "polite"}),
                html.P("Hover over a point to find its area on the maps; click points, or drag a box around "
                       "them, to highlight their areas (double-click to clear). With more areas than points "
                       "can show, the plot counts the areas in each cell: click a cell to highlight its areas "
                       "(click it again to clear).",
                       className="help"),
            ]),
            html.Figure(className="compare-figure", children=[
                html.H3("A and B together (bivariate, thirds of each)", className="compare-title"),
                html.Div(_map("bv"), className="compare-mapbox"),
                html.Div(id=C.LEGENDS["bv"], className="legend compare-legend"),
                html.P(cv.BIVARIATE_SOURCE, className="attribution"),
            ]),
        ]),
        html.H3("Neighbourhood profile", id="profile-heading"),
        html.Div(className="compare-profile-controls", children=[
            html.Div(className="field", children=[html.Label("Topic", htmlFor=C.TOPIC), lists[C.TOPIC]]),
            html.Div(className="field", children=[html.Label("Or pick variables", htmlFor=C.PICKS),
                                                  lists[C.PICKS]]),
            html.Button("Download profile (CSV)", id=C.DOWNLOAD_BUTTON, type="button", className="compare-button"),
            dcc.Download(id=C.DOWNLOAD),
        ]),
        html.Div(id=C.PROFILE, className="compare-profile", **{"aria-live": "polite"}),
    ]


def section() -> html.Section:
    """The compare view's stores, and its body, created when the view first opens (``PARTS``: the body's
    layout by the id of the box it goes in)."""
    body = _body()
    inline = validating()
    return html.Section(id=C.SECTION, className="compare", style=_HIDE, **{"aria-label": "Compare two variables"},
                        children=[
        dcc.Store(id=C.PAYLOAD_B), dcc.Store(id=C.RELATION), dcc.Store(id=C.STATE), dcc.Store(id=C.SELECTED),
        dcc.Store(id=C.HIGHLIGHT, data={"codes": []}), dcc.Store(id=C.SEARCH), dcc.Store(id=C.PINS),
        dcc.Store(id=C.HOVERED), dcc.Store(id=C.PARTS, data=None if inline else {C.BODY: body}),
        html.Div(body if inline else None, id=C.BODY),
    ])


def graph(figure: dict) -> dcc.Graph:
    """The scatter plot of A against B (atlas.compare.scatter_figure), linked to the maps by its hover and
    selection (assets/compare.js)."""
    return dcc.Graph(id=C.GRAPH, figure=figure, config={"displaylogo": False, "responsive": True,
                                                        "modeBarButtonsToRemove": ["lasso2d", "toImage"]},
                     className="compare-graph", clear_on_unhover=True)
