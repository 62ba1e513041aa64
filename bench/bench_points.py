"""The point layer's cost: first draw and a switch, with every AURN site and with 20,000 published points.

    python bench/bench_points.py [--points 20000] [--repeat 5]

In process (Flask's test client, no network), on the extracts of ATLAS_DATA_DIR, with a data folder and SQLite
database of its own (the build linked in, as the tests do). It publishes ``--points`` random points inside
Camden's districts (WGS84, two indicator columns) through ``POST /api/datasets`` and prints, for the AURN
sites (``aurn2020``: 74 sites, 213 days) and for the published points:

- **first draw**: what the browser fetches when the layer is switched on: the GeoJSON of the sites (bytes,
  gzip bytes, ms) and the first paint (the ``render_points`` callback's work: ``atlas.points.paint``; JSON
  bytes, ms);
- **switch**: another day (AURN) or another measure (published): only the paint is sent (bytes, ms);
- **aggregation** (published): the first ``/api/values/<Camden>/lsoa21/ds<id>_count.json`` (derives the
  aggregate file from the version's points) against the next (reads it).

- **in the browser** (headless Debian Chromium, the app served on loopback by werkzeug in this process;
  ``--no-browser`` skips it): the explorer opened with each point layer; assets/points.js's performance
  measures ``atlas-points-draw`` (from the layer's address being set to the first frame with its markers or
  clusters on the map: the GeoJSON's fetch, dash-leaflet's clustering and the drawing) and
  ``atlas-points-restyle`` (a switch's restyle of the drawn markers in place, run ``--repeat`` times), and the
  GeoJSON's own fetch from the resource timings.

Times are the median of ``--repeat`` runs, in one process on this machine (2 cores shared with other work).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
CAMDEN = "E09000007"


def _timed(fn, repeat: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), out


def _points_csv(n: int, store) -> bytes:
    import shapely  # noqa: PLC0415

    areas = store.area_geojson(CAMDEN, "lsoa21")
    polygons = [shapely.geometry.shape(f["geometry"]) for f in areas["features"]]
    union = shapely.union_all(polygons).buffer(-0.0005)  # well inside: the display polygons are rounded
    x0, y0, x1, y1 = union.bounds
    rng = np.random.default_rng(20)
    rows, i = ["id,lon,lat,loudness,duration"], 0
    prepared = shapely.prepared.prep(union)
    while i < n:
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if prepared.contains(shapely.Point(x, y)):
            rows.append(f"p{i},{x:.6f},{y:.6f},{rng.integers(30, 110)},{rng.integers(1, 600)}")
            i += 1
    return ("\n".join(rows) + "\n").encode()


CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000")


def browser_draw(server, views: list[tuple[str, str]], repeat: int) -> None:
    """Open the explorer with each point layer in headless Chromium and print the page's own measures."""
    import logging  # noqa: PLC0415

    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.options import Options  # noqa: PLC0415
    from werkzeug.serving import make_server  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log in the figures
    httpd = make_server("127.0.0.1", port, server, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    options = Options()
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    if Path("/usr/bin/chromium").exists():
        options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options)

    def wait(script: str, timeout: float = 90) -> object:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = driver.execute_script("try { return " + script + "; } catch (e) { return null; }")
            if value:
                return value
            time.sleep(0.02)
        raise TimeoutError(script)

    try:
        for label, query in views:
            draws, fetches = [], []
            for _ in range(max(1, repeat // 2)):
                driver.get(f"http://127.0.0.1:{port}/?{query}")
                draw = wait("performance.getEntriesByName('atlas-points-draw')[0]")
                fetch = driver.execute_script(
                    "return performance.getEntriesByType('resource').filter(function (e) {"
                    " return e.name.indexOf('/api/points/') >= 0 && e.name.indexOf('.geojson') >= 0; })"
                    ".map(function (e) { return [e.duration, e.transferSize]; })[0] || null")
                draws.append(draw["duration"])
                if fetch:
                    fetches.append(fetch[0])
            drawn = driver.execute_script("return window.atlas.points.drawnCount()")
            restyles = driver.execute_script(
                "performance.clearMeasures('atlas-points-restyle');"
                "for (var i = 0; i < arguments[0]; i++) { window.atlas.points.restyle(window.atlas.points._latest); }"
                "return performance.getEntriesByName('atlas-points-restyle').map(function (e) { return e.duration; });",
                repeat)
            print(f"{label} in Chromium: first draw {statistics.median(draws):,.0f} ms (address set -> first frame "
                  f"with markers; the GeoJSON's fetch {statistics.median(fetches) if fetches else float('nan'):,.0f}"
                  f" ms of it); restyle of the {drawn:,} markers drawn at the start view "
                  f"{statistics.median(restyles):,.1f} ms")
    finally:
        driver.quit()
        httpd.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true", help="skip the headless Chromium measures")
    args = parser.parse_args()

    from city_support import BASE, data_folder, environment  # noqa: PLC0415

    from atlas import settings  # noqa: PLC0415

    build_dir = Path(settings.load().data_dir)
    with tempfile.TemporaryDirectory(prefix="bench-points-") as tmp, environment(data_folder(build_dir, Path(tmp)
                                                                                             / "data"), None):
        import app as app_module  # noqa: PLC0415
        from atlas import accounts, catalogue, points  # noqa: PLC0415

        s = catalogue.of_request()
        accounts.seed_authorities(s.authorities())
        accounts.add_user("bench@camden.gov.uk", org=CAMDEN, role="editor", password="a bench password")
        token = accounts.add_token("bench@camden.gov.uk")
        client = app_module.server.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        body = _points_csv(args.points, s)
        meta = {"title": "Bench points", "lon_column": "lon", "lat_column": "lat", "id_column": "id",
                "columns": [{"name": "loudness", "unit": "dB"}, {"name": "duration", "unit": "seconds"}],
                "licence": "OGL", "source": "bench", "as_of": "2024-06-30", "access": {"level": "public"}}
        # Warm the app as a worker is warmed at start-up (gunicorn.conf.py): Dash's first request renders the
        # pages, which is no part of publishing (it was 2 s of the first figures).
        client.get("/api", base_url=BASE)
        start = time.perf_counter()
        got = client.post("/api/datasets", base_url=BASE, headers=headers, content_type="multipart/form-data",
                          data={"file": (io.BytesIO(body), "points.csv"), "metadata": json.dumps(meta)})
        publish_ms = (time.perf_counter() - start) * 1000
        assert got.status_code == 201, got.get_data(as_text=True)[:500]
        key = f"ds{got.get_json()['id']}"
        print(f"published {args.points:,} points ({len(body):,} bytes of CSV) in {publish_ms:,.0f} ms")

        for dataset, switch in (("aurn2020", ("day", "2020-03-23")), (key, ("measure", f"{key}_duration"))):
            url = f"/api/points/{dataset}.geojson"
            ms_geo, response = _timed(lambda u=url: client.get(u, base_url=BASE, headers=headers), args.repeat)
            raw = response.get_data()
            state, _ = points.resolve({"points": dataset}, s)
            ms_paint, paint = _timed(lambda st=state, u=url: points.paint(s, st, u), args.repeat)
            other, _ = points.resolve({"points": dataset, switch[0]: switch[1]}, s)
            if switch[0] == "day":
                other, _ = points.resolve({"points": dataset, "measure": state.measure, "day": switch[1]}, s)
            ms_switch, switched = _timed(lambda st=other, u=url: points.paint(s, st, u), args.repeat)
            first_paint = len(json.dumps(paint, separators=(",", ":")).encode())
            print(f"{dataset}: {paint['n']:,} sites")
            print(f"  first draw: GeoJSON {len(raw):,} bytes ({len(gzip.compress(raw)):,} gzip) in {ms_geo:,.1f} ms; "
                  f"paint {first_paint:,} bytes in {ms_paint:,.1f} ms")
            print(f"  switch ({switch[0]}): paint {len(json.dumps(switched, separators=(',', ':')).encode()):,} bytes "
                  f"in {ms_switch:,.1f} ms")

        path = f"/api/values/{CAMDEN}/lsoa21/{key}_count.json"
        start = time.perf_counter()
        first = client.get(path, base_url=BASE)
        derive_ms = (time.perf_counter() - start) * 1000
        ms_next, _ = _timed(lambda: client.get(path + "?n=1", base_url=BASE), args.repeat)
        rows = first.get_json()["rows"]
        print(f"aggregation to Camden's {len(rows):,} 2021 LSOAs: first {derive_ms:,.0f} ms (derives the file), "
              f"then {ms_next:,.1f} ms; {int(sum(r['value'] for r in rows)):,} points counted")
        if not args.no_browser:
            browser_draw(app_module.server, [
                ("aurn2020 (all sites, England and Wales)", "authority=all&level=lad"
                 "&points=aurn2020&measure=no2&day=2020-03-23"),
                (f"{key} ({args.points:,} points, Camden)", f"authority={CAMDEN}&level=lsoa21&points={key}"),
            ], args.repeat)


if __name__ == "__main__":
    main()
