"""Optional basemap tiles (ATLAS_TILES_URL). Off by default: the map is complete without it."""

from __future__ import annotations

import dash_leaflet as dl

from layers.context import MapContext

__all__ = ["NAME", "build"]

NAME = "basemap"


def build(context: MapContext) -> dl.TileLayer | None:
    if not context.tiles_url:
        return None
    return dl.TileLayer(url=context.tiles_url, attribution=context.tiles_attribution or None, opacity=0.6)
