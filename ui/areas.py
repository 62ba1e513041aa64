"""The "make your own area" page, ``/areas/new`` (registered in ui/pages/areas.py; callbacks in
callbacks/areas.py; the map's style function in assets/areas.js): choose a level and the districts to show,
then select areas by clicking them, by drawing polygons, rectangles or circles with the drawing control inside
the map, by a radius around a searched place, or by pasting codes, across any boundary; the running count and
population show as you go; save it with a name and who may see it, and open its profile.
"""

from __future__ import annotations

import dash_leaflet as dl
from dash import dcc, html
from dash.development.base_component import Component

from atlas import access, areas, catalogue, extracts, viewstate

__all__ = ["IDS", "MAX_DISTRICTS", "page"]


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


def page() -> Component:
    try:
        s = catalogue.of_request()
        authorities = s.authorities()
    except FileNotFoundError as exc:
        return html.Main([html.H1("Make your own area"), html.P(f"The data is not available yet: {exc}.",
                                                                role="alert")])
    levels = [lv for lv in s.levels if lv != extracts.NATIONAL_LEVEL and lv != "ward22"]
    actor = access.current()
    return html.Main(className="profile-page areas-page", children=[
        html.A("Back to the map", href="/", className="profile-back"),
        html.H1("Make your own area"),
        html.P("Choose a level and the districts to show, then click areas to add or remove them, draw polygons, "
               "rectangles or circles with the drawing tools on the map, add a radius around a place, or paste "
               "codes. An area is in a drawn shape when its point (inside its published polygon) is."),
        dcc.Store(id=IDS.SELECTED, data=[]),
        html.Div(className="areas-controls", children=[
            _field("Level", IDS.LEVEL, dcc.Dropdown(
                id=IDS.LEVEL, clearable=False, value=levels[0] if levels else None,
                options=[{"label": viewstate.level_label(lv), "value": lv} for lv in levels])),
            _field("Districts shown on the map", IDS.DISTRICTS, dcc.Dropdown(
                id=IDS.DISTRICTS, multi=True, value=[], placeholder=f"Up to {MAX_DISTRICTS} districts",
                options=[{"label": a["name"], "value": a["code"]} for a in authorities if a["levels"]])),
        ]),
        html.Div(className="profile-map-box areas-map-box", children=[dl.MapContainer(
            id=IDS.MAP, center=[52.6, -2.0], zoom=6, keyboard=True, trackViewport=False, attributionControl=False,
            style={"height": "100%", "width": "100%"}, className="areas-map", children=[
                dl.GeoJSON(id=IDS.LAYER, data={"type": "FeatureCollection", "features": []},
                           style={"variable": "atlas.areas.style"}, hideout={"selected": []}),
                dl.FeatureGroup([dl.EditControl(
                    id=IDS.DRAW, position="topleft",
                    draw={"polyline": False, "marker": False, "circlemarker": False, "polygon": True,
                          "rectangle": True, "circle": True},
                    edit={"edit": False})]),
            ])]),
        html.P(id=IDS.STATUS, className="areas-status", role="status", **{"aria-live": "polite"},
               children="No areas chosen yet."),
        html.P(id=IDS.MESSAGE, className="areas-message", role="alert"),
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
        html.Div(className="areas-save", children=[
            _field("Name", IDS.NAME, dcc.Input(id=IDS.NAME, type="text", maxLength=200)),
            _field("Who may see it", IDS.ACCESS, dcc.Dropdown(
                id=IDS.ACCESS, clearable=False, value="private",
                options=[{"label": v, "value": k} for k, v in ACCESS_LABELS.items()])),
            _field("Shared with", IDS.SHARE_WITH, dcc.Dropdown(
                id=IDS.SHARE_WITH, options=_share_options(actor), placeholder="Only for organisation or partnership")),
            html.Button("Save the area", id=IDS.SAVE, n_clicks=0, type="button",
                        disabled=not actor.signed_in),
            html.P("Sign in to save an area." if not actor.signed_in else "", className="areas-hint"),
        ]),
        html.Div(id=IDS.SAVED, role="status", **{"aria-live": "polite"}),
    ])
