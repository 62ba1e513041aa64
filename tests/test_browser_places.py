"""Places in headless Chromium: the keyboard flow (typing in a list selects what was typed, focus visible, every
control named, no hidden focusable element, the title says the view), the phone layout at 390x844 (map first,
controls behind a button, legend folded, tap for hover, compare stacked, nothing scrolls sideways) and axe-core
(from npm, js/node_modules) on every page listed in ``AXE_PAGES``.
"""

from __future__ import annotations

import csv
import json

import pytest
import shapely
from browser_support import axe_serious, blend, choose, pointer_to, query, shows, wait
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

pytestmark = pytest.mark.browser

CAMDEN = "E09000007"
BIRMINGHAM = "E08000025"
PHONE = (390, 844)

# Pages axe-core checks: (name, path and query). Add a page here and it is checked like the others.
AXE_PAGES: list[tuple[str, str]] = [
    ("explorer", f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct"),
    ("explorer-region", "/?authority=E12000007&level=lad&variable=ks102ew0014_pct"),
    # England and Wales's LSOAs, drawn from vector tiles (canvases the workers paint), and compared there.
    ("explorer-tiles", "/?authority=all&level=lsoa11&variable=ks102ew0018"),
    ("compare-tiles", "/?authority=all&level=lsoa11&variable=ks102ew0018&view=compare&variable_b=imd2019_imd_rank"),
    ("embed-tiles", "/embed?authority=all&level=lsoa11&variable=ks102ew0018"),
    # Every LSOA of 2021 by today's index (England's; Wales has no IMD and is drawn unfilled), from tiles too.
    ("explorer-lsoa21-tiles", "/?authority=all&level=lsoa21&variable=imd2025_imd_decile"),
    ("compare", f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct&view=compare"
                "&variable_b=ks102ew0015_pct"),
    ("embed", f"/embed?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct"),
    # The point layer over modelled NO2 classed at the guideline and limits, a site's card and chart open.
    ("explorer-points", "/?authority=E09000030&level=lsoa21&variable=laei_no2_2019_mean&scheme=limits"
                        "&points=aurn2020&measure=no2&day=2020-03-23&site=TH2"),
    # The datastore's server-rendered pages (no Dash on them).
    ("datastore", "/datastore"),
    ("datastore-authority", f"/datastore/{CAMDEN}"),
    ("datastore-authority-deprivation", f"/datastore/{BIRMINGHAM}"),  # File 10 and what moved 2019 -> 2025
    ("datastore-whats-new", "/datastore/whats-new"),
    # A point dataset's page (its map of points drawn on the server, its first rows) and an authority's points.
    ("datastore-point-dataset", "/datastore/datasets/aurn2020"),
    ("datastore-authority-with-sites", "/datastore/E09000030"),
]


def _keys(duo, *keys: str) -> None:
    ActionChains(duo.driver).send_keys(*keys).perform()


def _drawn(duo) -> list:
    return wait(duo, "window.atlas.drawn().length > 0 && window.atlas.drawn()", 20)


def test_pla001_typing_in_the_area_list_selects_what_was_typed(duo) -> None:
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lad&variable=ks102ew0014_pct")
    _drawn(duo)
    trigger = duo.find_element(f"#{'authority'}")
    duo.driver.execute_script("arguments[0].focus()", trigger)
    _keys(duo, Keys.ENTER)
    # The list opened with its search box focused: the letters typed go there.
    wait(duo, "document.activeElement && document.activeElement.matches('input.dash-dropdown-search')")
    _keys(duo, "Birmingham")
    wait(duo, "Array.from(document.querySelectorAll('.dash-dropdown-option'))"
              ".some(function (o) { return /^Birmingham/.test(o.textContent.trim()); })")
    _keys(duo, Keys.ENTER)
    wait(duo, f"new URLSearchParams(location.search).get('authority') === {BIRMINGHAM!r}", 20)
    assert query(duo)["authority"] == BIRMINGHAM
    # The page title says the view.
    wait(duo, "document.title.indexOf('Birmingham') >= 0", 20)
    assert duo.driver.title.startswith("Age 65 to 74")


def test_pla002_a_list_without_search_box_types_ahead(duo) -> None:
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct&k=5")
    _drawn(duo)
    duo.driver.execute_script("arguments[0].focus()", duo.find_element("#k"))
    _keys(duo, Keys.ENTER)
    wait(duo, "document.querySelector('.dash-dropdown-content [role=option]')")
    _keys(duo, "8")
    wait(duo, "document.activeElement && document.activeElement.closest('[role=option]') &&"
              " document.activeElement.closest('[role=option]').textContent.trim() === '8'")
    _keys(duo, Keys.ENTER)
    wait(duo, "new URLSearchParams(location.search).get('k') === '8'", 20)
    duo.wait_for_contains_text("#legend", "8 classes")


def test_pla003_focus_visible_named_inputs_no_hidden_focusable(duo) -> None:
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct")
    _drawn(duo)
    assert duo.driver.execute_script("return document.documentElement.lang").startswith("en")
    # The first Tab reaches the skip link, which leads to the map.
    duo.driver.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    duo.find_element("body").send_keys(Keys.TAB)
    assert duo.driver.execute_script("return document.activeElement.id") == "skip-to-map"
    width = duo.driver.execute_script("return parseFloat(getComputedStyle(document.activeElement).outlineWidth)")
    assert width >= 2
    _keys(duo, Keys.ENTER)
    wait(duo, "document.activeElement && document.activeElement.closest('#map')")

    # Tab through the page: every stop shows an outline (or a box shadow) of at least 2 px and is visible.
    seen, stops = set(), []
    for _ in range(60):
        _keys(duo, Keys.TAB)
        stop = duo.driver.execute_script("""
            var el = document.activeElement, s = getComputedStyle(el), r = el.getBoundingClientRect();
            var id = el.id || el.getAttribute('aria-label') || el.outerHTML.slice(0, 80);
            return {id: id, outline: s.outlineStyle === 'none' ? 0 : parseFloat(s.outlineWidth),
                    shadow: s.boxShadow, visible: r.width > 0 && r.height > 0 && s.visibility !== 'hidden'};""")
        if stop["id"] in seen or stop["id"].startswith("<body"):
            break
        seen.add(stop["id"])
        stops.append(stop)
    assert len(stops) > 10
    for stop in stops:
        assert stop["visible"], stop
        assert stop["outline"] >= 2 or stop["shadow"] not in ("none", ""), stop

    # No element takes focus while hidden, and every input, select, textarea and button has a name.
    bad = duo.driver.execute_script("""
        var out = [];
        document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]').forEach(function (el) {
          if (el.disabled || el.getAttribute('tabindex') === '-1' || el.closest('[inert]')) { return; }
          if (el.type === 'hidden') { return; }
          if (el.getClientRects().length === 0) { return; }  // not rendered (display: none): takes no focus
          var s = getComputedStyle(el), r = el.getBoundingClientRect();
          var hidden = el.closest('[aria-hidden=true]') || s.visibility === 'hidden' || Number(s.opacity) === 0 ||
            (r.width < 1 || r.height < 1);
          if (hidden) { out.push(el.outerHTML.slice(0, 120)); }
        });
        return out;""")
    assert bad == []
    unnamed = duo.driver.execute_script("""
        var out = [];
        document.querySelectorAll('input:not([type=hidden]), select, textarea, button').forEach(function (el) {
          if (el.closest('[aria-hidden=true]') && el.tabIndex < 0) { return; }  // not exposed, never tabbed to
          var name = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.title ||
            (el.labels && el.labels.length && el.labels[0].textContent.trim()) ||
            (el.tagName === 'BUTTON' && el.textContent.trim());
          if (!name) { out.push(el.outerHTML.slice(0, 120)); }
        });
        return out;""")
    assert unnamed == []
    assert duo.get_logs() == []


def _phone(duo) -> None:
    duo.driver.set_window_size(*PHONE)
    # The window's size, not the viewport's: make the viewport itself 390 wide, as a phone's is.
    inner = duo.driver.execute_script("return [window.innerWidth, window.innerHeight]")
    duo.driver.set_window_size(2 * PHONE[0] - inner[0], 2 * PHONE[1] - inner[1])
    wait(duo, f"window.innerWidth === {PHONE[0]}")


def _no_sideways_scroll(duo) -> None:
    sizes = duo.driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert sizes[0] <= sizes[1], sizes


def _rect(duo, selector: str) -> dict:
    return duo.driver.execute_script(
        "var r = document.querySelector(arguments[0]).getBoundingClientRect();"
        " return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: r.width, height: r.height};",
        selector)


def test_pla004_phone_explorer(duo) -> None:
    _phone(duo)
    try:
        duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct")
        drawn = _drawn(duo)
        wait(duo, "document.querySelector('.legend-open')")
        # The map comes first, straight under the title bar, and takes most of the screen.
        box = _rect(duo, "#map")
        assert box["top"] < 80 and box["height"] > 0.8 * PHONE[1] - 80, box
        # The search box is on the map (not behind "Map controls"), the legend a strip over the map's foot.
        search = _rect(duo, ".mapwrap > .place-search")
        assert box["top"] <= search["top"] and search["bottom"] < box["top"] + 90, (search, box)
        assert search["left"] >= 0 and search["right"] <= PHONE[0]
        strip = _rect(duo, ".legend-strip")
        assert box["bottom"] - 90 < strip["top"] and strip["bottom"] <= box["bottom"] and strip["right"] <= PHONE[0]
        assert "% of" in duo.find_element(".legend-strip").text or duo.find_element(".legend-strip").text
        panel = duo.find_element("#controls-panel")
        assert not panel.is_displayed()
        assert not duo.find_element("#legend-panel").is_displayed()
        _no_sideways_scroll(duo)

        # The strip opens the whole legend as a sheet over the map's foot; Close (or Escape) folds it again.
        strip_button = duo.find_element(".legend-open")
        strip_button.click()
        wait(duo, "document.getElementById('legend-panel').offsetHeight > 0")
        assert strip_button.get_attribute("aria-expanded") == "true"
        sheet = _rect(duo, "#legend-panel")
        assert sheet["bottom"] <= PHONE[1] + 1 and sheet["top"] > PHONE[1] * 0.3 and sheet["width"] <= PHONE[0]
        assert "areas" in duo.find_element("#legend").text
        _no_sideways_scroll(duo)
        duo.find_element("#legend-close").click()
        wait(duo, "document.getElementById('legend-panel').offsetHeight === 0")

        toggle = duo.find_element("#controls-toggle")
        toggle.click()
        wait(duo, "document.getElementById('controls-panel').offsetHeight > 0")
        assert toggle.get_attribute("aria-expanded") == "true"
        _no_sideways_scroll(duo)
        toggle.click()
        wait(duo, "document.getElementById('controls-panel').offsetHeight === 0")

        # Tap an area near the screen's right edge: its card shows, inside the screen, and its row is selected.
        code = drawn[0]["code"]
        from browser_support import interior_point
        x, y = interior_point(duo, f"window.atlas.layerOf({code!r})")
        mapbox = duo.find_element("#map")
        ActionChains(duo.driver).move_to_element_with_offset(mapbox, x, y).click().perform()
        wait(duo, "document.querySelector('tbody tr.selected')", 20)
        wait(duo, "document.querySelector('.leaflet-tooltip')")
        # A card opened at either edge of the screen (a tap there) is moved inside it.
        for edge_x in (PHONE[0] - 6, 6):
            card = duo.driver.execute_script("""
                var map = window.atlas.tiles.map('map');
                var tip = window.L.tooltip({className: 'atlas-tip', direction: 'right', sticky: true})
                  .setLatLng(map.containerPointToLatLng([arguments[0], 300]))
                  .setContent('<strong>Camden 001A, in Frognal and Fitzjohns ward</strong><br>'
                              + '17.2% of all usual residents, rank 12 of 133').openOn(map);
                return new Promise(function (done) { window.setTimeout(function () {
                  var r = tip.getElement().getBoundingClientRect(); map.closeTooltip(tip);
                  done([r.left, r.right]); }, 100); });""", edge_x)
            assert card[0] >= 0 and card[1] <= PHONE[0], (edge_x, card)
        _no_sideways_scroll(duo)
        assert duo.get_logs() == []
    finally:
        duo.driver.set_window_size(1400, 1000)


def test_pla015_phone_search_result_shows_the_map_with_its_pin(duo) -> None:
    _phone(duo)
    try:
        duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct")
        _drawn(duo)
        # With the controls open (a person looking at them), a result chosen closes them and shows the map.
        duo.find_element("#controls-toggle").click()
        wait(duo, "document.getElementById('controls-panel').offsetHeight > 0")
        box = duo.find_element("#place-search")
        box.send_keys("B15 2TT")
        wait(duo, "document.querySelector('#place-results li[data-place-index]')")
        results = _rect(duo, "#place-results")
        assert results["left"] >= 0 and results["right"] <= PHONE[0]
        box.send_keys(Keys.ARROW_DOWN, Keys.ENTER)
        wait(duo, f"new URLSearchParams(location.search).get('authority') === {BIRMINGHAM!r}", 30)
        wait(duo, "document.getElementById('controls-panel').offsetHeight === 0")
        assert duo.find_element("#controls-toggle").get_attribute("aria-expanded") == "false"
        wait(duo, "(function () { var el = document.querySelector('.atlas-pin'); if (!el) { return null; }"
                  " var r = el.getBoundingClientRect(), m = document.getElementById('map').getBoundingClientRect();"
                  " var x = r.left + r.width / 2; return x > m.left && x < m.right && r.bottom > m.top &&"
                  " r.bottom < m.bottom && m.top >= 0 && m.top < 80; })()", 20)
        _no_sideways_scroll(duo)
        assert duo.get_logs() == []
    finally:
        duo.driver.set_window_size(1400, 1000)


def test_pla016_axe_on_the_phone_layout(duo) -> None:
    _phone(duo)
    try:
        duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct")
        _drawn(duo)
        wait(duo, "document.querySelector('.legend-open')")
        duo.find_element("#place-search").send_keys("Richmond")
        wait(duo, "document.querySelector('#place-results li[data-place-index]')")
        for state in ("results open", "legend sheet open"):
            if state == "legend sheet open":
                duo.find_element("#place-search").send_keys(Keys.ESCAPE)
                duo.find_element(".legend-open").click()
                wait(duo, "document.getElementById('legend-panel').offsetHeight > 0")
            serious = axe_serious(duo)
            assert serious == [], (state, json.dumps(serious, indent=1))
        assert duo.get_logs() == []
    finally:
        duo.driver.set_window_size(1400, 1000)


def test_pla017_the_datastore_pages_work_at_390_px(duo) -> None:
    _phone(duo)
    try:
        for path in ("/datastore", f"/datastore/{CAMDEN}", "/datastore/whats-new"):
            duo.driver.get(duo.server_url + path)
            wait(duo, "document.readyState === 'complete' && !!document.querySelector('main h1')", 30)
            _no_sideways_scroll(duo)
            # every link and button can be reached and is inside the screen
            outside = duo.driver.execute_script("""return Array.from(document.querySelectorAll('main a, main button'))
                .filter(function (el) { var r = el.getBoundingClientRect(); return r.width > 0 &&
                  (r.left < -1 || r.right > window.innerWidth + 1); }).map(function (el) {
                  return el.outerHTML.slice(0, 80); });""")
            assert outside == [], (path, outside)
    finally:
        duo.driver.set_window_size(1400, 1000)


def test_pla005_phone_compare_stacks(duo) -> None:
    _phone(duo)
    try:
        duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct"
                          "&view=compare&variable_b=ks102ew0015_pct")
        wait(duo, "Array.from(document.querySelectorAll('.compare-pair > *'))"
                  ".filter(function (el) { return el.offsetHeight > 0; }).length >= 4", 30)
        boxes = duo.driver.execute_script("""return Array.from(document.querySelectorAll('.compare-pair > *'))
            .map(function (el) { var r = el.getBoundingClientRect(); return [r.left, r.top, r.width]; });""")
        assert boxes[1][1] > boxes[0][1]  # one above the other
        assert all(b[2] <= PHONE[0] for b in boxes)
        _no_sideways_scroll(duo)
        assert duo.get_logs() == []
    finally:
        duo.driver.set_window_size(1400, 1000)


@pytest.mark.parametrize(("name", "path"), AXE_PAGES, ids=[p[0] for p in AXE_PAGES])
def test_pla006_axe_no_serious_or_critical_violations(duo, name: str, path: str) -> None:
    if path.startswith("/datastore"):
        duo.driver.get(duo.server_url + path)
        wait(duo, "document.readyState === 'complete' && !!document.querySelector('main h1')", 30)
    elif name.endswith("-tiles"):
        duo.wait_for_page(duo.server_url + path)
        wait(duo, "(function () { var h = window.atlas.tiles.held(arguments[0]);"
                  " return !!(h && !h.layer.isLoading() && Object.keys(h.layer._tiles).length); })"
                  f"({'compare-map-bv' if name.startswith('compare') else 'map'!r})", 60)
    else:
        duo.wait_for_page(duo.server_url + path)
        _drawn(duo)
    if name.startswith("compare"):
        wait(duo, "document.querySelectorAll('.bv-cell').length === 9", 30)
    if name.endswith("-points"):
        wait(duo, "!!document.querySelector('#site-card .js-plotly-plot .main-svg')", 30)
    serious = axe_serious(duo)
    assert serious == [], json.dumps(serious, indent=1)


def test_pla007_hidden_elements_do_not_take_focus_on_a_phone(duo) -> None:
    _phone(duo)
    try:
        duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct")
        _drawn(duo)
        duo.find_element("body").send_keys(Keys.TAB)
        for _ in range(25):
            visible = duo.driver.execute_script("""var el = document.activeElement, r = el.getBoundingClientRect();
                return el === document.body || el.matches('.skip-link') || (r.width > 0 && r.height > 0);""")
            assert visible, duo.driver.execute_script("return document.activeElement.outerHTML.slice(0, 120)")
            _keys(duo, Keys.TAB)
    finally:
        duo.driver.set_window_size(1400, 1000)





def test_pla008_search_by_keyboard_opens_and_flies_to_the_area_keeping_the_variable(duo) -> None:
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct")
    _drawn(duo)
    box = duo.find_element("#place-search")
    box.send_keys("edgbastn")  # a typo: still Edgbaston ward, Birmingham
    wait(duo, "document.querySelector('#place-results li') && "
              "/Edgbaston/.test(document.querySelector('#place-results li').textContent)")
    assert box.get_attribute("aria-expanded") == "true"
    box.send_keys(Keys.ARROW_DOWN, Keys.ENTER)
    # The question is kept (issue 17 §9): the share aged 65-74 has no ward figure, so it stays at LSOAs, says
    # so, and the map goes to the ward, instead of switching to a ward variable behind the person's back.
    wait(duo, f"new URLSearchParams(location.search).get('authority') === {BIRMINGHAM!r}", 30)
    wait(duo, "new URLSearchParams(location.search).get('level') === 'lsoa11'", 20)
    assert query(duo)["variable"] == "ks102ew0014_pct"
    duo.wait_for_contains_text("#message", "has no data at electoral wards")
    # The map flew to the ward: its centre is inside the ward's box, and the address says where the map is.
    centre = wait(duo, "(function () { var m = window.atlas.tiles.map('map'); if (!m) { return null; }"
                       " var c = m.getCenter(); return c.lat > 52.44 && c.lat < 52.48 && c.lng > -1.96 &&"
                       " c.lng < -1.90 && m.getZoom() >= 12 && [c.lat, c.lng, m.getZoom()]; })()", 20)
    assert centre[2] <= 14
    wait(duo, "/^1[2-8]\\/52\\.4/.test(new URLSearchParams(location.search).get('map') || '')", 20)
    assert duo.get_logs() == []


def test_pla010_england_and_wales_names_arrive_after_the_paint(duo) -> None:
    # The tiled view's first answer carries the names' URL, not the names: the paint does not wait for them,
    # and an address's selected area is kept, then found in the table once they arrive.
    duo.wait_for_page(duo.server_url + "/?authority=all&level=lsoa11&variable=ks102ew0018&area=E01033631")
    wait(duo, "window.atlas._latest && window.atlas._latest.p && window.atlas._latest.p.geom === 'tiles'", 30)
    store = duo.driver.execute_script("var a = window.atlas._latest; return a && a.p.key;")
    assert store == "all/lsoa11"
    wait(duo, "window.atlas._areas && window.atlas._areas.key === 'all/lsoa11' && "
              "window.atlas._areas.codes.length === 34753", 30)
    wait(duo, "document.querySelector('tbody tr.selected') && "
              "/Birmingham 079F, in Edgbaston ward/.test(document.querySelector('tbody tr.selected').textContent)", 30)
    assert query(duo)["area"] == "E01033631"
    urls = duo.driver.execute_script(
        "return performance.getEntriesByType('resource').map(function (r) { return r.name; })"
        ".filter(function (n) { return n.indexOf('/api/areas/') >= 0; });")
    # (the reference layer's district lines, /api/areas/all/lad.pbf, come after the first map)
    urls = [u for u in urls if "/api/areas/all/lad.pbf" not in u]
    assert len(urls) == 1 and "/api/areas/all/lsoa11.json?v=" in urls[0]
    assert duo.get_logs() == []


def test_pla009_near_me_finds_the_lsoa_and_ward(duo) -> None:
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct")
    _drawn(duo)
    origin = duo.server_url.rstrip("/")
    duo.driver.execute_cdp_cmd("Browser.grantPermissions", {"origin": origin, "permissions": ["geolocation"]})
    duo.driver.execute_cdp_cmd("Emulation.setGeolocationOverride",
                               {"latitude": 52.4539, "longitude": -1.9300, "accuracy": 10})
    duo.find_element("#near-me").click()
    # The point lies in Birmingham 079H of 2021 (079F, E01033631, of 2011). The variable shown is of the 2011
    # Census, which has no data on 2021 areas: the question is kept (issue 17), the map opens at the 2011 LSOAs
    # with the one holding the point selected and named, pinned, the ward named once.
    wait(duo, "new URLSearchParams(location.search).get('area') === 'E01033631'", 30)
    assert query(duo)["authority"] == BIRMINGHAM and query(duo)["level"] == "lsoa11"
    assert query(duo)["variable"] == "ks102ew0014_pct" and query(duo)["pin"] == "52.45390,-1.93000"
    duo.wait_for_contains_text("#place-status", "You are in Edgbaston ward, Birmingham (Birmingham 079F selected)")
    assert duo.find_element("#place-status").text.count("Edgbaston") == 1
    wait(duo, "document.querySelector('tbody tr.selected') && "
              "/Birmingham 079F/.test(document.querySelector('tbody tr.selected').textContent)", 20)



def _tile_stats(duo) -> dict:
    """Tiles the page's workers fetched and drew so far (assets/tiles.js ``stats``)."""
    return duo.driver.execute_async_script(
        "var done = arguments[arguments.length - 1]; window.atlas.tiles.stats().then(done);")




def test_pla011_tiles_paint_hover_select_and_repaint_without_refetching(duo, raw_dir) -> None:
    # England and Wales at LSOA level, drawn from vector tiles by the workers: at the published polygon of one
    # LSOA (Birmingham 079F) the screen shows its class's colour (its position ``i`` in code order from the raw
    # lookup); a palette switch repaints it with no tile fetched again; a hover says the name is loading until
    # the names arrive, then names it from the raw lookup; a click selects it.
    with open(raw_dir / "lookups/Lower_Layer_Super_Output_Area_(2011)_to_Ward_(2019)_Lookup_in_England_and_Wales.csv",
              newline="", encoding="utf-8-sig") as f:
        rows = {r["LSOA11CD"]: r for r in csv.DictReader(f)}
    code = "E01033631"
    i = sorted(rows).index(code)
    with open(raw_dir / f"boundaries/lsoa11_by_lad/{BIRMINGHAM}.json", encoding="utf-8") as f:
        feature = next(ft for ft in json.load(f)["features"] if ft["properties"]["LSOA11CD"] == code)
    point = shapely.geometry.shape(feature["geometry"]).buffer(-0.0006).representative_point()
    at = f"&map=14/{point.y:.5f}/{point.x:.5f}"
    duo.driver.execute_cdp_cmd("Network.enable", {})
    # Only the names' URL (the outline of the place is an /api/areas/ URL too, drawn by dash-leaflet).
    duo.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/api/areas/all/lsoa11.json*"]})
    duo.wait_for_page(duo.server_url + "/?authority=all&level=lsoa11&variable=ks102ew0018" + at)
    loaded = ("(function () { var h = window.atlas.tiles.held('map'),"
              " p = window.atlas._latest && window.atlas._latest.p;"
              " return h && p && p.geom === 'tiles' && h.spec.n === p.n && !h.layer.isLoading() &&"
              " Object.keys(h.layer._tiles).length > 0 && Object.keys(h.layer._tiles).every(function (k) {"
              " return h.layer._tiles[k].el._atlas.version === h.version; }) && p; })()")
    paint = wait(duo, loaded, 30)
    assert paint["n"] == len(rows) == 34753
    x, y = duo.driver.execute_script(
        "var m = window.atlas.tiles.map('map'), c = m.latLngToContainerPoint([arguments[0], arguments[1]]);"
        " return [c.x, c.y];", point.y, point.x)
    background = tuple(int(v) for v in duo.driver.execute_script(
        "return getComputedStyle(document.getElementById('map')).backgroundColor.match(/\\d+/g).slice(0, 3);"))

    def expected() -> tuple[int, ...]:
        fill, opacity = duo.driver.execute_script(
            "var h = window.atlas._latest; return [window.atlas.fillOf(h.p, arguments[0]),"
            " h.o === undefined || h.o === null ? 0.8 : h.o];", i)
        return blend(fill, background, opacity)


    want = expected()
    shows(duo, 'map', x, y, want)

    # The names are held back (blocked): the hover card of the area under the pointer (the workers find it)
    # shows its figures and says its name is loading, never a bare position number.
    pointer_to(duo, 'map', x, y)
    wait(duo, "document.querySelector('.atlas-tip') && /Loading the area's name/.test("
              "document.querySelector('.atlas-tip').textContent) && /Mean age/.test("
              "document.querySelector('.atlas-tip').textContent)", 20)
    assert str(i) not in duo.find_element(".atlas-tip strong").text
    duo.driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    logs = duo.get_logs()
    assert all("/api/areas/all/lsoa11.json" in entry["message"] for entry in logs), logs  # only the blocked one

    # A palette switch: the same tiles drawn again in the new colours, none fetched again (and the names
    # asked for again, and now received).
    fetched = _tile_stats(duo)
    assert fetched["fetched"] > 0 and fetched["drawn"] >= fetched["fetched"]
    choose(duo, "palette", "Reds (sequential, colour-blind safe)", search="Reds")
    wait(duo, "window.atlas._latest.p.c.indexOf('#a50f15') >= 0 || window.atlas._latest.p.c.indexOf('#99000d') >= 0"
              " || window.atlas._latest.p.c.indexOf('#cb181d') >= 0", 20)
    wait(duo, loaded, 30)
    after = expected()
    assert after != want
    pointer_to(duo, 'map', -5, -5)  # off the map: the hover card goes
    wait(duo, "!document.querySelector('.atlas-tip')", 10)
    shows(duo, 'map', x, y, after)
    again = _tile_stats(duo)
    assert again["fetched"] == fetched["fetched"] and again["drawn"] > fetched["drawn"]

    # With the names here, the hover card names the area from the raw lookup, and a click selects it.
    wait(duo, "window.atlas._areas && window.atlas._areas.codes && window.atlas._areas.codes.length === 34753", 30)
    pointer_to(duo, 'map', x, y)
    name = f"{rows[code]['LSOA11NM']}, in {rows[code]['WD19NM'].strip()} ward"
    wait(duo, f"document.querySelector('.atlas-tip') && document.querySelector('.atlas-tip').textContent"
              f".indexOf({name!r}) >= 0", 20)
    ActionChains(duo.driver).click().perform()
    wait(duo, f"new URLSearchParams(location.search).get('area') === {code!r}", 20)
    wait(duo, f"document.querySelector('tbody tr.selected') && document.querySelector('tbody tr.selected')"
              f".textContent.indexOf({name!r}) >= 0", 20)
    assert duo.get_logs() == []


def test_pla012_a_browser_without_worker_canvases_is_told_why_the_map_is_empty(duo) -> None:
    # England and Wales's tiles are drawn by workers on OffscreenCanvas (browsers from 2023): without it, the
    # map says so and what to open instead, never a silent blank; a district's map still draws.
    duo.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                               {"source": "delete window.OffscreenCanvas;"})
    duo.wait_for_page(duo.server_url + "/?authority=all&level=lsoa11&variable=ks102ew0018")
    text = wait(duo, "document.querySelector('#map .atlas-notice') && "
                     "document.querySelector('#map .atlas-notice').textContent", 30)
    assert "OffscreenCanvas" in text and "2023" in text and "region" in text
    assert duo.driver.execute_script("return document.querySelector('#map .atlas-notice').getAttribute('role')") \
        == "status"
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0018")
    assert len(_drawn(duo)) == 133
    assert not duo.driver.find_elements("css selector", "#map .atlas-notice")
    assert duo.get_logs() == []


def test_pla013_a_district_chosen_from_the_overview_opens_on_its_nations_2025_index(duo) -> None:
    # A new visitor: the overview (its own default, mean age), then Cardiff, then Birmingham chosen in the Area
    # list: each opens on its own nation's index of 2025 on the LSOAs of 2021, never the other nation's.
    duo.wait_for_page(duo.server_url + "/")
    _drawn(duo)
    for name, code, variable in (("Cardiff", "W06000015", "wimd2025_wimd_rank"),
                                 ("Birmingham", BIRMINGHAM, "imd2025_imd_decile")):
        duo.driver.execute_script("arguments[0].focus()", duo.find_element("#authority"))
        _keys(duo, Keys.ENTER)
        wait(duo, "document.activeElement && document.activeElement.matches('input.dash-dropdown-search')")
        _keys(duo, name)
        wait(duo, "Array.from(document.querySelectorAll('.dash-dropdown-option'))"
                  f".some(function (o) {{ return /^{name}/.test(o.textContent.trim()); }})")
        _keys(duo, Keys.ENTER)
        wait(duo, f"new URLSearchParams(location.search).get('authority') === {code!r}", 20)
        wait(duo, f"new URLSearchParams(location.search).get('variable') === {variable!r}", 20)
        assert query(duo)["level"] == "lsoa21"
        duo.wait_for_contains_text("#legend", "2025 (1 is", timeout=20)
    assert "IoD 2025" in duo.find_element("#legend").text


def test_pla018_a_place_by_keyboard_arrowdown_goes_to_the_first_result(duo) -> None:
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct")
    _drawn(duo)
    box = duo.find_element("#place-search")
    box.send_keys("Hay-on-Wye")
    wait(duo, "document.querySelector('#place-results li[data-place-index]') && "
              "/Hay-on-Wye/.test(document.querySelector('#place-results li').textContent)")
    # Nothing is highlighted until an arrow key moves: ArrowDown goes to the first result, not the second.
    assert duo.driver.execute_script(
        "return document.querySelectorAll('#place-results [aria-selected=\"true\"]').length") == 0
    assert box.get_attribute("aria-activedescendant") is None
    first = duo.find_element("#place-results li").text
    assert "town in Powys" in first and "Y Gelli Gandryll" in first
    box.send_keys(Keys.ARROW_DOWN)
    assert box.get_attribute("aria-activedescendant") == "place-opt-0"
    box.send_keys(Keys.ENTER)
    wait(duo, "new URLSearchParams(location.search).get('authority') === 'W06000023' && "
              "new URLSearchParams(location.search).get('pin')", 30)
    # The map flew to the town at a sensible zoom, pinned it, and selected the LSOA it lies in.
    pin = [float(v) for v in query(duo)["pin"].split(",")]
    assert pin == pytest.approx([52.0747, -3.1264], abs=0.01)
    wait(duo, "(function () { var m = window.atlas.tiles.map('map'); return m && m.getZoom() === 13 &&"
              " m.getBounds().contains([" + str(pin[0]) + ", " + str(pin[1]) + "]); })()", 20)
    wait(duo, "document.querySelector('.atlas-pin')", 10)
    wait(duo, "document.querySelector('tbody tr.selected')", 20)
    assert query(duo)["area"].startswith("W01")
    assert duo.get_logs() == []


def test_pla019_a_postcode_shows_the_pin_in_its_outlined_area(duo) -> None:
    # A variable published on 2021 areas (the IMD 2025 decile): the postcode opens on its LSOA of 2021.
    duo.wait_for_page(duo.server_url + f"/?authority={CAMDEN}&level=lsoa21&variable=imd2025_imd_decile")
    _drawn(duo)
    box = duo.find_element("#place-search")
    box.send_keys("b15 2tt")
    wait(duo, "document.querySelector('#place-results li[data-place-index]') && "
              "/B15 2TT/.test(document.querySelector('#place-results li').textContent)")
    assert "Edgbaston ward, Birmingham" in duo.find_element("#place-results li").text
    box.send_keys(Keys.ENTER)  # nothing highlighted: Enter opens the best match
    # opened on the LSOA of 2021 it lies in (Birmingham 079H; 2011's 079F, E01033631)
    wait(duo, f"new URLSearchParams(location.search).get('authority') === {BIRMINGHAM!r} && "
              "new URLSearchParams(location.search).get('area') === 'E01034937'", 30)
    assert query(duo)["pin"] == "52.45327,-1.92790" and query(duo)["level"] == "lsoa21"
    # The map flies there: the pin ends on the map, in view.
    wait(duo, "(function () { var el = document.querySelector('.atlas-pin'); if (!el) { return null; }"
              " var r = el.getBoundingClientRect(), m = document.getElementById('map').getBoundingClientRect();"
              " var x = r.left + r.width / 2, y = r.bottom;"
              " return x > m.left && x < m.right && y > m.top && y < m.bottom; })()", 20)
    # The pin's point is inside the selected area, which is outlined in the selection's own style.
    inside = wait(duo, "(function () { var l = window.atlas.layerOf('E01034937');"
                       " var m = window.atlas.tiles.map('map'); if (!l || !m) { return null; }"
                       " var pane = m.getPane('selection');"
                       " return l.getBounds().contains([52.45327, -1.92790]) && pane &&"
                       " pane.querySelector('canvas, path') ? 'yes' : null; })()", 20)
    assert inside == "yes"
    assert duo.driver.execute_script("return window.atlas.outlined()") == "E01034937"
    # flown to the area (an LSOA fills the map: zoom 13-16), never past the polygons' detail (18)
    wait(duo, "(function () { var z = window.atlas.tiles.map('map').getZoom(); return z >= 13 && z <= 16; })()", 20)
    assert duo.driver.execute_script("return window.atlas.tiles.map('map').getMaxZoom()") == 18
    assert duo.get_logs() == []
