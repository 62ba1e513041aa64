"""The compare view in headless Chromium (Debian's chromium and chromedriver), driven like a user would.

Few and focused: two maps and the bivariate map drawn from one URL, pan and zoom kept in sync, a point
of the scatter plot finding its area and an area finding its point, pinning areas (by mouse and by
keyboard) and the profile's CSV, the URL round trip with back/forward, a bad parameter's message, and a
console without errors. Places larger than a district: London's 4,835 LSOAs (counted from the publishers'
lookups) with the numbers shown checked against /api/view.json and the raw census table, the national
overview of districts, and England and Wales at LSOA level, drawn from vector tiles beside a density plot.
The duo fixture and helpers are the explorer's (tests/test_browser_explorer.py).
"""
# The explorer's fixture `duo` is imported to be shared: pytest registers it by that name, which the
# tests' parameters then name (ruff reads that as a redefinition).
# ruff: noqa: F811

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
from browser_support import blend, choose, interior_point, pointer_to, shows
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from test_browser_explorer import _query, _wait

pytestmark = pytest.mark.browser

IMD_RANK_2019 = "Index of Multiple Deprivation (IMD) rank, IoD 2019 (1 is most deprived)"

CAMDEN = "E09000007"
#: The search lists the share computed here beside the published one (issue 17 §10), saying how they differ.
AGE_75_84 = ("Age 75 to 84 (% of all usual residents) (KS102EW): percentage, computed here as KS102EW0015 "
             "(Age 75 to 84) / KS102EW0001 (all usual residents) x 100")
URL = (f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct&view=compare"
       "&variable_b=imd2019_imd_rank")


def _drawn(duo, m: str, n: int = 133, timeout: float = 20) -> dict[str, dict]:
    got = _wait(duo, f"window.atlas.cmp.drawn({m!r}).length === {n} && window.atlas.cmp.drawn({m!r})", timeout)
    return {d["code"]: d for d in got}


def _open(duo, search: str = URL) -> None:
    duo.wait_for_page(duo.server_url + search)
    for m in ("a", "b", "bv"):
        _drawn(duo, m)


class _View:
    """A map's centre and zoom; equal when the zooms are and the centres within ~10 m (under a pixel)."""

    def __init__(self, lat: float, lng: float, zoom: int) -> None:
        self.lat, self.lng, self.zoom = lat, lng, zoom

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _View) and self.zoom == other.zoom and abs(self.lat - other.lat) < 1e-4 and \
            abs(self.lng - other.lng) < 1e-4

    def __repr__(self) -> str:
        return f"_View({self.lat}, {self.lng}, {self.zoom})"


def _view(duo, m: str) -> _View:
    return _View(*duo.driver.execute_script(
        f"var map = window.atlas.cmp.map({m!r}), c = map.getCenter(); return [c.lat, c.lng, map.getZoom()];"))


def _cmp_point(duo, m: str, code: str) -> tuple[int, int]:
    """Container pixel of a point well inside the area ``code`` on compare map ``m``."""
    return interior_point(duo, f"window.atlas.cmp.layerOf({m!r}, {code!r})", min_px=60, max_zoom=15)


def _click_area(duo, m: str, code: str) -> None:
    x, y = _cmp_point(duo, m, code)
    box = duo.find_element(f"#compare-map-{m}")
    # Selenium 4.2 offsets from the element's top left corner.
    ActionChains(duo.driver).move_to_element_with_offset(box, x, y).click().perform()


GD = "document.querySelector('#compare-graph .js-plotly-plot')"


def _selected_points(duo) -> list[str]:
    """The codes of the points selected in the scatter plot (Plotly's own ``selectedpoints``)."""
    return sorted(duo.driver.execute_script(
        f"var gd = {GD}, t = gd && gd.data[0]; if (!t || !t.selectedpoints) return [];"
        "return t.selectedpoints.map(function (i) { return t.customdata[i]; });"))


def _points(duo) -> list[dict]:
    """Every point of the scatter plot: its code and its centre in the page (CSS pixels)."""
    return duo.driver.execute_script(
        f"var gd = {GD}, t = gd.data[0];"
        "return Array.from(gd.querySelectorAll('.scatterlayer .trace:first-child .points path.point'))"
        ".map(function (p, i) { var r = p.getBoundingClientRect();"
        "  return {code: t.customdata[i], x: r.left + r.width / 2, y: r.top + r.height / 2}; });")


def test_cmp001_side_by_side_in_sync_and_the_url_round_trip(duo) -> None:
    _open(duo)
    a, b, bv = _drawn(duo, "a"), _drawn(duo, "b"), _drawn(duo, "bv")
    assert {c: d["fill"] for c, d in a.items()} != {c: d["fill"] for c, d in b.items()}
    # Stevens' blue-pink: the bivariate map uses only its nine colours.
    assert {d["fill"] for d in bv.values()} <= {"#e8e8e8", "#ace4e4", "#5ac8c8", "#dfb0d6", "#a5add3", "#5698b9",
                                               "#be64ac", "#8c62aa", "#3b4994"}
    duo.wait_for_contains_text("#compare-stats", "over 133 areas with both values (none left out)")
    assert "Pearson r = 0.360" in duo.find_element("#compare-stats").text  # see test_compare_view for the figure
    duo.wait_for_contains_text("#compare-legend-a", "Age 65 to 74")
    duo.wait_for_contains_text("#compare-legend-b", "Index of Multiple Deprivation (IMD) rank")
    assert len(duo.driver.find_elements("css selector", "#compare-legend-bv .bv-cell")) == 9
    assert not duo.find_element("#map").is_displayed()  # the explorer's single map gives way

    # Pan and zoom: any map leads, the others follow, in the browser.
    assert _view(duo, "a") == _view(duo, "b") == _view(duo, "bv")
    duo.driver.execute_script("window.atlas.cmp.map('a').setView([51.535, -0.14], 15, {animate: false});")
    _wait(duo, "window.atlas.cmp.map('b').getZoom() === 15 && window.atlas.cmp.map('bv').getZoom() === 15")
    assert _view(duo, "a") == _view(duo, "b") == _view(duo, "bv")
    duo.find_element("#compare-map-b .leaflet-control-zoom-out").click()  # the zoom buttons, by mouse
    _wait(duo, "window.atlas.cmp.map('a').getZoom() === 14")
    box = duo.find_element("#compare-map-bv")
    ActionChains(duo.driver).move_to_element(box).click_and_hold().move_by_offset(80, 40).release().perform()
    _wait(duo, "window.atlas.cmp.map('a').getCenter().lng < -0.14")  # dragged east: the view moves west
    assert _view(duo, "a") == _view(duo, "b") == _view(duo, "bv")
    duo.find_element("#compare-map-a").send_keys(Keys.ADD)  # and the keyboard
    _wait(duo, "window.atlas.cmp.map('b').getZoom() === 15")

    # Switching B writes the URL; switching A keeps the compare view; back brings B back.
    choose(duo, "variable_b", "Mean age (KS102EW)", search="mean age")
    _wait(duo, "new URLSearchParams(location.search).get('variable_b') === 'ks102ew0018'")
    duo.wait_for_contains_text("#compare-legend-b", "Mean age")
    choose(duo, "variable", AGE_75_84, search="75 to 84 %")
    duo.wait_for_contains_text("#compare-legend-a", "Age 75 to 84")
    q = _query(duo)
    assert (q["view"], q["variable"], q["variable_b"]) == ("compare", "ks102ew0015_pct", "ks102ew0018")
    duo.driver.back()
    duo.wait_for_contains_text("#compare-legend-a", "Age 65 to 74")
    duo.driver.back()
    duo.wait_for_contains_text("#compare-legend-b", "Index of Multiple Deprivation (IMD) rank")
    assert _query(duo)["variable_b"] == "imd2019_imd_rank"
    # And back to the explorer with the view switch.
    duo.find_element("#view input[value='explore']").click()
    _wait(duo, "!new URLSearchParams(location.search).has('view')")  # the explorer's own address again
    _wait(duo, "document.getElementById('map').offsetWidth > 0 && !document.body.classList.contains('atlas-compare')")
    assert not duo.find_element("#compare").is_displayed()
    assert duo.get_logs() == []


def test_cmp002_points_find_areas_and_areas_find_points(duo) -> None:
    _open(duo)
    codes = sorted(_drawn(duo, "a"))
    # The scatter plot is a Plotly graph made on the server, one point per area with both values.
    duo.find_element("#compare-scatter").location_once_scrolled_into_view  # noqa: B018 - scrolls
    points = _wait(duo, f"{GD} && {GD}.data[0].customdata.length === 133 && true") and _points(duo)
    assert len(points) == 133 and {p["code"] for p in points} == set(codes)
    plot = duo.find_element("#compare-graph .nsewdrag")
    box = duo.driver.execute_script(  # in the viewport's pixels, as the points' are
        "var r = arguments[0].getBoundingClientRect(); return {x: r.left, y: r.top, width: r.width, height: r.height};",
        plot)
    # A point hovered outlines its area on every map: one well inside the plot, alone near its spot.
    alone = [p for p in points if box["x"] + 20 < p["x"] < box["x"] + box["width"] - 20
             and box["y"] + 20 < p["y"] < box["y"] + box["height"] - 20
             and all(abs(p["x"] - q["x"]) + abs(p["y"] - q["y"]) > 12 for q in points if q is not p)]
    hovered = alone[0]
    ActionChains(duo.driver).move_to_element_with_offset(
        plot, int(hovered["x"] - box["x"]), int(hovered["y"] - box["y"])).perform()
    for m in ("a", "b", "bv"):
        _wait(duo, f"window.atlas.cmp.layerOf({m!r}, {hovered['code']!r}).options.weight === 3.5")
    # A box dragged over the plot selects the points inside it and highlights their areas.
    x0, y0 = box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.25
    x1, y1 = box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.75
    inside = sorted(p["code"] for p in points if x0 <= p["x"] <= x1 and y0 <= p["y"] <= y1)
    assert len(inside) >= 3
    ActionChains(duo.driver).move_to_element_with_offset(plot, int(x0 - box["x"]), int(y0 - box["y"])) \
        .click_and_hold().move_by_offset(int((x1 - x0) / 2), int((y1 - y0) / 2)) \
        .move_by_offset(int((x1 - x0) / 2), int((y1 - y0) / 2)).release().perform()
    _wait(duo, " && ".join(f"window.atlas.cmp.layerOf('b', {c!r}).options.weight === 3.5" for c in inside))
    assert _selected_points(duo) == inside
    # An area clicked on a map: its point is selected in the plot, its profile opens.
    target = next(c for c in codes[60:] if c not in inside)
    _click_area(duo, "b", target)
    _wait(duo, f"window.atlas.cmp.layerOf('a', {target!r}).options.weight === 3.5")
    _wait(duo, f"{GD}.data[0].selectedpoints && {GD}.data[0].selectedpoints.length === 1")
    assert _selected_points(duo) == [target]
    assert _wait(duo, f"window.atlas.cmp.layerOf('a', {inside[0]!r}).options.weight") < 3.5
    duo.wait_for_contains_text("#compare-profile", target)
    assert "(clicked)" in duo.find_element("#compare-profile").text
    # The explorer's page never loads plotly.js; the compare view did, when its graph was made.
    assert duo.driver.execute_script("return !!window.Plotly")
    assert duo.get_logs() == []


def test_cmp003_pin_areas_and_download_the_profile(duo, tmp_path: Path) -> None:
    _open(duo)
    codes = sorted(_drawn(duo, "a"))
    first = codes[5]
    _click_area(duo, "a", first)
    duo.wait_for_contains_text("#compare-profile", first)
    duo.find_element(f"button[data-cmp-pin='{first}']").click()
    _wait(duo, f"new URLSearchParams(location.search).get('areas') === {first!r}")
    duo.wait_for_contains_text("#compare-profile", "(pinned)")

    # By keyboard: the explorer's table selects an area, which opens its profile; Enter on Pin pins it.
    button = duo.find_element(f"#area-table button.select:not([data-atlas-select='{first}'])")
    second = button.get_attribute("data-atlas-select")
    # The table is redrawn when a page of figures arrives (it may while a keyboard user is on a row): the
    # row's button keeps the focus, so the key pressed next still reaches it (a CI failure of stop 23).
    duo.driver.execute_script("window.__before = arguments[0]; arguments[0].focus();"
                              "window.dispatchEvent(new Event('atlas:details'));", button)
    assert duo.driver.execute_script(
        "var a = document.activeElement; return a !== window.__before && a.getAttribute('data-atlas-select');",
    ) == second
    ActionChains(duo.driver).send_keys(Keys.ENTER).perform()
    pin = _wait(duo, f"document.querySelector(\"button[data-cmp-pin='{second}']\")")
    pin.send_keys(Keys.ENTER)
    _wait(duo, f"new URLSearchParams(location.search).get('areas') === '{first},{second}'")
    duo.wait_for_element(f"button[data-cmp-pin='{second}'][aria-pressed='true']")

    # The pinned areas come back from the URL alone.
    duo.wait_for_page(duo.driver.current_url)
    duo.wait_for_element(f"button[data-cmp-pin='{second}'][aria-pressed='true']")
    header = duo.find_element("#compare-profile thead").text
    assert header.index(first) < header.index(second)

    duo.find_element("#compare-download-button").click()
    end = time.monotonic() + 15
    files: list[Path] = []
    while not files and time.monotonic() < end:
        files = [f for f in tmp_path.glob("profile-*.csv")]
        time.sleep(0.2)
    assert files, "no CSV downloaded"
    rows = list(csv.reader(files[0].open()))
    assert rows[0][3:7] == [f"{first} value", f"{first} percentile in Camden", f"{second} value",
                            f"{second} percentile in Camden"]
    assert {r[0] for r in rows[2:]} >= {"ks102ew0014_pct", "imd2019_imd_rank"}

    duo.find_element(f"button[data-cmp-pin='{first}']").click()  # unpin
    _wait(duo, f"new URLSearchParams(location.search).get('areas') === {second!r}")
    assert duo.get_logs() == []


def test_cmp004_bad_parameters_say_so(duo) -> None:
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct&view=compare"
                      "&variable_b=ks102ew0014_pct&areas=E01000842,NOPE")
    duo.wait_for_contains_text("#compare-message", "same as variable A")
    duo.wait_for_contains_text("#compare-message", "no area 'NOPE'")
    _drawn(duo, "b")
    # The address says what is shown: B fell back to another variable, and only the real area is pinned.
    _wait(duo, "new URLSearchParams(location.search).get('variable_b') !== 'ks102ew0014_pct'")
    assert _query(duo)["areas"] == "E01000842"
    assert duo.get_logs() == []


def test_cmp005_switch_to_compare_from_the_keyboard(duo) -> None:
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=oa11&variable=ks102ew0014_pct")
    _wait(duo, "window.atlas.drawn().length === 749")
    assert not duo.find_element("#compare").is_displayed()
    radio = duo.find_element("#view input[value='compare']")
    radio.send_keys(Keys.SPACE)  # focus is on the radio group: the space bar chooses
    _wait(duo, "new URLSearchParams(location.search).get('view') === 'compare'")
    for m in ("a", "b", "bv"):
        _drawn(duo, m, 749)
    # The maps were hidden when the page opened: shown, they are sized and fitted to Camden together.
    _wait(duo, "window.atlas.cmp.map('a').getZoom() >= 12")
    assert _view(duo, "a") == _view(duo, "b") == _view(duo, "bv")
    assert duo.find_element("#variable_b").text == "Mean age"  # the first headline figure that is not A
    assert duo.get_logs() == []


# -- places larger than a district -------------------------------------------------------------------------

LOOKUP = "lookups/Lower_Layer_Super_Output_Area_(2011)_to_Ward_(2019)_Lookup_in_England_and_Wales.csv"
REGIONS = "lookups/Local_Authority_District_to_Region_(April_2021)_Lookup_in_England.csv"
LADS = "boundaries/lad/Local_Authority_Districts_(December_2021)_UK_BUC.geojson"
KS102 = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
LONDON = "E12000007"

# Records the page's Content-Security-Policy violations from its first script on (a blocked eval is not
# always a console error, and a blocked plot only says "WebGL is not supported" in its own box).
_CSP_WATCH = ("window.__cspViolations = []; document.addEventListener('securitypolicyviolation', function (e) {"
              "window.__cspViolations.push(e.violatedDirective + ' ' + (e.sourceFile || e.blockedURI)); });")


def _watch_csp(duo) -> None:
    duo.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _CSP_WATCH})


def _london_lsoas(raw_dir: Path) -> set[str]:
    """London's LSOAs from the publishers' files: the districts of region E12000007 (the region lookup), and
    the LSOAs of those districts (the LSOA -> ward lookup; London's boroughs are unchanged 2019-21)."""
    with open(raw_dir / REGIONS, newline="", encoding="utf-8-sig") as f:
        boroughs = {r["LAD21CD"] for r in csv.DictReader(f) if r["RGN21CD"] == LONDON}
    with open(raw_dir / LOOKUP, newline="", encoding="utf-8-sig") as f:
        return {r["LSOA11CD"] for r in csv.DictReader(f) if r["LAD19CD"] in boroughs}


def _raw_mean_age(raw_dir: Path, code: str) -> float:
    with open(raw_dir / KS102, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        at, mean = header.index("geography code"), [i for i, h in enumerate(header) if h.startswith("Age: ")][17]
        return next(float(row[mean]) for row in reader if row[at] == code)


def _api_view(duo, **query: str) -> dict:
    with urlopen(duo.server_url + "/api/view.json?" + urlencode(query), timeout=60) as r:  # noqa: S310 - the test's server
        return json.load(r)


def _tip_text(duo, m: str, code: str, wanted: list[str], timeout: float = 20) -> str:
    """The hover card of ``code`` on compare map ``m`` once it shows every text of ``wanted``: the mouse is
    moved onto the area (and off and on again while the printed values are still on their way)."""
    box = duo.find_element(f"#compare-map-{m}")
    end = time.monotonic() + timeout
    text = ""
    while time.monotonic() < end:
        x, y = _cmp_point(duo, m, code)
        ActionChains(duo.driver).move_to_element_with_offset(box, x, y).perform()
        text = duo.driver.execute_script(
            f"var t = document.querySelector('#compare-map-{m} .leaflet-tooltip.atlas-tip');"
            "return t ? t.innerText : '';")
        if all(w in text for w in wanted):
            return text
        ActionChains(duo.driver).move_to_element(duo.find_element("#view")).perform()
        _wait(duo, f"!document.querySelector('#compare-map-{m} .leaflet-tooltip.atlas-tip')")
    raise AssertionError(f"the hover card of {code} on map {m} never showed {wanted}: {text!r}")


def test_cmp006_compare_on_a_region(duo, raw_dir: Path) -> None:
    """London's 4,835 LSOAs on three maps and in the scatter plot; an area selected on one map is the same
    area on the others and among the points; the numbers shown for it are the API's and the census's."""
    london = _london_lsoas(raw_dir)
    n = len(london)
    _watch_csp(duo)
    duo.wait_for_page(duo.server_url + f"/?authority={LONDON}&level=lsoa11&variable=ks102ew0018&view=compare"
                      "&variable_b=imd2019_imd_rank")
    drawn = {m: _drawn(duo, m, n, timeout=90) for m in ("a", "b", "bv")}
    assert all(set(d) == london for d in drawn.values())
    assert len({d["fill"] for d in drawn["a"].values()}) == 5  # five classes of mean age, none blank
    duo.wait_for_contains_text("#compare-stats", f"over {n:,} areas with both values (none left out)", timeout=30)
    duo.wait_for_contains_text("#compare-legend-a", "Mean age")
    duo.wait_for_contains_text("#compare-legend-b", "Index of Multiple Deprivation (IMD) rank")
    # The scatter plot is drawn, one point per area: not an empty box saying WebGL is missing.
    duo.find_element("#compare-scatter").location_once_scrolled_into_view  # noqa: B018 - scrolls
    _wait(duo, f"{GD} && {GD}.data[0].customdata.length === {n}", 30)
    assert sorted(duo.driver.execute_script(f"return {GD}.data[0].customdata;")) == sorted(london)
    _wait(duo, f"{GD}.querySelectorAll('.scatterlayer .points path.point').length === {n}", 30)
    assert "WebGL" not in duo.find_element("#compare-scatter").text

    # An area clicked on map A: outlined on B and the bivariate map, selected among the points, profiled.
    target = sorted(london)[n // 2]
    _click_area(duo, "a", target)
    for m in ("b", "bv"):
        _wait(duo, f"window.atlas.cmp.layerOf({m!r}, {target!r}).options.weight === 3.5")
    _wait(duo, f"{GD}.data[0].selectedpoints && {GD}.data[0].selectedpoints.length === 1")
    assert _selected_points(duo) == [target]
    duo.wait_for_contains_text("#compare-profile", target, timeout=20)

    # The numbers shown for it: the API's printed values on the hover card, the API's values (and the census
    # table's mean age) in the profile, with its percentile within London from the API's values of every area.
    view_a = _api_view(duo, authority=LONDON, level="lsoa11", variable="ks102ew0018")
    view_b = _api_view(duo, authority=LONDON, level="lsoa11", variable="imd2019_imd_rank")
    assert len(view_a["areas"]) == len(view_b["areas"]) == n
    a = next(r for r in view_a["areas"] if r["code"] == target)
    b = next(r for r in view_b["areas"] if r["code"] == target)
    assert a["value"] == pytest.approx(_raw_mean_age(raw_dir, target))
    _tip_text(duo, "b", target, [f"A, Mean age: {a['text']}", f"B, {IMD_RANK_2019}: {b['text']}"])
    rows = duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#compare-profile tbody tr')).map(function (tr) {"
        "  return [tr.querySelector('th').innerText, tr.querySelector('td').innerText]; });")
    shown = {label: cell.split("\n") for label, cell in rows}
    assert float(shown["Mean age"][0]) == pytest.approx(a["value"])
    assert float(shown[IMD_RANK_2019][0].replace(",", "")) == b["value"]
    values = [r["value"] for r in view_a["areas"]]
    pct = 100 * (sum(v < a["value"] for v in values) + 0.5 * sum(v == a["value"] for v in values)) / n
    assert shown["Mean age"][1].startswith(f"higher than {pct:.0f}% of London")
    assert duo.driver.execute_script("return window.__cspViolations") == []
    assert duo.get_logs() == []


def test_cmp007_compare_the_districts_of_england_and_wales(duo, raw_dir: Path) -> None:
    """The national overview (authority=all, level=lad): every district of the UK drawn on the three maps;
    the census variables are England and Wales's, so Scotland's and Northern Ireland's are left out."""
    with open(raw_dir / LADS, encoding="utf-8") as f:
        lads = {feat["properties"]["LAD21CD"] for feat in json.load(f)["features"]}
    ew = {c for c in lads if c[0] in "EW"}
    _watch_csp(duo)
    duo.wait_for_page(duo.server_url + "/?authority=all&level=lad&variable=ks102ew0018&view=compare"
                      "&variable_b=ks102ew0014_pct")
    drawn = {m: _drawn(duo, m, len(lads), timeout=30) for m in ("a", "b", "bv")}
    assert all(set(d) == lads for d in drawn.values())
    duo.wait_for_contains_text("#compare-stats", f"over {len(ew):,} areas with both values ({len(lads) - len(ew):,} "
                                                 "left out: they lack A or B)")
    _wait(duo, f"{GD} && {GD}.querySelectorAll('.scatterlayer .points path.point').length === {len(ew)}")
    assert sorted(duo.driver.execute_script(f"return {GD}.data[0].customdata;")) == sorted(ew)
    target = "E08000025"  # Birmingham
    _click_area(duo, "bv", target)
    _wait(duo, f"window.atlas.cmp.layerOf('a', {target!r}).options.weight === 3.5")
    assert _selected_points(duo) == [target]
    duo.wait_for_contains_text("#compare-profile", "Birmingham")
    assert duo.find_element("#compare-message").text == ""
    assert duo.driver.execute_script("return window.__cspViolations") == []
    assert duo.get_logs() == []


def test_cmp008_england_and_wales_at_lsoa_level_compares_from_tiles(duo, raw_dir: Path) -> None:
    """England and Wales's 34,753 LSOAs: the three compare maps drawn from the vector tiles, each in its own
    colours; a hover card gives A and B for the area under the pointer (the API's printed values); a click on a
    map selects it on every map and marks its cell in the density plot; a cell clicked highlights exactly the
    areas whose values lie in it."""
    import shapely  # noqa: PLC0415

    code = "E01033631"  # Birmingham 079F
    with open(raw_dir / LOOKUP, newline="", encoding="utf-8-sig") as f:
        rows = {r["LSOA11CD"]: r for r in csv.DictReader(f)}
    i = sorted(rows).index(code)
    with open(raw_dir / "boundaries/lsoa11_by_lad/E08000025.json", encoding="utf-8") as f:
        feature = next(ft for ft in json.load(f)["features"] if ft["properties"]["LSOA11CD"] == code)
    point = shapely.geometry.shape(feature["geometry"]).buffer(-0.0006).representative_point()
    _watch_csp(duo)
    duo.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
        "window.addEventListener('atlas:compare-styled', function () { window.__cmpStyled = true; });")})
    duo.wait_for_page(duo.server_url + "/?authority=all&level=lsoa11&variable=ks102ew0018&view=compare"
                      "&variable_b=imd2019_imd_rank")
    maps = {m: f"compare-map-{m}" for m in ("a", "b", "bv")}
    _wait(duo, "!!(window.atlas.tiles.held('compare-map-a') && window.atlas.tiles.held('compare-map-b') && "
               "window.atlas.tiles.held('compare-map-bv'))", 60)
    assert duo.find_element("#compare-message").text == ""
    # Fitted to England and Wales first (the whole country on each map), then moved to the LSOA.
    _wait(duo, "window.__cmpStyled === true && window.atlas.cmp.map('a').getZoom() <= 8", 60)
    duo.driver.execute_script("window.atlas.cmp.map('a').setView([arguments[0], arguments[1]], 14, {animate: false});",
                              point.y, point.x)
    for mid in maps.values():
        _wait(duo, f"(function () {{ var h = window.atlas.tiles.held({mid!r}); return h && h.spec.n === 34753 &&"
                   " !h.layer.isLoading() && Object.keys(h.layer._tiles).length > 0 && Object.keys(h.layer._tiles)"
                   ".every(function (k) { return h.layer._tiles[k].el._atlas.version === h.version; }) &&"
                   f" h.layer._map.getZoom() === 14; }})()", 60)
    background = tuple(int(v) for v in duo.driver.execute_script(
        "return getComputedStyle(document.getElementById('compare-map-a')).backgroundColor.match(/\\d+/g)"
        ".slice(0, 3);"))
    # A's map shows the explorer's paint of A; B's its own classes: their colours at the LSOA, on screen.
    fills = duo.driver.execute_script(
        "var i = arguments[0]; return ['compare-map-a', 'compare-map-b', 'compare-map-bv'].map(function (id) {"
        " return window.atlas.tiles.held(id).spec.fill(i); })"
        ".concat([window.atlas.fillOf(window.atlas._latest.p, i)]);",
        i)
    assert fills[0] == fills[3]
    for (m, mid), fill in zip(maps.items(), fills[:3], strict=True):
        x, y = duo.driver.execute_script(
            "document.getElementById(arguments[3]).scrollIntoView({block: 'center'});"
            "var c = window.atlas.cmp.map(arguments[0]).latLngToContainerPoint([arguments[1], arguments[2]]);"
            " return [c.x, c.y];", m, point.y, point.x, mid)
        shows(duo, mid, x, y, blend(fill, background, 0.8))
    # The hover card on B: the area's name from the raw lookup, A and B as the API prints them.
    a = next(r for r in _api_view(duo, authority="all", level="lsoa11", variable="ks102ew0018")["areas"]
             if r["code"] == code)
    b = next(r for r in _api_view(duo, authority="all", level="lsoa11", variable="imd2019_imd_rank")["areas"]
             if r["code"] == code)
    assert a["value"] == pytest.approx(_raw_mean_age(raw_dir, code))
    _wait(duo, "window.atlas._areas && window.atlas._areas.codes && window.atlas._areas.codes.length === 34753", 30)
    x, y = duo.driver.execute_script(
        "document.getElementById('compare-map-b').scrollIntoView({block: 'center'});"
        "var c = window.atlas.cmp.map('b').latLngToContainerPoint([arguments[0], arguments[1]]); return [c.x, c.y];",
        point.y, point.x)
    pointer_to(duo, "compare-map-b", x, y)
    name = f"{rows[code]['LSOA11NM']}, in {rows[code]['WD19NM'].strip()} ward"
    for text in (name, f"A, Mean age: {a['text']}", f"B, {IMD_RANK_2019}: {b['text']}"):
        _wait(duo, f"(document.querySelector('#compare-map-b .atlas-tip') || {{}}).textContent.indexOf({text!r}) >= 0",
              20)
    # A click selects it: its profile opens, every map outlines it, the density marks its cell.
    ActionChains(duo.driver).click().perform()
    duo.wait_for_contains_text("#compare-profile", code, timeout=30)
    for mid in maps.values():
        _wait(duo, f"window.atlas.tiles.held({mid!r}).spec.selected.indexOf({i}) >= 0", 20)
    _wait(duo, f"{GD} && {GD}.data[0].type === 'heatmap' && {GD}.data[1].x.length === 1", 20)
    meta, mark = duo.driver.execute_script(f"return [{GD}.data[0].meta, [{GD}.data[1].x[0], {GD}.data[1].y[0]]];")
    assert abs(mark[0] - a["value"]) <= meta["dx"] / 2 + 0.05 and abs(mark[1] - b["value"]) <= meta["dy"] / 2 + 0.5
    # A cell clicked (as Plotly reports a click to dcc.Graph): its areas, from the API's values, highlighted.
    duo.driver.execute_script(f"{GD}.emit('plotly_click', {{points: [{{curveNumber: 0, x: arguments[0], "
                              "y: arguments[1]}]});", mark[0], mark[1])
    values_a = {r["code"]: r["value"] for r in _api_view(duo, authority="all", level="lsoa11",
                                                         variable="ks102ew0018")["areas"]}
    values_b = {r["code"]: r["value"] for r in _api_view(duo, authority="all", level="lsoa11",
                                                         variable="imd2019_imd_rank")["areas"]}
    col = int((mark[0] - meta["x0"]) // meta["dx"])
    row = int((mark[1] - meta["y0"]) // meta["dy"])

    def inside(c: str) -> bool:
        va, vb = values_a.get(c), values_b.get(c)
        if va is None or vb is None:
            return False
        ca = min(int((va - meta["x0"]) // meta["dx"]), meta["columns"] - 1)
        rb = min(int((vb - meta["y0"]) // meta["dy"]), meta["columns"] - 1)
        return ca == col and rb == row

    expected = sorted(c for c in values_a if inside(c))
    assert code in expected and len(expected) > 1
    got = _wait(duo, f"(function () {{ var s = window.atlas.tiles.held('compare-map-a').spec.selected;"
                     f" return s.length === {len(expected)} && s; }})()", 30)
    codes = duo.driver.execute_script("return arguments[0].map(function (i) { return window.atlas._areas.codes[i]; });",
                                      got)
    assert sorted(codes) == expected
    assert duo.driver.execute_script("return window.__cspViolations") == []
    assert duo.get_logs() == []


def _table_figures(duo) -> list[list[str]]:
    """The table's visible rows: [name, value, rank, ...] as shown."""
    return duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#area-table tbody tr')).map(function (tr) {"
        " return Array.from(tr.children).map(function (c) { return c.innerText.trim(); }); });")


def test_cmp009_areas_table_recovers_after_changing_a(duo) -> None:
    """The "Areas on the map" table under the compare view shows A's figures, and again after A changes
    (it used to keep "…" and "–" until a reload); each page comes from the server's fields=rows."""
    _open(duo)
    duo.driver.execute_script("document.getElementById('area-table').scrollIntoView();")
    _wait(duo, "document.querySelector('#area-table tbody tr td.num') && "
               "document.querySelector('#area-table tbody tr td.num').innerText.endsWith('%')")
    view = json.loads(urlopen(duo.server_url + "/api/view.json?" + urlencode(
        {"authority": CAMDEN, "level": "lsoa11", "variable": "ks102ew0014_pct"})).read())
    best = min((a for a in view["areas"] if a["rank"] is not None), key=lambda a: a["rank"])
    assert _table_figures(duo)[0][1] == best["text"] and _table_figures(duo)[0][2] == str(best["rank"])
    choose(duo, "variable", AGE_75_84, search="75 to 84 %")
    duo.wait_for_contains_text("#compare-legend-a", "Age 75 to 84")
    view = json.loads(urlopen(duo.server_url + "/api/view.json?" + urlencode(
        {"authority": CAMDEN, "level": "lsoa11", "variable": "ks102ew0015_pct"})).read())
    best = min((a for a in view["areas"] if a["rank"] is not None), key=lambda a: a["rank"])
    time.sleep(0.5)  # the table is redrawn for A, below the fold (the list was chosen at the top of the page)
    duo.driver.execute_script("document.getElementById('area-table').scrollIntoView();")  # and read again
    try:
        _wait(duo, f"document.querySelector('#area-table tbody tr td.num') && "
                   f"document.querySelector('#area-table tbody tr td.num').innerText === {json.dumps(best['text'])}")
    except AssertionError:
        state = duo.driver.execute_script(
            "var h = window.atlas._latest; return {var: h && h.p && h.p.var, key: h && h.p && h.p.key,"
            " areas: window.atlas._areas && window.atlas._areas.key, details: h && h.p && h.p.details,"
            " rect: JSON.stringify(document.getElementById('area-table').getBoundingClientRect()),"
            " inner: window.innerHeight, parent: !!document.getElementById('area-table').offsetParent,"
            " pages: performance.getEntriesByType('resource').filter(function (r) {"
            "   return r.name.indexOf('fields=rows') >= 0; }).map(function (r) { return r.name; })};")
        raise AssertionError(f"the table shows {_table_figures(duo)[:3]}; the explorer's view: {state}") from None
    rows = _table_figures(duo)
    assert rows[0][2] == str(best["rank"]) and all(r[1] != "…" and r[2] not in ("…", "–") for r in rows)
    # Through a categorical A and back, with the table on screen all along (as a keyboard user would).
    for variable in ("ruc11", "ks102ew0016_pct"):
        duo.driver.execute_script(f"window.dash_clientside.set_props('variable', {{value: {variable!r}}});")
        _wait(duo, f"window.atlas._latest.p.var === {variable!r}", 30)  # a categorical A: a slower view
    duo.wait_for_contains_text("#compare-legend-a", "Age 85")
    _wait(duo, "document.querySelector('#area-table tbody tr td.num') && "
               "document.querySelector('#area-table tbody tr td.num').innerText.endsWith('%')")
    rows = _table_figures(duo)
    assert all(r[1] != "…" and r[2] not in ("…", "–") for r in rows), rows[:3]
    assert duo.get_logs() == []
