"""Places larger than a district: what a switch sends, and how fast the browser draws and repaints them.

    ATLAS_DATA_DIR=... python bench/bench_places.py [--repeat 10]

Reads the extracts in ATLAS_DATA_DIR. Two views, each at 2011 LSOAs: London (``E12000007``, 4,835 areas, drawn
from one geobuf of the place) and England and Wales (``all``, 34,753 areas, drawn from vector tiles:
tiles/lsoa11.pmtiles through /api/tiles/, painted by assets/tiles.js).

1. Bytes per area of a variable switch: the exact request the browser posts when the Variable control
   changes, through Flask's test client; the answer raw and brotli-compressed (as the app sends it), divided
   by the number of areas (the budget: 2 bytes per area). Server time p50 over ``--repeat`` warm switches.
2. Headless Chromium (Debian's chromium, 1400x1000, a fresh profile), the app served by werkzeug in this
   process, warmed by one request for each page first: *first map*, from the navigation's start to the first
   frame painted after assets/atlas.js says every area (or every tile on screen) has its style
   (``atlas:styled``), cold browser cache; and a *variable switch*, from the control's change to that frame,
   split at the moment the answer arrived (Resource Timing's responseEnd of the POST): *paint after the
   response* is the browser's own part (budget: 250 ms for London), and the whole switch is *painted*
   (budget: 500 ms for England and Wales).

3. *Country to street* (England and Wales only, after the switches): the map set to zoom 6 over Birmingham
   and its tiles loaded, then zoomed in one level at a time (Leaflet's animated zoom) to 16, each step's
   tiles drawn before the next, then panned four times by 300 px at 16. Over the whole movement: the frame
   intervals (requestAnimationFrame; p50, p95, the longest, and how many exceed 50 ms, i.e. below 20 frames a
   second) and the main thread's long tasks (over 50 ms, PerformanceObserver ``longtask``: count, total and
   longest): a smooth movement has few long frames and no long task of more than a frame or two.

Figures depend on the machine (2 shared cores here): run it more than once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

import brotli

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.chdir(ROOT)

from bench_switch import _free_port, pct, post, render_request  # noqa: E402

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000")
VARIABLES = ["ks102ew0018", "ks102ew0014_pct", "imd2019_imd_rank", "ks102ew0002_pct"]
CASES = [("London (E12000007), LSOAs", "E12000007", "lsoa11"),
         ("England and Wales (all), LSOAs", "all", "lsoa11")]

# Installed before any page script: the first frame painted after each atlas:styled, in performance.now() time
# (milliseconds since the navigation started).
_INSTRUMENT = """
window.__bench = {styled: [], t0: null, painted: null, scheduled: false};
window.addEventListener('atlas:styled', function () {
  var b = window.__bench;
  requestAnimationFrame(function () { setTimeout(function () {
    var t = performance.now();
    b.styled.push(t);
    if (b.t0 !== null && b.painted === null) { b.painted = t; }
  }, 0); });
});
"""


# Zoom from country (6) to street (16) over Birmingham, one level at a time, then pan: frame intervals and long
# tasks over the whole movement (an async script: its last argument is the callback).
_PANZOOM = """
var done = arguments[arguments.length - 1];
var map = window.atlas.tiles.map('map'), held = window.atlas.tiles.held('map');
if (!map || !held) { done(null); return; }
var layer = held.layer, frames = [], longs = [], recording = false;
try {
  new PerformanceObserver(function (list) {
    if (recording) { list.getEntries().forEach(function (e) { longs.push(e.duration); }); }
  }).observe({type: 'longtask'});
} catch (e) { longs = null; }
function tick(t) { if (recording) { frames.push(t); requestAnimationFrame(tick); } }
function settled(next) {  // the move ended and every tile on screen is drawn
  setTimeout(function check() {
    if (layer.isLoading && layer.isLoading()) { setTimeout(check, 10); } else { requestAnimationFrame(next); }
  }, 30);
}
function step(move, next) { map.once('moveend', function () { settled(next); }); move(); }
var centre = [52.4796, -1.9026], zoom = 6, pans = 0, started = 0;
function zoomIn() {
  if (zoom < 16) { zoom += 1; step(function () { map.setZoom(zoom, {animate: true}); }, zoomIn); }
  else { pan(); }
}
function pan() {
  if (pans < 4) { pans += 1; step(function () { map.panBy([300, 0], {animate: true, duration: 0.25}); }, pan); }
  else { finish(); }
}
function finish() {
  recording = false;
  var gaps = [];
  for (var i = 1; i < frames.length; i++) { gaps.push(frames[i] - frames[i - 1]); }
  done({ms: performance.now() - started, gaps: gaps, longs: longs});
}
step(function () { map.setView(centre, 6, {animate: false}); }, function () {
  recording = true; started = performance.now(); requestAnimationFrame(tick); zoomIn();
});
"""


def _tile_stats(driver) -> dict:
    # Tiles fetched and drawn by the page's workers so far, and their decode and draw milliseconds.
    return driver.execute_async_script(
        "var done = arguments[arguments.length - 1]; window.atlas.tiles.stats().then(done);")


def server_side(repeat: int) -> list[tuple]:
    import app as app_module

    client = app_module.server.test_client()
    rows, firsts = [], []
    for label, authority, level in CASES:
        first = f"?authority={authority}&level={level}&variable={VARIABLES[0]}"
        body, _ = render_request(client, first, None)
        data, _ = post(client, body)
        stored = json.loads(data)["response"]["view-state"]["data"]
        firsts.append((label, len(data), len(brotli.compress(data, quality=5))))
        n = None
        raw_sizes, br_sizes, times = [], [], []
        for i in range(repeat + 1):
            variable = VARIABLES[1 + i % (len(VARIABLES) - 1)]
            search = f"?authority={authority}&level={level}&variable={variable}"
            body, _ = render_request(client, search, stored)
            data, ms = post(client, body)
            answer = json.loads(data)["response"]
            stored = answer["view-state"]["data"]
            n = answer["view-payload"]["data"]["n"]
            if i:  # the first is cold
                raw_sizes.append(len(data))
                br_sizes.append(len(brotli.compress(data, quality=5)))
                times.append(ms)
        rows.append((label, n, statistics.median(raw_sizes), statistics.median(br_sizes),
                     statistics.median(times), pct(times, 0.95)))
    print("\n## A variable switch: the answer of the render callback\n")
    print("| view | areas | raw bytes | brotli bytes | raw B/area | brotli B/area | server p50 ms | p95 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, n, raw, br, p50, p95 in rows:
        print(f"| {label} | {n:,} | {raw:,.0f} | {br:,.0f} | {raw / n:.2f} | {br / n:.2f} | {p50:.0f} | {p95:.0f} |")
    print("\n## The first render's answer (a place opened: the paint, and the areas' codes and names or their URL)\n")
    print("| view | raw bytes | brotli bytes |")
    print("| --- | --- | --- |")
    for label, raw, br in firsts:
        print(f"| {label} | {raw:,} | {br:,} |")
    return rows


def browser_side(repeat: int) -> list[tuple]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from werkzeug.serving import make_server

    import app as app_module

    # A running server, not a cold one: the page and the view asked for once before the browser's first visit
    # (the figures are the browser's first map, not the server process's start).
    client = app_module.server.test_client()
    for _label, authority, level in CASES:
        client.get(f"/?authority={authority}&level={level}&variable={VARIABLES[0]}")
    port = _free_port()
    httpd = make_server("127.0.0.1", port, app_module.server, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    rows, moves, workers = [], [], []
    try:
        for label, authority, level in CASES:
            options = Options()
            for flag in CHROME_FLAGS:
                options.add_argument(flag)
            if Path("/usr/bin/chromium").exists():
                options.binary_location = "/usr/bin/chromium"
            driver = webdriver.Chrome(options=options)  # a fresh profile: a cold cache for the first map
            try:
                driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _INSTRUMENT})

                def wait(script: str, timeout: float = 60, driver=driver):
                    end = time.monotonic() + timeout
                    while time.monotonic() < end:
                        value = driver.execute_script("try { return " + script + "; } catch (e) { return null; }")
                        if value:
                            return value
                        time.sleep(0.005)
                    raise TimeoutError(script)

                url = f"http://127.0.0.1:{port}/?authority={authority}&level={level}&variable={VARIABLES[0]}"
                driver.get(url)
                first = wait("window.__bench.styled.length > 0 && window.__bench.styled[0]")
                wait("window.atlas._latest && window.atlas._latest.p")
                time.sleep(1.0)  # let the details and late tiles settle before switching (not measured)
                totals, after = [], []
                tiles_before = _tile_stats(driver) if authority == "all" else None
                for i in range(repeat):
                    variable = VARIABLES[1 + i % (len(VARIABLES) - 1)]
                    driver.execute_script(
                        "window.__bench.t0 = null; window.__bench.painted = null; performance.clearResourceTimings();"
                        "window.__bench.t0 = performance.now();"
                        f"window.dash_clientside.set_props('variable', {{value: {json.dumps(variable)}}});")
                    painted = wait("window.__bench.painted")
                    t0 = driver.execute_script("return window.__bench.t0")
                    net = driver.execute_script(
                        "var e = performance.getEntriesByType('resource').filter(function (r) {"
                        " return r.name.indexOf('_dash-update-component') >= 0; });"
                        "return e.length ? e[0].responseEnd : null;")
                    wait(f"new URLSearchParams(location.search).get('variable') === {json.dumps(variable)}")
                    totals.append(painted - t0)
                    if net:
                        after.append(painted - net)
                if authority == "all":
                    got = _tile_stats(driver)
                    drawn = got["drawn"] - tiles_before["drawn"]
                    workers.append((label, got["workers"], drawn / repeat,
                                    (got["drawMs"] - tiles_before["drawMs"]) / max(drawn, 1),
                                    got["fetched"], got["decodeMs"] / max(got["fetched"], 1)))
                    driver.set_script_timeout(300)
                    moves.append((label, driver.execute_async_script(_PANZOOM)))
                rows.append((label, first, statistics.median(totals), pct(totals, 0.95),
                             statistics.median(after) if after else None, pct(after, 0.95) if after else None))
            finally:
                driver.quit()
    finally:
        httpd.shutdown()
    print("\n## Headless Chromium: first map and a variable switch painted\n")
    print("| view | first map ms (cold) | switch painted p50 ms | p95 ms | paint after the response p50 ms | p95 ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, first, p50, p95, a50, a95 in rows:
        print(f"| {label} | {first:.0f} | {p50:.0f} | {p95:.0f} | "
              f"{'' if a50 is None else f'{a50:.0f}'} | {'' if a95 is None else f'{a95:.0f}'} |")
    print("\n## The tile workers (assets/tiles.js, js/tiles-worker.js): off the page's main thread\n")
    print("| view | workers | tiles drawn per switch | draw ms per tile | tiles fetched (first map and switches) "
          "| decode ms per tile |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, count, per_switch, draw_ms, fetched, decode_ms in workers:
        print(f"| {label} | {count} | {per_switch:.1f} | {draw_ms:.1f} | {fetched} | {decode_ms:.1f} |")
    print("\n## Headless Chromium: country (zoom 6) to street (16) over Birmingham, then four pans\n")
    print("| view | movement s | frames | frame p50 ms | p95 ms | longest ms | frames over 50 ms "
          "| long tasks | their total ms | longest task ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, got in moves:
        if not got or not got["gaps"]:
            print(f"| {label} | (the tile map was not there) | | | | | | | | |")
            continue
        gaps, longs = got["gaps"], got["longs"]
        tasks = ("n/a | n/a | n/a" if longs is None else
                 f"{len(longs)} | {sum(longs):.0f} | {max(longs, default=0):.0f}")
        print(f"| {label} | {got['ms'] / 1000:.1f} | {len(gaps) + 1} | {statistics.median(gaps):.0f} | "
              f"{pct(gaps, 0.95):.0f} | {max(gaps):.0f} | {sum(g > 50 for g in gaps)} | {tasks} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server_side(args.repeat)
    if not args.no_browser:
        browser_side(args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
