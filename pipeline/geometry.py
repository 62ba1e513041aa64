"""Geometry for display: repair invalid rings, then simplify each coverage with its shared edges kept.

Simplification uses GEOS coverage simplification (``shapely.coverage_simplify``), which simplifies every
shared edge once, so neighbours keep meeting exactly: no slivers or gaps. It works in British National
Grid metres so the tolerance means the same on the ground everywhere.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

__all__ = ["repair", "simplify_coverage", "BNG", "TOLERANCE_M"]

BNG = 27700
# Metres. Small areas are drawn at zoom 12-16 (10-40 m per pixel): 8 m is below a pixel at the zooms
# they are seen at and roughly halves the vertices of the ONS generalised boundaries.
TOLERANCE_M = {"lsoa11": 8.0, "oa11": 5.0, "lsoa21": 8.0, "oa21": 5.0, "ward22": 15.0, "lad": 150.0}


def repair(geometry: gpd.GeoSeries) -> tuple[gpd.GeoSeries, int]:
    """make_valid every invalid geometry, keeping only its polygonal part; returns (geometry, n repaired)."""
    values = np.asarray(geometry.values)
    invalid = ~shapely.is_valid(values)
    if invalid.any():
        fixed = shapely.make_valid(values[invalid])
        values = values.copy()
        values[invalid] = [_polygonal(g) for g in fixed]
    return gpd.GeoSeries(values, index=geometry.index, crs=geometry.crs), int(invalid.sum())


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """make_valid may return a collection with stray lines or points: keep the polygons."""
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    return shapely.union_all(parts) if parts else geom


def simplify_coverage(geometry: gpd.GeoSeries, tolerance_m: float) -> gpd.GeoSeries:
    """Simplify a set of polygons that tile an area, keeping shared edges shared; returns WGS84."""
    projected = geometry.to_crs(BNG)
    simplified = shapely.coverage_simplify(np.asarray(projected.values), tolerance_m, simplify_boundary=True)
    # Coverage simplification keeps each polygon valid when the input coverage is valid; repair the rare
    # polygon it could not (inputs from two publishers may overlap by a hair).
    out = gpd.GeoSeries(simplified, index=geometry.index, crs=BNG)
    out, _ = repair(out)
    # Reprojecting can pinch a ring where two vertices nearly touch (9 coastal wards did): repair again.
    out, _ = repair(out.to_crs(4326))
    return out
