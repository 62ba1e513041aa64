"""The embed page and the share tools in headless Chromium (Debian's chromium and chromedriver).

A page on another loopback origin (a tiny http.server on its own port) frames ``/embed``: the map and its
legend draw inside the frame, at a large and a tiny size; framing the explorer itself is refused by the
browser (frame-ancestors). In the explorer, the Export and Download links follow the view and the map's
bounds, an export link gives a PNG, and the Embed dialog works from the keyboard.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from browser_support import wait
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from atlas import export
from atlas import viewstate as state
from ui import share as embed
from ui.ids import SHARE

pytestmark = pytest.mark.browser

CAMDEN = "E09000007"
VIEW = f"?authority={CAMDEN}&level=oa11&variable=ks102ew0002_pct"
#: The Leaflet map, reached through a drawn area's layer.
MAP_JS = "window.atlas.layerOf(window.atlas.drawn()[0].code)._map"
@pytest.fixture()
def other_site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Another origin: http.server on its own loopback port, serving the files written into a folder."""
    root = tmp_path / "site"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # the test output is no place for an access log
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def _app_origin(duo) -> str:
    # The app as the framing page must name it: 127.0.0.1 and the app's port (another origin than the
    # page's, which has its own port).
    return "http://127.0.0.1:" + duo.server_url.rsplit(":", 1)[1].rstrip("/")


def _wait(duo, script: str, timeout: float = 15):
    return wait(duo, script, timeout)


def _page(root: Path, name: str, frames: list[tuple[str, str, int, int]]) -> str:
    body = "".join(f'<iframe id="{fid}" src="{src}" width="{w}" height="{h}" title="{fid}"></iframe>'
                   for fid, src, w, h in frames)
    (root / name).write_text('<!doctype html><meta charset=utf-8><link rel=icon href="data:,">'
                             f"<title>A council page</title><h1>Our neighbourhoods</h1>{body}")
    return name


def test_emb001_another_site_frames_the_embed_at_any_size(duo, other_site) -> None:
    site, root = other_site
    app = _app_origin(duo)
    src = f"{app}/embed{VIEW}&controls=variable,k"
    name = _page(root, "council.html", [("big", src, 900, 600), ("tiny", f"{app}/embed{VIEW}", 300, 220)])
    duo.driver.get(f"{site}/{name}")

    duo.driver.switch_to.frame("big")
    drawn = _wait(duo, "window.atlas.drawn().length === 749 && window.atlas.drawn()")
    assert len({d["fill"] for d in drawn}) >= 5  # five classes (and perhaps no data)
    _wait(duo, "document.querySelectorAll('#legend .legend-row').length >= 5")
    assert "Age 0 to 4" in duo.find_element("#view-title").text
    attribution = duo.find_element("#data-attribution")
    assert attribution.is_displayed() and "Licence" in attribution.text
    link = duo.find_element("#embed-open-link")
    assert link.is_displayed() and link.get_attribute("target") == "_blank"
    assert link.get_attribute("href").startswith(f"{app}/?authority={CAMDEN}&level=oa11&variable=ks102ew0002_pct")
    assert duo.find_element("#variable").is_displayed() and duo.find_element("#k").is_displayed()
    assert not duo.find_element("#palette").is_displayed() and not duo.find_element("#authority").is_displayed()
    assert duo.driver.find_elements(By.CSS_SELECTOR, ".masthead, .table-section") == []
    assert not duo.find_element("#area-table").is_displayed()
    # The map fills what the title, controls and attribution leave of the frame.
    sizes = duo.driver.execute_script("""
        var m = document.getElementById('map').getBoundingClientRect();
        var f = document.querySelector('.embed-foot').getBoundingClientRect();
        return [m.width, m.height, f.bottom, window.innerWidth, window.innerHeight,
                document.cookie, document.querySelector('#embed-legend').open];""")
    width, height, foot_bottom, inner_w, inner_h, cookie, legend_open = sizes
    assert width == inner_w and height > inner_h * 0.6 and abs(foot_bottom - inner_h) < 1
    assert cookie == "" and legend_open is True
    # A switch inside the frame works like the explorer's.
    duo.driver.execute_script("window.atlas._latest = null;")
    duo.find_element("#k").click()
    _wait(duo, "document.querySelector('.dash-dropdown-option')")
    for option in duo.driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"):
        if option.text.strip() == "3":
            option.click()
            break
    _wait(duo, "document.querySelectorAll('#legend .legend-row:not(.nodata)').length === 3")
    query = parse_qs(duo.driver.execute_script("return location.search").lstrip("?"))
    assert query["k"] == ["3"] and query["controls"] == ["variable,k"]  # a reload keeps the controls

    duo.driver.switch_to.default_content()
    duo.driver.switch_to.frame("tiny")
    _wait(duo, "window.atlas.drawn().length === 749")
    width, height, foot_bottom, inner_w, inner_h, cookie, legend_open = duo.driver.execute_script("""
        var m = document.getElementById('map').getBoundingClientRect();
        var f = document.querySelector('.embed-foot').getBoundingClientRect();
        return [m.width, m.height, f.bottom, window.innerWidth, window.innerHeight,
                document.cookie, document.querySelector('#embed-legend').open];""")
    assert (inner_w, inner_h) == (300 - 4, 220 - 4) or (inner_w, inner_h) == (300, 220)  # the frame's border
    assert width == inner_w and height > 60 and abs(foot_bottom - inner_h) < 1
    assert legend_open is False  # folded on a tiny frame, a click away
    assert duo.find_element("#data-attribution").is_displayed()
    assert duo.driver.execute_script("""var r = document.getElementById('embed-open-link').getBoundingClientRect();
        return r.height > 0 && r.bottom <= window.innerHeight;""")  # in sight, not scrolled away
    duo.find_element("#embed-legend summary").click()
    _wait(duo, "document.querySelector('#embed-legend').open && document.querySelector('#legend .legend-row')")
    duo.driver.switch_to.default_content()
    logs = duo.get_logs()
    assert logs == [], [e["message"] for e in logs]


def test_emb002_another_site_cannot_frame_the_explorer(duo, other_site) -> None:
    site, root = other_site
    app = _app_origin(duo)
    name = _page(root, "thief.html", [("app", f"{app}/{VIEW}", 900, 600)])
    duo.driver.get(f"{site}/{name}")
    deadline = time.monotonic() + 15
    logs: list[dict] = []
    while time.monotonic() < deadline and not logs:
        logs = duo.get_logs()
        time.sleep(0.2)
    assert logs, "the browser reported no refusal"
    # Exactly the refusal, by design, and nothing else.
    for entry in logs:
        message = entry["message"]
        assert entry["source"] == "security" and f"Framing '{app}/'" in message, entry
        assert "frame-ancestors 'self'" in message and "blocked" in message, entry
    duo.driver.switch_to.frame("app")
    assert duo.driver.execute_script("return location.href") != f"{app}/{VIEW}"
    assert duo.driver.find_elements(By.CSS_SELECTOR, "#map, #react-entry-point, .atlas") == []
    duo.driver.switch_to.default_content()


def _hrefs(duo, ids: list[str]) -> list[str]:
    return duo.driver.execute_script(
        "return arguments[0].map(function (i) { return document.getElementById(i).getAttribute('href'); });", ids)


def test_emb003_export_and_download_links_follow_the_view_and_the_map(duo) -> None:
    duo.wait_for_page(f"{duo.server_url}/{VIEW}")
    _wait(duo, "window.atlas.drawn().length === 749")
    export_ids = [i for i, *_ in embed.EXPORT_LINKS]
    st = state.ViewState(authority=CAMDEN, level="oa11", variable="ks102ew0002_pct")

    def expected() -> list[str]:
        b = duo.driver.execute_script(f"""var m = {MAP_JS}.getBounds();
            return [m.getWest(), m.getSouth(), m.getEast(), m.getNorth()];""")
        box = tuple(float(f"{v:.5f}") for v in b)
        return [export.url(st, "png", box, 96), export.url(st, "png", box, 300), export.url(st, "svg", box),
                export.url(st, "pdf", box)]

    # The links are created when the tools are first approached (ui/share.py): here from the keyboard.
    duo.driver.find_element(By.CSS_SELECTOR, "#share-tools details summary").send_keys(Keys.ENTER)
    _wait(duo, "document.getElementById('export-png').getAttribute('href').indexOf('bbox=') > 0")
    # The links follow each moveend: wait until the fitted map and its links agree (no fixed pause).
    end = time.monotonic() + 15
    while _hrefs(duo, export_ids) != expected() and time.monotonic() < end:
        time.sleep(0.05)
    assert _hrefs(duo, export_ids) == expected()
    data = _hrefs(duo, [i for i, *_ in embed.DATA_FORMATS] + [SHARE.DATAPACK])
    assert data == [f"/api/values/{CAMDEN}/oa11/ks102ew0002_pct.{ext}" for ext in ("csv", "geojson", "gpkg", "parquet")
                    ] + [f"/datapack/{CAMDEN}.zip"]
    # Pan the map: the export follows the bounds.
    before = _hrefs(duo, export_ids)
    duo.driver.execute_script(f"{MAP_JS}.panBy([200, 120], {{animate: false}});")
    _wait(duo, f"document.getElementById('export-png').getAttribute('href') !== {before[0]!r}")
    assert _hrefs(duo, export_ids) == expected()
    # The menu opened from the keyboard and the link is a real PNG of the view.
    assert duo.find_element("#export-png").is_displayed()
    with urllib.request.urlopen(duo.server_url.rstrip("/") + _hrefs(duo, ["export-png"])[0], timeout=60) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/png"
        assert r.read(8) == b"\x89PNG\r\n\x1a\n"
    with urllib.request.urlopen(duo.server_url.rstrip("/") + data[0], timeout=60) as r:
        assert r.status == 200 and r.read().decode().startswith("code,name,full_name,value,rank")
    # The national view has no datapack: its link is hidden.
    duo.driver.execute_script("window.history.pushState({}, '', '/?variable=ks102ew0018');"
                              "window.dispatchEvent(new PopStateEvent('popstate'));")
    _wait(duo, "document.getElementById('data-csv').getAttribute('href') === '/api/values/all/lad/ks102ew0018.csv'")
    assert not duo.find_element(f"#{SHARE.DATAPACK}").is_displayed()
    assert duo.get_logs() == []


def test_emb004_embed_dialog_from_the_keyboard(duo) -> None:
    duo.wait_for_page(f"{duo.server_url}/{VIEW}")
    _wait(duo, "window.atlas.drawn().length === 749")
    duo.wait_for_contains_text("#view-title", "Camden")
    button = duo.find_element("#embed-button")
    button.send_keys(Keys.ENTER)
    _wait(duo, "document.getElementById('embed-dialog').open")
    assert duo.driver.execute_script("return document.activeElement.id") == "embed-snippet"
    search = state.to_query(state.ViewState(authority=CAMDEN, level="oa11", variable="ks102ew0002_pct"))
    title = duo.find_element("#view-title").text
    origin = duo.server_url.rstrip("/") + "/"
    want = embed.snippet(origin, search, [], "100%", "480", title)
    _wait(duo, f"document.getElementById('embed-snippet').value === {want!r}")
    # Tick "Variable" with the space bar; set the height by typing.
    box = duo.driver.find_element(By.CSS_SELECTOR, "#embed-controls input[value='variable']")
    box.send_keys(Keys.SPACE)
    height = duo.find_element("#embed-height")
    height.send_keys(Keys.CONTROL, "a")
    height.send_keys("360", Keys.ENTER)
    want = embed.snippet(origin, search, ["variable"], "100%", "360", title)
    _wait(duo, f"document.getElementById('embed-snippet').value === {want!r}")
    height.send_keys(Keys.CONTROL, "a")
    height.send_keys("tall", Keys.ENTER)
    duo.wait_for_contains_text("#embed-problem", "height must be")
    assert duo.find_element("#embed-snippet").get_attribute("value") == ""
    height.send_keys(Keys.CONTROL, "a")
    height.send_keys("360", Keys.ENTER)
    _wait(duo, f"document.getElementById('embed-snippet').value === {want!r}")
    preview = duo.find_element("#embed-preview").get_attribute("href")
    assert preview == want.split('src="')[1].split('"')[0].replace("&amp;", "&")
    duo.find_element("#embed-copy").send_keys(Keys.ENTER)
    _wait(duo, "document.getElementById('embed-copied').textContent")
    # Escape closes it and gives focus back to the button.
    duo.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    _wait(duo, "!document.getElementById('embed-dialog').open")
    assert duo.driver.execute_script("return document.activeElement.id") == "embed-button"
    assert duo.get_logs() == []
    # The preview is a working embed.
    duo.driver.get(preview)
    _wait(duo, "window.atlas.drawn().length === 749")
    assert duo.find_element("#variable").is_displayed() and not duo.find_element("#k").is_displayed()
    assert duo.get_logs() == []


def test_emb005_share_tools_and_make_an_area_created_when_approached(duo) -> None:
    """The share tools' links and dialog and the "Make an area" form are not in the page's first DOM (nor
    in Dash's layout); reached by the keyboard alone, they are created and work: the Download menu's links
    follow the view, the Embed dialog opens with its code, the form opens with its status."""
    duo.wait_for_page(f"{duo.server_url}/{VIEW}")
    _wait(duo, "window.atlas.drawn().length === 749")
    deferred = [SHARE.EXPORT_PNG, SHARE.DATA_CSV, SHARE.DATAPACK, SHARE.DIALOG, SHARE.DIALOG_SNIPPET,
                "make-area-status", "make-area-clear", "make-area-save"]
    present = "return arguments[0].filter(function (i) { return document.getElementById(i); });"
    assert duo.driver.execute_script(present, deferred) == []
    assert duo.driver.find_elements(By.CSS_SELECTOR, f"#{SHARE.DATA_LIST} li") == []
    # Tab from the Export menu to the Download menu: the first focus creates the tools.
    export_menu, data_menu = duo.driver.find_elements(By.CSS_SELECTOR, "#share-tools details summary")
    duo.driver.execute_script("arguments[0].focus();", export_menu)
    duo.driver.switch_to.active_element.send_keys(Keys.TAB)
    assert duo.driver.execute_script("return document.activeElement === arguments[0]", data_menu)
    duo.driver.switch_to.active_element.send_keys(Keys.ENTER)
    _wait(duo, f"document.getElementById({SHARE.DATA_CSV!r}) && "
               f"document.getElementById({SHARE.DATA_CSV!r}).getAttribute('href') === "
               f"'/api/values/{CAMDEN}/oa11/ks102ew0002_pct.csv'")
    assert duo.find_element(f"#{SHARE.DATA_CSV}").is_displayed()
    # Tab on to the Embed button and press Enter: the dialog opens on its code.
    duo.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    duo.driver.execute_script("document.getElementById(arguments[0]).focus();", SHARE.EMBED_BUTTON)
    duo.driver.switch_to.active_element.send_keys(Keys.ENTER)
    _wait(duo, f"document.getElementById({SHARE.DIALOG!r}).open")
    _wait(duo, f"document.getElementById({SHARE.DIALOG_SNIPPET!r}).value.indexOf('<iframe') === 0")
    duo.driver.switch_to.active_element.send_keys(Keys.ESCAPE)
    _wait(duo, f"!document.getElementById({SHARE.DIALOG!r}).open")
    # "Make an area" from the keyboard: its form arrives with the first opening and stays when closed.
    toggle = duo.find_element("#make-area-toggle")
    toggle.send_keys(Keys.ENTER)
    _wait(duo, "document.getElementById('make-area-status') && "
               "document.getElementById('make-area-status').textContent === 'No areas chosen yet.'")
    assert toggle.get_attribute("aria-expanded") == "true" and duo.find_element("#make-area-clear").is_displayed()
    duo.find_element("#make-area-name").send_keys("Kept")
    toggle.send_keys(Keys.ENTER)
    _wait(duo, "document.getElementById('make-area-panel').hidden")
    toggle.send_keys(Keys.ENTER)
    _wait(duo, "!document.getElementById('make-area-panel').hidden")
    assert duo.find_element("#make-area-name").get_attribute("value") == "Kept"
    logs = duo.get_logs()
    assert logs == [], [e["message"] for e in logs]
