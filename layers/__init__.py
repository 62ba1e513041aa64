"""The map's layers, one module each, all with the same shape, drawn in the order of ``LAYERS``.

Each module has ``NAME`` and ``build(context: MapContext) -> Component | None`` (None when the layer is
switched off, as the basemap is without ``ATLAS_TILES_URL``). Layers build components from the data they
are given; they never query the store.
"""

from __future__ import annotations

from dash.development.base_component import Component

from layers import areas, basemap, outline, points
from layers.context import MapContext

__all__ = ["LAYERS", "MapContext", "build_layers"]

#: Bottom to top.
LAYERS = (basemap, areas, outline, points)


def build_layers(context: MapContext) -> list[Component]:
    """Every layer that is switched on, bottom to top."""
    built = (layer.build(context) for layer in LAYERS)
    return [component for component in built if component is not None]
