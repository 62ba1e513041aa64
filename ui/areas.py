"""The "make your own area" page, ``/areas/new`` (registered in ui/pages/areas.py; callbacks in
callbacks/areas.py; the map's style function in assets/areas.js): choose a level and the districts to show,
then select areas by clicking them, by drawing polygons, rectangles or circles with the drawing control inside
the map, by a radius around a searched place, or by pasting codes, across any boundary; the running count and
population show as you go; save it with a name and who may see it, and open its profile.
"""

from __future__ import annotations

from typing import Any

import dash_leaflet as dl
from dash import dcc, html
from dash.development.base_component import Component

from atlas import access, areas, catalogue, extracts, viewstate
from ui.routing import validating

__all__ = ["IDS", "MAKE", "MAX_DISTRICTS", "edit_control", "make_body", "make_panel", "page", "save_form",
           "status_text"]


class IDS:
    """The page's component ids (this module owns them)."""

    LEVEL = "areas-level"
    DISTRICTS = "areas-districts"
    MAP = "areas-map"
    LAYER = "areas-layer"
    DRAW = "areas-draw"
    SELECTED = "areas-selected"
    STATUS = "areas-status"
    MESSAGE = "areas-message"
    CODES = "areas-codes"
    ADD_CODES = "areas-add-codes"
    PLACE = "areas-place"
    RADIUS = "areas-radius"
    ADD_RADIUS = "areas-add-radius"
    CLEAR = "areas-clear"
    NAME = "areas-name"
    ACCESS = "areas-access"
    SHARE_WITH = "areas-share-with"
    SAVE = "areas-save"
    SAVED = "areas-saved"


class MAKE:
    """The explorer's "make an area" mode (its panel under the map; callbacks/areas.py): the same selection,
    status and save form as the page's, on the explorer's own map at its current level."""

    TOGGLE = "make-area-toggle"
    PANEL = "make-area-panel"
    #: Inside the explorer's map: empty until the mode opens, then the drawing control (Leaflet.draw's
    #: script is loaded by dash-leaflet only when an EditControl is first drawn: the first load stays light).
    DRAW_GROUP = "make-area-draw-group"
    #: The drawing control's id is a pattern ({"type": DRAW, "i": 0}): callbacks take it with ALL, so they
    #: hold while it does not exist.
    DRAW = "make-area-draw"
    SELECTED = "make-area-selected"
    #: The explorer's click or view change, passed on while the mode is open (assets/areas.js).
    EVENT = "make-area-event"
    STATUS = "make-area-status"
    MESSAGE = "make-area-message"
    CLEAR = "make-area-clear"
    PROFILE = "make-area-profile"
    NAME = "make-area-name"
    ACCESS = "make-area-access"
    SHARE_WITH = "make-area-share-with"
    SAVE = "make-area-save"
    SAVED = "make-area-saved"
    BODY = "make-area-body"  # the panel's form, put here by the first press of TOGGLE


#: Most districts drawn on the map at once (their areas are sent as GeoJSON).
MAX_DISTRICTS = 6
ACCESS_LABELS = {"private": "Only me", "organisation": "My organisation", "partnership": "A partnership",
                 "public": "Everyone"}


def _share_options(actor: access.Actor) -> list[dict]:
    """Whom the person may share with: their organisations and partnerships (value ``org:<id>``/``p:<id>``)."""
    out = [{"label": f"Organisation {org}", "value": f"org:{org}"} for org in sorted(actor.orgs)]
    out += [{"label": f"Partnership {p}", "value": f"p:{p}"} for p in sorted(actor.partnerships)]
    return out


def _field(label: str, control_id: str, control: Component) -> html.Div:
    """A control with its label beside it (not wrapping it: a click on a wrapping label would reach a
    dropdown's button twice and close it again)."""
    return html.Div(className="field", children=[html.Label(label, htmlFor=control_id, id=f"{control_id}-label"),
                                                 control])


def edit_control(control_id: Any) -> dl.EditControl:
    """The drawing control inside a dash-leaflet map: polygons, rectangles and circles (no lines or markers)."""
    return dl.EditControl(id=control_id, position="topleft",
                          draw={"polyline": False, "marker": False, "circlemarker": False, "polygon": True,
                                "rectangle": True, "circle": True},
                          edit={"edit": False})


def save_form(ids: type[IDS] | type[MAKE], actor: access.Actor) -> html.Div:
    """Name, who may see it, whom it is shared with, and the Save button (off unless signed in)."""
    return html.Div(className="areas-save", children=[
        _field("Name", ids.NAME, dcc.Input(id=ids.NAME, type="text", maxLength=200)),
        _field("Who may see it", ids.ACCESS, dcc.Dropdown(
            id=ids.ACCESS, clearable=False, value="private",
            options=[{"label": v, "value": k} for k, v in ACCESS_LABELS.items()])),
        _field("Shared with", ids.SHARE_WITH, dcc.Dropdown(
            id=ids.SHARE_WITH, options=_share_options(actor), placeholder="Only for organisation or partnership")),
        html.Button("Save the area", id=ids.SAVE, n_clicks=0, type="button", disabled=not actor.signed_in),
        html.P("Sign in to save an area." if not actor.signed_in else "", className="areas-hint"),
    ])


def status_text(s: catalogue.Catalogue, level: Any, codes: list[str]) -> str:
    """The running count and usual residents of a selection (what both status lines say)."""
    if not codes:
        return "No areas chosen yet."
    people = areas.population(s, level, codes) if isinstance(level, str) else None
    text = f"{len(codes):,} area{'s' if len(codes) != 1 else ''} chosen"
    return text + (f", {people:,.0f} usual residents (census)." if people is not None else ".")


def _status(ids: type[IDS] | type[MAKE], text: str = "No areas chosen yet.") -> list[Component]:
    return [html.P(id=ids.STATUS, className="areas-status", role="status", **{"aria-live": "polite"},
                   children=text),
            html.P(id=ids.MESSAGE, className="areas-message", role="alert")]


def make_panel() -> list[Component]:
    """The explorer's "Make an area" button and its panel (hidden until opened): click areas on the map (or in
    the table) to add or remove them, or draw shapes; the running count and population; save.

    **Created when opened**: the panel's form (``make_body``) comes with ``make_mode``'s answer to the first
    press (callbacks/areas.py), not with the page: most visits never open it, and each component drawn costs
    a phone's first load (Dash's renderer re-runs every mounted component's selector at each store update).
    Its two stores stay in the page: the mode's callbacks read them while it is closed. Dash's validation
    layout has the form in place."""
    return [
        html.Button("Make an area", id=MAKE.TOGGLE, n_clicks=0, type="button", className="make-area-toggle",
                    **{"aria-expanded": "false", "aria-controls": MAKE.PANEL}),
        html.Section(id=MAKE.PANEL, className="make-area-panel", hidden=True,
                     **{"aria-label": "Make an area"}, children=[
            dcc.Store(id=MAKE.SELECTED, data={"codes": [], "last": None}), dcc.Store(id=MAKE.EVENT),
            html.Div(make_body(access.current()) if validating() else None, id=MAKE.BODY),
        ]),
    ]


def make_body(actor: access.Actor) -> list[Component]:
    """The "Make an area" panel's form, for ``actor`` (whether they may save, and whom they may share with)."""
    return [
        html.H2("Make an area"),
        html.P("Click areas on the map to add or remove them, or draw polygons, rectangles or circles with the "
               "drawing tools on the map: the areas of the map's level inside them are added, whichever "
               "districts they are in. An area is in a shape when its point (inside its polygon) is."),
        *_status(MAKE),
        html.Button("Clear the selection", id=MAKE.CLEAR, n_clicks=0, type="button"),
        html.A("Open it on the make-an-area page", id=MAKE.PROFILE, href="/areas/new"),
        save_form(MAKE, actor),
        html.Div(id=MAKE.SAVED, role="status", **{"aria-live": "polite"}),
    ]


def page(level: Any = None, codes: Any = None) -> Component:
    """The page; ``level`` and ``codes`` (text, as the explorer's "Open it on the make-an-area page" link
    gives them) start the selection, when every code is an area of that level."""
    try:
        s = catalogue.of_request()
        authorities = s.authorities()
    except FileNotFoundError as exc:
        return html.Main([html.H1("Make your own area"), html.P(f"The data is not available yet: {exc}.",
                                                                role="alert")])
    levels = [lv for lv in s.levels if lv != extracts.NATIONAL_LEVEL and lv != "ward22"]
    actor = access.current()
    chosen: list[str] = []
    if level in levels and isinstance(codes, str) and codes.strip():
        try:
            chosen = areas.select(s, level, codes=codes)[0]
        except areas.BadArea:
            chosen = []  # unknown codes in a hand-made address: start empty
    level = level if chosen else (levels[0] if levels else None)
    return html.Main(className="profile-page areas-page", children=[
        html.A("Back to the map", href="/", className="profile-back"),
        html.H1("Make your own area"),
        html.P("Choose a level and the districts to show, then click areas to add or remove them, draw polygons, "
               "rectangles or circles with the drawing tools on the map, add a radius around a place, or paste "
               "codes. An area is in a drawn shape when its point (inside its published polygon) is."),
        dcc.Store(id=IDS.SELECTED, data=chosen),
        html.Div(className="areas-controls", children=[
            _field("Level", IDS.LEVEL, dcc.Dropdown(
                id=IDS.LEVEL, clearable=False, value=level,
                options=[{"label": viewstate.level_label(lv), "value": lv} for lv in levels])),
            _field("Districts shown on the map", IDS.DISTRICTS, dcc.Dropdown(
                id=IDS.DISTRICTS, multi=True, value=[], placeholder=f"Up to {MAX_DISTRICTS} districts",
                options=[{"label": a["name"], "value": a["code"]} for a in authorities if a["levels"]])),
        ]),
        html.Div(className="profile-map-box areas-map-box", children=[dl.MapContainer(
            id=IDS.MAP, center=[52.6, -2.0], zoom=6, keyboard=True, trackViewport=False, attributionControl=False,
            style={"height": "100%", "width": "100%"}, className="areas-map", children=[
                dl.GeoJSON(id=IDS.LAYER, data={"type": "FeatureCollection", "features": []},
                           style={"variable": "atlas.areas.style"}, hideout={"selected": chosen}),
                dl.FeatureGroup([edit_control(IDS.DRAW)]),
            ])]),
        *_status(IDS, status_text(s, level, chosen)),
        html.Div(className="areas-add", children=[
            _field("Paste codes (separated by spaces, commas or new lines)", IDS.CODES,
                   dcc.Textarea(id=IDS.CODES, rows=3, style={"width": "100%"})),
            html.Button("Add these codes", id=IDS.ADD_CODES, n_clicks=0, type="button"),
            _field("Place or postcode", IDS.PLACE, dcc.Input(id=IDS.PLACE, type="text", debounce=False)),
            _field("Radius in metres", IDS.RADIUS, dcc.Input(id=IDS.RADIUS, type="number", min=1,
                                                             max=areas.MAX_RADIUS, value=1000)),
            html.Button("Add the areas within the radius", id=IDS.ADD_RADIUS, n_clicks=0, type="button"),
            html.Button("Clear the selection", id=IDS.CLEAR, n_clicks=0, type="button"),
        ]),
        html.H2("Save it"),
        save_form(IDS, actor),
        html.Div(id=IDS.SAVED, role="status", **{"aria-live": "polite"}),
    ])
