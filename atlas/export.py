"""The map view as an image (PNG, SVG, PDF), rendered on the server from the URL state.

The same link always gives the same image: the explorer's query keys are read by the explorer's own
parser (``viewstate.parse_query`` and ``resolve``) and drawn from the one function that decides what a
view shows (``atlas.view.build``: the classes, printed labels, counts and colours of the map, legend and
table). Unlike the explorer, which
falls back to something sensible and says so, an export refuses a link it would have to change:
``parse_export`` raises ``ExportError`` naming the parameter, and the route answers 400.

Drawn in British National Grid (EPSG:27700), the projection of the publishers' boundaries: metres on the
ground, so the scale bar is true across the map (within 0.04%) and the north arrow points to true north
(turned by the grid convergence at the map's centre). Only matplotlib's object-oriented API is used (a
``Figure`` per request, never pyplot's global state), so renders may run in several threads at once.
"""

from __future__ import annotations

import functools
import io
import math
import textwrap
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import numpy as np
import pyproj
import shapely
import shapely.geometry

from atlas import mapview as view
from atlas import viewstate as view_state
from atlas.extracts import CACHED_AREAS_MAX
from atlas.view import NO_DATA, View
from atlas.view import build as build_view

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from matplotlib.path import Path as MplPath

    from atlas.catalogue import Catalogue

__all__ = [
    "DPI_MAX", "DPI_MIN", "EXPORT_KEYS", "FORMATS", "MIME", "ExportError", "ExportSpec", "MapData", "Rendered",
    "export", "map_data", "parse_export", "render", "url",
]

FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
MIME: dict[str, str] = {"png": "image/png", "svg": "image/svg+xml", "pdf": "application/pdf"}
EXPORT_KEYS: tuple[str, ...] = ("bbox", "dpi", "width", "height")
DPI_MIN, DPI_MAX = 72, 600
SCREEN_DPI, PRINT_DPI = 96, 300
A4_LANDSCAPE_IN = (297 / 25.4, 210 / 25.4)
PIXELS_MIN, PIXELS_MAX = 200, 10_000  # per side
#: A4 at 600 dpi is 34.8 million pixels; an Agg canvas costs 4 bytes a pixel, so this also bounds memory
#: (measured: a render of 34.8 million pixels peaks about 135 MB above the process's size). The server's
#: budget is ATLAS_EXPORT_MAX_PIXELS, passed to parse_export.
MAX_PIXELS = 36_000_000
CRS = "EPSG:27700"
#: England and Wales, as the explorer frames the national view (the UK's box would centre on Scotland's seas).
NATIONAL_BBOX = (-5.8, 49.9, 1.8, 55.9)
EDGE_RGBA = (0x4d / 255, 0x4d / 255, 0x4d / 255, 0.7)  # the explorer's area border, #4d4d4d at 0.7



@functools.cache
def _matplotlib() -> Any:
    """matplotlib, imported on the first render: renders run in the render pool's processes
    (atlas/renderpool.py), so a web worker, which only reads an export's data (``map_data``), never holds it
    (about 50 MB a process).
    Text as text, so a title can be searched, selected and edited in SVG and PDF. These are read only at save
    time and every render wants the same, so they are set once here rather than through rc_context, which
    changes the process-wide rcParams and is not safe across threads."""
    import matplotlib  # noqa: PLC0415
    import matplotlib.collections  # noqa: PLC0415
    import matplotlib.figure  # noqa: PLC0415
    import matplotlib.patches  # noqa: PLC0415
    import matplotlib.path  # noqa: PLC0415

    matplotlib.rcParams.update({"svg.fonttype": "none", "pdf.fonttype": 42, "svg.hashsalt": "neighbourhood-atlas"})
    return matplotlib

# At most two renders at a time per process: each holds a canvas of up to MAX_PIXELS and a CPU core.
_renders = threading.BoundedSemaphore(2)
_to_bng = pyproj.Transformer.from_crs("EPSG:4326", CRS, always_xy=True)


class ExportError(ValueError):
    """A parameter of an export link that cannot be used as given; ``parameters`` names it (or them)."""

    def __init__(self, parameters: list[str], message: str, valid: list[str] | None = None,
                 messages: list[str] | None = None) -> None:
        self.parameters = parameters
        self.message = message
        self.valid = valid
        self.messages = messages or [message]
        super().__init__(message)


@dataclass(frozen=True)
class ExportSpec:
    """One valid export: the explorer's view plus what only an image needs."""

    state: view_state.ViewState
    fmt: str
    bbox: tuple[float, float, float, float] | None  # west, south, east, north (degrees); None: the authority's
    dpi: int
    width: int  # pixels (PNG); SVG and PDF use width/dpi inches
    height: int

    @property
    def size_in(self) -> tuple[float, float]:
        # A hundredth of a pixel over: Agg truncates the canvas size, and W / dpi * dpi may fall just short.
        return ((self.width + 0.01) / self.dpi, (self.height + 0.01) / self.dpi)


# -- parameters ---------------------------------------------------------------------------------------------

def _int(args: Mapping[str, str], key: str, lo: int, hi: int) -> int | None:
    text = (args.get(key) or "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ExportError([key], f"{key} must be a whole number from {lo} to {hi}, not {text!r}") from None
    if not lo <= value <= hi:
        raise ExportError([key], f"{key} must be from {lo} to {hi}, not {value}")
    return value


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``west,south,east,north`` in degrees (WGS84) -> a tuple; ExportError naming ``bbox`` otherwise."""
    parts = [p.strip() for p in text.split(",")]
    try:
        west, south, east, north = (float(p) for p in parts)
    except ValueError:
        raise ExportError(["bbox"], f"bbox must be four numbers west,south,east,north in degrees, not {text!r}"
                          ) from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise ExportError(["bbox"], f"bbox must be finite numbers, not {text!r}")
    # British National Grid covers Great Britain and its seas; further out the projection is meaningless.
    if not (-10 <= west < east <= 4 and 48 <= south < north <= 62):
        raise ExportError(["bbox"], "bbox must be west,south,east,north in degrees with west < east and "
                          f"south < north, within Great Britain (longitude -10 to 4, latitude 48 to 62): {text!r}")
    return west, south, east, north


def parse_export(args: Mapping[str, str], fmt: str, cat: Catalogue, max_pixels: int = MAX_PIXELS) -> ExportSpec:
    """A valid export from a request's query arguments and format, or ExportError naming what is wrong.

    The view keys go through the explorer's own parser and resolver; where the resolver had to fall back
    on anything, the export is refused with the resolver's own messages.
    """
    if fmt not in FORMATS:
        raise ExportError(["format"], f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}",
                          list(FORMATS))
    unknown = sorted(k for k in args if k not in view_state.KEYS and k not in EXPORT_KEYS)
    if unknown:
        raise ExportError(unknown, f"unknown parameter{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(repr(k) for k in unknown)}; an export link understands "
                          f"{', '.join(view_state.KEYS + EXPORT_KEYS)}", list(view_state.KEYS + EXPORT_KEYS))
    empty = [k for k in args if not str(args[k]).strip()]
    if empty:
        # ``?dpi=`` is a link someone got wrong, not a request for the default: refused like any bad value.
        raise ExportError(empty, f"parameter{'s' if len(empty) > 1 else ''} {', '.join(repr(k) for k in empty)} "
                          "given without a value; leave a parameter out to get its default")
    view_args = [(k, args[k]) for k in view_state.KEYS if k in args]
    raw, messages = view_state.parse_query(urlencode(view_args))
    too_long = [k for k, v in view_args if k not in raw]
    if messages or too_long:
        raise ExportError(too_long or ["query"], " ".join(messages), messages=messages)
    resolved = view_state.resolve(raw, cat, lambda a, lv: view.available_variables(cat, a, lv))
    if resolved.messages:
        bad = view_state.changed_keys(raw, resolved.state) or ["query"]
        raise ExportError(bad, f"cannot export this view as given ({', '.join(bad)}): "
                          + " ".join(resolved.messages), messages=list(resolved.messages))
    st = resolved.state

    bbox = parse_bbox(args["bbox"]) if (args.get("bbox") or "").strip() else None
    dpi = _int(args, "dpi", DPI_MIN, DPI_MAX)
    width = _int(args, "width", PIXELS_MIN, PIXELS_MAX)
    height = _int(args, "height", PIXELS_MIN, PIXELS_MAX)
    if fmt == "pdf" and (width or height):
        raise ExportError([k for k in ("width", "height") if args.get(k)],
                          "a PDF is always A4 landscape: width and height are for PNG and SVG")
    dpi = dpi or (SCREEN_DPI if fmt == "png" else 72)
    if fmt != "png":
        dpi = 72 if fmt == "pdf" else SCREEN_DPI  # vector: a point is 1/72 in, an SVG pixel 1/96 in
    a4_w, a4_h = (round(A4_LANDSCAPE_IN[0] * dpi), round(A4_LANDSCAPE_IN[1] * dpi))
    if width and not height:
        height = max(PIXELS_MIN, round(width * a4_h / a4_w))
    elif height and not width:
        width = max(PIXELS_MIN, round(height * a4_w / a4_h))
    width, height = width or a4_w, height or a4_h
    if width * height > max_pixels:
        raise ExportError(["dpi", "width", "height"],
                          f"{width} x {height} pixels is more than the {max_pixels:,} an export may have; "
                          "lower dpi, width or height")
    return ExportSpec(state=st, fmt=fmt, bbox=bbox, dpi=dpi, width=width, height=height)


# -- data for the drawing --------------------------------------------------------------------------------

#: Bytes of projected areas kept per process (the places exported most: a report's image link is fetched by every
#: reader), counted as 16 bytes a coordinate and 100 an area; least recently used dropped first. Kept by count
#: (8 places), they could hold 8 districts' output areas as shapely polygons, tens of MB (docs/hosts.md).
PROJECTED_BYTES = 12 * 1024 * 1024
_projected_memo: OrderedDict[tuple[str, str, str], tuple[np.ndarray, Any, int]] = OrderedDict()
_projected_used = 0
_projected_lock = threading.Lock()


def _projected(cat: Catalogue, authority: str, level: str) -> tuple[np.ndarray, Any]:
    """The areas in British National Grid (in the geometry's order, which is the values' order) and the
    authority's outline. Kept per process, build and place (``place_key`` names a partnership area's members,
    so one that grows is drawn anew), but for places too large for the reader's geometry cache."""
    global _projected_used
    key = (cat.build_id, cat.place_key(authority), level)
    with _projected_lock:
        kept = _projected_memo.get(key)
        if kept is not None:
            _projected_memo.move_to_end(key)
            return kept[0], kept[1]
    collection = cat.area_geojson(authority, level)
    geoms = np.array([shapely.geometry.shape(f["geometry"]) for f in collection["features"]], dtype=object)
    del collection
    geoms = shapely.transform(geoms, lambda xy: np.column_stack(_to_bng.transform(xy[:, 0], xy[:, 1])))
    # Matplotlib fills with the non-zero rule: holes must wind against their shells.
    geoms = shapely.orient_polygons(geoms, exterior_cw=False)
    outline = None if authority == view_state.ALL else _outline(geoms)
    size = int(shapely.get_num_coordinates(geoms).sum()) * 16 + len(geoms) * 100
    if len(geoms) <= CACHED_AREAS_MAX and size <= PROJECTED_BYTES:
        with _projected_lock:
            if key not in _projected_memo:
                _projected_memo[key] = (geoms, outline, size)
                _projected_used += size
            while _projected_used > PROJECTED_BYTES:
                _projected_used -= _projected_memo.popitem(last=False)[1][2]
    return geoms, outline


#: Holes smaller than this in the union of an authority's areas are gaps between neighbours' edges, not
#: enclaves (the largest found in Birmingham, Camden and Trafford is 182 m²).
MIN_HOLE_M2 = 10_000


def _outline(geoms: np.ndarray) -> Any:
    """The authority's outline: the union of its areas snapped to a 1 m grid, without its slivers.

    Coverage union would be faster, but the simplified areas of one publisher do not always share their
    edges' vertices exactly (Birmingham's and Camden's LSOAs are not a valid coverage), and there it
    leaves stray pieces of inner edges, drawn as black dashes across the map.
    """
    merged = shapely.union_all(shapely.make_valid(geoms), grid_size=1.0)
    parts = []
    for poly in getattr(merged, "geoms", [merged]):
        if poly.geom_type != "Polygon" or poly.is_empty:
            continue
        holes = [ring for ring in poly.interiors if shapely.Polygon(ring).area >= MIN_HOLE_M2]
        parts.append(shapely.Polygon(poly.exterior, holes))
    return shapely.MultiPolygon(parts).boundary


@dataclass
class MapData:
    """Everything drawn, computed from the catalogue and the explorer's pure functions (no drawing here)."""

    spec: ExportSpec
    title: str
    subtitle: str
    view: View  # atlas.view.build's: classes, labels, counts, colours, as the explorer shows them
    classes: np.ndarray  # class of each area (-1: no data), the view's
    geoms: np.ndarray  # BNG polygons, payload order
    outline: Any
    bounds: tuple[float, float, float, float]  # requested frame in BNG metres (before fitting the aspect)
    centre_lonlat: tuple[float, float]
    attribution: str
    vintage: str
    unit_line: str
    build: str
    extra: dict[str, Any] = field(default_factory=dict)


def map_data(cat: Catalogue, spec: ExportSpec) -> MapData:
    """What the image shows for ``spec``: the explorer's view (atlas.view.build), geometry and text."""
    st = spec.state
    info = cat.authority(st.authority)
    place = "England and Wales" if st.authority == view_state.ALL else info["name"]
    shown = build_view(cat, st)
    if shown.messages:  # custom breaks the classifier refused: resolve() already checks, so this is a safety net
        raise ExportError(["breaks"], " ".join(shown.messages), messages=shown.messages)
    row = shown.variable
    classes = np.asarray(shown.areas.classes, dtype="int8")
    values = classes  # one per area, in the geometry's order
    geoms, outline = _projected(cat, st.authority, st.level)
    if len(geoms) != len(values):
        raise RuntimeError(f"geometry and values disagree for {st.authority}/{st.level}: "
                           f"{len(geoms)} areas, {len(values)} values")

    if spec.bbox is not None:
        west, south, east, north = spec.bbox
    elif st.authority == view_state.ALL:
        west, south, east, north = NATIONAL_BBOX
    else:
        west, south, east, north = info["bbox"]
    x0, y0, x1, y1 = _to_bng.transform_bounds(west, south, east, north, densify_pts=21)
    if spec.bbox is None:
        pad = 0.03 * max(x1 - x0, y1 - y0)  # a margin, so the outline is not cut by the frame
        x0, y0, x1, y1 = x0 - pad, y0 - pad, x1 + pad, y1 + pad

    level_vintage = next((d.get("vintage") for d in info.get("levels") or [] if d["level"] == st.level), None)
    vintage = (f"Data: {row.get('status') or row.get('vintage') or 'vintage not recorded'}. Boundaries: "
               f"{view_state.level_label(st.level)}" + (f", {level_vintage} vintage" if level_vintage else "") + ".")
    unit = row.get("unit") or ""
    unit_line = f"Unit: {'per cent' if unit == 'percentage' else unit or 'not recorded'}"
    if shown.categorical:
        unit_line = "Categories: the publisher's codes and labels"
    elif row.get("denominator"):
        try:
            unit_line += f" of {cat.variable(row['denominator'])['label'].lower()}"
        except LookupError:
            unit_line += f" of {row['denominator']}"
    created = str(cat.build.get("created", ""))[:10]
    return MapData(
        spec=spec, title=shown.title,
        subtitle=f"{place} · {view_state.level_label(st.level)} · {len(values):,} areas",
        view=shown, classes=classes, geoms=geoms, outline=outline,
        bounds=(x0, y0, x1, y1), centre_lonlat=((west + east) / 2, (south + north) / 2),
        attribution=view.attribution(row, info, st.level), vintage=vintage, unit_line=unit_line,
        build=f"Neighbourhood Atlas build {cat.build_id}" + (f" ({created})" if created else ""))


# -- drawing -----------------------------------------------------------------------------------------------

def _path(geom: Any) -> MplPath:
    """One compound path per area: every ring of every part, closed, so one area is one artist item."""
    MplPath = _matplotlib().path.Path
    verts: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty or poly.geom_type != "Polygon":
            continue
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords)
            c = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
            c[0], c[-1] = MplPath.MOVETO, MplPath.CLOSEPOLY
            verts.append(xy)
            codes.append(c)
    if not verts:
        return MplPath(np.zeros((0, 2)))
    return MplPath(np.concatenate(verts), np.concatenate(codes))


def _lines(geom: Any) -> list[np.ndarray]:
    if geom is None or geom.is_empty:
        return []
    return [np.asarray(g.coords) for g in getattr(geom, "geoms", [geom])]


def _hex_rgba(colour: str, alpha: float) -> tuple[float, float, float, float]:
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return (r, g, b, alpha)


def _fit(bounds: tuple[float, float, float, float], box_w: float, box_h: float
         ) -> tuple[float, float, float, float]:
    """The bounds grown (about their centre) to the frame's shape, so one metre is as long across as up."""
    x0, y0, x1, y1 = bounds
    dx, dy = x1 - x0, y1 - y0
    ratio = box_h / box_w
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if dy / dx < ratio:
        dy = dx * ratio
    else:
        dx = dy / ratio
    return cx - dx / 2, cy - dy / 2, cx + dx / 2, cy + dy / 2


def _nice_length(metres: float) -> float:
    """The longest of 1, 2 or 5 times a power of ten not above ``metres``."""
    power = 10 ** math.floor(math.log10(metres))
    return max(m * power for m in (1, 2, 5) if m * power <= metres)


def _scale_bar(ax: Any, limits: tuple[float, float, float, float], scale: float) -> None:
    Rectangle = _matplotlib().patches.Rectangle
    x0, y0, x1, y1 = limits
    length = _nice_length((x1 - x0) * 0.22)
    left, bottom = x0 + (x1 - x0) * 0.03, y0 + (y1 - y0) * 0.035
    height = (y1 - y0) * 0.008
    ax.add_patch(Rectangle((left - (x1 - x0) * 0.01, bottom - height * 1.6), length + (x1 - x0) * 0.02,
                           height * 6.2, facecolor="white", edgecolor="none", alpha=0.85, zorder=5))
    for i in range(4):
        ax.add_patch(Rectangle((left + i * length / 4, bottom), length / 4, height,
                               facecolor="black" if i % 2 == 0 else "white", edgecolor="black",
                               linewidth=0.6 * scale, zorder=6))
    unit, div = ("km", 1000) if length >= 1000 else ("m", 1)
    for at in (0, length / 2, length):
        label = f"{at / div:g}" + (f" {unit}" if at == length else "")
        ax.text(left + at, bottom + height * 1.6, label, ha="center", va="bottom", fontsize=7 * scale,
                zorder=6)


def _north_arrow(ax: Any, centre: tuple[float, float], scale: float) -> None:
    # True north at the map's centre, as a direction on the grid (grid convergence: up to 3° across GB).
    lon, lat = centre
    (xa, xb), (ya, yb) = _to_bng.transform([lon, lon], [lat, lat + 0.01])
    angle = math.atan2(xb - xa, yb - ya)
    tip = (0.94 + 0.06 * math.sin(angle), 0.86 + 0.06 * math.cos(angle))
    ax.annotate("", xy=tip, xytext=(0.94, 0.86), xycoords="axes fraction",
                arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.2 * scale,
                            "mutation_scale": 14 * scale}, zorder=6)
    ax.text(tip[0], tip[1] + 0.012, "N", transform=ax.transAxes, ha="center", va="bottom",
            fontsize=10 * scale, fontweight="bold", zorder=6)


def _chars(width_in: float, font_pt: float) -> int:
    """How many characters of DejaVu Sans at ``font_pt`` fit across ``width_in`` (0.55 em on average)."""
    return max(20, int(width_in * 72 / (font_pt * 0.55)))


class _Column:
    """Lines of text laid down from the top of an axes, measured in points so that nothing overlaps
    whatever the page's size."""

    def __init__(self, ax: Any, height_in: float, width_in: float, scale: float) -> None:
        self.ax, self.height_in, self.width_in, self.scale = ax, height_in, width_in, scale
        self.y = 1.0

    def down(self, points: float) -> None:
        self.y -= points * self.scale / 72 / self.height_in

    def text(self, text: str, size: float, width: float = 1.0, **style: Any) -> None:
        for line in textwrap.wrap(text, _chars(self.width_in * width, size * self.scale)):
            self.ax.text(0, self.y, line, fontsize=size * self.scale, va="top", **style)
            self.down(size * 1.35)


def _legend(ax: Any, data: MapData, scale: float, height_in: float, width_in: float) -> None:
    """The explorer's legend (atlas.view: the same title, method, notes, labels and counts)."""
    legend = data.view.legend()
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    col = _Column(ax, height_in, width_in, scale)
    col.text(legend["title"], 10, fontweight="bold")
    col.down(3)
    col.text(legend["method"], 8, color="#333333")
    for note in legend["notes"]:
        col.text(note, 7, style="italic", color="#555555")
    col.down(6)
    rows = [(r["colour"], r["label"], r["count"]) for r in legend["rows"]]
    if legend.get("ranges"):
        rows.append((None, legend["ranges"]["label"], legend["ranges"]["count"]))
    if legend["missing"]:
        rows.append((None, "No data", legend["missing"]))
    # Rows 20 pt apart, closer (down to 9 pt, with smaller type) when there are many (a categorical map's
    # OAC groups: 26), so the rows and the two lines under them fit the legend's column.
    room = (col.y * height_in * 72 / scale) - 8 - 2 * 7.5 * 1.35 * 2
    step = max(9.0, min(20.0, room / max(1, len(rows))))
    size = min(8.5, max(5.5, step * 0.45))
    swatch_h = min(14.0, step * 0.7) * scale / 72 / height_in
    for colour, text, count in rows:
        # Swatches in the class colours at full strength, as the explorer's legend shows them.
        ax.add_patch(_matplotlib().patches.Rectangle(
            (0, col.y - swatch_h), 0.12, swatch_h, facecolor=colour or NO_DATA, edgecolor="#666666",
            linewidth=0.6 * scale, hatch=None if colour else "////", linestyle="-" if colour else "--"))
        middle = col.y - swatch_h / 2
        ax.text(0.16, middle, text, fontsize=size * scale, va="center")
        ax.text(1.0, middle, f"{count:,} area{'s' if count != 1 else ''}", fontsize=(size - 0.5) * scale,
                va="center", ha="right", color="#555555")
        col.down(step)
    col.down(4)
    col.text(legend["foot"], 7.5, color="#333333")
    col.text(data.unit_line + ".", 7.5, color="#333333")


def _free(fig: Figure) -> None:
    """Let go of a drawn figure now. A Figure, its axes and artists refer to each other, so without this
    they (and the Agg canvas of up to 140 MB they keep) wait for the garbage collector's rare full pass:
    renders in a row grew a process by that much each until it ran. Text artists keep the renderer they were
    laid out with (``_renderer``): dropping it from every artist frees the canvas at once."""
    for artist in fig.findobj():
        artist.__dict__.pop("_renderer", None)
    fig.canvas.__dict__.pop("renderer", None)
    fig.clear()


@dataclass(frozen=True)
class Rendered:
    body: bytes
    mimetype: str
    crs: str
    limits: tuple[float, float, float, float]  # the map frame's bounds in CRS units (metres)
    frame: tuple[float, float, float, float]  # the map frame in image pixels: left, top, right, bottom


MARGIN = 0.02  # of the figure's width and height
MAP_WIDTH = 0.64  # the legend takes the right third


def render(data: MapData) -> Rendered:
    """Draw ``data`` into one new Figure and save it in the spec's format."""
    spec = data.spec
    w_in, h_in = spec.size_in
    # Type, lines and symbols keep their proportions to the page whatever its size.
    scale = min(w_in / A4_LANDSCAPE_IN[0], h_in / A4_LANDSCAPE_IN[1])
    mpl = _matplotlib()
    fig = mpl.figure.Figure(figsize=(w_in, h_in), dpi=spec.dpi, facecolor="white")

    def fraction(points: float) -> float:  # a height in points, as a fraction of the figure's
        return points * scale / 72 / h_in

    # Top down: title (wrapped to the page), subtitle; bottom up: sources and vintage; the map between.
    y = 1 - MARGIN
    text_width = (1 - 2 * MARGIN) * w_in
    for line in textwrap.wrap(data.title, _chars(text_width, 15 * scale * 1.1)):  # bold is wider
        fig.text(MARGIN, y, line, fontsize=15 * scale, fontweight="bold", va="top")
        y -= fraction(15 * 1.3)
    y -= fraction(4)
    fig.text(MARGIN, y, data.subtitle, fontsize=9.5 * scale, va="top", color="#333333")
    top = y - fraction(9.5 * 1.3 + 10)
    footer = [data.attribution, data.vintage + f" Projection: British National Grid ({CRS}). " + data.build]
    lines = [line for paragraph in footer for line in textwrap.wrap(paragraph, _chars(text_width, 7 * scale))]
    y = MARGIN + fraction(7 * 1.4) * len(lines)
    for line in lines:
        fig.text(MARGIN, y, line, fontsize=7 * scale, va="top", color="#333333")
        y -= fraction(7 * 1.4)
    bottom = MARGIN + fraction(7 * 1.4) * len(lines) + fraction(12)
    box = (MARGIN, bottom, MAP_WIDTH, max(0.2, top - bottom))

    ax = fig.add_axes(box)
    limits = _fit(data.bounds, box[2] * w_in, box[3] * h_in)
    ax.set_xlim(limits[0], limits[2])
    ax.set_ylim(limits[1], limits[3])
    ax.set_aspect("auto")  # _fit made the limits the frame's shape: equal scale without moving the frame
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor("#999999")
        spine.set_linewidth(0.6 * scale)

    colours = data.view.colours
    alpha = spec.state.opacity
    faces = [_hex_rgba(colours[c] if c >= 0 else NO_DATA, alpha) for c in data.classes.tolist()]
    small = spec.state.level.startswith("oa")
    areas = mpl.collections.PathCollection([_path(g) for g in data.geoms], facecolors=faces,
                                           edgecolors=[EDGE_RGBA], linewidths=(0.25 if small else 0.4) * scale,
                                           zorder=2)
    areas.set_transform(ax.transData)
    ax.add_collection(areas, autolim=False)
    for line in _lines(data.outline):
        ax.plot(line[:, 0], line[:, 1], color="black", linewidth=1.4 * scale, zorder=3,
                solid_joinstyle="round")
    _scale_bar(ax, limits, scale)
    _north_arrow(ax, data.centre_lonlat, scale)

    legend_left = MARGIN + MAP_WIDTH + 0.03
    legend_box = (legend_left, box[1], 1 - MARGIN - legend_left, box[3])
    _legend(fig.add_axes(legend_box), data, scale, legend_box[3] * h_in, legend_box[2] * w_in)

    out = io.BytesIO()
    title = data.title
    if spec.fmt == "png":
        metadata: dict[str, Any] = {"Title": title, "Source": data.attribution, "Software": "Neighbourhood Atlas"}
    elif spec.fmt == "pdf":
        # No dates: the same link gives the same bytes.
        metadata = {"Title": title, "Subject": data.attribution, "Creator": "Neighbourhood Atlas",
                    "CreationDate": None, "ModDate": None}
    else:
        metadata = {"Title": title, "Description": data.attribution, "Date": None,
                    "Creator": "Neighbourhood Atlas"}
    try:
        with _renders:
            fig.savefig(out, format=spec.fmt, dpi=spec.dpi, metadata=metadata, facecolor="white")
    finally:
        _free(fig)
    px_w, px_h = spec.width, spec.height
    left, bottom, width, height = box
    frame = (left * px_w, (1 - bottom - height) * px_h, (left + width) * px_w, (1 - bottom) * px_h)
    return Rendered(out.getvalue(), MIME[spec.fmt], CRS, limits, frame)


def url(state: view_state.ViewState, fmt: str = "png", bbox: tuple[float, float, float, float] | None = None,
        dpi: int | None = None) -> str:
    """The export link of an explorer view (for its Export control): the view's own query string, plus
    the map's bounds (rounded to about 1 m) and the resolution."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")
    query = view_state.to_query(state)
    if bbox is not None:
        query += "&bbox=" + ",".join(f"{v:.5f}" for v in bbox)
    if dpi is not None and fmt == "png":
        query += f"&dpi={int(dpi)}"
    return f"/export/map.{fmt}{query}"


def export(cat: Catalogue, args: Mapping[str, str], fmt: str) -> Rendered:
    """Parse, compute and draw: the whole export of one link (raises ExportError for a bad link)."""
    return render(map_data(cat, parse_export(args, fmt, cat)))
