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
from browser_support import start_duo, wait
from city_support import ISLINGTON, PASSWORD, data_folder, environment
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "js" / "node_modules" / "axe-core" / "axe.min.js"
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


def _axe(duo) -> list[dict]:
    duo.driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = duo.driver.execute_async_script("""
        var done = arguments[arguments.length - 1];
        axe.run(document, {resultTypes: ['violations']}).then(function (r) {
          done(r.violations.map(function (v) {
            return {id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 5).map(function (n) { return n.target.join(' '); })};
          }));
        }, function (e) { done({error: String(e)}); });""")
    assert not isinstance(result, dict), result
    return [v for v in result if v["impact"] in ("serious", "critical")]


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


def test_area001_draw_save_profile_and_report(signed_duo) -> None:
    duo = signed_duo
    duo.driver.get(duo.server_url + "/account/sign-in")
    duo.find_element("#email").send_keys(EMAIL)
    duo.find_element("#password").send_keys(PASSWORD)
    duo.find_element("form button[type=submit]").click()
    wait(duo, "!/sign-in/.test(location.pathname)", 20)

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
    assert _axe(duo) == [], "profile page"

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
    assert _axe(duo) == [], "make an area page"
    logs = [entry for entry in duo.get_logs() if entry.get("level") == "SEVERE"]
    assert logs == [], json.dumps(logs, indent=1)
