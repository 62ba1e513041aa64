"""The printable profile: a PDF report of a place, drawn on the server (fpdf2 for the pages, matplotlib for the
map), from the same profile as ``/api/profile/<place>.json``. The profile and the map's areas are read in the
request's thread; the PDF is drawn in the worker's pool (atlas/renderpool.py), as map images are, so a web
worker never imports fpdf2 or matplotlib.

The report holds the map of the place's areas within their districts, then, topic by topic, every figure of
the headline tables (``profile.HEADLINE_TABLES``: population, age, ethnic group, tenure, cars, qualifications,
economic activity, occupation, household deprivation) and every decile distribution (the IMD and its
domains): the place's value beside each comparator's and a small bar chart of the place against them. The
full profile (every figure) is the CSV and the JSON; the report says so.
"""

from __future__ import annotations

import io
import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from atlas import catalogue, extracts, renderpool
from atlas import profile as atlas_profile

if TYPE_CHECKING:
    from fpdf import FPDF
    from matplotlib.path import Path as MplPath

__all__ = ["draw", "pdf"]

PLACE_COLOUR, OTHER_COLOUR = (0.13, 0.4, 0.67), (0.75, 0.75, 0.75)
#: Bar colours: the place, then each comparator.
BARS = [(33, 102, 172), (146, 197, 222), (209, 229, 240), (244, 165, 130)]
#: What the report's map is drawn from: the GeoJSON (``area_geojson_bytes``) of each district (or the place)
#: the map shows, and the codes of the place's own areas.
MapAreas = tuple[list[bytes], list[str]]


def _path(geom: Any) -> MplPath:
    from matplotlib.path import Path as MplPath  # noqa: PLC0415 - in the pool's processes only

    verts, codes = [], []
    for poly in getattr(geom, "geoms", [geom]):
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords)
            verts.append(xy)
            codes += [MplPath.MOVETO] + [MplPath.LINETO] * (len(xy) - 2) + [MplPath.CLOSEPOLY]
    return MplPath(np.concatenate(verts), codes)


def _map_areas(s: catalogue.Catalogue, subject: atlas_profile.Subject) -> MapAreas | None:
    """What the report's map shows (read here, through the catalogue), or None for no map."""
    sources = [subject.place] if subject.place is not None and subject.kind != "saved" else list(subject.authorities)
    if subject.place is not None and len(subject.codes) > extracts.CACHED_AREAS_MAX:
        return None  # a national map is the explorer's (vector tiles), not a report's figure
    return [s.area_geojson_bytes(source, subject.level) for source in sources], sorted(subject.codes)


def _map_png(areas: MapAreas) -> bytes | None:
    """The place's areas (blue) among the other areas of their districts (grey), as a PNG."""
    from matplotlib.collections import PatchCollection  # noqa: PLC0415 - in the pool's processes only
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.patches import PathPatch  # noqa: PLC0415

    inside, around = [], []
    geojsons, codes = areas
    wanted = set(codes)
    for geojson in geojsons:
        for feature in json.loads(geojson)["features"]:
            geom = shapely.geometry.shape(feature["geometry"])
            if geom.is_empty:
                continue
            (inside if feature["properties"]["code"] in wanted else around).append(geom)
    if not inside:
        return None
    fig = Figure(figsize=(7, 4.6), dpi=150)
    ax = fig.add_axes((0, 0, 1, 1))
    for geoms, colour, edge in ((around, OTHER_COLOUR, "white"), (inside, PLACE_COLOUR, "white")):
        if geoms:
            patches = [PathPatch(_path(g)) for g in geoms]
            ax.add_collection(PatchCollection(patches, facecolor=colour, edgecolor=edge, linewidth=0.3))
    xs = np.array([g.bounds for g in inside + around])
    west, south, east, north = xs[:, 0].min(), xs[:, 1].min(), xs[:, 2].max(), xs[:, 3].max()
    ax.set_xlim(west, east)
    ax.set_ylim(south, north)
    ax.set_aspect(1 / np.cos(np.radians((south + north) / 2)))
    ax.axis("off")
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def pdf(s: catalogue.Catalogue, subject: atlas_profile.Subject, result: dict | None = None) -> bytes:
    """The PDF report of ``subject`` (its profile computed here unless given): read here, drawn in the worker's
    pool (atlas/renderpool.py), so a web worker never imports fpdf2 or matplotlib. Raises renderpool.Busy."""
    result = result or atlas_profile.profile(s, subject)
    return renderpool.run(draw, result, _map_areas(s, subject), what="PDF report")


def draw(result: dict, areas: MapAreas | None) -> bytes:
    """The PDF report of a profile (``atlas.profile.profile``) with its map (``areas``), in a pool process."""
    import matplotlib  # noqa: PLC0415 - in the pool's processes only
    from fpdf import FPDF  # noqa: PLC0415

    class _Report(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("dejavu", size=7)
            self.set_text_color(90, 90, 90)
            self.cell(0, 5, f"Neighbourhood Atlas: area profile. Page {self.page_no()}", align="C")

    fonts = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
    comps = result["comparators"]
    doc = _Report(orientation="P", unit="mm", format="A4")
    doc.add_font("dejavu", "", os.path.join(fonts, "DejaVuSans.ttf"))
    doc.add_font("dejavu", "B", os.path.join(fonts, "DejaVuSans-Bold.ttf"))
    doc.set_auto_page_break(True, margin=16)
    doc.set_title(f"Profile of {result['name']}")
    doc.set_author("Neighbourhood Atlas")
    doc.add_page()
    doc.set_font("dejavu", "B", 16)
    doc.multi_cell(0, 8, f"Profile of {result['name']}", new_x="LMARGIN", new_y="NEXT")
    doc.set_font("dejavu", size=9)
    level = result["level"]
    doc.multi_cell(0, 5, f"{result['areas']:,} area{'s' if result['areas'] != 1 else ''} at level {level} "
                         f"({result['place']}), in {', '.join(result['authorities'][:8])}"
                         + (" ..." if len(result['authorities']) > 8 else "") + ". Compared with "
                         + (", ".join(c["name"] for c in comps) or "no larger place") + ".",
                   new_x="LMARGIN", new_y="NEXT")
    png = _map_png(areas) if areas is not None else None
    if png is not None:
        doc.image(io.BytesIO(png), w=180)
    doc.set_font("dejavu", size=8)
    doc.multi_cell(0, 4, "How the figures are made: counts are summed; shares are re-derived from the summed counts "
                         "over the summed denominator (never an average of percentages); averages are weighted by "
                         "their base; deciles are shown as how many areas fall in each. Ranks, scores and medians "
                         "cannot be aggregated and are not printed here. This report holds the figures of the main "
                         "census tables and the deprivation deciles; every figure is in the profile's CSV and JSON "
                         f"(/api/profile/{result['place']}.csv).", new_x="LMARGIN", new_y="NEXT")
    widths = [70, 22] + [22] * len(comps) + [max(10, 190 - 92 - 22 * len(comps))]
    for group in result["topics"]:
        figures = [f for f in group["figures"] if atlas_profile.headline(f)]
        if not figures:
            continue
        doc.ln(3)
        doc.set_font("dejavu", "B", 11)
        doc.cell(0, 7, group["topic"], new_x="LMARGIN", new_y="NEXT")
        doc.set_font("dejavu", "B", 7)
        heads = ["Figure", result["name"][:18], *[c["name"][:18] for c in comps], "Chart"]
        for w, h in zip(widths, heads, strict=True):
            doc.cell(w, 5, h, border="B")
        doc.ln()
        doc.set_font("dejavu", size=7)
        for f in figures:
            _row(doc, f, comps, widths)
    return bytes(doc.output())


def _row(doc: FPDF, f: dict, comps: list[dict], widths: list[int]) -> None:
    label = str(f.get("label") or f["id"])
    if f["rule"] == "deciles":
        counts = (f.get("distribution") or {}).get("counts") or {}
        text = " ".join(f"{k}:{v}" for k, v in counts.items() if v)
        doc.multi_cell(sum(widths), 4, f"{label}: areas in each decile (1 = most deprived 10%): {text or 'none'}",
                       new_x="LMARGIN", new_y="NEXT")
        return
    if doc.get_y() > 270:
        doc.add_page()
    y = doc.get_y()
    by = {e["code"]: e for e in f["comparators"]}
    doc.cell(widths[0], 4, label[:60])
    doc.cell(widths[1], 4, f["printed"], align="R")
    values = [f["value"]]
    for c, w in zip(comps, widths[2:-1], strict=True):
        e = by.get(c["code"])
        doc.cell(w, 4, e["printed"] if e else "", align="R")
        values.append(e["value"] if e else None)
    x = doc.get_x() + 1
    present = [v for v in values if v is not None]
    top = max([100.0] if f["unit"] == "percentage" else present or [1.0])
    width = widths[-1] - 2
    if top > 0:
        for i, v in enumerate(values):
            if v is None or v < 0:
                continue
            doc.set_fill_color(*BARS[i % len(BARS)])
            doc.rect(x, y + 0.3 + i * (3.4 / max(len(values), 1)), max(width * v / top, 0.2),
                     3.4 / max(len(values), 1), style="F")
    doc.ln(4)
