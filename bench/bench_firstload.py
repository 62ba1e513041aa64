"""The explorer's first load: bytes over the wire (cold and warm), time to the map, and Lighthouse scores.

    (cd bench && npm install)                     # Lighthouse, once (bench/package.json; needs Node 18+)
    python bench/bench_firstload.py               # this checkout
    python bench/bench_firstload.py --rev 017be4f # the same, for a commit (e.g. before compression)
    python bench/bench_firstload.py --against main --runs 5  # Lighthouse mobile, main and this checkout in turn

Reads the extracts in ATLAS_DATA_DIR. Serves the app as in production, ``gunicorn -c gunicorn.conf.py
app:server`` (2 workers, FileSystemCache in a temporary folder, no basemap tiles), from this checkout or,
with ``--rev``, from that commit exported by ``git archive`` to a temporary folder.

1. Bytes: headless Debian Chromium (``/usr/bin/chromium``, a fresh profile per run) opens the explorer;
   the Chrome DevTools Protocol's network events (selenium's performance log) give each response's bytes
   over the wire (``Network.loadingFinished.encodedDataLength``: headers and body as sent) and decoded
   (``Network.dataReceived.dataLength``), its encoding and whether it came from the browser's cache.
   *Cold*: the first visit, empty cache. *Warm*: a second visit in the same browser (about:blank, then the
   same URL again). A load ends when the map is drawn and no request is in flight for half a second.
2. Lighthouse (bench/node_modules, ``CHROME_PATH=/usr/bin/chromium``, offline), mobile (its default:
   simulated slow 4G and a 4x slower CPU) and desktop presets: performance, accessibility and
   best-practices scores, with the metrics behind the performance score; the median run by performance,
   every run's total blocking time, and where the median run's main-thread time went (by kind, by script).
   ``--against REV``: mobile only, the runs alternating between REV and this checkout, served at once, so
   that a shared machine's changing load falls on both alike.
3. Work counted in one first load (each side, before Lighthouse with ``--against``): server callbacks,
   updates of Dash's store (each re-runs every mounted component's selector), Dash components in the
   layout, elements in the document. Counts do not depend on the machine's load. ``--profile N``: N CPU
   profiles of a first load at a 4x slower CPU on each side (DevTools ``Profiler``), script time by file.

Figures depend on the machine: these 2-core machines are shared, so run it more than once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync")
WINDOW = "--window-size=1400,1000"
CATEGORIES = ("HTML", "JavaScript", "CSS", "JSON", "geometry", "image", "other")
LIGHTHOUSE_CATEGORIES = ("performance", "accessibility", "best-practices")
#: Audits on what travels and how long it is kept, and on where the remaining time goes.
LIGHTHOUSE_AUDITS = ("uses-text-compression", "uses-long-cache-ttl", "total-byte-weight", "unused-javascript",
                     "bootup-time", "largest-contentful-paint-element", "layout-shifts")
LIGHTHOUSE_METRICS = (("first-contentful-paint", "FCP"), ("largest-contentful-paint", "LCP"),
                      ("total-blocking-time", "TBT"), ("speed-index", "SI"), ("cumulative-layout-shift", "CLS"))


# -- serving ---------------------------------------------------------------------------------------------

@contextmanager
def checkout(rev: str | None) -> Iterator[Path]:
    """This checkout, or commit ``rev`` exported to a temporary folder."""
    if rev is None:
        yield ROOT
        return
    with tempfile.TemporaryDirectory(prefix="atlas-rev-") as folder:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        yield Path(folder)


@contextmanager
def serve(root: Path, data_dir: Path) -> Iterator[str]:
    """gunicorn with the project's config on a socket bound here: requests wait in its backlog until a
    worker is ready (the workers warm themselves first), so nothing is polled."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="atlas-bench-") as tmp:
        env = {**os.environ, "PYTHONPATH": str(root), "ATLAS_DATA_DIR": str(data_dir), "ATLAS_TILES_URL": "",
               "ATLAS_CACHE_TYPE": "FileSystemCache", "ATLAS_CACHE_DIR": tmp, "ATLAS_LOG_LEVEL": "WARNING"}
        log = open(Path(tmp) / "gunicorn.log", "w+")
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--workers", "2",
             "--bind", f"fd://{sock.fileno()}", "--access-logfile", "-", "app:server"],
            cwd=root, env=env, stdout=log, stderr=log, pass_fds=(sock.fileno(),))
        sock.close()
        base = f"http://127.0.0.1:{port}"
        try:
            with urllib.request.urlopen(base + "/api", timeout=180) as response:
                response.read()
            yield base
        except Exception:
            log.seek(0)
            print(log.read()[-3000:], file=sys.stderr)
            raise
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()


# -- bytes in Chromium -----------------------------------------------------------------------------------

def category(mime: str, url: str) -> str:
    mime = (mime or "").lower()
    if "html" in mime:
        return "HTML"
    if "javascript" in mime or "ecmascript" in mime:
        return "JavaScript"
    if "css" in mime:
        return "CSS"
    if "protobuf" in mime or "geo+json" in mime or "/api/areas/" in url:
        return "geometry"
    if "json" in mime:
        return "JSON"
    if mime.startswith("image/"):
        return "image"
    return "other"


class Network:
    """Requests seen in the DevTools Protocol's network events, read from selenium's performance log."""

    def __init__(self, driver) -> None:
        self.driver = driver
        self.requests: dict[str, dict] = {}
        self.last_event = time.monotonic()

    def read(self) -> None:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method, params = message.get("method", ""), message.get("params", {})
            if not method.startswith("Network."):
                continue
            self.last_event = time.monotonic()
            rid = params.get("requestId")
            r = self.requests.setdefault(rid, {"url": "", "decoded": 0, "transfer": 0, "done": False,
                                               "cache": False, "status": None, "mime": "", "encoding": None})
            if method == "Network.requestWillBeSent":
                r["url"] = params["request"]["url"]
            elif method == "Network.responseReceived":
                response = params["response"]
                headers = {k.lower(): v for k, v in response.get("headers", {}).items()}
                r.update(url=response["url"], status=response["status"], mime=response.get("mimeType", ""),
                         encoding=headers.get("content-encoding"))
                r["cache"] = r["cache"] or bool(response.get("fromDiskCache") or response.get("fromMemoryCache"))
            elif method == "Network.requestServedFromCache":
                r["cache"] = True
            elif method == "Network.dataReceived":
                r["decoded"] += params.get("dataLength", 0)
            elif method == "Network.loadingFinished":
                r.update(done=True, transfer=params.get("encodedDataLength", 0))
            elif method == "Network.loadingFailed":
                r.update(done=True, failed=params.get("errorText"))

    def in_flight(self) -> int:
        return sum(1 for r in self.requests.values() if r["url"].startswith("http") and not r["done"])


def load(driver, url: str, timeout: float = 90) -> tuple[list[dict], float]:
    """Open ``url``; wait until the map is drawn and the network has been quiet for 0.5 s. Returns the
    page's requests and the time from navigation to the map found drawn (polled every 50 ms)."""
    net = Network(driver)
    driver.get_log("performance")  # drop what came before
    driver.get(url)
    end = time.monotonic() + timeout
    drawn_ms = None
    while time.monotonic() < end:
        net.read()
        if drawn_ms is None:
            drawn_ms = driver.execute_script(
                "try { return window.atlas.drawn().length > 0 && document.querySelector('.legend-title') "
                "? performance.now() : null; } catch (e) { return null; }")
        if drawn_ms is not None and net.in_flight() == 0 and time.monotonic() - net.last_event > 0.5:
            return [r for r in net.requests.values() if r["url"].startswith("http")], drawn_ms
        time.sleep(0.05)
    raise TimeoutError(f"{url}: map not drawn or requests still in flight after {timeout} s")


def browser(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in (*CHROME_FLAGS, WINDOW, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options)


#: Counts every update of Dash's store (a redux store the renderer names ``window.store``): each makes
#: every mounted Dash component re-run its selector. Injected before any page script (DevTools protocol).
COUNT_UPDATES = """Object.defineProperty(window, "store", {configurable: true,
  get: function () { return this._atlasStore; },
  set: function (s) { this._atlasStore = s; window._atlasUpdates = 0;
    s.subscribe(function () { window._atlasUpdates += 1; }); }});"""
#: Dash components in the renderer's layout (not the layouts a store holds for later), and elements in the
#: document.
COUNT_COMPONENTS = """var n = 0; (function walk(c) { if (Array.isArray(c)) { c.forEach(walk); return; }
  if (!c || typeof c !== "object") { return; }
  if (c.type && c.namespace && c.props) { n += 1; if (c.type === "Store") { return; } walk(c.props); return; }
  Object.keys(c).forEach(function (k) { walk(c[k]); }); })(window.store.getState().layout);
  return [n, document.getElementsByTagName("*").length, window._atlasUpdates];"""


def first_load_work(url: str) -> dict[str, int]:
    """What one first load of ``url`` makes the browser do, counted (not timed, so not at the mercy of the
    machine's load): server callbacks (``/_dash-update-component`` requests), updates of Dash's store, Dash
    components in the layout and elements in the document, once the map is drawn and the network quiet."""
    with tempfile.TemporaryDirectory(prefix="atlas-chrome-") as profile:
        driver = browser(Path(profile))
        try:
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": COUNT_UPDATES})
            requests, _ = load(driver, url)
            components, elements, updates = driver.execute_script(COUNT_COMPONENTS)
        finally:
            driver.quit()
    callbacks = sum(1 for r in requests if "/_dash-update-component" in r["url"])
    return {"server callbacks": callbacks, "store updates": updates, "Dash components": components,
            "elements": elements}


def cpu_profile(url: str, rate: float = 4) -> dict[str, float]:
    """One first load of ``url`` with the CPU slowed ``rate`` times (DevTools ``Emulation``), profiled by
    DevTools' ``Profiler`` (a sample every 0.5 ms) from navigation until the map is drawn and the network quiet:
    milliseconds of main-thread time by script (its file name), the whole under ``all``."""
    with tempfile.TemporaryDirectory(prefix="atlas-chrome-") as profile:
        driver = browser(Path(profile))
        try:
            driver.execute_cdp_cmd("Emulation.setCPUThrottlingRate", {"rate": rate})
            driver.execute_cdp_cmd("Profiler.enable", {})
            driver.execute_cdp_cmd("Profiler.setSamplingInterval", {"interval": 500})
            driver.execute_cdp_cmd("Profiler.start", {})
            load(driver, url)
            result = driver.execute_cdp_cmd("Profiler.stop", {})["profile"]
        finally:
            driver.quit()
    nodes = {n["id"]: n for n in result["nodes"]}
    by_node: dict[int, float] = defaultdict(float)
    for node_id, delta in zip(result["samples"], result["timeDeltas"], strict=False):
        by_node[node_id] += delta / 1000
    out: dict[str, float] = defaultdict(float)
    for node_id, ms in by_node.items():
        frame = nodes[node_id]["callFrame"]
        if frame["functionName"] in ("(idle)", "(program)", "(root)"):
            continue
        name = frame["url"].rsplit("/", 1)[-1].split("?")[0][:40] or frame["functionName"] or "(anonymous)"
        out[name] += ms
        out["all"] += ms
    return dict(out)


def print_profile(label: str, ms: dict[str, float]) -> None:
    top = sorted(((k, v) for k, v in ms.items() if k != "all"), key=lambda kv: -kv[1])[:6]
    print(f"- {label}, CPU profile of one first load at 4x slowdown: {ms.get('all', 0):,.0f} ms of script; "
          + ", ".join(f"{k} {v:,.0f}" for k, v in top))


def print_work(label: str, work: dict[str, int]) -> None:
    print(f"- {label}, one first load: " + ", ".join(f"{k} {v}" for k, v in work.items()))


def first_loads(base: str, view: str, runs: int) -> dict[str, list[tuple[list[dict], float]]]:
    """``runs`` cold and warm loads of the explorer, each run in a fresh browser profile."""
    out: dict[str, list] = {"cold": [], "warm": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="atlas-chrome-") as profile:
            driver = browser(Path(profile))
            try:
                out["cold"].append(load(driver, base + "/" + view))
                driver.get("about:blank")
                out["warm"].append(load(driver, base + "/" + view))
            finally:
                driver.quit()
    return out


def summarise(requests: list[dict]) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = defaultdict(lambda: {"requests": 0, "network": 0, "transfer": 0,
                                                             "decoded": 0, "br": 0, "gzip": 0})
    for r in requests:
        row = rows[category(r["mime"], r["url"])]
        row["requests"] += 1
        row["network"] += 0 if r["cache"] else 1
        row["transfer"] += 0 if r["cache"] else r["transfer"]
        row["decoded"] += r["decoded"]
        if r["encoding"] in ("br", "gzip") and not r["cache"]:
            row[r["encoding"]] += 1
    return rows


def print_bytes(label: str, loads: dict[str, list[tuple[list[dict], float]]]) -> dict:
    figures = {}
    for kind in ("cold", "warm"):
        runs = loads[kind]
        # The run with the median transfer (bytes barely vary; the time does).
        totals = [sum(summarise(reqs)[c]["transfer"] for c in summarise(reqs)) for reqs, _ in runs]
        reqs, _ = runs[sorted(range(len(runs)), key=totals.__getitem__)[len(runs) // 2]]
        rows = summarise(reqs)
        times = [ms for _, ms in runs]
        print(f"\n### {label}: {kind} load ({len(runs)} run{'s' if len(runs) > 1 else ''}; map drawn "
              f"after {statistics.median(times):.0f} ms median, {min(times):.0f}-{max(times):.0f})\n")
        print("| type | requests | over the network (br / gzip) | transferred KB | decoded KB |")
        print("| --- | --- | --- | --- | --- |")
        total = {"requests": 0, "network": 0, "transfer": 0, "decoded": 0, "br": 0, "gzip": 0}
        for name in CATEGORIES:
            if name not in rows:
                continue
            row = rows[name]
            for k in total:
                total[k] += row[k]
            print(f"| {name} | {row['requests']} | {row['network']} ({row['br']} / {row['gzip']}) "
                  f"| {row['transfer'] / 1024:.1f} | {row['decoded'] / 1024:.1f} |")
        print(f"| **all** | {total['requests']} | {total['network']} ({total['br']} / {total['gzip']}) "
              f"| {total['transfer'] / 1024:.1f} | {total['decoded'] / 1024:.1f} |")
        figures[kind] = {"rows": rows, "total": total, "drawn_ms": times}
    return figures


# -- Lighthouse ------------------------------------------------------------------------------------------

def lighthouse_bin() -> Path:
    path = BENCH / "node_modules" / ".bin" / "lighthouse"
    if not path.exists():
        raise SystemExit("Lighthouse is not installed: run `npm install` in bench/ (or pass --no-lighthouse)")
    return path


def lighthouse_run(url: str, preset: str) -> dict:
    """One Lighthouse run with ``preset``: scores, metrics, audits, and where the main thread's time went."""
    with tempfile.TemporaryDirectory(prefix="atlas-lh-") as tmp:
        out = Path(tmp) / "report.json"
        command = [str(lighthouse_bin()), url, "--quiet", "--output=json", f"--output-path={out}",
                   f"--only-categories={','.join(LIGHTHOUSE_CATEGORIES)}",
                   f"--chrome-flags={' '.join(CHROME_FLAGS)}"]
        if preset == "desktop":
            command.append("--preset=desktop")
        for attempt in (1, 2):
            done = subprocess.run(command, env={**os.environ, "CHROME_PATH": CHROMIUM}, text=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
            if done.returncode == 0:
                break
            print(f"(Lighthouse {preset} failed, attempt {attempt}: {done.stderr.strip()[-1500:]})",
                  file=sys.stderr)
        else:
            raise RuntimeError(f"Lighthouse {preset} failed twice")
        report = json.loads(out.read_text())
    audits = report["audits"]
    return {
        "scores": {c: round(report["categories"][c]["score"] * 100) for c in LIGHTHOUSE_CATEGORIES},
        "metrics": {short: audits[audit]["numericValue"] for audit, short in LIGHTHOUSE_METRICS},
        "audits": {a: (audits[a].get("score"), audits[a].get("displayValue", ""))
                   for a in LIGHTHOUSE_AUDITS if a in audits},
        "failing": {c: [a["id"] for a in report["categories"][c]["auditRefs"]
                        if a["weight"] and (audits[a["id"]]["score"] or 0) < 0.9
                        and audits[a["id"]]["scoreDisplayMode"] in ("binary", "numeric")]
                    for c in ("accessibility", "best-practices")},
        # The main thread's time by kind, and the scripts that took most of it (ms, after the CPU slowdown).
        "main_thread": {i["groupLabel"]: round(i["duration"])
                        for i in audits["mainthread-work-breakdown"]["details"]["items"]},
        "scripts": {i["url"].rsplit("/", 1)[-1].split("?")[0][:40] or "(page)": round(i["total"])
                    for i in audits["bootup-time"]["details"]["items"][:6]},
    }


def median_run(reports: list[dict]) -> dict:
    """The median run by performance score, with every run's score."""
    reports = sorted(reports, key=lambda r: r["scores"]["performance"])
    median = reports[len(reports) // 2]
    median["all_performance"] = [r["scores"]["performance"] for r in reports]
    median["all_tbt"] = sorted(round(r["metrics"]["TBT"]) for r in reports)
    return median


def lighthouse(url: str, preset: str, runs: int) -> dict:
    """The median run (by performance score) of ``runs`` Lighthouse runs with ``preset``."""
    return median_run([lighthouse_run(url, preset) for _ in range(runs)])


def alternating(urls: dict[str, str], runs: int) -> dict[str, dict]:
    """Mobile runs alternating between the servers of ``urls`` (label: URL), the order turned each round,
    so that a machine's changing load falls on each alike; the median run of each."""
    reports: dict[str, list[dict]] = {label: [] for label in urls}
    for i in range(runs):
        for label in (list(urls) if i % 2 == 0 else list(reversed(urls))):
            reports[label].append(lighthouse_run(urls[label], "mobile"))
    return {label: median_run(r) for label, r in reports.items()}


def print_lighthouse(label: str, results: dict[str, dict]) -> None:
    version = json.loads((BENCH / "package.json").read_text())["devDependencies"]["lighthouse"]
    print(f"\n### {label}: Lighthouse {version} (median run by performance)\n")
    print("| preset | performance (all runs) | accessibility | best practices | FCP s | LCP s | TBT ms | SI s | CLS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for preset, r in results.items():
        s, m = r["scores"], r["metrics"]
        print(f"| {preset} | {s['performance']} ({', '.join(map(str, r['all_performance']))}) "
              f"| {s['accessibility']} | {s['best-practices']} | {m['FCP'] / 1000:.1f} | {m['LCP'] / 1000:.1f} "
              f"| {m['TBT']:.0f} | {m['SI'] / 1000:.1f} | {m['CLS']:.3f} |")
    for preset, r in results.items():
        print(f"- {preset}, total blocking time of every run: {', '.join(map(str, r['all_tbt']))} ms; main thread: "
              + ", ".join(f"{k} {v} ms" for k, v in r["main_thread"].items())
              + "; by script: " + ", ".join(f"{k} {v} ms" for k, v in r["scripts"].items()))
    for preset, r in results.items():
        audits = "; ".join(f"{a} {'-' if score is None else round(score * 100)}{f' ({shown})' if shown else ''}"
                           for a, (score, shown) in r["audits"].items())
        print(f"- {preset}, audits (score, value): {audits}")
        for cat, ids in r["failing"].items():
            if ids:
                print(f"- {preset}, {cat}: below 0.9: {', '.join(ids)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", help="serve this commit (git archive) instead of the checkout")
    parser.add_argument("--view", default="", help="query string of the view to open, e.g. "
                        "'?authority=E09000007&level=oa11&variable=ks102ew0018' (default: the explorer's first view)")
    parser.add_argument("--runs", type=int, default=3, help="browser loads and Lighthouse runs per figure")
    parser.add_argument("--no-lighthouse", action="store_true")
    parser.add_argument("--against", metavar="REV", help="Lighthouse mobile only, runs alternating between "
                        "commit REV (before) and this checkout (after), both served at once")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="with --against: N CPU profiles of "
                        "a 4x-slowed first load on each side, in turn (script time by file)")
    args = parser.parse_args()
    data_dir = Path(os.environ.get("ATLAS_DATA_DIR", ROOT / "data")).resolve()
    if not (data_dir / "current").exists():
        raise SystemExit(f"no extracts in ATLAS_DATA_DIR={data_dir}: run `python -m pipeline build`")
    if not args.no_lighthouse:
        lighthouse_bin()
    label = f"commit {args.rev}" if args.rev else "this checkout"
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"# First load of the explorer{(' ' + args.view) if args.view else ''}: {label}")
    print(f"\n{chromium}; gunicorn, 2 workers, loopback; {os.cpu_count()} cores shared with other work.")
    figures: dict = {"label": label, "view": args.view}
    if args.against:
        lighthouse_bin()
        with checkout(args.against) as before, serve(before, data_dir) as base_before, \
                serve(ROOT, data_dir) as base_after:
            urls = {f"commit {args.against}": base_before + "/" + args.view,
                    "this checkout": base_after + "/" + args.view}
            print()
            for side, url in urls.items():
                print_work(side, first_load_work(url))
            if args.profile:
                for _ in range(args.profile):
                    for side, url in urls.items():
                        print_profile(side, cpu_profile(url))
            results = alternating(urls, args.runs)
        for side, r in results.items():
            print_lighthouse(side, {"mobile": r})
        return
    with checkout(args.rev) as root, serve(root, data_dir) as base:
        figures["bytes"] = print_bytes(label, first_loads(base, args.view, args.runs))
        figures["work"] = first_load_work(base + "/" + args.view)
        print()
        print_work(label, figures["work"])
        if not args.no_lighthouse:
            results = {preset: lighthouse(base + "/" + args.view, preset, args.runs)
                       for preset in ("mobile", "desktop")}
            print_lighthouse(label, results)
            figures["lighthouse"] = results
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1, default=dict))


if __name__ == "__main__":
    if not shutil.which("git") and "--rev" in sys.argv:
        raise SystemExit("--rev needs git")
    main()
