"""Which areas contain a point: ``locate(reader, lat, lon)``, behind "Near me" and ``GET /api/locate``.

One shapely STRtree per level (LSOA 2011 and 2021 for every district, the Output Areas held here, December
2022 wards, districts), built from the build's display polygons the first time a process is asked, and kept for
the build. A query asks each tree for the polygons that cover the point (a bounding-box search, then an
exact test on those few): no loop over the areas. The display polygons tile each level without gaps
(coverage simplification keeps shared edges), so a point inside England and Wales is in exactly one LSOA;
a point on a shared edge is given the area with the lowest code.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely

if TYPE_CHECKING:
    from atlas.extracts import Extracts

__all__ = ["LEVELS", "Located", "locate"]

#: What a look-up answers, in order: LSOA (required: outside every LSOA is outside England and Wales),
#: Output Area (where held), LSOA of 2021 (every district), ward, district.
LEVELS = ("lsoa11", "oa11", "lsoa21", "ward22", "lad")


@dataclass(frozen=True)
class _Tree:
    codes: np.ndarray
    names: np.ndarray
    labels: np.ndarray
    authorities: np.ndarray
    tree: shapely.STRtree


@dataclass(frozen=True)
class Located:
    """The areas containing a point; ``lsoa`` is None outside England and Wales (``lad`` may then name a
    Scottish or Northern Irish district)."""

    lat: float
    lon: float
    areas: dict[str, dict | None]

    @property
    def inside(self) -> bool:
        return self.areas.get("lsoa11") is not None


_trees: dict[tuple[int, str, str], _Tree] = {}
_lock = threading.Lock()


def _tree(reader: Extracts, level: str) -> _Tree | None:
    if level not in reader.levels:
        return None
    key = (os.getpid(), reader.build_id, level)
    found = _trees.get(key)
    if found is None:
        with _lock:
            found = _trees.get(key)
            if found is None:
                for old in [k for k in _trees if k[1] != reader.build_id]:
                    del _trees[old]  # one build per process
                codes, names, labels, authorities, geoms = reader.area_shapes(level)
                found = _trees[key] = _Tree(codes, names, labels, authorities, shapely.STRtree(geoms))
    return found


def locate(reader: Extracts, lat: float, lon: float) -> Located:
    """The areas containing (lat, lon) in WGS84 degrees. Raises ValueError for a point that is not a place
    on Earth (NaN, out of range)."""
    if not (isinstance(lat, (int, float)) and isinstance(lon, (int, float))) or isinstance(lat, bool) \
            or isinstance(lon, bool):
        raise ValueError("lat and lon must be numbers")
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueError("lat must be from -90 to 90 and lon from -180 to 180")
    point = shapely.Point(lon, lat)
    out: dict[str, dict | None] = {}
    for level in LEVELS:
        tree = _tree(reader, level)
        if tree is None:
            out[level] = None
            continue
        hits = tree.tree.query(point, predicate="intersects")
        if hits.size == 0:
            out[level] = None
            continue
        i = int(hits[np.argmin(tree.codes[hits])]) if hits.size > 1 else int(hits[0])
        out[level] = {"code": str(tree.codes[i]), "name": str(tree.names[i]), "label": str(tree.labels[i]),
                      "authority": str(tree.authorities[i])}
    return Located(lat=float(lat), lon=float(lon), areas=out)
