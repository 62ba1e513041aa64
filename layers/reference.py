"""The reference layer's boundaries: every district's (December 2021) and, for the district or place on show,
its December 2022 wards, drawn as lines over the areas in a pane of their own, from the atlas's own display
geometry (geobuf by URL, cached a year). The names beside them (districts, towns, villages, wards) are placed
by assets/reference.js, which also sets these layers' URLs once the first map is drawn (so they never delay
it) and shows or hides the whole layer: on by default when the site has no basemap (``ATLAS_TILES_URL``).
"""

from __future__ import annotations

import dash_leaflet as dl

from layers.context import MapContext
from ui import ids

__all__ = ["NAME", "PANE", "WARDS_PANE", "build"]

NAME = "reference"
PANE = "reference"
WARDS_PANE = "reference-wards"  # shown from zoom 11 (assets/reference.js)
#: Thin near-black lines: districts solid, wards dashed; the selected area's cased dashed line and the
#: district's 3 px outline (layers/outline.py) stay distinct from both.
DISTRICT_STYLE = {"color": "#1a1a1a", "weight": 1.6, "opacity": 0.8, "fill": False}
WARD_STYLE = {"color": "#1a1a1a", "weight": 0.9, "opacity": 0.75, "fill": False, "dashArray": "3 3"}


def build(context: MapContext) -> list[dl.Pane]:
    return [
        dl.Pane(name=WARDS_PANE, style={"zIndex": 439, "pointerEvents": "none"}, children=dl.GeoJSON(
            id=ids.REF_WARDS, format="geobuf", pane=WARDS_PANE, interactive=False, style=WARD_STYLE,
            zoomToBounds=False)),
        dl.Pane(name=PANE, style={"zIndex": 440, "pointerEvents": "none"}, children=dl.GeoJSON(
            id=ids.REF_DISTRICTS, format="geobuf", pane=PANE, interactive=False, style=DISTRICT_STYLE,
            zoomToBounds=False)),
    ]
