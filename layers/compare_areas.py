"""The compare view's choropleths (A, B and the bivariate map): the explorer's geometry by the same URL,
styled in the browser by window.atlas.cmp (assets/compare.js) from the payloads.

Not in ``LAYERS``: those are the explorer's map; these go on the compare view's own three maps
(callbacks/compare.py). ``url`` and ``hideout`` are set together by the clientside callback
``compare.combine``, as the explorer's layer is by ``atlas.combine``.
"""

from __future__ import annotations

import dash_leaflet as dl

__all__ = ["NAME", "build"]

NAME = "compare-areas"


def build(layer_id: str) -> dl.GeoJSON:
    return dl.GeoJSON(
        id=layer_id,
        format="geobuf",
        hideout={},
        zoomToBounds=False,  # the three maps are fitted together, and then follow each other
        style={"variable": "atlas.cmp.style"},
        hoverStyle={"variable": "atlas.hoverStyle"},
        onEachFeature={"variable": "atlas.cmp.onEachFeature"},
    )
