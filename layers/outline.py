"""The outline of the authority on show, drawn above the areas in a pane of its own.

Its ``data`` (the union of the authority's areas, so it follows their edges exactly) is set by the
``render`` callback once per authority and level; the national view has none, its districts' borders
being the outlines.
"""

from __future__ import annotations

import dash_leaflet as dl

from layers.context import MapContext
from ui import ids

__all__ = ["NAME", "PANE", "build"]

NAME = "outline"
PANE = "outline"


def build(context: MapContext) -> dl.Pane:
    return dl.Pane(
        name=PANE,
        style={"zIndex": 450, "pointerEvents": "none"},
        children=dl.GeoJSON(
            id=ids.OUTLINE,
            pane=PANE,
            interactive=False,
            style={"color": "#111111", "weight": 3, "fill": False, "opacity": 0.95},
        ),
    )
