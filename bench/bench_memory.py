"""Resident memory of each gunicorn worker after serving every kind of request, with the current build.

    python bench/bench_memory.py [--workers 2] [--rounds 3]

Starts gunicorn (gunicorn.conf.py, ``--workers`` x 4 threads; exports drawn as deployed, in each worker's
render pool of processes, or with ``--export-pool thread`` in threads of the worker itself) on a data folder
whose ``current`` is ATLAS_DATA_DIR's build and whose database is a new SQLite one (an editor and a token are
made in it), then ``--rounds`` times sends a fixed mix, one kind after the other, each kind several times
with different parameters: the national overview (districts, and all 34,753 LSOAs), a district's values,
geometry (geobuf), vector tiles, search, locate, the compare view, PNG exports, a datapack, and publishing
(an upload and a new version). After each kind it prints the RSS of every worker (psutil, MB), and at the
end the largest per worker, each worker's unique and proportional set (USS: what it alone holds, what ending
it would free; PSS: shared pages divided among their sharers) and those of its render processes. The
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

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
CAMDEN, LEEDS, BIRMINGHAM = "E09000007", "E08000035", "E08000025"
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
    """Every kind of request, by name: the paths (or actions) sent."""
    var = "ks102ew0002"
    view = f"authority={CAMDEN}&level=lsoa11&variable={var}"
    return {
        "national map (districts)": [f"/api/values/all/lad/{v}.json" for v in (var, "imd2019_imd_rank")],
        "national map (every LSOA)": [f"/api/values/all/lsoa11/{var}.json"],
        "district maps": [f"/api/values/{a}/{lv}/{var}.json" for a in (CAMDEN, LEEDS, BIRMINGHAM)
                          for lv in ("lsoa11", "oa11")],
        "geometry": [f"/api/areas/{a}/{lv}.pbf" for a in (CAMDEN, LEEDS, BIRMINGHAM) for lv in ("lsoa11", "oa11")],
        "tiles": [f"/api/tiles/lsoa11/{z}/{x}/{y}.mvt" for z, x, y in ((6, 31, 20), (8, 127, 85), (10, 511, 340))],
        "search": [f"/api/search?q={q}" for q in ("camden", "leeds", "deprivation", "age", "NW1")],
        "locate": [f"/api/locate?lat={lat}&lon={lon}" for lat, lon in ((51.54, -0.14), (53.8, -1.55), (52.48, -1.9))],
        "compare": [f"/api/view.json?{view}&view=compare&variable_b=ks102ew0018"],
        "exports": [f"/export/map.png?{view}&dpi={d}&bbox=-0.2{round_no},51.51,-0.10,51.58" for d in (96, 300)],
        "datapack": [f"/datapack/{CAMDEN}.zip"],
        "publishing": ["upload", "version"],
    }


def send(base: str, token: str, folder: Path, path: str, state: dict) -> int:
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
        return got.status_code
    if path == "version":
        got = requests.post(f"{base}/api/datasets/{state.get('dataset', 0)}/versions", timeout=300,
                            headers={"Authorization": f"Bearer {token}"},
                            files={"file": ("v.csv", csv_for(folder, 2 + time.time() % 7), "text/csv")})
        return got.status_code
    return requests.get(base + path, timeout=300).status_code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--export-pool", choices=("process", "thread"), default="process",
                        help="ATLAS_EXPORT_POOL: process (as deployed) or thread (renders counted in the worker)")
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
        print(f"build {build.name}, {args.workers} workers; RSS per worker in MB")
        print(f"{'after start':32s} {rss(proc)}")
        peak = [0.0] * args.workers
        state: dict = {}
        for round_no in range(args.rounds):
            for kind, paths in mix(base, token, folder, round_no).items():
                statuses = [send(base, token, folder, p, state) for p in paths for _ in range(args.workers)]
                now = rss(proc)
                peak = [max(a, b) for a, b in zip(peak, now, strict=False)]
                bad = sorted({s for s in statuses if s >= 400})
                print(f"round {round_no + 1}: {kind:24s} {now}" + (f"  (answers {bad})" if bad else ""))
        print(f"{'largest, per worker':32s} {peak}  (budget 400 MB)")
        for worker in workers(proc):
            rss_mb, uss, pss = full(worker)
            print(f"worker {worker.pid}: RSS {rss_mb} MB, USS {uss} MB, PSS {pss} MB")
            for child in worker.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    rss_mb, uss, pss = full(child)
                    print(f"  its {child.name()} {child.pid}: RSS {rss_mb} MB, USS {uss} MB, PSS {pss} MB")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
