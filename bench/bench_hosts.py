"""Requests per second for one host and for two, the same mix: p95 and the scaling factor.

    python bench/bench_hosts.py [--seconds 20] [--clients 8] [--workers 1]

Starts what tests/test_hosts.py starts, on loopback: Debian's redis-server, moto's S3 server (the build of
ATLAS_DATA_DIR is published to it as `python -m pipeline build --publish` would), and two gunicorn hosts
(``--workers`` x 4 threads each, their own data folders, one SQLite database file shared by both: enough
for a read-only mix). Then ``--clients`` threads send a fixed mix (a district's values, the national
overview, geometry, a tile, search, locate, the API index) for ``--seconds`` to host A alone, and then
spread over A and B. On one machine both hosts share its cores: the factor shows what the shared services
cost, not what a second machine adds.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CAMDEN = "E09000007"
MIX = (f"/api/values/{CAMDEN}/lsoa11/ks102ew0002.json", "/api/values/all/lad/ks102ew0002.json",
       f"/api/areas/{CAMDEN}/lsoa11.pbf", "/api/tiles/lsoa11/10/511/340.mvt", "/api/search?q=camden",
       "/api/locate?lat=51.54&lon=-0.14", "/api")


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


def wait(url: str, proc: subprocess.Popen | None = None, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{url}: the server exited ({proc.returncode})")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer in time")


def load(bases: list[str], seconds: float, clients: int) -> tuple[int, list[float], int]:
    """(answers, latencies in ms, errors) of ``clients`` threads looping over MIX for ``seconds``."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(n: int) -> None:
        session = requests.Session()
        for i in itertools.count(n):
            if time.monotonic() > stop:
                return
            url = bases[i % len(bases)] + MIX[(i // len(bases)) % len(MIX)]
            started = time.perf_counter()
            try:
                ok = session.get(url, timeout=60).status_code < 500
            except requests.RequestException:
                ok = False
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
                errors[0] += not ok

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies), latencies, errors[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    build = (Path(os.environ.get("ATLAS_DATA_DIR", ROOT / "data")) / "current").resolve()
    if not (build / "build.json").exists():
        raise SystemExit(f"no build at {build}: run `python -m pipeline build` (or set ATLAS_DATA_DIR)")
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    root = Path(tempfile.mkdtemp(prefix="atlas-bench-hosts-"))
    procs: list[subprocess.Popen] = []
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request

    s3_port, redis_port = free_port(), free_port()
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=s3_port, verbose=False)
    s3.start()
    aws = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}", "AWS_ACCESS_KEY_ID": "bench",
           "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_REGION": "eu-west-2"}
    os.environ.update(aws)
    try:
        procs.append(subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no"], stdout=subprocess.DEVNULL))
        import boto3  # noqa: PLC0415

        from atlas import builds, storage  # noqa: PLC0415

        boto3.client("s3").create_bucket(Bucket="atlas-bench",
                                         CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        started = time.perf_counter()
        builds.publish(build, storage.S3Storage("s3://atlas-bench/site"))
        print(f"published build {build.name} to the S3 endpoint in {time.perf_counter() - started:.1f} s")
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
        env.update(aws, PYTHONPATH=str(ROOT), ATLAS_STORAGE_URL="s3://atlas-bench/site",
                   ATLAS_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
                   ATLAS_DATABASE_URL=f"sqlite:///{root / 'atlas.db'}", ATLAS_SECRET_KEY="bench " + "x" * 40,
                   ATLAS_TILES_URL="", ATLAS_PULL_EVERY="0", ATLAS_LOG_LEVEL="WARNING")
        bases = []
        for name, address in (("a", "127.0.0.1"), ("b", "127.0.0.2")):
            port = free_port(address)
            host_env = {**env, "ATLAS_DATA_DIR": str(root / name)}
            started = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind",
                                     f"{address}:{port}", "--workers", str(args.workers), "--access-logfile",
                                     "/dev/null", "app:server"], cwd=ROOT, env=host_env, stderr=subprocess.DEVNULL)
            procs.append(proc)
            bases.append(f"http://{address}:{port}")
            wait(bases[-1] + "/readyz", proc)
            print(f"host {name.upper()} fetched, checked and serves the build: ready in "
                  f"{time.perf_counter() - started:.1f} s")
        for base in bases:  # warm both: every kind once (the search index, locate's trees, the caches)
            for path in MIX:
                requests.get(base + path, timeout=300)
        print(f"{args.clients} clients, {args.seconds:.0f} s each, {args.workers} worker(s) x 4 threads per host")
        results = {}
        for label, targets in (("one host", bases[:1]), ("two hosts", bases)):
            count, latencies, errors = load(targets, args.seconds, args.clients)
            rps = count / args.seconds
            p95 = statistics.quantiles(latencies, n=20)[-1]
            results[label] = rps
            print(f"{label:10s} {rps:7.1f} req/s  p50 {statistics.median(latencies):6.1f} ms  p95 {p95:6.1f} ms  "
                  f"errors {errors}")
        print(f"scaling factor (two hosts / one): {results['two hosts'] / results['one host']:.2f}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)
        s3.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
