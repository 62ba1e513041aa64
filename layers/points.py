"""Point datasets on the map (monitoring sites, published points): circle markers sized and coloured by their
class, clustered where they are dense, above the areas and the outline in a pane of their own.

The sites' GeoJSON is fetched once by URL (``/api/points/<dataset>.geojson?v=...``); a switch of day or measure
sends only the paint (one class character per site, colours, radii: atlas/points.py), which
``window.atlas.points`` (assets/points.js) applies to the drawn markers in place. ``url`` and ``hideout`` are set
together by the clientside callback ``points.combine``. Clusters (dash-leaflet's supercluster) take the colour of
their highest class and show how many sites they hold; a click on one zooms into it.
"""

from __future__ import annotations

import dash_leaflet as dl

from layers.context import MapContext
from ui import ids

__all__ = ["NAME", "build"]

NAME = "points"
#: Sites closer than this many pixels are clustered, up to this zoom (beyond it every site is drawn).
CLUSTER_RADIUS, CLUSTER_MAX_ZOOM = 40, 11


def build(context: MapContext) -> dl.Pane:
    return dl.Pane(
        name=ids.POINTS.PANE,
        style={"zIndex": 460},
        children=dl.GeoJSON(
            id=ids.POINTS.LAYER,
            cluster=True,
            zoomToBoundsOnClick=True,
            spiderfyOnMaxZoom=False,
            superClusterOptions={"radius": CLUSTER_RADIUS, "maxZoom": CLUSTER_MAX_ZOOM},
            pointToLayer={"variable": "atlas.points.marker"},
            clusterToLayer={"variable": "atlas.points.cluster"},
            onEachFeature={"variable": "atlas.points.eachSite"},
            hideout={},
            zoomToBounds=False,
        ),
    )
