"""The compare view's layout: the View switch and the section holding two maps, the scatter plot, the
bivariate map and the neighbourhood profile (callbacks/compare.py fills them in).

**Created when opened.** The explorer's page carries the section hidden, but its costly parts (the three
Leaflet maps and the three lists) are not drawn with it: under a phone's CPU budget they took 160-240 ms of
the first load's blocking time, for a view most visits never open. Their layouts travel in a store
(``PARTS``, JSON the browser parses but React does not draw), and ``compare.gate`` (assets/compare.js) puts
each in its place, once, when the compare view is first asked for, before any compare callback runs. So no
callback may write to those parts before then: the maps' layers are painted by ``compare.combine`` through
``set_props`` (an output would have to exist), and the profile's inputs from the lists are optional.
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


def _parts() -> dict:
    """The costly parts by the id of the box each goes in: the three maps and the three lists."""
    return {
        f"{C.MAPS['a']}-box": _map("a"), f"{C.MAPS['b']}-box": _map("b"), f"{C.MAPS['bv']}-box": _map("bv"),
        f"{C.VARIABLE_B}-box": dcc.Dropdown(id=C.VARIABLE_B, clearable=False, searchable=True, maxHeight=420,
                                            placeholder="Type words of a variable's name"),
        f"{C.TOPIC}-box": dcc.Dropdown(id=C.TOPIC, clearable=True, searchable=False,
                                       placeholder="A, B and headline figures",
                                       options=[{"label": t, "value": t} for t in TOPICS]),
        f"{C.PICKS}-box": dcc.Dropdown(id=C.PICKS, multi=True, searchable=True,
                                       placeholder="Type words of a variable's name"),
    }


def _box(part_id: str, parts: dict | None, **kwargs) -> html.Div:
    """The box a part goes in: empty on a page (``compare.gate`` fills it), filled for Dash's validation
    layout, which must list every component a callback names."""
    return html.Div(parts[f"{part_id}-box"] if parts else None, id=f"{part_id}-box", **kwargs)


def _figure(key: str, heading: str, parts: dict | None) -> html.Figure:
    return html.Figure(className="compare-figure", children=[
        html.H3(heading, id=C.TITLES.get(key, f"compare-title-{key}"), className="compare-title"),
        _box(C.MAPS[key], parts, className="compare-mapbox"),
        html.Div(id=C.LEGENDS[key], className="legend compare-legend"),
    ])


def section() -> html.Section:
    """The compare view's body, hidden in the explore view; its maps and lists are created when it opens."""
    parts = _parts()
    inline = parts if validating() else None
    return html.Section(id=C.SECTION, className="compare", style=_HIDE, **{"aria-label": "Compare two variables"},
                        children=[
        dcc.Store(id=C.PAYLOAD_B), dcc.Store(id=C.RELATION), dcc.Store(id=C.STATE), dcc.Store(id=C.SELECTED),
        dcc.Store(id=C.HIGHLIGHT, data={"codes": []}), dcc.Store(id=C.SEARCH), dcc.Store(id=C.PINS),
        dcc.Store(id=C.HOVERED), dcc.Store(id=C.PARTS, data=None if inline else parts),
        html.Div(className="field compare-b", children=[
            html.Label("Variable B (variable A is chosen in the Variable list)", htmlFor=C.VARIABLE_B),
            _box(C.VARIABLE_B, inline),
        ]),
        html.Div(className="compare-pair", children=[_figure("a", "Variable A", inline),
                                                     _figure("b", "Variable B", inline)]),
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
                _box(C.MAPS["bv"], inline, className="compare-mapbox"),
                html.Div(id=C.LEGENDS["bv"], className="legend compare-legend"),
                html.P(cv.BIVARIATE_SOURCE, className="attribution"),
            ]),
        ]),
        html.H3("Neighbourhood profile", id="profile-heading"),
        html.Div(className="compare-profile-controls", children=[
            html.Div(className="field", children=[
                html.Label("Topic", htmlFor=C.TOPIC),
                _box(C.TOPIC, inline),
            ]),
            html.Div(className="field", children=[
                html.Label("Or pick variables", htmlFor=C.PICKS),
                _box(C.PICKS, inline),
            ]),
            html.Button("Download profile (CSV)", id=C.DOWNLOAD_BUTTON, type="button", className="compare-button"),
            dcc.Download(id=C.DOWNLOAD),
        ]),
        html.Div(id=C.PROFILE, className="compare-profile", **{"aria-live": "polite"}),
    ])




def graph(figure: dict) -> dcc.Graph:
    """The scatter plot of A against B (atlas.compare.scatter_figure), linked to the maps by its hover and
    selection (assets/compare.js)."""
    return dcc.Graph(id=C.GRAPH, figure=figure, config={"displaylogo": False, "responsive": True,
                                                        "modeBarButtonsToRemove": ["lasso2d", "toImage"]},
                     className="compare-graph", clear_on_unhover=True)
