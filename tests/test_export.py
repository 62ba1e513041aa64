"""The map exported as PNG, SVG and PDF: the colours of the areas are checked pixel by pixel against
classes computed here from the publisher's own file, and every bad parameter gets a 400 naming it."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from urllib.parse import parse_qsl

import flask
import numpy as np
import pyproj
import pytest
import shapely
import shapely.geometry
from PIL import Image

from atlas import catalogue, classify, export, palettes
from web import api, downloads, security

CAMDEN = "E09000007"
BULK = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
AGE_0_4 = "Age: Age 0 to 4; measures: Value"  # the cell of ks102ew0002 in the Nomis bulk file
VIEW = f"authority={CAMDEN}&level=lsoa11&variable=ks102ew0002&scheme=quantiles&k=5&palette=YlGnBu"
TITLE = "Age 0 to 4 (people): Camden, lower layer super output areas (2011)"


@pytest.fixture()
def client(atlas_env: Path) -> flask.testing.FlaskClient:
    server = flask.Flask(__name__)
    api.init_app(server)
    downloads.init_app(server)
    security.init_app(server)
    return server.test_client()


@pytest.fixture(scope="module")
def raw_age_0_4(raw_dir: Path) -> dict[str, float]:
    with open(raw_dir / BULK, newline="", encoding="utf-8-sig") as f:
        return {r["geography code"]: float(r[AGE_0_4]) for r in csv.DictReader(f)}


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def _expected_colours(codes: list[str], raw: dict[str, float], k: int = 5, palette: str = "YlGnBu"
                      ) -> dict[str, str]:
    """Each area's class colour, computed here from the raw counts with classify and palettes."""
    values = np.array([raw[c] for c in codes])
    result = classify.classify(values, "quantiles", k)
    colours = palettes.colours(palette, result.k)
    return {code: colours[i] for code, i in zip(codes, classify.class_index(values, result.breaks), strict=True)}


def _pixel_points(client, response, min_px: float = 6.0) -> dict[str, tuple[int, int]]:
    """For each area far enough inside its boundary: its representative point in image pixels.

    Geometry from the data API, projected here to British National Grid; the image's frame and bounds
    from its headers."""
    assert response.headers["X-Map-CRS"] == "EPSG:27700"
    x0, y0, x1, y1 = (float(v) for v in response.headers["X-Map-Bounds"].split(","))
    left, top, right, bottom = (float(v) for v in response.headers["X-Map-Frame"].split(","))
    to_bng = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    features = client.get(f"/api/areas/{CAMDEN}/lsoa11.geojson").get_json()["features"]
    metres_per_px = (x1 - x0) / (right - left)
    points = {}
    for f in features:
        geom = shapely.transform(shapely.geometry.shape(f["geometry"]),
                                 lambda xy: np.column_stack(to_bng.transform(xy[:, 0], xy[:, 1])))
        point = geom.representative_point()
        if geom.boundary.distance(point) / metres_per_px < min_px:
            continue  # too near a border line for an exact fill colour
        px = left + (point.x - x0) / (x1 - x0) * (right - left)
        py = top + (y1 - point.y) / (y1 - y0) * (bottom - top)
        points[f["properties"]["code"]] = (int(px), int(py))
    return points


def test_png_pixels_are_the_class_colours_computed_from_the_raw_file(client, raw_age_0_4):
    response = client.get(f"/export/map.png?{VIEW}&opacity=1")
    assert response.status_code == 200 and response.mimetype == "image/png"
    image = Image.open(io.BytesIO(response.data)).convert("RGB")
    codes = [r["code"] for r in client.get(f"/api/values/{CAMDEN}/lsoa11/ks102ew0002.json").get_json()["rows"]]
    assert len(codes) == 133
    expected = _expected_colours(codes, raw_age_0_4)
    points = _pixel_points(client, response)
    assert len(points) >= 20
    checked_classes = set()
    for code, (px, py) in sorted(points.items()):
        assert image.getpixel((px, py)) == _rgb(expected[code]), code
        checked_classes.add(expected[code])
    assert len(checked_classes) == 5  # every class was checked somewhere

    # The legend (right of the map frame) shows each class's colour as a swatch.
    frame_right = float(response.headers["X-Map-Frame"].split(",")[2])
    legend = np.asarray(image)[:, int(frame_right) + 5:]
    for colour in palettes.colours("YlGnBu", 5):
        assert (legend == _rgb(colour)).all(axis=2).sum() > 200, colour


def test_png_opacity_blends_the_class_colour_with_white(client, raw_age_0_4):
    response = client.get(f"/export/map.png?{VIEW}&opacity=0.6")
    image = Image.open(io.BytesIO(response.data)).convert("RGB")
    codes = [r["code"] for r in client.get(f"/api/values/{CAMDEN}/lsoa11/ks102ew0002.json").get_json()["rows"]]
    expected = _expected_colours(codes, raw_age_0_4)
    points = _pixel_points(client, response)
    for code, (px, py) in list(sorted(points.items()))[:15]:
        want = [0.6 * c + 0.4 * 255 for c in _rgb(expected[code])]
        got = image.getpixel((px, py))
        assert all(abs(g - w) <= 1.01 for g, w in zip(got, want, strict=True)), (code, got, want)


def test_classes_follow_scheme_palette_and_reverse(client, raw_age_0_4):
    response = client.get(f"/export/map.png?authority={CAMDEN}&level=lsoa11&variable=ks102ew0002"
                          "&scheme=equal_interval&k=4&palette=OrRd&reverse=1&opacity=1")
    assert response.status_code == 200
    image = Image.open(io.BytesIO(response.data)).convert("RGB")
    codes = [r["code"] for r in client.get(f"/api/values/{CAMDEN}/lsoa11/ks102ew0002.json").get_json()["rows"]]
    values = np.array([raw_age_0_4[c] for c in codes])
    # Equal intervals of the published counts, the breaks rounded to the printed precision (whole people)
    # before classifying, so every printed count lies in its printed class; class i holds b[i-1] < v <= b[i].
    breaks = np.round(values.min() + (values.max() - values.min()) * np.arange(1, 5) / 4)
    colours = palettes.colours("OrRd", 4, reverse=True)
    classes = dict(zip(codes, np.searchsorted(breaks, values, side="left"), strict=True))
    points = _pixel_points(client, response)
    for code, (px, py) in sorted(points.items()):
        assert image.getpixel((px, py)) == _rgb(colours[classes[code]]), code


@pytest.mark.parametrize("query,size", [
    ("", (1123, 794)),  # A4 landscape at the screen's 96 dpi
    ("&dpi=300", (3508, 2480)),  # and at print resolution
    ("&dpi=72", (842, 595)),
    ("&width=800", (800, 566)),  # A4's proportions kept
    ("&width=1000&height=500", (1000, 500)),
    ("&height=600&dpi=150", (849, 600)),
])
def test_png_size_is_as_asked(client, query, size):
    response = client.get(f"/export/map.png?{VIEW}{query}")
    assert response.status_code == 200, response.get_json()
    assert Image.open(io.BytesIO(response.data)).size == size


def test_png_draws_the_authority_outline(client):
    response = client.get(f"/export/map.png?{VIEW}&opacity=1")
    image = np.asarray(Image.open(io.BytesIO(response.data)).convert("L"))
    x0, y0, x1, y1 = (float(v) for v in response.headers["X-Map-Bounds"].split(","))
    left, top, right, bottom = (float(v) for v in response.headers["X-Map-Frame"].split(","))
    to_bng = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    features = client.get(f"/api/areas/{CAMDEN}/lsoa11.geojson").get_json()["features"]
    merged = shapely.union_all([shapely.transform(shapely.geometry.shape(f["geometry"]), lambda xy: np.column_stack(
        to_bng.transform(xy[:, 0], xy[:, 1]))) for f in features], grid_size=1.0)
    ring = max(getattr(merged, "geoms", [merged]), key=lambda p: p.area).exterior
    dark = 0
    for i in range(60):
        point = ring.interpolate(i / 60, normalized=True)
        px = left + (point.x - x0) / (x1 - x0) * (right - left)
        py = top + (y1 - point.y) / (y1 - y0) * (bottom - top)
        dark += image[int(py), int(px)] < 90
    assert dark >= 54  # the outline is a black line 1.4 pt wide along the authority's edge


def test_svg_parses_and_carries_the_title_as_text(client, raw_age_0_4):
    response = client.get(f"/export/map.svg?{VIEW}")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    root = ET.fromstring(response.data)
    assert root.tag.endswith("svg")
    texts = ["".join(el.itertext()) for el in root.iter() if el.tag.endswith("text")]
    assert TITLE in texts
    assert any("Open Government Licence" in t for t in texts)
    assert any(t.startswith("Data: Census 2011") for t in texts)  # the vintage line
    assert "N" in texts and "km" in " ".join(texts)  # north arrow, scale bar
    assert "5 classes, Quantiles, breaks within Camden" in texts  # the method, as the explorer's legend says it
    # The legend's class counts, as computed here from the raw file.
    codes = [r["code"] for r in client.get(f"/api/values/{CAMDEN}/lsoa11/ks102ew0002.json").get_json()["rows"]]
    values = np.array([raw_age_0_4[c] for c in codes])
    result = classify.classify(values, "quantiles", 5)
    counts = np.bincount(classify.class_index(values, result.breaks), minlength=5)
    legend_counts = [t for t in texts if re.fullmatch(r"[\d,]+ areas?", t)]
    assert legend_counts == [f"{n} area{'s' if n != 1 else ''}" for n in counts]
    # Quantile breaks snap down to a value some area has (a count is whole: no "45.6" bound).
    first_break = values[values <= np.percentile(values, 20)].max()
    assert [t for t in texts if " – " in t][0] == f"{values.min():,.0f} – {first_break:,.0f}"


def test_pdf_is_a4_landscape_and_carries_the_title(client):
    response = client.get(f"/export/map.pdf?{VIEW}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    body = response.data
    assert body.startswith(b"%PDF")
    width, height = (float(v) for v in re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", body).groups())
    assert (round(width), round(height)) == (842, 595)
    escaped = TITLE.replace("(", "\\(").replace(")", "\\)")  # a PDF string escapes its parentheses
    assert b"/Title (" + escaped.encode() + b")" in body
    # The text itself is in the page (TrueType, so a reader can search it): glyph names of the title's
    # words appear in the embedded font's character map and the page draws text.
    pages = [zlib.decompress(m) for m in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S)
             if m[:2] in (b"x\x9c", b"x\xda", b"x^")]
    assert any(b" Tj" in p or b"TJ" in p for p in pages)


def test_same_link_same_bytes(atlas_env):
    s = catalogue.build()
    args = dict(p.split("=") for p in VIEW.split("&"))
    for fmt in export.FORMATS:
        spec = export.parse_export(args, fmt, s)
        first = export.render(export.map_data(s, spec)).body
        assert export.render(export.map_data(s, spec)).body == first, fmt


def test_national_view_exports(client):
    response = client.get("/export/map.png?authority=all&level=lad&variable=ks102ew0018&dpi=72")
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.data)).size == (842, 595)


def test_bbox_sets_the_frame(client):
    bbox = "-0.16,51.53,-0.12,51.55"
    response = client.get(f"/export/map.png?{VIEW}&bbox={bbox}")
    assert response.status_code == 200
    x0, y0, x1, y1 = (float(v) for v in response.headers["X-Map-Bounds"].split(","))
    to_bng = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    w, s, e, n = to_bng.transform_bounds(-0.16, 51.53, -0.12, 51.55)
    # The frame holds the whole box, grown on one axis only to the frame's shape.
    assert x0 <= w + 1 and y0 <= s + 1 and x1 >= e - 1 and y1 >= n - 1
    assert min(abs(x0 - w) + abs(x1 - e), abs(y0 - s) + abs(y1 - n)) < 2


def test_conditional_request_gets_304(client):
    first = client.get(f"/export/map.svg?{VIEW}")
    again = client.get(f"/export/map.svg?{VIEW}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    other = client.get(f"/export/map.svg?{VIEW.replace('k=5', 'k=4')}")
    assert other.headers["ETag"] != first.headers["ETag"]


def _view(**changes: str) -> str:
    """VIEW with some keys changed or added (each key once)."""
    params = dict(p.split("=") for p in VIEW.split("&"))
    params.update(changes)
    return "&".join(f"{k}={v}" for k, v in params.items())


@pytest.mark.parametrize("path,query,parameter", [
    ("map.png", "authority=E99999999", "authority"),
    ("map.png", _view(level="msoa11"), "level"),
    ("map.png", _view(variable="nope"), "variable"),
    ("map.png", _view(variable="wimd2019_wimd_rank"), "variable"),
    ("map.png", _view(scheme="kmeans"), "scheme"),
    ("map.png", _view(k="12"), "k"),
    ("map.png", _view(k="five"), "k"),
    ("map.png", _view(scheme="custom", breaks="30,20"), "breaks"),
    ("map.png", _view(scheme="custom"), "breaks"),
    ("map.png", _view(variable="gla2011_avhholdsz", scope="national"), "scope"),
    ("map.png", _view(scope="galactic"), "scope"),
    ("map.png", _view(palette="Rainbow"), "palette"),
    ("map.png", _view(reverse="maybe"), "reverse"),
    ("map.png", _view(opacity="3"), "opacity"),
    ("map.png", _view(bbox="1,2,3"), "bbox"),
    ("map.png", _view(bbox="0.1,51.6,-0.2,51.5"), "bbox"),
    ("map.png", _view(bbox="a,b,c,d"), "bbox"),
    ("map.png", _view(bbox="100,10,120,20"), "bbox"),
    ("map.png", _view(dpi="20"), "dpi"),
    ("map.png", _view(dpi="700"), "dpi"),
    ("map.png", _view(dpi="high"), "dpi"),
    ("map.png", _view(width="50"), "width"),
    ("map.png", _view(width="9000", height="9000"), "dpi"),
    ("map.pdf", _view(width="800"), "width"),
    ("map.gif", VIEW, "format"),
    ("map.png", _view(colour="red"), "colour"),
    ("map.png", f"{VIEW}&k=4", "k"),  # given twice
])
def test_bad_parameters_get_400_naming_them(client, path, query, parameter):
    response = client.get(f"/export/{path}?{query}")
    assert response.status_code == 400 and response.mimetype == "application/json"
    body = response.get_json()
    assert parameter in body["parameters"], body
    assert body["parameter"] == body["parameters"][0]
    assert body["error"] and body["messages"]
    assert "Traceback" not in body["error"]


def test_export_url_of_a_view_reopens_the_same_view(client):
    from atlas import viewstate as view_state

    s = catalogue.build()
    raw, _ = view_state.parse_query(f"?{VIEW}&reverse=1&opacity=0.65&scope=national")
    st = view_state.resolve(raw, s, lambda a, lv: [v["id"] for v in s.variables(authority=a, level=lv)]).state
    link = export.url(st, "png", bbox=(-0.2, 51.52, -0.11, 51.57), dpi=300)
    assert link.startswith("/export/map.png?") and "dpi=300" in link
    response = client.get(link)
    assert response.status_code == 200, response.get_json()
    query = link.split("?", 1)[1]
    spec = export.parse_export(dict(parse_qsl(query)), "png", s)
    assert spec.state == st and spec.dpi == 300 and spec.bbox == (-0.2, 51.52, -0.11, 51.57)


def test_the_api_index_lists_the_download_routes(client):
    rules = [r["rule"] for r in client.get("/api").get_json()["routes"]]
    assert "/export/map.<format>" in rules and "/datapack/<authority>.zip" in rules
    assert "/api/values/<authority>/<level>/<variable>.<format>" in rules


def test_renders_in_parallel_threads_equal_serial_ones(atlas_env):
    """Each render has its own Figure (no pyplot state): threads must not see each other's drawing."""
    from concurrent.futures import ThreadPoolExecutor

    s = catalogue.build()
    specs = [export.parse_export(dict(parse_qsl(q)), fmt, s) for q, fmt in [
        (VIEW, "png"), (_view(palette="OrRd", k="7"), "png"), (_view(level="oa11", variable="ks102ew0018"), "svg"),
        (_view(scheme="equal_interval"), "png")]]
    serial = [export.render(export.map_data(s, spec)).body for spec in specs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda spec: export.render(export.map_data(s, spec)).body, specs * 2))
    assert parallel == serial * 2


def test_areas_without_data_are_counted_in_the_legend(client):
    rows = client.get("/api/values/all/lad/ks102ew0018.json").get_json()["rows"]
    missing = sum(r["value"] is None for r in rows)
    assert missing > 0  # Scotland's and Northern Ireland's districts: no 2011 Census figures for England and Wales
    root = ET.fromstring(client.get("/export/map.svg?authority=all&level=lad&variable=ks102ew0018").data)
    texts = ["".join(el.itertext()) for el in root.iter() if el.tag.endswith("text")]
    at = texts.index("No data")
    assert texts[at + 1] == f"{missing} areas"


def test_projected_areas_kept_stay_within_their_bytes_and_come_back_the_same(atlas_env, monkeypatch) -> None:
    """The areas projected for images are kept by bytes (``PROJECTED_BYTES``), not by count: after drawing three
    districts with room for about one, one or two are kept, and a district dropped is projected again the same."""
    from collections import OrderedDict

    cat = catalogue.build()
    monkeypatch.setattr(export, "_projected_memo", OrderedDict())
    monkeypatch.setattr(export, "_projected_used", 0)
    first, _ = export._projected(cat, "E09000007", "lsoa11")  # Camden
    one = export._projected_used
    assert one == int(shapely.get_num_coordinates(first).sum()) * 16 + len(first) * 100
    monkeypatch.setattr(export, "PROJECTED_BYTES", int(one * 1.5))
    for place in ("E09000033", "E09000019"):  # Westminster, Islington
        export._projected(cat, place, "lsoa11")
        assert 0 < export._projected_used <= export.PROJECTED_BYTES
    assert 1 <= len(export._projected_memo) < 3
    again, _ = export._projected(cat, "E09000007", "lsoa11")
    assert len(again) == len(first) and all(shapely.equals_exact(a, b, 0) for a, b in zip(again, first, strict=True))
