"""What the layers are given to build themselves from."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MapContext"]


@dataclass(frozen=True)
class MapContext:
    build_id: str  # versions the geometry URLs, so browsers may cache them for a year
    tiles_url: str = ""  # empty: no basemap
    tiles_attribution: str = ""
