"""Callbacks of the "make your own area" page (ui/areas.py): the districts' areas on the map, the selection
(clicks, drawn shapes, a radius around a place, pasted codes), its running count and population, and saving
it (atlas/areas.py decides everything; these parse and pass on); and of the explorer's "make an area" mode,
the same selection, status and save on the explorer's own map."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
from dash import ALL, ClientsideFunction, Input, Output, State, html

from atlas import access, areas, catalogue, extracts
from ui import ids
from ui.areas import IDS, MAKE, MAX_DISTRICTS, edit_control, make_body, status_text

__all__ = ["choose", "districts", "make_choose", "make_mode", "make_save", "make_summary", "save", "summary"]


@dash.callback(Output(IDS.LAYER, "data"), Output(IDS.MAP, "viewport"), Input(IDS.DISTRICTS, "value"),
               Input(IDS.LEVEL, "value"), prevent_initial_call=True)
@access.declares("site.view")
def districts(chosen: Any, level: Any) -> tuple[dict, Any]:
    """The chosen districts' areas at the level (codes and polygons), and the map fitted to them."""
    s = catalogue.of_request()
    known = {a["code"] for a in s.authorities()}
    chosen = [c for c in (chosen if isinstance(chosen, list) else []) if isinstance(c, str) and c in known]
    chosen = chosen[:MAX_DISTRICTS]
    if not isinstance(level, str):
        return {"type": "FeatureCollection", "features": []}, dash.no_update
    features = []
    for code in chosen:
        try:
            features += s.area_geojson(code, level)["features"]
        except extracts.NotFound:
            continue  # a district without areas at this level: nothing to draw for it
    boxes = [s.authority(c)["bbox"] for c in chosen if s.authority(c).get("bbox")]
    viewport = dash.no_update
    if boxes:
        viewport = {"bounds": [[min(b[1] for b in boxes), min(b[0] for b in boxes)],
                               [max(b[3] for b in boxes), max(b[2] for b in boxes)]]}
    return {"type": "FeatureCollection", "features": features}, viewport


@dash.callback(Output(IDS.SELECTED, "data"), Output(IDS.MESSAGE, "children"),
               Input(IDS.LAYER, "clickData"), Input(IDS.DRAW, "geojson"), Input(IDS.ADD_CODES, "n_clicks"),
               Input(IDS.ADD_RADIUS, "n_clicks"), Input(IDS.CLEAR, "n_clicks"), Input(IDS.LEVEL, "value"),
               State(IDS.SELECTED, "data"), State(IDS.CODES, "value"), State(IDS.PLACE, "value"),
               State(IDS.RADIUS, "value"), prevent_initial_call=True)
@access.declares("site.view")
def choose(click: Any, drawn: Any, _codes: Any, _radius: Any, _clear: Any, level: Any, selected: Any,
           codes: Any, place: Any, radius: Any) -> tuple[list[str], str]:
    """The selection after one event: a click toggles an area, a drawn shape, a radius or pasted codes add
    theirs, Clear (or another level) empties it."""
    trigger = dash.ctx.triggered_id
    current = {c for c in (selected if isinstance(selected, list) else []) if isinstance(c, str)}
    s = catalogue.of_request()
    if trigger in (IDS.CLEAR, IDS.LEVEL) or not isinstance(level, str):
        return [], ""
    try:
        if trigger == IDS.LAYER:
            props = click.get("properties") if isinstance(click, dict) else None
            code = props.get("code") if isinstance(props, dict) else None
            if isinstance(code, str):
                current ^= {code}
            return sorted(current), ""
        if trigger == IDS.DRAW:
            return sorted(current | set(areas.drawn(s, level, drawn))), ""
        if trigger == IDS.ADD_CODES:
            found, _, _ = areas.select(s, level, codes=codes if isinstance(codes, str) else "")
            return sorted(current | set(found)), ""
        if trigger == IDS.ADD_RADIUS:
            centre = areas.place_centre(s, place) if isinstance(place, str) and place.strip() else None
            if centre is None:
                return sorted(current), "No place found for that name or postcode."
            found, _, _ = areas.select(s, level, centre={"lat": centre[0], "lon": centre[1]}, radius=radius)
            return sorted(current | set(found)), f"Added the areas within {radius:,} m of {centre[2]}."
    except areas.BadArea as exc:
        return sorted(current), str(exc)
    except extracts.NotFound as exc:
        return sorted(current), exc.message
    return sorted(current), ""


@dash.callback(Output(IDS.STATUS, "children"), Output(IDS.LAYER, "hideout"), Input(IDS.SELECTED, "data"),
               State(IDS.LEVEL, "value"), prevent_initial_call=True)
@access.declares("site.view")
def summary(selected: Any, level: Any) -> tuple[str, dict]:
    """The running count and population of the selection, and the map's highlight of it."""
    codes = sorted(c for c in (selected if isinstance(selected, list) else []) if isinstance(c, str))
    return status_text(catalogue.of_request(), level, codes), {"selected": codes}


def _save(name: Any, level_of_access: Any, share_with: Any, codes: list[str], level: Any) -> Any:
    """Save ``codes`` for the signed-in person (both pages' Save): a link to its profile, or what was wrong."""
    actor = access.current()
    org = partnership = None
    if isinstance(share_with, str) and ":" in share_with:
        kind, _, number = share_with.partition(":")
        if number.isdigit():
            org, partnership = (int(number), None) if kind == "org" else (None, int(number))
    try:
        if not codes:
            raise areas.BadArea("codes", "choose some areas first")
        if not isinstance(level, str):
            raise areas.BadArea("level", "choose a level first")
        chosen, how, definition = areas.select(catalogue.of_request(), level, codes=codes)
        saved = areas.create(actor, name, level, chosen, how, definition, level_of_access, org, partnership)
    except areas.BadArea as exc:
        return html.P(str(exc), role="alert")
    except extracts.NotFound as exc:
        return html.P(exc.message, role="alert")
    except PermissionError as exc:
        return html.P(f"It cannot be saved so: {exc}.", role="alert")
    return html.P([f"Saved as {saved.code}: ", html.A(f"the profile of {saved.name}", href=f"/profile/{saved.code}")])


@dash.callback(Output(IDS.SAVED, "children"), Input(IDS.SAVE, "n_clicks"), State(IDS.NAME, "value"),
               State(IDS.ACCESS, "value"), State(IDS.SHARE_WITH, "value"), State(IDS.SELECTED, "data"),
               State(IDS.LEVEL, "value"), prevent_initial_call=True)
@access.declares("area.save")
def save(_: Any, name: Any, level_of_access: Any, share_with: Any, selected: Any, level: Any) -> Any:
    """Save the selection for the signed-in person; a link to its profile, or what was wrong."""
    codes = [c for c in (selected if isinstance(selected, list) else []) if isinstance(c, str)]
    return _save(name, level_of_access, share_with, codes, level)


# -- the explorer's "make an area" mode (ui/areas.py MAKE): the same selection on the explorer's own map -----

@dash.callback(Output(MAKE.PANEL, "hidden"), Output(MAKE.TOGGLE, "aria-expanded"),
               Output(MAKE.DRAW_GROUP, "children"), Output(MAKE.BODY, "children"),
               Input(MAKE.TOGGLE, "n_clicks"), State(MAKE.CLEAR, "n_clicks", allow_optional=True),
               prevent_initial_call=True)
@access.declares("site.view")
def make_mode(clicks: Any, made: Any = None) -> tuple[bool, str, list, Any]:
    """Open or close the mode: its panel, and the drawing control inside the explorer's map (created only
    now, so the explorer's first load carries none of Leaflet.draw). The panel's form comes with the first
    opening (ui/areas.py make_panel) and stays, with what was typed into it, when the mode closes: ``made``,
    the form's Clear button's count, is None until the form exists."""
    opened = isinstance(clicks, int) and clicks % 2 == 1
    body = make_body(access.current()) if opened and made is None else dash.no_update
    return (not opened, "true" if opened else "false", [edit_control({"type": MAKE.DRAW, "i": 0})] if opened else [],
            body)


# The explorer's clicks and view changes reach the server only while the mode is open (assets/areas.js).
dash.clientside_callback(ClientsideFunction("areas", "event"), Output(MAKE.EVENT, "data"),
                         Input(ids.SELECTED, "data"), Input(ids.STATE, "data"), State(MAKE.PANEL, "hidden"),
                         prevent_initial_call=True)


@dash.callback(Output(MAKE.SELECTED, "data"), Output(MAKE.MESSAGE, "children"),
               Input(MAKE.EVENT, "data"), Input({"type": MAKE.DRAW, "i": ALL}, "geojson"),
               Input(MAKE.CLEAR, "n_clicks", allow_optional=True), State(ids.STATE, "data"),
               State(MAKE.SELECTED, "data"),
               prevent_initial_call=True)
@access.declares("site.view")
def make_choose(event: Any, drawn: Any, _clear: Any, state: Any, selection: Any) -> tuple[dict, str]:
    """The mode's selection after one event: an area clicked on the explorer's map (or in its table) is
    added, clicked again removed; a drawn shape adds the areas of the map's level inside it; Clear, or another
    level, empties it."""
    held = selection if isinstance(selection, dict) else {}
    view = state.get("state") if isinstance(state, dict) else None
    level = view.get("level") if isinstance(view, dict) else None
    level = level if isinstance(level, str) and level != extracts.NATIONAL_LEVEL else None
    trigger = dash.ctx.triggered_id
    if trigger == MAKE.CLEAR or held.get("level") not in (None, level):
        return {"codes": [], "last": None, "level": level}, ""
    if level is None:
        return ({"codes": [], "last": None, "level": None},
                "Choose a small-area geography (not the districts overview) to make an area.")
    codes = {c for c in held.get("codes") or [] if isinstance(c, str)}
    last = held.get("last") if isinstance(held.get("last"), str) else None
    if trigger == MAKE.EVENT and isinstance(event, dict) and event.get("click") is True:
        # The explorer's click selects an area and a second click on it deselects it (null): each toggles it.
        clicked = event.get("selected") if isinstance(event.get("selected"), str) else None
        code = clicked or last
        if code is not None:
            codes ^= {code}
        return {"codes": sorted(codes), "last": clicked, "level": level}, ""
    if isinstance(trigger, dict) and trigger.get("type") == MAKE.DRAW:
        collection = next((d for d in drawn or [] if isinstance(d, dict)), None)
        try:
            found = areas.drawn(catalogue.of_request(), level, collection)
        except areas.BadArea as exc:
            return dash.no_update, str(exc)
        return {"codes": sorted(codes | set(found)), "last": last, "level": level}, ""
    return {"codes": sorted(codes), "last": last, "level": level}, ""


@dash.callback(Output(MAKE.STATUS, "children"), Output(MAKE.PROFILE, "href"), Input(MAKE.SELECTED, "data"),
               prevent_initial_call=True)
@access.declares("site.view")
def make_summary(selection: Any) -> tuple[str, str]:
    """The running count and population, and the address that opens the selection on /areas/new."""
    held = selection if isinstance(selection, dict) else {}
    codes = sorted(c for c in held.get("codes") or [] if isinstance(c, str))
    level = held.get("level") if isinstance(held.get("level"), str) else None
    href = "/areas/new" + (f"?{urlencode({'level': level, 'codes': ' '.join(codes)})}" if codes and level else "")
    return status_text(catalogue.of_request(), level, codes), href


@dash.callback(Output(MAKE.SAVED, "children"), Input(MAKE.SAVE, "n_clicks"), State(MAKE.NAME, "value"),
               State(MAKE.ACCESS, "value"), State(MAKE.SHARE_WITH, "value"), State(MAKE.SELECTED, "data"),
               prevent_initial_call=True)
@access.declares("area.save")
def make_save(_: Any, name: Any, level_of_access: Any, share_with: Any, selection: Any) -> Any:
    """Save the mode's selection, at the level it was made at."""
    held = selection if isinstance(selection, dict) else {}
    codes = [c for c in held.get("codes") or [] if isinstance(c, str)]
    return _save(name, level_of_access, share_with, codes, held.get("level"))
