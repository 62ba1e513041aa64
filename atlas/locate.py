"""Which areas contain a point: ``locate(reader, lat, lon)``, behind "Near me" and ``GET /api/locate``.

For each level (LSOA 2011 and 2021 for every district, the Output Areas held here, December 2022 wards,
districts) the extracts reader reads, through DuckDB, the few areas whose bounding box holds the point (the
boxes are kept on disk with the build), and an exact test on those few polygons decides. Nothing is kept
per worker between requests: a spatial index of every level in each worker cost 300-400 MB of memory. The
display polygons tile each level without gaps (coverage simplification keeps shared edges), so a point
inside England and Wales is in exactly one LSOA; a point on a shared edge is given the area with the lowest
code.
"""

from __future__ import annotations

import math
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
class Located:
    """The areas containing a point; ``lsoa`` is None outside England and Wales (``lad`` may then name a
    Scottish or Northern Irish district)."""

    lat: float
    lon: float
    areas: dict[str, dict | None]

    @property
    def inside(self) -> bool:
        return self.areas.get("lsoa11") is not None


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
        if level not in reader.levels:
            out[level] = None
            continue
        codes, names, labels, authorities, geoms = reader.areas_around(level, float(lon), float(lat))
        hits = np.flatnonzero(shapely.intersects(geoms, point)) if len(geoms) else np.array([], dtype=int)
        if hits.size == 0:
            out[level] = None
            continue
        i = int(hits[np.argmin(codes[hits])]) if hits.size > 1 else int(hits[0])
        out[level] = {"code": str(codes[i]), "name": str(names[i]), "label": str(labels[i]),
                      "authority": str(authorities[i])}
    return Located(lat=float(lat), lon=float(lon), areas=out)
