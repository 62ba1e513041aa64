"""The explorer's page: labelled controls (ids = URL keys), the map, its legend, the table, attribution.

``layout()`` is called by Dash for every page load (never at import): it asks the request's catalogue only for
the list of authorities. Everything that depends on the view is filled in by callbacks from the URL.
"""

from __future__ import annotations

import dash_leaflet as dl
from dash import dcc, html

from atlas import catalogue, classify, palettes, points, settings
from atlas import mapview as view
from layers import MapContext, build_layers
from ui import areas, compare, ids
from ui.builder import panel as builder_panel
from ui.routing import validating
from ui.share import share_tools

__all__ = ["controls", "layout", "stores", "the_map"]

_HIDDEN = {"display": "none"}
#: The closest zoom of every map (atlas/viewstate.py MAP_ZOOM agrees).
MAX_ZOOM = 18


def _field(label: str, control_id: str, control, help_text: str | None = None, row_id: str | None = None,
           style: dict | None = None) -> html.Div:
    children = [html.Label(label, htmlFor=control_id, id=f"{control_id}-label"), control]
    if help_text:
        children.append(html.Small(help_text, className="help"))
    kwargs = {"id": row_id} if row_id else {}
    return html.Div(children, className="field", style=style or {}, **kwargs)


def _palette_options() -> list[dict]:
    out = []
    for p in palettes.palette_options():
        safe = ", colour-blind safe" if p["colourblind_safe"] else ""
        out.append({"label": f"{p['name']} ({p['kind']}{safe})", "value": p["name"]})
    return out


def place_search() -> html.Div:
    """One search box for every place (authorities, regions, wards, LSOAs, OAs, postcodes: GET /api/search),
    a combobox whose list assets/places.js fills as words are typed, and "Near me"."""
    return html.Div(className="field place-search", children=[
        html.Label("Find a place", htmlFor=ids.PLACE_SEARCH, id=f"{ids.PLACE_SEARCH}-label"),
        html.Div(className="place-row", children=[
            # dcc.Input takes no ARIA attributes: assets/places.js gives it the combobox's (role, expanded,
            # controls, described by) as soon as it is drawn.
            dcc.Input(id=ids.PLACE_SEARCH, type="search", autoComplete="off", spellCheck=False, debounce=False,
                      placeholder="A postcode, town, ward or area", className="place-input"),
            html.Button("Near me", id=ids.NEAR_ME, type="button", className="near-me",
                        title="Find the neighbourhood you are in (your browser asks first)"),
        ]),
        html.Ul(id=ids.PLACE_RESULTS, role="listbox", className="place-results", hidden=True,
                **{"aria-label": "Places found"}),
        html.Small("A postcode, a town, village or suburb (in English or Welsh), a ward, district or region, an "
                   "LSOA or output area by name or code.", id=f"{ids.PLACE_SEARCH}-help", className="help"),
        html.P(id=ids.PLACE_STATUS, className="place-status", role="status", **{"aria-live": "polite"}),
    ])


def point_controls(options: list[dict]) -> html.Fieldset:
    """The point layer's controls: which point dataset (monitoring sites, published points), its measure, and
    for a daily series the day (a slider, with the previous and next day as buttons; the address has the date)."""
    return html.Fieldset(className="points-controls", children=[
        html.Legend("Points on the map"),
        _field("Points", ids.POINTS.DATASET, dcc.Dropdown(
            id=ids.POINTS.DATASET, options=[{"label": "None", "value": ""}, *options], value="", clearable=False,
            searchable=False), "Monitoring sites and their readings, drawn over any area map."),
        _field("Reading", ids.POINTS.MEASURE, dcc.Dropdown(id=ids.POINTS.MEASURE, clearable=False, searchable=False),
               row_id=ids.POINTS.MEASURE_ROW, style=_HIDDEN),
        html.Div(id=ids.POINTS.DAY_ROW, className="field day-field", style=_HIDDEN, children=[
            html.Label("Day", htmlFor=ids.POINTS.DAY, id=f"{ids.POINTS.DAY}-label"),
            dcc.Slider(id=ids.POINTS.DAY, min=0, max=1, step=1, value=0, marks=None, updatemode="mouseup"),
            html.Div(className="day-steps", children=[
                html.Button("Previous day", id=ids.POINTS.DAY_PREV, type="button", className="day-step"),
                html.Output(id=ids.POINTS.DAY_TEXT, htmlFor=ids.POINTS.DAY, className="day-text",
                            **{"aria-live": "polite"}),
                html.Button("Next day", id=ids.POINTS.DAY_NEXT, type="button", className="day-step"),
            ]),
        ]),
        html.P(id=ids.POINTS.NOTE, className="help points-note", **{"aria-live": "polite"}),
    ])


def area_control(authorities: list[dict], places: list[dict] | None = None) -> list:
    """The Area list, drawn empty and given the whole list (kept in ``AUTHORITY_LIST``) only when first focused
    or pressed: Dash 4's dropdown builds its search index of every substring of every option as soon as it is
    drawn (about 1 s of a phone's main thread for the ~400 places, the largest single piece of the first
    load). ``render``'s first answer gives its value with that value's option, together (the dropdown clears
    a value its options lack when either changes), and assets/atlas.js ``area_options`` follows the value."""
    return [
        _field("Area", ids.AUTHORITY, dcc.Dropdown(
            id=ids.AUTHORITY, options=[], clearable=False, searchable=True,
            placeholder="Type a local authority's name")),
        dcc.Store(id=ids.AUTHORITY_LIST, data=view.authority_options(authorities, places)),
        dcc.Store(id=ids.AUTHORITY_OPENED, data=False),
    ]


def controls(authorities: list[dict], places: list[dict] | None = None,
             point_options: list[dict] | None = None) -> html.Form:
    return html.Form(className="controls", role="search", **{"aria-label": "Map controls"}, children=[
        *area_control(authorities, places),
        _field("Geography", ids.LEVEL, dcc.Dropdown(id=ids.LEVEL, clearable=False, searchable=False),
               row_id=ids.LEVEL_ROW, style=_HIDDEN),
        _field("Topic and table", ids.GROUP, dcc.Dropdown(
            id=ids.GROUP, clearable=False, searchable=True, maxHeight=420,
            placeholder="Type a topic or a table's name")),
        _field("Variable", ids.VARIABLE, dcc.Dropdown(
            id=ids.VARIABLE, clearable=False, searchable=True, maxHeight=420,
            placeholder="Type words of a variable's name"),
            "Lists the table's variables; type words to search every variable here."),
        html.P(id=ids.CATEGORY_NOTE, className="help category-note", hidden=True),
        _field("Classes", ids.SCHEME, dcc.Dropdown(
            id=ids.SCHEME, clearable=False, searchable=False,
            options=[{"label": label, "value": key} for key, label in classify.SCHEMES.items()]),
            row_id=ids.SCHEME_ROW),
        _field("Number of classes", ids.K, dcc.Dropdown(
            id=ids.K, clearable=False, searchable=False,
            options=[{"label": str(k), "value": k} for k in range(classify.K_MIN, classify.K_MAX + 1)]),
            row_id=ids.K_ROW),
        _field("Custom breaks", ids.BREAKS, dcc.Input(
            id=ids.BREAKS, type="text", debounce=True, placeholder="e.g. 10, 20, 30", autoComplete="off"),
            "Upper bounds of the classes, increasing, separated by commas; press Enter.",
            row_id=ids.BREAKS_ROW, style=_HIDDEN),
        _field("Breaks computed", ids.SCOPE, dcc.RadioItems(id=ids.SCOPE, options=[], inline=False),
               row_id=ids.SCOPE_ROW, style=_HIDDEN),
        _field("Colours", ids.PALETTE, dcc.Dropdown(
            id=ids.PALETTE, clearable=False, searchable=True, options=_palette_options()),
            "ColorBrewer schemes by Cynthia Brewer.", row_id=ids.PALETTE_ROW),
        dcc.Checklist(id=ids.REVERSE, options=[{"label": " Reverse colours", "value": "1"}], value=[],
                      className="field"),
        _field("Opacity", ids.OPACITY, dcc.Slider(id=ids.OPACITY, min=0.1, max=1, step=0.05, marks=None,
                                                  tooltip={"placement": "bottom"})),
        point_controls(point_options or []),
        builder_panel(),
    ])


def the_map(config: settings.Settings, build_id: str) -> dl.MapContainer:
    """The page's map. Dash is not told its position after every move (``trackViewport`` off): that made
    Dash's renderer re-render the whole map component after each pan and zoom (about 26 ms of main-thread work
    a move, and most of the long tasks of bench_places.py's country-to-street movement). The browser reads
    the position itself: the address's ``map=`` and the ``MAP_BOUNDS`` store the export links follow are
    written by assets/atlas.js."""
    context = MapContext(build_id=build_id, tiles_url=config.tiles_url,
                         tiles_attribution=config.tiles_attribution)
    # Zoom stops at 18 (a pixel is 0.6 m): the polygons are simplified by 5-15 m, so closer shows nothing
    # more, only one flat colour. ``has-basemap`` tells assets/reference.js to start with its names and
    # boundaries off, the site's own basemap having its own.
    return dl.MapContainer(
        id=ids.MAP, children=[*build_layers(context), dl.FeatureGroup(id=areas.MAKE.DRAW_GROUP, children=[])],
        center=[52.6, -2.0], zoom=6, preferCanvas=True,
        style={"height": "100%", "width": "100%"}, className="map has-basemap" if config.tiles_url else "map",
        attributionControl=bool(config.tiles_url), keyboard=True, trackViewport=False, maxZoom=MAX_ZOOM)


def stores(search: str) -> list:
    """What the explorer's callbacks keep in the page: the view the address names (``NAV``, read by
    ``render`` at a first load), the view last rendered, its paint, the areas' names and the selection."""
    return [dcc.Store(id=ids.NAV, data={"search": search}), dcc.Store(id=ids.STATE), dcc.Store(id=ids.PAYLOAD),
            dcc.Store(id=ids.AREAS), dcc.Store(id=ids.SELECTED), dcc.Store(id=ids.URL_WRITTEN),
            dcc.Store(id=ids.MAP_BOUNDS), dcc.Store(id=ids.POINTS.PAINT), dcc.Store(id=ids.POINTS.STATE),
            dcc.Store(id=ids.POINTS.SELECTED), dcc.Store(id=ids.POINTS.ASK), dcc.Store(id=ids.AREA_CARD_ASK),
            dcc.Store(id=ids.GROUP_GAPS_ASK)]


def layout(search: str = "") -> html.Div:
    """The whole page for the address's query string ``search``; the view itself is drawn by callbacks."""
    config = settings.load()
    try:
        s = catalogue.of_request()
        # The partnership and saved areas the requester may open (atlas/catalogue.py) are places like the regions.
        authorities, places, build_id = s.authorities(), view.larger_places(s), s.build_id
        point_options = points.options(s)
    except FileNotFoundError as exc:
        return html.Main([html.H1("Neighbourhood Atlas"),
                          html.P(f"The data is not available on this server yet: {exc}.", role="alert")])
    return html.Div(className="atlas", children=[
        *stores(search),
        # The skip link and the title bar (with the phone's "Map controls" button) are in the page's HTML,
        # painted before any script: ui/page.py.
        html.Div(id=ids.MESSAGE, className="message", role="status", **{"aria-live": "polite"}),
        html.Div(className="layout", children=[
            html.Aside(controls(authorities, places, point_options), className="panel controls-panel",
                       id=ids.CONTROLS_PANEL),
            html.Section(className="mapcol", children=[
                compare.view_switch(),
                html.H2(id=ids.TITLE, className="title"),
                # The search sits on the map (over its top on a phone), and the legend's compact strip over its
                # foot on a phone, opening the whole legend (assets/places.js).
                html.Div(className="mapwrap", children=[
                    place_search(),
                    html.Div(the_map(config, build_id), className="mapbox"),
                    html.Div(id=ids.LEGEND_STRIP, className="legend-strip"),
                ]),
                compare.section(),
                html.P(id=ids.HELP, className="help", **{"aria-live": "polite"}),
                # "Make an area" on this map (ui/areas.py, callbacks/areas.py): shared with /areas/new.
                *areas.make_panel(),
                # The selected area's card (its place's exposure, the nearest monitoring sites) and the open
                # site's card (its readings as a chart, created when it opens): callbacks/points.py.
                html.Section(id=ids.AREA_CARD, className="area-card", hidden=True,
                             **{"aria-label": "The selected area", "aria-live": "polite"}),
                html.Section(id=ids.POINTS.CARD, className="site-card", hidden=True,
                             **{"aria-label": "The monitoring site chosen on the map"}),
                html.P(id=ids.ATTRIBUTION, className="attribution"),
                share_tools(),
            ]),
            # Beside the map on a wide screen; on a phone a sheet over the map's foot, opened from the strip.
            html.Aside(id=ids.LEGEND_PANEL, className="panel legend-panel", **{"aria-labelledby": "legend-heading"},
                       children=[
                html.Div(className="legend-head", children=[
                    html.H2("Legend", id="legend-heading"),
                    html.Button("Close", id=ids.LEGEND_CLOSE, type="button", className="legend-close",
                                **{"aria-controls": ids.LEGEND_PANEL}),
                ]),
                html.Div(id=ids.LEGEND, className="legend"),
                html.Div(id=ids.POINTS.LEGEND, className="legend points-legend", hidden=True)]),
        ]),
        html.Section(className="table-section", **{"aria-labelledby": "table-heading"}, children=[
            html.H2("Areas on the map", id="table-heading"),
            html.Div(id=ids.TABLE, className="table-wrap"),
        ]),
        # The datastore's server-rendered pages (web/datastore.py): every dataset by authority, downloads,
        # DCAT; readable without JavaScript.
        html.Footer(className="site-nav", **{"aria-label": "The datastore"}, children=[
            html.A("Datastore: every dataset by authority, with downloads", href="/datastore"),
            " · ", html.A("What's new", href="/datastore/whats-new"),
            " · ", html.A("Sign in or publish", href="/account"),
        ]),
        *([html.Div(compare.graph({}), hidden=True)] if validating() else []),
    ])
