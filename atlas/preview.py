"""A preview map of an upload before it is published: an SVG drawn on the server (no script, so the strict
CSP holds and it reads without JavaScript), the areas of the authorities the upload covers in five quantile
classes of its first indicator (YlGnBu), the rest grey, with a legend; and the datastore's preview map of a
point dataset (``points_svg``): its points as dots over the districts holding them."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from atlas import classify, palettes

if TYPE_CHECKING:
    from atlas.catalogue import Catalogue

__all__ = ["MAX_OUTLINES", "points_svg", "svg"]

WIDTH = 640
NO_DATA = "#f0f0f0"


def _rings(geometry: dict) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    if geometry["type"] == "MultiPolygon":
        return [ring for poly in geometry["coordinates"] for ring in poly]
    return []


def svg(cat: Catalogue, level: str, frame: pd.DataFrame, column: str) -> str:
    """The preview of ``frame`` (code, authority, indicator columns) at ``level``, as an SVG string."""
    features = []
    for authority in sorted(set(frame["authority"]))[:12]:
        if level == "lad":
            features += [f for f in cat.area_geojson("all", "lad")["features"]
                         if f["properties"]["code"] == authority]
        else:
            features += cat.area_geojson(authority, level)["features"]
    if not features:
        return ""
    values = dict(zip(frame["code"], frame[column].astype("float64"), strict=True))
    xs = [p[0] for f in features for r in _rings(f["geometry"]) for p in r]
    ys = [p[1] for f in features for r in _rings(f["geometry"]) for p in r]
    west, east, south, north = min(xs), max(xs), min(ys), max(ys)
    kx = math.cos(math.radians((south + north) / 2))
    scale = WIDTH / max((east - west) * kx, 1e-9)
    height = max(int((north - south) * scale), 1)
    data = np.array([v for v in values.values() if np.isfinite(v)])
    colours: list[str] = []
    breaks: list[float] = []
    if data.size:
        try:
            result = classify.classify(data, "quantiles", 5)
            breaks = [float(b) for b in result.breaks]
            colours = palettes.colours("YlGnBu", len(breaks), False)
        except classify.ClassifyError:
            breaks = []
    paths = []
    for f in features:
        v = values.get(f["properties"]["code"], math.nan)
        fill = NO_DATA
        if breaks and np.isfinite(v):
            fill = colours[int(classify.class_index(np.array([v]), breaks)[0])]
        d = " ".join("M" + " L".join(f"{(x - west) * kx * scale:.1f},{(north - y) * scale:.1f}" for x, y in ring) + " Z"
                     for ring in _rings(f["geometry"]))
        title = html.escape(f"{f['properties']['name']} ({f['properties']['code']}): "
                            + ("no data" if not np.isfinite(v) else f"{v:g}"))
        paths.append(f'<path d="{d}" fill="{fill}" stroke="#666" stroke-width="0.4"><title>{title}</title></path>')
    legend = "".join(f'<li><span style="background:{c}"></span>up to {b:g}</li>' for c, b in zip(colours, breaks,
                                                                                                strict=False))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
            f'height="{height}" role="img" aria-label="Preview map of {html.escape(column)}">'
            + "".join(paths) + "</svg>" + f'<ul class="ds-legend">{legend}<li><span style="background:{NO_DATA}">'
            '</span>no data</li></ul>')


#: Districts outlined under a preview of points at most (the points themselves are all drawn).
MAX_OUTLINES = 40


def points_svg(cat: Catalogue, lon: np.ndarray, lat: np.ndarray, authorities: list[str], label: str) -> str:
    """A preview map of points (an SVG string, "" when none has coordinates): each point a dot, over the
    outlines of the districts ``authorities`` (the build's district polygons)."""
    ok = np.isfinite(lon) & np.isfinite(lat)
    lon, lat = np.asarray(lon)[ok], np.asarray(lat)[ok]
    if lon.size == 0:
        return ""
    wanted = set(authorities[:MAX_OUTLINES])
    features = [f for f in cat.area_geojson("all", "lad")["features"] if f["properties"]["code"] in wanted]
    xs = [p[0] for f in features for r in _rings(f["geometry"]) for p in r] + lon.tolist()
    ys = [p[1] for f in features for r in _rings(f["geometry"]) for p in r] + lat.tolist()
    west, east, south, north = min(xs), max(xs), min(ys), max(ys)
    pad = max(east - west, north - south, 0.01) * 0.03
    west, east, south, north = west - pad, east + pad, south - pad, north + pad
    kx = math.cos(math.radians((south + north) / 2))
    scale = WIDTH / max((east - west) * kx, 1e-9)
    height = max(int((north - south) * scale), 1)
    paths = []
    for f in features:
        d = " ".join("M" + " L".join(f"{(x - west) * kx * scale:.1f},{(north - y) * scale:.1f}" for x, y in ring) + " Z"
                     for ring in _rings(f["geometry"]))
        paths.append(f'<path d="{d}" fill="{NO_DATA}" stroke="#666" stroke-width="0.6">'
                     f'<title>{html.escape(f["properties"]["name"])}</title></path>')
    radius = 3 if lon.size <= 2000 else 1.5
    dots = "".join(f'<circle cx="{(x - west) * kx * scale:.1f}" cy="{(north - y) * scale:.1f}" r="{radius}"/>'
                   for x, y in zip(lon, lat, strict=True))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
            f'height="{height}" role="img" aria-label="{html.escape(label)}">' + "".join(paths)
            + f'<g fill="#225ea8" fill-opacity="0.8" stroke="#ffffff" stroke-width="0.5">{dots}</g></svg>')
