"""What the browser tests share: headless Debian Chromium under dash_duo, waiting on page scripts, and
finding a pixel well inside an area drawn on a Leaflet map.

Imported by the browser test modules (pytest puts tests/ on sys.path); the ``duo`` fixture in conftest.py
is built from ``start_duo``.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By

__all__ = ["CHROME_FLAGS", "blend", "chrome_options", "choose", "free_port", "interior_point", "pointer_to", "query",
           "screen_pixel", "shows", "start_duo", "wait"]

# Flags known to work on these machines (a closed network: no background connections).
AXE = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "axe-core" / "axe.min.js"


def axe_serious(duo, context: str | None = None) -> list[dict]:
    """axe-core's serious and critical violations on the page (or inside the CSS selector ``context``)."""
    assert AXE.exists(), "axe-core comes from npm: cd js && npm ci"
    duo.driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = duo.driver.execute_async_script("""
        var done = arguments[arguments.length - 1];
        axe.run(arguments[0] || document, {resultTypes: ['violations']}).then(function (r) {
          done(r.violations.map(function (v) {
            return {id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 5).map(function (n) { return n.target.join(' '); })};
          }));
        }, function (e) { done({error: String(e)}); });""", context)
    assert not isinstance(result, dict), result
    return [v for v in result if v["impact"] in ("serious", "critical")]


CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000")


def chrome_options() -> Options:
    options = Options()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    return options


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_duo(dash_thread_server, download_path: Path) -> Iterator:
    """dash_duo, always headless with Debian's Chromium, serving the app (the ``duo`` fixture's body)."""
    from dash.testing.composite import DashComposite

    with DashComposite(server=dash_thread_server, browser="Chrome", headless=False, options=[chrome_options()],
                       download_path=str(download_path), percy_run=False, percy_finalize=False) as dc:
        import app as app_module

        # A free port, not dash's fixed 58050: xdist workers (and other test runs) may serve at once.
        dc.start_server(app_module.app, port=free_port())
        yield dc


def query(duo) -> dict[str, str]:
    """The page's current query string, one value per key."""
    return {k: v[-1] for k, v in parse_qs(urlparse(duo.driver.current_url).query).items()}


def wait(duo, script: str, timeout: float = 10):
    """Wait until a JavaScript expression is truthy; return its value."""
    end = time.monotonic() + timeout
    while True:
        value = duo.driver.execute_script("try { return " + script + "; } catch (e) { return null; }")
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {script}")
        time.sleep(0.1)


def interior_point(duo, layer_js: str, min_px: int = 80, max_zoom: int = 14) -> tuple[int, int]:
    """Container pixel of a point well inside the polygon ``layer_js`` (a Leaflet layer expression): the
    grid point nearest its bbox centre whose 3 px neighbours are all inside. An area drawn smaller than
    ``min_px`` is zoomed to first, as a user would."""
    return tuple(wait(duo, f"""(function () {{
        var layer = {layer_js};
        var ring = layer.getLatLngs()[0]; if (Array.isArray(ring[0])) {{ ring = ring[0]; }}
        var map = layer._map, size = map.getSize(), best = null;
        var b = layer.getBounds(), p0 = map.latLngToContainerPoint(b.getNorthWest()),
            p1 = map.latLngToContainerPoint(b.getSouthEast());
        if (p1.x - p0.x < {min_px} && p1.y - p0.y < {min_px}) {{
          map.fitBounds(b, {{animate: false, maxZoom: {max_zoom}}});
          return null;
        }}
        var pts = ring.map(function (ll) {{ return map.latLngToContainerPoint(ll); }});
        function inside(x, y) {{
          var c = false;
          for (var i = 0, j = pts.length - 1; i < pts.length; j = i++) {{
            if ((pts[i].y > y) !== (pts[j].y > y) &&
                x < (pts[j].x - pts[i].x) * (y - pts[i].y) / (pts[j].y - pts[i].y) + pts[i].x) {{ c = !c; }}
          }}
          return c;
        }}
        var cx = (p0.x + p1.x) / 2, cy = (p0.y + p1.y) / 2, bestD = Infinity;
        // Not under the map's own controls (zoom buttons, the reference layer's button): a click there is theirs.
        var box = map.getContainer().getBoundingClientRect();
        function free(x, y) {{
          var el = document.elementFromPoint(box.left + x, box.top + y);
          return !el || !el.closest('.leaflet-control, .place-search, .legend-strip');
        }}
        for (var s = 1; s <= 19; s += 1) {{
          for (var t = 1; t <= 19; t += 1) {{
            var x = Math.round(p0.x + (p1.x - p0.x) * s / 20), y = Math.round(p0.y + (p1.y - p0.y) * t / 20);
            var dist = (x - cx) * (x - cx) + (y - cy) * (y - cy);
            if (x > 5 && y > 5 && x < size.x - 5 && y < size.y - 5 && dist < bestD && inside(x, y) &&
                inside(x - 3, y) && inside(x + 3, y) && inside(x, y - 3) && inside(x, y + 3) && free(x, y)) {{
              best = [x, y]; bestD = dist;
            }}
          }}
        }}
        return best;
    }})()"""))


def choose(duo, control: str, text: str, search: str | None = None) -> None:
    """Pick the option whose text is ``text`` in the dropdown ``control``, typing ``search`` first."""
    duo.find_element(f"#{control}").click()
    if search:
        box = wait(duo, "document.querySelector('.dash-dropdown-search, .dash-dropdown-options input')")
        box.send_keys(search)
    for _ in range(50):
        try:
            for option in duo.driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option"):
                if option.text.strip() == text:
                    option.click()
                    return
        except StaleElementReferenceException:
            pass  # the list was redrawn while read (the server's search results arrived): read it again
        time.sleep(0.1)
    raise AssertionError(f"no option {text!r} in #{control}")


def screen_pixel(duo, element_id: str, x: float, y: float) -> tuple[int, int, int]:
    """The colour on screen at point (x, y) of the element ``element_id`` (a map's container): a screenshot
    read back (tiles drawn by workers are bitmaps: the page has no polygon to ask)."""
    from PIL import Image  # noqa: PLC0415

    left, top, ratio = duo.driver.execute_script(
        "var r = document.getElementById(arguments[0]).getBoundingClientRect();"
        " return [r.left, r.top, window.devicePixelRatio || 1];", element_id)
    shot = Image.open(io.BytesIO(duo.driver.get_screenshot_as_png())).convert("RGB")
    return shot.getpixel((round((left + x) * ratio), round((top + y) * ratio)))


def pointer_to(duo, element_id: str, x: float, y: float) -> None:
    """Move the mouse to point (x, y) of the element ``element_id``, in the viewport (a map may reach below it,
    which moves Selenium's element-centred offsets)."""
    left, top = duo.driver.execute_script(
        "var r = document.getElementById(arguments[0]).getBoundingClientRect(); return [r.left, r.top];",
        element_id)
    actions = ActionBuilder(duo.driver)
    actions.pointer_action.move_to_location(round(left + x), round(top + y))
    actions.perform()


def blend(colour: str, background: tuple[int, int, int], alpha: float) -> tuple[int, ...]:
    """``colour`` ("#rrggbb") painted at opacity ``alpha`` over ``background``."""
    rgb = tuple(int(colour[k:k + 2], 16) for k in (1, 3, 5))
    return tuple(round(alpha * c + (1 - alpha) * b) for c, b in zip(rgb, background, strict=True))


def shows(duo, element_id: str, x: float, y: float, colour: tuple[int, ...], timeout: float = 10) -> None:
    """Wait for the screen at (x, y) of ``element_id`` to settle on ``colour`` (within 3 a channel: Leaflet
    fades new tiles in), or fail saying what it shows."""
    end = time.monotonic() + timeout
    while True:
        got = screen_pixel(duo, element_id, x, y)
        if max(abs(a - b) for a, b in zip(got, colour, strict=True)) <= 3:
            return
        if time.monotonic() > end:
            raise AssertionError(f"the screen shows {got} at ({x:.0f}, {y:.0f}) of #{element_id}, not {colour}")
        time.sleep(0.1)
