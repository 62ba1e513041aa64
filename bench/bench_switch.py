"""What one switch of the map costs: bytes sent, server time, and the browser's repaint.

    python bench/bench_switch.py [--repeat 30] [--no-browser]

Reads the extracts in ATLAS_DATA_DIR. A *switch* is a change of variable, scheme, classes, palette or
scope: the control's change posts one request to the ``render`` callback, whose answer (the paint: one
class digit per area and the legend) restyles the map in the browser; the address is written beside it.

1. Bytes and server time: the exact request the browser sends when a control changes, posted through
   Flask's test client (server time without the network), for real views: Camden's 749 output areas,
   Birmingham's 639 LSOAs and the 374 districts of the national view, and Birmingham (639) and Leeds
   (482) at 2011 LSOAs switched through the national collection (re-based, change, categorical, derived
   variables), against the budget of 16 bytes per area; and what opening a view sends, beside what the
   labels of every variable there would weigh (they are not sent). Each switch is posted once cold
   (nothing cached), then ``--repeat`` times warm; p50/p95 of the warm times. Bytes are the answer as
   sent (raw) and brotli-compressed as the app sends it to a browser that accepts it.
2. In headless Chromium (Debian's chromium, canvas renderer), from the moment a control changes to the
   first frame painted with the new colours: the atlas (Camden's output areas, a variable switch and a
   classes switch) against Plotly's canonical Dash choropleth (bench/canonical_choropleth.py: a callback
   returning a new ``px.choropleth_map`` figure) on the same areas and values, in the same run, and the
   browser's part alone for 1,584 polygons (Liverpool's output areas, paints made in the page).
3. Bytes per switch in headless Chromium: everything the page fetches after a variable switch, per area,
   with and without a hover (``--bytes-only`` for this part alone), for Camden's output areas, London's
   LSOAs and England and Wales's LSOAs; and how long the first hover after a switch takes to show figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import brotli

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

CASES = [
    # (label, starting view, switches)
    ("Camden, output areas (749)", "?authority=E09000007&level=oa11&variable=ks102ew0018", [
        "?authority=E09000007&level=oa11&variable=ks102ew0014_pct",
        "?authority=E09000007&level=oa11&variable=ks102ew0014_pct&scheme=fisher_jenks",
        "?authority=E09000007&level=oa11&variable=ks102ew0014_pct&scheme=fisher_jenks&k=7",
        "?authority=E09000007&level=oa11&variable=ks102ew0014_pct&scheme=fisher_jenks&k=7&palette=RdPu",
        "?authority=E09000007&level=oa11&variable=ks102ew0002_pct&scheme=head_tail&k=7&palette=RdPu",
    ]),
    ("Birmingham, LSOAs (639)", "?authority=E08000025&level=lsoa11&variable=ks102ew0018", [
        "?authority=E08000025&level=lsoa11&variable=imd2019_imd_rank",
        "?authority=E08000025&level=lsoa11&variable=imd2019_imd_rank&scope=national",
        "?authority=E08000025&level=lsoa11&variable=ks102ew0014_pct&scope=national&k=8",
        "?authority=E08000025&level=lsoa11&variable=ks102ew0014_pct&scope=national&k=8&scheme=equal_interval",
        "?authority=E08000025&level=lsoa11&variable=ks102ew0014_pct&scheme=std_mean&k=8&palette=PuOr",
    ]),
    ("National view, districts (374)", "?authority=all", [
        "?authority=all&variable=ks102ew0014_pct",
        "?authority=all&variable=ks102ew0014_pct&k=9",
        "?authority=all&variable=ks102ew0014_pct&k=9&scheme=fisher_jenks&palette=Greens",
    ]),
]


def _national_set(authority: str) -> list[str]:
    """Switches through the national collection at 2011 LSOAs (issue 9): an age band, tenure re-based from
    Census 2021 (estimates flagged), a change 2011 -> 2021 (centred, diverging), the rural-urban
    classification (categorical), ethnic group, the derived IMD score, then classes and scheme."""
    v = f"?authority={authority}&level=lsoa11&variable="
    return [v + "ks102ew_age_65_plus_pct", v + "ts054_lsoa11_owned_pct", v + "chg_tenure_owned_pp",
            v + "ruc11", v + "ks201ew0002_pct", v + "imd2019_score_derived",
            v + "imd2019_score_derived&k=7", v + "imd2019_score_derived&k=7&scheme=fisher_jenks"]


#: Birmingham and Leeds at 2011 LSOAs with the full national set (667 variables each).
NATIONAL_CASES = [
    ("Birmingham, LSOAs, national set (639)", "?authority=E08000025&level=lsoa11&variable=ks102ew0018",
     _national_set("E08000025")),
    ("Leeds, LSOAs, national set (482)", "?authority=E08000035&level=lsoa11&variable=ks102ew0018",
     _national_set("E08000035")),
]
#: The budget of a switch (issue 9 §4): the paint must stay within 16 bytes per area.
BUDGET_PER_AREA = 16
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def render_request(client, search: str, previous: dict | None) -> tuple[bytes, dict]:
    """The body the browser posts when a control changes (``previous``: the view on the page, or the
    address at a first load when None), and the answer."""
    from urllib.parse import parse_qsl

    from ui import ids

    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if d["clientside_function"] is None and f"..{ids.PAYLOAD}.data.." in d["output"])
    outputs = []
    for part in dep["output"].strip(".").split("..."):
        component, prop = part.split(".", 1)
        outputs.append({"id": component, "property": prop.split("@")[0]})
    asked = dict(parse_qsl(search.lstrip("?")))
    base = dict(previous["state"]) if previous else {}
    values = {**base, **{k: asked[k] for k in asked}}
    if "k" in values:
        values["k"] = int(values["k"])
    values["reverse"] = ["1"] if str(values.get("reverse")) in ("1", "True", "true") else []
    changed = [k for k in ids.CONTROLS if previous and str(values.get(k)) != str(base.get(k))]
    inputs = [{"id": ids.NAV, "property": "data", "value": {"search": search}}] + [
        {"id": key, "property": "value", "value": values.get(key)} for key in ids.CONTROLS]
    body = {"output": dep["output"], "outputs": outputs, "inputs": inputs,
            "state": [{"id": ids.STATE, "property": "data", "value": previous}],
            "changedPropIds": [f"{k}.value" for k in changed] if previous else [f"{ids.NAV}.data"]}
    return json.dumps(body).encode(), body


def list_request(client, group: str, stored: dict) -> bytes:
    """The body the browser posts for the Table value ``render`` set (variable_search: that table's list)."""
    from ui import ids

    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if d["clientside_function"] is None
               and any(i["id"] == ids.GROUP for i in d["inputs"]) and ids.VARIABLE in d["output"])
    component, prop = dep["output"].split(".", 1)
    body = {"output": dep["output"], "outputs": {"id": component, "property": prop.split("@")[0]},
            "inputs": [{"id": ids.VARIABLE, "property": "search_value", "value": None},
                       {"id": ids.GROUP, "property": "value", "value": group}],
            "state": [{"id": ids.STATE, "property": "data", "value": stored}],
            "changedPropIds": [f"{ids.GROUP}.value"]}
    return json.dumps(body).encode()


def post(client, body: bytes) -> tuple[bytes, float]:
    start = time.perf_counter()
    response = client.post("/_dash-update-component", data=body, content_type="application/json")
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"render answered {response.status_code}: {response.data[:300]!r}")
    return response.data, elapsed


def server_side(repeat: int) -> None:
    import app as app_module

    client = app_module.server.test_client()
    client.get("/")
    print("\n## Bytes and server time per switch (Flask test client, no network)\n")
    print("| view | areas | bytes/switch (raw) | brotli | bytes per area (raw) | request | cold ms | warm p50 | p95 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    opened = []
    worst: list[tuple[str, float]] = []
    for label, first, switches in CASES + NATIONAL_CASES:
        body, _ = render_request(client, first, None)
        data, _ = post(client, body)
        first_bytes = data
        previous = json.loads(data)["response"]["view-state"]["data"]
        n = json.loads(data)["response"]["view-payload"]["data"]["n"]
        sizes, gz, cold, warm, requests, lists = [], [], [], [], [], []
        for search in switches:
            body, _ = render_request(client, search, previous)
            requests.append(len(body))
            data, ms = post(client, body)
            cold.append(ms)
            sizes.append(len(data))
            gz.append(len(brotli.compress(data, quality=5)))
            answer = json.loads(data)["response"]
            assert "view-areas" not in answer, "a switch must not resend the areas' names"
            previous = answer["view-state"]["data"]
            if "variable-group" in answer:
                # Another table: its list follows in a request of its own (not on the paint's path).
                listed, _ = post(client, list_request(client, answer["variable-group"]["value"], previous))
                lists.append(len(listed))
            for _ in range(repeat):
                warm.append(post(client, body)[1])
        opened.append((label, n, first_bytes, len(brotli.compress(first_bytes, quality=5)),
                       json.loads(first_bytes)["response"]))
        worst.append((label, max(sizes) / n, lists))
        mean_size = statistics.mean(sizes)
        print(f"| {label} | {n} | {mean_size:,.0f} (max {max(sizes):,}) | {statistics.mean(gz):,.0f} | "
              f"{mean_size / n:.1f} | {statistics.mean(requests):,.0f} | {statistics.median(cold):.1f} | "
              f"{statistics.median(warm):.1f} | {pct(warm, 0.95):.1f} |")
    print("\nThe app compresses these answers (web/compression.py): the brotli column is what crosses the network")
    print("to a browser that accepts it. Request = the JSON the browser posts (Dash's own framing).")
    print("\nLargest switch per area, against the budget of "
          f"{BUDGET_PER_AREA} B/area: " + "; ".join(f"{label} {b:.1f}" for label, b, _ in worst) + ".")
    print("A switch to another table is followed by that table's variable list (variable_search, its own request): "
          + "; ".join(f"{label} {len(lists)} of them, {statistics.mean(lists):,.0f} B mean, {max(lists):,} max"
                      for label, _, lists in worst if lists) + ".")
    print("\n## Opening a view (once per authority and level: names, table and variable lists, outline, paint)\n")
    print("| view | areas | bytes (raw) | brotli | of which the Table list (raw) | its options | variables here "
          "| their labels alone (raw) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    from atlas import catalogue, mapview

    s = catalogue.build()
    for label, n, raw, gz, answer in opened:
        groups = answer["variable-group"]["options"]
        state = answer["view-state"]["data"]["state"]
        here = s.variables(authority=state["authority"], level=state["level"])
        labels = len(json.dumps([r["label"] for r in here]).encode())
        print(f"| {label} | {n} | {len(raw):,} | {gz:,} | {len(json.dumps(groups).encode()):,} | {len(groups)} | "
              f"{len(here):,} | {labels:,} |")
    print("\nThe Table list names each table once (and what exists elsewhere in a line per topic and reason); the "
          "variables' own labels\nare sent only for the table chosen, or for words typed (variable_search).")
    del mapview


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_INSTRUMENT = """
window.__bench = {t0: null, painted: null};
if (!window.__benchListening) {
  window.__benchListening = true;
  // assets/atlas.js announces when every area has its new style; the canvas paints it in the next
  // animation frame, and a task queued from that frame runs once the frame is done.
  window.addEventListener('atlas:styled', function () {
    var b = window.__bench;
    if (b.t0 !== null && b.painted === null && !b.scheduled) {
      b.scheduled = true;
      requestAnimationFrame(function () { setTimeout(function () { b.painted = performance.now(); }, 0); });
    }
  });
}
"""


_CANONICAL_INSTRUMENT = """
window.__bench = {t0: null, painted: null};
var gd = document.querySelector('#map .js-plotly-plot');
if (!window.__benchListening) {
  window.__benchListening = true;
  // Plotly says when a new figure is drawn; the frame after it is the first one showing it.
  gd.on('plotly_afterplot', function () {
    var b = window.__bench;
    if (b.t0 !== null && b.painted === null && !b.scheduled) {
      b.scheduled = true;
      requestAnimationFrame(function () { setTimeout(function () { b.painted = performance.now(); }, 0); });
    }
  });
}
"""
CAMDEN_SWITCHES = ["ks102ew0014_pct", "ks102ew0002_pct", "ks102ew0018", "ks102ew0016_pct"]


def browser_side(repeat: int) -> None:
    import subprocess

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from werkzeug.serving import make_server

    import app as app_module

    port = _free_port()
    httpd = make_server("127.0.0.1", port, app_module.server, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    canonical_port = _free_port()
    canonical = subprocess.Popen([sys.executable, str(ROOT / "bench" / "canonical_choropleth.py"),
                                  str(canonical_port), "E09000007", "oa11", *CAMDEN_SWITCHES])
    options = Options()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options)
    try:
        base = f"http://127.0.0.1:{port}/"

        def wait(script: str, timeout: float = 30):
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                value = driver.execute_script("try { return " + script + "; } catch (e) { return null; }")
                if value:
                    return value
                time.sleep(0.01)
            logs = [e["message"][:300] for e in driver.get_log("browser")]
            where = driver.execute_script("return [location.search, window.__bench]")
            raise TimeoutError(f"{script}; browser console: {logs}; page: {where}")

        def measure(trigger: str, request_marker: str) -> tuple[float, float | None]:
            driver.execute_script("window.__bench.t0 = null; window.__bench.painted = null;"
                                  "window.__bench.scheduled = false; performance.clearResourceTimings();"
                                  "window.__bench.t0 = performance.now();" + trigger)
            painted = wait("window.__bench.painted")
            t0 = driver.execute_script("return window.__bench.t0")
            net = driver.execute_script(
                "var marker = arguments[0];"
                "var e = performance.getEntriesByType('resource').filter(function (r) {"
                " return r.name.indexOf(marker) >= 0; });"
                "return e.length ? e[0].responseEnd : null;", request_marker)
            return painted - t0, (net - t0) if net else None

        rows = []

        def row(label: str, n: int, total: list[float], net: list[float]) -> None:
            rows.append((label, n, statistics.median(total), pct(total, 0.95),
                         statistics.median(net) if net else None))

        # The atlas: Camden's output areas, the variable switched through its control, then the classes.
        driver.get(base + "?authority=E09000007&level=oa11&variable=ks102ew0018")
        wait("window.atlas.drawn().length === 749")
        driver.execute_script(_INSTRUMENT)
        for what, values in (("variable", CAMDEN_SWITCHES), ("k", [5, 6])):  # each switch changes the view
            total, net = [], []
            for i in range(repeat):
                value = json.dumps(values[(i + 1) % len(values)])
                t, n = measure(f"window.dash_clientside.set_props('{what}', {{value: {value}}});",
                               "_dash-update-component")
                wait(f"new URLSearchParams(location.search).get('{what}') === String({value})")
                total.append(t)
                if n:
                    net.append(n)
            row(f"Atlas, Camden output areas, {what} switched", 749, total, net)

        # Plotly's canonical choropleth, same areas and values, same browser, same run.
        driver.get(f"http://127.0.0.1:{canonical_port}/")
        wait("document.querySelector('#map .js-plotly-plot') && "
             "document.querySelector('#map .js-plotly-plot')._fullData && "
             "document.querySelector('#map .js-plotly-plot')._fullData.length", 120)
        driver.execute_script(_CANONICAL_INSTRUMENT)
        total, net = [], []
        for i in range(repeat):
            value = json.dumps(CAMDEN_SWITCHES[(i + 1) % len(CAMDEN_SWITCHES)])
            t, n = measure(f"window.dash_clientside.set_props('variable', {{value: {value}}});",
                           "_dash-update-component")
            total.append(t)
            if n:
                net.append(n)
        row("Plotly's canonical Dash choropleth (px.choropleth_map), variable switched", 749, total, net)

        # 1,584 polygons: Liverpool's output areas, real geometry, paints made in the page (browser only).
        driver.get(base + "?authority=E08000012&level=lsoa11&variable=ks102ew0018")
        wait("window.atlas.drawn().length > 200")
        build = driver.execute_script("return window.atlas._latest.p.url.split('v=')[1]")
        driver.execute_script(_INSTRUMENT + """
            var p = Object.assign({}, window.atlas._latest.p);
            p.url = '/api/areas/E08000012/oa11.pbf?v=' + arguments[0];
            p.key = 'E08000012/oa11'; p.n = 1584; p.national = null; p.k = 5;
            var cls = ''; for (var i = 0; i < 1584; i += 1) { cls += String((i * 7919) % 5); }
            p.cls = cls; p.classLabels = ['a', 'b', 'c', 'd', 'e'];
            window.__benchPayload = p;
            window.dash_clientside.set_props(window.atlas.ids.PAYLOAD, {data: p});
        """, build)
        wait("window.atlas.drawn().length === 1584", 60)
        palettes = [["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"],
                    ["#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15"]]
        total = []
        for i in range(repeat):
            colours = json.dumps(palettes[i % 2])
            t, _ = measure("var q = Object.assign({}, window.__benchPayload, {c: " + colours + "});"
                           "window.dash_clientside.set_props(window.atlas.ids.PAYLOAD, {data: q});", "none")
            total.append(t)
        row("Atlas, Liverpool output areas, a paint applied in the page (browser only)", 1584, total, [])

        print("\n## From a control's change to the first frame painted with the new colours, headless Chromium\n")
        print("| case | polygons | p50 ms | p95 ms | of which until the answer arrived, p50 ms |")
        print("| --- | --- | --- | --- | --- |")
        for label, n, p50, p95, net_p50 in rows:
            print(f"| {label} | {n:,} | {p50:.0f} | {p95:.0f} | {'' if net_p50 is None else f'{net_p50:.0f}'} |")
        atlas = rows[0][2]
        plotly = rows[2][2]
        print(f"\nAtlas variable switch / canonical: {atlas / plotly:.2f} of its time (p50 {atlas:.0f} ms against "
              f"{plotly:.0f} ms).")
    finally:
        driver.quit()
        httpd.shutdown()
        canonical.terminate()
        canonical.wait(timeout=20)


BYTES_CASES = [
    # (label, areas, address, variables switched through)
    ("Camden, output areas", 749, "?authority=E09000007&level=oa11&variable=ks102ew0018",
     ["ks102ew0014_pct", "ks102ew0002_pct", "ks102ew0018", "ks102ew0016_pct"]),
    ("London, LSOAs", 4835, "?authority=E12000007&level=lsoa11&variable=ks102ew0018",
     ["ks102ew0014_pct", "ks402ew0002_pct", "ks102ew0018", "chg_tenure_owned_pp"]),
    ("England and Wales, LSOAs (tiles)", 34753, "?authority=all&level=lsoa11&variable=ks102ew0018",
     ["ks102ew0014_pct", "ks402ew0002_pct", "ks102ew0018", "chg_tenure_owned_pp"]),
]

_BYTES = """
var since = arguments[0];
var got = performance.getEntriesByType('resource').filter(function (r) { return r.startTime >= since; });
return got.map(function (r) { return [r.name, r.encodedBodySize, r.decodedBodySize]; });
"""


def bytes_per_switch(repeat: int) -> None:
    """Every byte the page fetches after a variable switch (Resource Timing, bodies as sent and as decoded),
    per area: without a hover (the map repainted; the table below the fold), and with one (the mouse over the
    map after the switch, until its card shows the figures), in headless Chromium against the app in this
    process. Issue 17 §11: a switch sends at most 2 bytes per area; a hover fetches the details."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.common.action_chains import ActionChains
    from werkzeug.serving import make_server

    import app as app_module

    port = _free_port()
    httpd = make_server("127.0.0.1", port, app_module.server, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    options = Options()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options)
    rows = []
    try:
        def wait(script: str, timeout: float = 60):
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                value = driver.execute_script("try { return " + script + "; } catch (e) { return null; }")
                if value:
                    return value
                time.sleep(0.02)
            tip = driver.execute_script("var t = document.querySelector('.atlas-tip'); return t && t.innerText;")
            raise TimeoutError(f"{script} (the card says {tip!r})")

        for label, n, address, variables in BYTES_CASES:
            driver.get(f"http://127.0.0.1:{port}/{address}")
            wait("window.atlas._latest && window.atlas._latest.p && window.atlas._latest.p.n", 120)
            time.sleep(2.0)  # the first map's geometry, tiles and names settle (not counted)
            for hover in (False, True):
                sent, raw, hover_ms, second = [], [], [], []
                for i in range(repeat):
                    variable = variables[i % len(variables)]
                    if variable == driver.execute_script("return window.atlas._latest.p.var"):
                        variable = variables[(i + 1) % len(variables)]
                    ActionChains(driver).move_to_element(driver.find_element("css selector", "h1")).perform()
                    since = driver.execute_script("return performance.now()")
                    driver.execute_script(f"window.dash_clientside.set_props('variable', {{value: {variable!r}}});")
                    wait(f"window.atlas._latest.p.var === {variable!r}")
                    if hover:
                        box = driver.find_element("css selector", "#map")
                        t0 = time.perf_counter()
                        # Two moves over the map's centre: Leaflet's canvas finds the area under a mousemove.
                        ActionChains(driver).move_to_element(box).move_by_offset(3, 3).perform()
                        wait("document.querySelector('.atlas-tip') && "
                             "!/Loading/.test(document.querySelector('.atlas-tip').innerText) && "
                             "/Rank|: /.test(document.querySelector('.atlas-tip').innerText)")
                        hover_ms.append((time.perf_counter() - t0) * 1000)
                        # A second hover, elsewhere: answered from what the first fetched, with no request (its
                        # card is written in the mousemove's own task, before the next frame).
                        before = driver.execute_script("return performance.getEntriesByType('resource').length")
                        ActionChains(driver).move_by_offset(40, 25).move_by_offset(2, 2).perform()
                        text = driver.execute_script("var t = document.querySelector('.atlas-tip');"
                                                     "return t && t.innerText;")
                        after = driver.execute_script("return performance.getEntriesByType('resource').length")
                        second.append((after - before, "Loading" not in (text or "") and bool(text)))
                    time.sleep(0.8)  # anything the switch fetches after the paint (a table page, details)
                    got = driver.execute_script(_BYTES, since)
                    sent.append(sum(e for _, e, _ in got))
                    raw.append(sum(d for _, _, d in got))
                rows.append((label, n, "with a hover" if hover else "no hover", statistics.median(sent),
                             statistics.median(raw), statistics.median(hover_ms) if hover_ms else None,
                             (f"{sum(r for r, _ in second)} requests, figures shown {sum(ok for _, ok in second)}"
                              f" of {len(second)}") if second else ""))
    finally:
        driver.quit()
        httpd.shutdown()
    print("\n## Bytes per variable switch, everything the page fetched after it (headless Chromium)\n")
    print("| view | areas | switch | bytes sent (p50) | B/area sent | bytes decoded | B/area decoded "
          "| first hover answered, p50 ms (with WebDriver's own latency) | a second hover |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, n, what, sent, raw, ms, again in rows:
        print(f"| {label} | {n:,} | {what} | {sent:,.0f} | {sent / n:.2f} | {raw:,.0f} | {raw / n:.2f} | "
              f"{'' if ms is None else f'{ms:.0f}'} | {again} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium repaint measure")
    parser.add_argument("--bytes-only", action="store_true",
                        help="only the bytes per switch, with and without a hover (issue 17)")
    parser.add_argument("--bytes-repeat", type=int, default=6)
    args = parser.parse_args()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if args.bytes_only:
        bytes_per_switch(args.bytes_repeat)
        return 0
    server_side(args.repeat)
    if not args.no_browser:
        browser_side(max(10, args.repeat // 2))
        bytes_per_switch(args.bytes_repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
