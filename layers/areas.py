"""The choropleth: the areas' geometry, fetched once by URL as geobuf, styled in the browser.

``url`` and ``hideout`` are set together by the clientside callback ``atlas.combine`` (one change of
props, so dash-leaflet never draws a new geometry with an old hideout); window.atlas.style reads
``hideout`` (assets/atlas.js). The functions are referenced by name (``{"variable": ...}``): no
dash_extensions ``assign()``, which would write into assets/ at import.
"""

from __future__ import annotations

import dash_leaflet as dl

from layers.context import MapContext
from ui import ids

__all__ = ["NAME", "build"]

NAME = "areas"


def build(context: MapContext) -> dl.GeoJSON:
    return dl.GeoJSON(
        id=ids.LAYER,
        format="geobuf",
        style={"variable": "atlas.style"},
        hoverStyle={"variable": "atlas.hoverStyle"},
        onEachFeature={"variable": "atlas.onEachFeature"},
        hideout={},
        zoomToBounds=False,  # the map's viewport is set per authority; a restyle must not refit it
    )
