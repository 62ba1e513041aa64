"""The map's layers, one module each, all with the same shape, drawn in the order of ``LAYERS``.

Each module has ``NAME`` and ``build(context: MapContext)``, which returns a component, a list of them,
or None when the layer is switched off (the basemap without ``ATLAS_TILES_URL``). Layers build components
from the data they are given; they never query the store.
"""

from __future__ import annotations

from dash.development.base_component import Component

from layers import areas, basemap, outline, points, reference
from layers.context import MapContext

__all__ = ["LAYERS", "MapContext", "build_layers"]

#: Bottom to top.
LAYERS = (basemap, areas, reference, outline, points)


def build_layers(context: MapContext) -> list[Component]:
    """Every layer that is switched on, bottom to top (a layer may be several components)."""
    out: list[Component] = []
    for layer in LAYERS:
        built = layer.build(context)
        if isinstance(built, list):
            out.extend(built)
        elif built is not None:
            out.append(built)
    return out
