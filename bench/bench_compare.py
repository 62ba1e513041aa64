"""What one switch of the compare view costs: bytes sent, server time, and the browser's repaint.

    python bench/bench_compare.py [--repeat 20] [--no-browser]

Reads the extracts in ATLAS_DATA_DIR. In the compare view a change of variable A or of the classes runs the
explorer's ``render`` (A's paint) and then ``render_compare`` (the relation: correlation, bivariate class
digits, the scatter plot); a change of B or a pinned area runs ``render_compare`` alone (B's paint when B
changed). Both are posted here exactly as the browser posts them, through Flask's test client (server
time without the network), for Camden's 749 output areas, Birmingham's 639 LSOAs, Liverpool's 298 LSOAs
and England and Wales's 34,753 LSOAs (its plot a density of cells, not points): cold once, then ``--repeat``
times warm. The browser part times, in headless Chromium, a change of variable B and a change of classes
from the control to the first frame painted after all three maps (A, B, bivariate) were restyled, on
Camden's output areas.
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
sys.path.insert(0, str(ROOT / "bench"))
os.chdir(ROOT)

V = "&view=compare"
CASES = [
    ("Camden, output areas", "E09000007", "oa11", "ks102ew0014_pct", "ks102ew0018", "ks102ew0002_pct", "E00004120"),
    ("Birmingham, LSOAs", "E08000025", "lsoa11", "ks102ew0014_pct", "imd2019_imd_rank", "ks102ew0018",
     "E01008881"),
    ("Liverpool, LSOAs", "E08000012", "lsoa11", "imd2019_imd_rank", "ks102ew0018", "ks102ew0014_pct", "E01006512"),
    # Drawn from vector tiles, its plot a density (atlas/compare.py DENSITY_ABOVE).
    ("England and Wales, LSOAs", "all", "lsoa11", "ks102ew0018", "imd2019_imd_rank", "ks102ew0014_pct",
     "E01033631"),
]
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1400")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _compare_body(client, trigger: dict, explorer: dict, previous: dict | None) -> bytes:
    """The body the browser posts to render_compare (after its clientside gate passed ``trigger`` on)."""
    from ui import ids

    deps = client.get("/_dash-dependencies").get_json()
    marker = f"..{ids.COMPARE.PAYLOAD_B}.data.."
    dep = next(d for d in deps if d["clientside_function"] is None and marker in d["output"])
    outputs = []
    for part in dep["output"].strip(".").split("..."):
        component, prop = part.split(".", 1)
        outputs.append({"id": component, "property": prop.split("@")[0]})
    return json.dumps({"output": dep["output"], "outputs": outputs,
                       "inputs": [{"id": ids.COMPARE.SEARCH, "property": "data", "value": trigger}],
                       "state": [{"id": ids.STATE, "property": "data", "value": explorer},
                                 {"id": ids.COMPARE.STATE, "property": "data", "value": previous}],
                       "changedPropIds": [f"{ids.COMPARE.SEARCH}.data"]}).encode()


def post(client, body: bytes) -> tuple[bytes, float]:
    start = time.perf_counter()
    response = client.post("/_dash-update-component", data=body, content_type="application/json")
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code == 204:
        return b"", elapsed
    if response.status_code != 200:
        raise RuntimeError(f"callback answered {response.status_code}: {response.data[:300]!r}")
    return response.data, elapsed


def server_side(repeat: int) -> None:
    from bench_switch import render_request

    import app as app_module

    client = app_module.server.test_client()
    client.get("/")
    print("\n## Bytes and server time per switch of the compare view (Flask test client, no network)\n")
    print("| view | areas | switch | explorer bytes | compare bytes | total brotli | bytes per area | "
          "cold ms (both) | warm ms p50 (both) | p95 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, code, level, a, b, other, area in CASES:
        first = f"?authority={code}&level={level}&variable={a}"
        data, _ = post(client, render_request(client, first, None)[0])
        explorer = json.loads(data)["response"]["view-state"]["data"]
        data, _ = post(client, _compare_body(client, {"source": "nav", "search": first + f"{V}&variable_b={b}"},
                                             explorer, None))
        cstate = json.loads(data)["response"]["compare-state"]["data"]
        n = json.loads(data)["response"]["compare-payload-b"]["data"]["n"]
        switches = [
            ("variable B", None, {"source": "control", "view": "compare", "variable_b": other, "pins": []}),
            ("variable A", f"?authority={code}&level={level}&variable={other}", {"source": "view"}),
            ("classes (k=7)", f"?authority={code}&level={level}&variable={a}&k=7", {"source": "view"}),
            ("pin an area", None, {"source": "control", "view": "compare", "variable_b": b, "pins": [area]}),
        ]
        for switch, search, trigger in switches:
            sizes, cold, warm = {"explorer": b"", "compare": b""}, 0.0, []
            here = explorer
            if search:
                body = render_request(client, search, explorer)[0]
                sizes["explorer"], ms = post(client, body)
                cold += ms
                here = json.loads(sizes["explorer"])["response"]["view-state"]["data"]
            cbody = _compare_body(client, trigger, here, cstate)
            sizes["compare"], ms = post(client, cbody)
            cold += ms
            for _ in range(repeat):
                t = post(client, body)[1] if search else 0.0
                warm.append(t + post(client, cbody)[1])
            total = len(sizes["explorer"]) + len(sizes["compare"])
            br = sum(len(brotli.compress(v, quality=5)) for v in sizes.values() if v)
            print(f"| {label} | {n} | {switch} | {len(sizes['explorer']):,} | {len(sizes['compare']):,} | {br:,} | "
                  f"{total / n:.1f} | {cold:.0f} | {statistics.median(warm):.1f} | {pct(warm, 0.95):.1f} |")
    print("\nA switch of B or a pin reaches only the compare callback; of A or the classes, the explorer's render")
    print("and then the compare callback (the relation: correlation, bivariate digits and the scatter plot's")
    print("figure, one point per area); their times are summed.")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_INSTRUMENT = """
window.__bench = {t0: null, painted: null, seen: 0};
if (!window.__benchListening) {
  window.__benchListening = true;
  // assets/compare.js announces when the three maps have their new style; the canvas paints it in the
  // next animation frame, and a task queued from that frame runs once the frame is done.
  window.addEventListener('atlas:compare-styled', function () {
    var b = window.__bench;
    if (b.t0 !== null && b.painted === null && !b.scheduled && window.__benchReady()) {
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
        def wait(script: str, timeout: float = 30):
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                value = driver.execute_script("try { return " + script + "; } catch (e) { return null; }")
                if value:
                    return value
                time.sleep(0.02)
            raise TimeoutError(script)

        def measure(trigger: str, ready: str) -> float:
            driver.execute_script("window.__benchReady = function () { return " + ready + "; };"
                                  "window.__bench.t0 = null; window.__bench.painted = null;"
                                  "window.__bench.scheduled = false; window.__bench.t0 = performance.now();" + trigger)
            painted = wait("window.__bench.painted")
            return painted - driver.execute_script("return window.__bench.t0")

        print("\n## Repaint of the compare view after a switch, headless Chromium, canvas renderer\n")
        print("| case | polygons x maps | switch to painted p50 ms | p95 |")
        print("| --- | --- | --- | --- |")
        start = time.monotonic()
        driver.get(f"http://127.0.0.1:{port}/?authority=E09000007&level=oa11&variable=ks102ew0014_pct{V}"
                   "&variable_b=ks102ew0018")
        for m in ("a", "b", "bv"):
            wait(f"window.atlas.cmp.drawn('{m}').length === 749")
        opened = time.monotonic() - start
        driver.execute_script(_INSTRUMENT)
        bs, ks = [], []
        for i in range(repeat):
            b = ("ks102ew0002_pct", "ks102ew0018")[i % 2]
            words = "Age 0 to 4" if b == "ks102ew0002_pct" else "Mean age"
            bs.append(measure(f"window.dash_clientside.set_props('variable_b', {{value: '{b}'}});",
                              f"document.getElementById('compare-legend-b').textContent.indexOf('{words}') >= 0"))
            k = 6 - (i % 2)
            ks.append(measure(f"window.dash_clientside.set_props('k', {{value: {k}}});",
                              f"document.getElementById('compare-legend-b').textContent.indexOf('{k} classes') >= 0"
                              f" && document.getElementById('compare-legend-a').textContent"
                              f".indexOf('{k} classes') >= 0"))
        print(f"| Camden output areas, variable B switched (URL, server, restyle of B and the bivariate map) | "
              f"749 x 3 | {statistics.median(bs):.0f} | {pct(bs, 0.95):.0f} |")
        print(f"| Camden output areas, classes switched (both payloads, three maps restyled) | 749 x 3 | "
              f"{statistics.median(ks):.0f} | {pct(ks, 0.95):.0f} |")
        print(f"\nOpening the compare view (fresh browser, three maps drawn): {opened:.1f} s")
    finally:
        driver.quit()
        httpd.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium repaint measure")
    args = parser.parse_args()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server_side(args.repeat)
    if not args.no_browser:
        browser_side(max(8, args.repeat // 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
