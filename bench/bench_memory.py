"""Resident memory of each gunicorn worker after serving every kind of request, with the current build.

    python bench/bench_memory.py [--workers 2] [--rounds 3]

Starts gunicorn (gunicorn.conf.py, ``--workers`` x 4 threads; exports drawn as deployed, in each worker's
render pool of processes, or with ``--export-pool thread`` in threads of the worker itself) on a data folder
whose ``current`` is ATLAS_DATA_DIR's build and whose database is a new SQLite one (an editor and a token are
made in it), then ``--rounds`` times sends a fixed mix, one kind after the other, each kind several times
with different parameters: the national overview (districts, and all 34,753 LSOAs), districts' values (LSOAs
and output areas), geometry (geobuf), vector tiles, search, locate, the compare view (Dash's callbacks, posted
as the browser posts them, for a district and for the whole country), PNG exports, downloads with geometry
(GeoJSON, GeoPackage, GeoParquet, a datastore dataset), a datapack, area profiles (JSON, CSV and the PDF
report), and publishing (an upload and a new version). Every request must answer 2xx: the bench stops at the
first that does not, naming it (a figure taken after an error page measures nothing). After each kind it
prints the RSS of every worker (psutil, MB), and at the end the largest per worker, each worker's unique and
proportional set (USS: what it alone holds, what ending it would free; PSS: shared pages divided among their
sharers) and those of its pool's processes (the fork server, the processes that draw images and write files
with geometry and PDF reports), then the host's classification process (atlas/classifyd.py).
``--duckdb-memory-mb`` sets DuckDB's buffer (ATLAS_DUCKDB_MEMORY_MB). The
issue's budget is 400 MB resident per worker.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
CAMDEN, LEEDS, BIRMINGHAM = "E09000007", "E08000035", "E08000025"
MANCHESTER, LIVERPOOL = "E08000003", "E08000012"
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workers(proc: subprocess.Popen) -> list[psutil.Process]:
    return sorted((p for p in psutil.Process(proc.pid).children() if "gunicorn" in " ".join(p.cmdline())),
                  key=lambda p: p.pid)


def rss(proc: subprocess.Popen) -> list[float]:
    return [round(p.memory_info().rss / 2**20) for p in workers(proc)]


def full(process: psutil.Process) -> tuple[int, int, int]:
    info = process.memory_full_info()
    return round(info.rss / 2**20), round(info.uss / 2**20), round(info.pss / 2**20)


def kinds(process: psutil.Process) -> str:
    """The resident set by kind (Linux): its own and inherited heap (RssAnon), and mapped files (RssFile: the
    libraries' code and the memory-mapped tile archives, held once in the page cache for every process)."""
    try:
        with open(f"/proc/{process.pid}/status") as status:
            found = {k: int(v.split()[0]) // 1024 for k, v in (line.split(":", 1) for line in status)
                     if k in ("RssAnon", "RssFile", "RssShmem")}
    except OSError:
        return ""
    return ", ".join(f"{k} {v} MB" for k, v in found.items())


def setup(folder: Path, build: Path) -> str:
    """A data folder on the build, with an editor of Camden and their API token; returns the token."""
    (folder / "builds").mkdir(parents=True)
    (folder / "builds" / build.name).symlink_to(build)
    (folder / "current").symlink_to(Path("builds") / build.name)
    os.environ["ATLAS_DATA_DIR"] = str(folder)
    from atlas import accounts, catalogue  # noqa: PLC0415

    accounts.seed_authorities(catalogue.build().authorities())
    accounts.add_user("editor@camden.gov.uk", org=CAMDEN, role="editor", password=PASSWORD)
    return accounts.add_token("editor@camden.gov.uk")


def csv_for(folder: Path, scale: float) -> bytes:
    from atlas import catalogue  # noqa: PLC0415

    idx = catalogue.build().area_index("lsoa11")
    codes = idx[idx["authority"] == CAMDEN]["code"].tolist()
    return ("code,value\n" + "\n".join(f"{c},{(i + 1) * scale:g}" for i, c in enumerate(codes)) + "\n").encode()


def mix(base: str, token: str, folder: Path, round_no: int) -> dict[str, list[str]]:
    """Every kind of request, by name: the paths (or actions) sent. Each must be valid (2xx): the places,
    levels and variables are ones the build has (``oa11`` only where the authority has output areas)."""
    var, oa_var = "ks102ew0002", "ks201ew0002_pct"  # age at every LSOA; ethnic group at every output area
    view = f"authority={CAMDEN}&level=lsoa11&variable={var}"
    places = [(CAMDEN, "lsoa11", var), (CAMDEN, "oa11", var), (LEEDS, "lsoa11", var),
              (BIRMINGHAM, "lsoa11", var), (MANCHESTER, "oa11", oa_var), (LIVERPOOL, "oa11", oa_var)]
    return {
        "national map (districts)": [f"/api/values/all/lad/{v}.json"
                                     for v in (var, "imd2025_lad_imd_rank_of_average_score")],
        "national map (every LSOA)": [f"/api/values/all/lsoa11/{var}.json"],
        "district maps": [f"/api/values/{a}/{lv}/{v}.json" for a, lv, v in places],
        "geometry": [f"/api/areas/{a}/{lv}.pbf" for a, lv, _ in places],
        "tiles": [f"/api/tiles/lsoa11/{z}/{x}/{y}.mvt" for z, x, y in ((6, 31, 20), (8, 127, 85), (10, 511, 340))],
        "search": [f"/api/search?q={q}" for q in ("camden", "leeds", "deprivation", "age", "NW1")],
        "locate": [f"/api/locate?lat={lat}&lon={lon}" for lat, lon in ((51.54, -0.14), (53.8, -1.55), (52.48, -1.9))],
        # The compare view is Dash's: the explorer's render, then render_compare, posted as the browser posts them.
        "compare": [f"compare:{a}:{lv}:{v}:{b}" for a, lv, v, b in (
            (CAMDEN, "oa11", "ks102ew0014_pct", "ks102ew0018"), ("all", "lsoa11", "ks102ew0018", "imd2019_imd_rank"))],
        "exports": [f"/export/map.png?{view}&dpi={d}&bbox=-0.2{round_no},51.51,-0.10,51.58" for d in (96, 300)],
        "downloads with geometry": [f"/api/values/{CAMDEN}/lsoa11/{var}.{f}" for f in ("geojson", "gpkg", "parquet")]
        + [f"/datastore/{LEEDS}/lsoa11/ks102ew.{f}" for f in ("geojson", "gpkg")],
        "datapack": [f"/datapack/{CAMDEN}.zip"],
        "profiles": [f"/api/profile/{CAMDEN}.json", f"/api/profile/{LEEDS}.csv", f"/api/profile/{CAMDEN}.pdf"],
        "publishing": ["upload", "version"],
    }


class _Http:
    """bench_switch's and bench_compare's request builders over HTTP (they take a Flask test client)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str) -> SimpleNamespace:
        got = requests.get(self.base + path, timeout=300)
        got.raise_for_status()
        return SimpleNamespace(get_json=got.json)


def compare(base: str, action: str) -> requests.Response:
    """The compare view opened on ``authority``/``level`` with variables A and B: the explorer's render (A's
    paint and the view's state), then render_compare with that state (B's paint and the relation)."""
    from bench_compare import _compare_body  # noqa: PLC0415
    from bench_switch import render_request  # noqa: PLC0415

    _, authority, level, a, b = action.split(":")
    client, search = _Http(base), f"?authority={authority}&level={level}&variable={a}"
    post = {"timeout": 300, "headers": {"Content-Type": "application/json"}}
    got = requests.post(base + "/_dash-update-component", data=render_request(client, search, None)[0], **post)
    if got.status_code != 200:
        return got
    explorer = got.json()["response"]["view-state"]["data"]
    body = _compare_body(client, {"source": "nav", "search": f"{search}&view=compare&variable_b={b}"}, explorer, None)
    return requests.post(base + "/_dash-update-component", data=body, **post)


def send(base: str, token: str, folder: Path, path: str, state: dict) -> requests.Response:
    if path == "upload":
        meta = {"title": f"Bench places {time.time_ns()}", "level": "lsoa11", "code_column": "code",
                "columns": [{"name": "value", "label": "Places", "unit": "count"}],
                "licence": "Open Government Licence v3.0", "source": "bench", "as_of": "2024-03-31",
                "access": {"level": "public"}, "description": "bench"}
        got = requests.post(base + "/api/datasets", headers={"Authorization": f"Bearer {token}"}, timeout=300,
                            files={"file": ("p.csv", csv_for(folder, 1), "text/csv"),
                                   "metadata": ("m.json", json.dumps(meta), "application/json")})
        if got.status_code == 201:
            state["dataset"] = got.json()["id"]
        return got
    if path == "version":
        got = requests.post(f"{base}/api/datasets/{state.get('dataset', 0)}/versions", timeout=300,
                            headers={"Authorization": f"Bearer {token}"},
                            files={"file": ("v.csv", csv_for(folder, 2 + time.time() % 7), "text/csv")})
        return got
    if path.startswith("compare:"):
        return compare(base, path)
    return requests.get(base + path, timeout=300)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--export-pool", choices=("process", "thread"), default="process",
                        help="ATLAS_EXPORT_POOL: process (as deployed) or thread (renders counted in the worker)")
    parser.add_argument("--duckdb-memory-mb", type=int, default=None,
                        help="ATLAS_DUCKDB_MEMORY_MB for the workers (default: the setting's, 160): run twice to see "
                             "what DuckDB's buffer adds")
    args = parser.parse_args()
    build = (Path(os.environ.get("ATLAS_DATA_DIR", ROOT / "data")) / "current").resolve()
    if not (build / "build.json").exists():
        raise SystemExit(f"no build at {build}: run `python -m pipeline build` (or set ATLAS_DATA_DIR)")
    folder = Path(tempfile.mkdtemp(prefix="atlas-bench-memory-"))
    for key in [k for k in os.environ if k.startswith("ATLAS_")]:
        del os.environ[key]
    token = setup(folder, build)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ATLAS_DATA_DIR": str(folder), "ATLAS_TILES_URL": "",
           "ATLAS_CACHE_TYPE": "FileSystemCache", "ATLAS_CACHE_DIR": str(folder / "cache"),
           "ATLAS_EXPORT_POOL": args.export_pool, "ATLAS_EXPORT_RATE_LIMIT": "", "ATLAS_PULL_EVERY": "0",
           "ATLAS_LOG_LEVEL": "WARNING"}
    if args.duckdb_memory_mb is not None:
        env["ATLAS_DUCKDB_MEMORY_MB"] = str(args.duckdb_memory_mb)
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind",
                             f"127.0.0.1:{port}", "--workers", str(args.workers), "--access-logfile", "/dev/null",
                             "app:server"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if requests.get(base + "/healthz", timeout=5).ok and len(workers(proc)) == args.workers:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.5)
        time.sleep(3)  # the workers' warm-up requests (gunicorn.conf.py)
        print(f"build {build.name}, {args.workers} workers, DuckDB memory limit "
              f"{env.get('ATLAS_DUCKDB_MEMORY_MB', 'default')} MB; RSS per worker in MB")
        print(f"{'after start':32s} {rss(proc)}")
        peak = [0.0] * args.workers
        state: dict = {}
        for round_no in range(args.rounds):
            for kind, paths in mix(base, token, folder, round_no).items():
                for path in paths:
                    for _ in range(args.workers):
                        got = send(base, token, folder, path, state)
                        if not 200 <= got.status_code < 300:
                            # A figure after a 404 measures an error page, not the request: stop, naming it.
                            raise SystemExit(f"{kind}: {path} answered {got.status_code}: {got.text[:300]}")
                now = rss(proc)
                peak = [max(a, b) for a, b in zip(peak, now, strict=False)]
                print(f"round {round_no + 1}: {kind:24s} {now}")
        print(f"{'largest, per worker':32s} {peak}  (budget 400 MB)")
        for worker in workers(proc):
            rss_mb, uss, pss = full(worker)
            print(f"worker {worker.pid}: RSS {rss_mb} MB ({kinds(worker)}), USS {uss} MB, PSS {pss} MB")
            for child in worker.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    rss_mb, uss, pss = full(child)
                    print(f"  its {child.name()} {child.pid}: RSS {rss_mb} MB, USS {uss} MB, PSS {pss} MB")
        for other in psutil.Process(proc.pid).children():  # the host's own: the classification process
            if "atlas.classifyd" in " ".join(other.cmdline()):
                rss_mb, uss, pss = full(other)
                print(f"the host's classification process {other.pid}: RSS {rss_mb} MB, USS {uss} MB, PSS {pss} MB")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
