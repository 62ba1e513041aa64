"""Callbacks of the "make your own area" page (ui/areas.py): the districts' areas on the map, the selection
(clicks, drawn shapes, a radius around a place, pasted codes), its running count and population, and saving
it (atlas/areas.py decides everything; these parse and pass on)."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, html

from atlas import access, areas, catalogue, extracts
from ui.areas import IDS, MAX_DISTRICTS

__all__ = ["choose", "districts", "save", "summary"]


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
    if not codes:
        return "No areas chosen yet.", {"selected": []}
    people = areas.population(catalogue.of_request(), level, codes) if isinstance(level, str) else None
    text = f"{len(codes):,} area{'s' if len(codes) != 1 else ''} chosen"
    text += f", {people:,.0f} usual residents (census)." if people is not None else "."
    return text, {"selected": codes}


@dash.callback(Output(IDS.SAVED, "children"), Input(IDS.SAVE, "n_clicks"), State(IDS.NAME, "value"),
               State(IDS.ACCESS, "value"), State(IDS.SHARE_WITH, "value"), State(IDS.SELECTED, "data"),
               State(IDS.LEVEL, "value"), prevent_initial_call=True)
@access.declares("area.save")
def save(_: Any, name: Any, level_of_access: Any, share_with: Any, selected: Any, level: Any) -> Any:
    """Save the selection for the signed-in person; a link to its profile, or what was wrong."""
    actor = access.current()
    org = partnership = None
    if isinstance(share_with, str) and ":" in share_with:
        kind, _, number = share_with.partition(":")
        if number.isdigit():
            org, partnership = (int(number), None) if kind == "org" else (None, int(number))
    codes = [c for c in (selected if isinstance(selected, list) else []) if isinstance(c, str)]
    try:
        if not codes:
            raise areas.BadArea("codes", "choose some areas first")
        chosen, how, definition = areas.select(catalogue.of_request(), level, codes=codes)
        saved = areas.create(actor, name, level, chosen, how, definition, level_of_access, org, partnership)
    except areas.BadArea as exc:
        return html.P(str(exc), role="alert")
    except extracts.NotFound as exc:
        return html.P(exc.message, role="alert")
    except PermissionError as exc:
        return html.P(f"It cannot be saved so: {exc}.", role="alert")
    return html.P([f"Saved as {saved.code}: ", html.A(f"the profile of {saved.name}", href=f"/profile/{saved.code}")])
