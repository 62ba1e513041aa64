"""Make your own area, in the browser (issue 22): sign in, show two neighbouring districts, draw a rectangle
with the drawing control inside the map (its areas checked against point-in-polygon on the server), add an
area by clicking it, save the area, open its profile page, read its PDF report's text back, and axe on the new
pages; no console errors."""

from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import axe_serious, interior_point, start_duo, wait
from city_support import ISLINGTON, PASSWORD, data_folder, environment
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

pytestmark = pytest.mark.browser

EMAIL = "drawer@islington.gov.uk"


@pytest.fixture()
def signed_duo(data_dir: Path, dash_thread_server, tmp_path: Path) -> Iterator:
    """The app on its own data folder and database, with one user, in headless Chromium."""
    folder = data_folder(data_dir, tmp_path / "data")
    with environment(folder, None):
        from atlas import accounts, catalogue

        accounts.seed_authorities(catalogue.of_request().authorities())
        accounts.add_user(EMAIL, org=ISLINGTON, role="member", password=PASSWORD)
        import app as app_module

        secure = app_module.server.config["SESSION_COOKIE_SECURE"]
        app_module.server.config["SESSION_COOKIE_SECURE"] = False  # the test server is plain http
        try:
            yield from start_duo(dash_thread_server, tmp_path)
        finally:
            app_module.server.config["SESSION_COOKIE_SECURE"] = secure


def _pick(duo, control: str, text: str) -> None:
    """Open the dropdown (again, if a first click came before the page's scripts were ready) and pick."""
    for _ in range(10):
        if not duo.driver.execute_script("return !!document.querySelector('.dash-dropdown-search')"):
            duo.find_element(f"#{control}").click()
        try:
            wait(duo, "document.querySelector('.dash-dropdown-search')", 3)
            break
        except AssertionError:
            continue
    duo.driver.find_element(By.CSS_SELECTOR, ".dash-dropdown-search").send_keys(text)
    for _ in range(50):
        for option in duo.driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"):
            if option.text.strip() == text:
                option.click()
                duo.find_element("body").send_keys(Keys.ESCAPE)
                return
        time.sleep(0.1)
    raise AssertionError(f"no option {text!r} in #{control}")


def _drag(duo, map_id: str, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Press at ``start`` of the map, move through the middle to ``end`` and release (viewport pixels)."""
    element = duo.find_element(f"#{map_id}")
    duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    left, top = duo.driver.execute_script(
        "var r = arguments[0].getBoundingClientRect(); return [r.left, r.top];", element)
    actions = ActionBuilder(duo.driver)
    pointer = actions.pointer_action
    pointer.move_to_location(round(left + start[0]), round(top + start[1])).pointer_down()
    for f in (0.25, 0.5, 0.75, 1.0):
        pointer.move_to_location(round(left + start[0] + f * (end[0] - start[0])),
                                 round(top + start[1] + f * (end[1] - start[1])))
    pointer.pointer_up()
    actions.perform()


def _sign_in(duo) -> None:
    duo.driver.get(duo.server_url + "/account/sign-in")
    duo.find_element("#email").send_keys(EMAIL)
    duo.find_element("#password").send_keys(PASSWORD)
    duo.find_element("form button[type=submit]").click()
    wait(duo, "!/sign-in/.test(location.pathname)", 20)


def _count(duo, status_id: str, n: int | None = None) -> tuple[int, str]:
    """The running count a status line says (once it says ``n``, when given)."""
    want = "[0-9][0-9,]*" if n is None else f"{n:,}"
    text = wait(duo, f"(function () {{ var t = document.querySelector('#{status_id}').textContent;"
                     f" return /^{want} areas? chosen/.test(t) ? t : null; }})()", 30)
    return int(re.search(r"([\d,]+) areas? chosen", text).group(1).replace(",", "")), text


def _none_chosen(duo) -> None:
    try:
        wait(duo, "document.querySelector('#make-area-status').textContent === 'No areas chosen yet.'", 30)
    except AssertionError:
        raise AssertionError(duo.find_element("#make-area-status").text) from None


def test_area001_draw_save_profile_and_report(signed_duo) -> None:
    duo = signed_duo
    _sign_in(duo)

    duo.wait_for_page(duo.server_url + "/areas/new")
    duo.wait_for_element("#areas-districts", timeout=30)
    _pick(duo, "areas-districts", "Islington")
    _pick(duo, "areas-districts", "Hackney")
    wait(duo, "document.querySelectorAll('#areas-map path.leaflet-interactive').length > 200", 60)
    duo.driver.execute_script("window.atlas.tiles.map('areas-map').setView([51.548, -0.085], 14, {animate: false})")

    # draw a rectangle with the drawing control inside the map
    duo.find_element(".leaflet-draw-draw-rectangle").click()
    _drag(duo, "areas-map", (300, 150), (560, 330))
    status = wait(duo, "(function () { var t = document.querySelector('#areas-status').textContent;"
                       " return /[0-9][0-9,]* areas? chosen/.test(t) ? t : null; })()", 30)
    bounds = duo.driver.execute_script("""var map = window.atlas.tiles.map('areas-map'), out = null;
        map.eachLayer(function (l) { if (l instanceof L.Rectangle) { var b = l.getBounds();
          out = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; } });
        return out;""")
    assert bounds, "no rectangle was drawn"
    from atlas import areas, catalogue

    w, so, e, n = bounds
    expected, _, _ = areas.select(catalogue.of_request(), "lsoa11", polygon={
        "type": "Polygon", "coordinates": [[[w, so], [e, so], [e, n], [w, n], [w, so]]]})
    count = int(re.search(r"([\d,]+) areas? chosen", status).group(1).replace(",", ""))
    assert count == len(expected) and count > 5, (status, len(expected))
    assert re.search(r"[\d,]+ usual residents", status), status
    # both districts' areas were taken, across the boundary
    lookup = catalogue.of_request().area_index("lsoa11").set_index("code")["authority"]
    assert len({lookup[c] for c in expected}) == 2

    duo.find_element("#areas-name").send_keys("Highbury and Dalston")
    duo.find_element("#areas-save").click()
    link = wait(duo, "document.querySelector('#areas-saved a')", 30)
    href = link.get_attribute("href")
    code = href.rsplit("/", 1)[1]
    assert re.fullmatch(r"A\d+", code)

    # the profile page (its comparators are computed on first use: slow on a loaded machine)
    duo.driver.get(href)
    wait(duo, "document.querySelector('.profile-page h1') && "
              "/Profile of Highbury and Dalston/.test(document.querySelector('.profile-page h1').textContent)", 400)
    text = duo.find_element(".profile-page").text
    assert "Age 0 to 4 (% of all usual residents)" in text and "Islington" in text and "England" in text
    assert len(duo.driver.find_elements(By.CSS_SELECTOR, ".profile-table tbody tr")) > 30
    assert axe_serious(duo) == [], "profile page"

    # the PDF report, fetched with the session, its text read back
    data = duo.driver.execute_async_script("""var done = arguments[arguments.length - 1];
        fetch('/api/profile/' + arguments[0] + '.pdf').then(function (r) { return r.arrayBuffer(); })
          .then(function (b) { var s = '', a = new Uint8Array(b);
            for (var i = 0; i < a.length; i++) { s += String.fromCharCode(a[i]); } done(btoa(s)); });""", code)
    from pypdf import PdfReader

    pdf = PdfReader(io.BytesIO(base64.b64decode(data)))
    first = pdf.pages[0].extract_text()
    assert "Profile of Highbury and Dalston" in first and f"{count} areas" in first
    assert any("All usual residents" in p.extract_text() for p in pdf.pages)

    duo.driver.get(duo.server_url + "/areas/new")
    wait(duo, "!!document.querySelector('#areas-map .leaflet-draw')", 30)
    assert axe_serious(duo) == [], "make an area page"
    logs = [entry for entry in duo.get_logs() if entry.get("level") == "SEVERE"]
    assert logs == [], json.dumps(logs, indent=1)


def test_area002_make_an_area_on_the_explorers_map(signed_duo) -> None:
    """The explorer's own map: no drawing control until "Make an area" opens (Leaflet.draw's script not even
    fetched), then a click on an area adds it, a rectangle drawn across the Islington-Hackney boundary adds
    the areas of both boroughs inside it (checked against point-in-polygon), and the area is saved public."""
    from atlas import areas, catalogue

    duo = signed_duo
    _sign_in(duo)
    duo.wait_for_page(duo.server_url + "/?authority=E09000019&level=lsoa11&variable=ks102ew0018")
    wait(duo, "window.atlas.drawn && window.atlas.drawn().length === 123", 60)
    assert duo.driver.execute_script("""return !document.querySelector('#map .leaflet-draw') &&
        !performance.getEntriesByType('resource').some(function (e) { return /EditControl/.test(e.name); });""")

    duo.find_element("#make-area-toggle").click()
    wait(duo, "!!document.querySelector('#map .leaflet-draw-draw-rectangle')", 30)
    assert duo.find_element("#make-area-toggle").get_attribute("aria-expanded") == "true"
    # a click on an area of the map adds it; its button in the table removes it, and adds it again
    code = sorted(catalogue.of_request().area_names("E09000019", "lsoa11")[0])[40]
    box = duo.find_element("#map")
    duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    x, y = interior_point(duo, f"window.atlas.layerOf({code!r})", min_px=80, max_zoom=14)
    ActionChains(duo.driver).move_to_element_with_offset(box, x, y).click().perform()
    _count(duo, "make-area-status", 1)
    button = f"tr[data-code='{code}'] button.select"
    duo.wait_for_element(f"tr.selected[data-code='{code}']")
    duo.driver.execute_script("document.querySelector(arguments[0]).click()", button)
    _none_chosen(duo)
    duo.driver.execute_script("document.querySelector(arguments[0]).click()", button)
    _count(duo, "make-area-status", 1)

    # a rectangle across the boundary: both boroughs' areas, though the map shows only Islington's
    duo.driver.execute_script("window.atlas.tiles.map('map').setView([51.548, -0.085], 14, {animate: false})")
    duo.find_element("#map .leaflet-draw-draw-rectangle").click()
    _drag(duo, "map", (200, 120), (460, 300))
    bounds = wait(duo, """(function () { var out = null;
        window.atlas.tiles.map('map').eachLayer(function (l) { if (l instanceof L.Rectangle) { var b = l.getBounds();
          out = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; } });
        return out; })()""", 30)
    w, so, e, n = bounds
    inside, _, _ = areas.select(catalogue.of_request(), "lsoa11", polygon={
        "type": "Polygon", "coordinates": [[[w, so], [e, so], [e, n], [w, n], [w, so]]]})
    expected = set(inside) | {code}
    count, status = _count(duo, "make-area-status", len(expected))
    assert count > 5 and re.search(r"[\d,]+ usual residents", status), status
    lookup = catalogue.of_request().area_index("lsoa11").set_index("code")["authority"]
    assert {lookup[c] for c in inside} == {"E09000019", "E09000012"}
    # the same selection opens on /areas/new
    href = duo.find_element("#make-area-profile").get_attribute("href")
    assert "level=lsoa11" in href and code in href

    duo.find_element("#make-area-name").send_keys("Across the boundary")
    _pick(duo, "make-area-access", "Everyone")
    duo.find_element("#make-area-save").click()
    link = wait(duo, "document.querySelector('#make-area-saved a')", 30)
    saved = link.get_attribute("href").rsplit("/", 1)[1]
    body = duo.driver.execute_async_script("""var done = arguments[arguments.length - 1];
        fetch('/api/places/' + arguments[0]).then(function (r) { return r.json(); }).then(done);""", saved)
    assert body["access"] == "public" and set(body["codes"]) == expected and body["level"] == "lsoa11"

    assert axe_serious(duo) == [], "the explorer with its make-an-area panel open"
    logs = [entry for entry in duo.get_logs() if entry.get("level") == "SEVERE"]
    assert logs == [], json.dumps(logs, indent=1)
