"""What one switch of the map costs: bytes sent, server time, and the browser's repaint.

    python bench/bench_switch.py [--repeat 30] [--no-browser]

Reads the extracts in ATLAS_DATA_DIR. A *switch* is a change of variable, scheme, classes, palette or
scope: the browser writes the URL, Dash posts one request to the ``render`` callback, and the answer
(the payload) restyles the map in the browser.

1. Bytes and server time: the exact request the browser sends for a switch, posted through Flask's test
   client (server time without the network), for real views: Camden's 749 output areas, Birmingham's 639
   LSOAs and the 374 districts of the national view. Each switch is posted once cold (nothing cached),
   then ``--repeat`` times warm (the classified result in the cache); p50/p95 of the warm times.
2. Repaint in headless Chromium (Debian's chromium, canvas renderer): from the moment a control changes
   to the first frame painted after the layer restyled, for Camden's output areas through the whole
   path (URL, server, payload, restyle), and for 1,584 polygons (Liverpool's output areas). The build has
   no output-area figures for Liverpool, so that case feeds its real geometry payloads of synthetic
   values straight into the page: it times the browser's part only, which depends on the number of
   polygons, not on the values.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

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
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def render_request(client, search: str, previous: dict | None) -> tuple[bytes, dict]:
    """The body the browser posts for the URL callback, and the callback's answer."""
    deps = client.get("/_dash-dependencies").get_json()
    dep = next(d for d in deps if d["clientside_function"] is None
               and any(i["id"] == "url" and i["property"] == "search" for i in d["inputs"]))
    outputs = []
    for part in dep["output"].strip(".").split("..."):
        component, prop = part.split(".", 1)
        outputs.append({"id": component, "property": prop})
    body = {"output": dep["output"], "outputs": outputs,
            "inputs": [{"id": "url", "property": "search", "value": search}],
            "state": [{"id": "view-state", "property": "data", "value": previous}],
            "changedPropIds": ["url.search"]}
    return json.dumps(body).encode(), dep


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
    print("| view | areas | bytes/switch (raw) | gzipped | bytes per area | request | cold ms | warm ms p50 | p95 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    opened = []
    for label, first, switches in CASES:
        body, _ = render_request(client, first, None)
        data, _ = post(client, body)
        first_bytes = data
        previous = json.loads(data)["response"]["view-state"]["data"]
        n = len(json.loads(data)["response"]["view-payload"]["data"]["v"])
        sizes, gz, cold, warm, requests = [], [], [], [], []
        for search in switches:
            body, _ = render_request(client, search, previous)
            requests.append(len(body))
            data, ms = post(client, body)
            cold.append(ms)
            sizes.append(len(data))
            gz.append(len(gzip.compress(data, 6)))
            answer = json.loads(data)["response"]
            assert "view-areas" not in answer, "a switch must not resend the areas' names"
            for _ in range(repeat):
                warm.append(post(client, body)[1])
        opened.append((label, n, first_bytes, len(gzip.compress(first_bytes, 5))))
        mean_size = statistics.mean(sizes)
        print(f"| {label} | {n} | {mean_size:,.0f} (max {max(sizes):,}) | {statistics.mean(gz):,.0f} | "
              f"{mean_size / n:.1f} | {statistics.mean(requests):,.0f} | {statistics.median(cold):.1f} | "
              f"{statistics.median(warm):.1f} | {pct(warm, 0.95):.1f} |")
    print("\nThe app gzips these answers when the browser accepts it (compression.py): the gzipped column is")
    print("what crosses the network. Request = the JSON the browser posts (Dash's own framing, ~2 KB).")
    print("\n## Opening a view (once per authority and level: names, variable list, outline, payload)\n")
    print("| view | areas | bytes (raw) | gzipped |")
    print("| --- | --- | --- | --- |")
    for label, n, raw, gz in opened:
        print(f"| {label} | {n} | {len(raw):,} | {gz:,} |")


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


def browser_side(repeat: int) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
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
    try:
        base = f"http://127.0.0.1:{port}/"

        def wait(script: str, timeout: float = 20):
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                value = driver.execute_script("try { return " + script + "; } catch (e) { return null; }")
                if value:
                    return value
                time.sleep(0.02)
            raise TimeoutError(script)

        def measure(trigger: str) -> tuple[float, float | None]:
            driver.execute_script("window.__bench.t0 = null; window.__bench.painted = null;"
                                  "window.__bench.scheduled = false; performance.clearResourceTimings();"
                                  "window.__bench.t0 = performance.now();" + trigger)
            painted = wait("window.__bench.painted")
            t0 = driver.execute_script("return window.__bench.t0")
            net = driver.execute_script(
                "var e = performance.getEntriesByType('resource').filter(function (r) {"
                " return r.name.indexOf('_dash-update-component') >= 0; });"
                "return e.length ? e[e.length - 1].responseEnd : null;")
            return painted - t0, (net - t0) if net else None

        print("\n## Repaint after a switch, headless Chromium, canvas renderer\n")
        print("| case | polygons | switch to painted p50 ms | p95 | of which network p50 ms |")
        print("| --- | --- | --- | --- | --- |")

        driver.get(base + "?authority=E09000007&level=oa11&variable=ks102ew0018")
        wait("window.atlas.drawn().length === 749")
        driver.execute_script(_INSTRUMENT)
        total, net = [], []
        for i in range(repeat):
            k = 6 - (i % 2)  # the view opens with 5 classes: start with a change
            t, n = measure(f"window.dash_clientside.set_props('k', {{value: {k}}});")
            wait(f"new URLSearchParams(location.search).get('k') === '{k}'")
            total.append(t)
            if n:
                net.append(n)
        print(f"| Camden output areas, classes switched (URL, server, restyle) | 749 | {statistics.median(total):.0f} "
              f"| {pct(total, 0.95):.0f} | {statistics.median(net):.0f} |")

        # 1,584 polygons: Liverpool's output areas, real geometry, payloads made here (see the docstring).
        driver.get(base + "?authority=E08000012&level=lsoa11&variable=ks102ew0018")
        wait("window.atlas.drawn().length === 298")
        build = driver.execute_script("return window.atlas._latest.p.url.split('v=')[1]")
        driver.execute_script(_INSTRUMENT + """
            var p = Object.assign({}, window.atlas._latest.p);
            p.url = '/api/areas/E08000012/oa11.pbf?v=' + arguments[0];
            p.key = 'E08000012/oa11'; p.n = 1584; p.rn = undefined; p.v = [];
            for (var i = 0; i < 1584; i += 1) { p.v.push(Math.round(((i * 7919) % 1000) / 10) / 10); }
            p.b = [20, 40, 60, 80, 100]; p.lo = 0; p.k = 5;
            window.__benchPayload = p;
            window.dash_clientside.set_props('view-payload', {data: p});
        """, build)
        wait("window.atlas.drawn().length === 1584", 60)
        palettes = [["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"],
                    ["#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15"]]
        total = []
        for i in range(repeat):
            colours = json.dumps(palettes[i % 2])
            t, _ = measure("var q = Object.assign({}, window.__benchPayload, {c: " + colours + "});"
                           "window.dash_clientside.set_props('view-payload', {data: q});")
            total.append(t)
        print(f"| Liverpool output areas, payload applied in the page (browser only) | 1,584 | "
              f"{statistics.median(total):.0f} | {pct(total, 0.95):.0f} | (none) |")
    finally:
        driver.quit()
        httpd.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium repaint measure")
    args = parser.parse_args()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server_side(args.repeat)
    if not args.no_browser:
        browser_side(max(10, args.repeat // 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
