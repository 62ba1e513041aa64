"""Publishing under load, and a worker's memory after hostile uploads.

    python bench/bench_publish.py [--app-dir DIR] [--publishers 4] [--pushes 20] [--database-url URL]

Starts gunicorn (gunicorn.conf.py of ``--app-dir``, 2 workers) on the extracts of ATLAS_DATA_DIR, with a data
folder and database of its own (SQLite by default, or ``--database-url`` naming an empty PostgreSQL database),
makes an editor with an API token and one dataset, then:

1. ``--publishers`` clients each push ``--pushes`` versions of the same file (Camden's LSOAs) to that one
   dataset's ``/api/datasets/<id>/versions`` at once: versions per second, p50/p95/max latency, and every
   answer that was not 201 (a 503 with Retry-After is counted, then retried as told);
2. hostile uploads, one after the other: an XLSX declaring hundreds of megabytes of cells in a small archive,
   one of millions of cells with no declared dimension, one declaring 1,048,576 rows, and a CSV at the size
   limit full of odd numbers: each worker's RSS (and its children's) before, at peak, and after;
3. ``atlas check`` on the data folder afterwards (0 problems expected).

``--app-dir`` runs another checkout (e.g. ``git archive main | tar -x -C /tmp/before``) to measure before a
change. Everything it sends goes to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
CAMDEN = "E09000007"
PASSWORD = "a bench password"


def multipart(fields: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for name, (filename, data, mime) in fields.items():
        out.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                  f"Content-Type: {mime}\r\n\r\n".encode())
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def post(base: str, path: str, token: str, fields: dict) -> tuple[int, float, dict, bytes]:
    body, ctype = multipart(fields)
    request = urllib.request.Request(base + path, data=body, method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": ctype})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - loopback only
            data = response.read()
            return response.status, (time.perf_counter() - start) * 1000, dict(response.headers), data
    except urllib.error.HTTPError as exc:
        return exc.code, (time.perf_counter() - start) * 1000, dict(exc.headers), exc.read()


def camden_csv(scale: float) -> bytes:
    sys.path.insert(0, str(ROOT / "tests"))
    from atlas import catalogue

    idx = catalogue.build().area_index("lsoa11")
    codes = idx[idx["authority"] == CAMDEN]["code"].tolist()
    return ("code,value\n" + "".join(f"{c},{(i + 1) * scale:g}\n" for i, c in enumerate(codes))).encode()


def xlsx(rows: object, dimension: str | None = None) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for item in src.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(item, src.read(item.filename))
        with dst.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                        b'2006/main">' + (f'<dimension ref="{dimension}"/>'.encode() if dimension else b"")
                        + b"<sheetData>")
            for chunk in rows:  # type: ignore[attr-defined]
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


def hostile() -> list[tuple[str, str, bytes]]:
    big_cell = b'<row><c t="inlineStr"><is><t>' + b"A" * 4000 + b"</t></is></c></row>"
    many = (f'<row r="{i}">'.encode() + b"<c><v>1</v></c>" * 20 + b"</row>" for i in range(1, 200_001))
    odd = ("code,value\n" + "".join(f"E0100{i:04d},1_000\n" for i in range(400_000))).encode()
    return [("xlsx declaring 400 MB of cells", "declared.xlsx", xlsx(big_cell for _ in range(100_000))),
            ("xlsx of 4 million cells, no dimension", "cells.xlsx", xlsx(many)),
            ("xlsx declaring 1,048,576 rows x 16,384 columns", "wide.xlsx",
             xlsx([b'<row r="1"><c r="A1"><v>1</v></c></row>'], "A1:XFD1048576")),
            ("csv of 400,000 odd numbers", "odd.csv", odd)]


def rss(process: psutil.Process) -> dict[int, int]:
    """Each gunicorn worker's own resident memory (not its children: a spreadsheet is read in a short-lived
    child, whose memory is the point of it; a fork's copy-on-write pages would count twice)."""
    out = {}
    for worker in process.children():
        try:
            out[worker.pid] = worker.memory_info().rss
        except psutil.Error:
            pass
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--app-dir", default=str(ROOT))
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--pushes", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    sys.path.insert(0, args.app_dir)
    source = Path(os.environ.get("ATLAS_DATA_DIR", ROOT / "data")).resolve()
    folder = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    (folder / "builds").mkdir()
    build = (source / "current").resolve()
    (folder / "builds" / build.name).symlink_to(build)
    (folder / "current").symlink_to(Path("builds") / build.name)
    env = {**os.environ, "ATLAS_DATA_DIR": str(folder), "PYTHONPATH": args.app_dir, "ATLAS_PULL_EVERY": "0",
           "ATLAS_TILES_URL": "", "ATLAS_EXPORT_RATE_LIMIT": "", "ATLAS_COOKIE_SECURE": "0"}
    if args.database_url:
        env["ATLAS_DATABASE_URL"] = args.database_url
    os.environ.update(env)
    from atlas import accounts, catalogue, publish

    s = catalogue.build()
    accounts.seed_authorities(s.authorities())
    accounts.add_user("editor@camden.gov.uk", org=CAMDEN, role="editor", password=PASSWORD)
    token = accounts.add_token("editor@camden.gov.uk")
    editor = accounts.actor_for(accounts.check_password("editor@camden.gov.uk", PASSWORD))
    meta = publish.parse_metadata({"title": "Bench", "level": "lsoa11", "code_column": "code",
                                   "columns": [{"name": "value", "label": "Value", "unit": "count"}],
                                   "licence": "OGL", "source": "bench", "as_of": "2024-01-01", "access": "public"})
    dataset = publish.publish_dataset(editor, meta, camden_csv(1), "b.csv", s)["id"]
    body = camden_csv(2)
    port = 18000 + os.getpid() % 1000
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind",
                               f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "/dev/null", "app:server"],
                              cwd=args.app_dir, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/datastore", timeout=60).read()  # noqa: S310 - loopback
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        proc = psutil.Process(server.pid)
        started = rss(proc)
        times: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()

        def publisher() -> None:
            for _ in range(args.pushes):
                while True:
                    status, ms, headers, _ = post(base, f"/api/datasets/{dataset}/versions", token,
                                                  {"file": ("v.csv", body, "text/csv")})
                    with lock:
                        statuses[status] = statuses.get(status, 0) + 1
                        times.append(ms)
                    if status != 503:
                        break
                    time.sleep(float(headers.get("Retry-After", "1")))

        start = time.perf_counter()
        threads = [threading.Thread(target=publisher) for _ in range(args.publishers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        made = statuses.get(201, 0)
        times.sort()
        print(f"{args.publishers} publishers x {args.pushes} pushes to one dataset, 2 workers, "
              f"{'PostgreSQL' if args.database_url else 'SQLite'}:")
        print(f"  {made} versions in {elapsed:.1f} s = {made / elapsed:.2f} versions/s; latency p50 "
              f"{statistics.median(times):.0f} ms, p95 {times[int(len(times) * 0.95) - 1]:.0f} ms, "
              f"max {times[-1]:.0f} ms")
        print(f"  answers: {json.dumps(dict(sorted(statuses.items())))} (errors: "
              f"{sum(n for k, n in statuses.items() if k >= 500 and k != 503)})")
        print("hostile uploads (each worker's own RSS, MB):")
        time.sleep(2)
        before = rss(proc)
        print(f"  at start {', '.join(f'{v / 2**20:.0f}' for v in started.values())}; after the pushes (baseline): "
              f"{', '.join(f'{v / 2**20:.0f}' for v in before.values())}")
        for label, filename, data in hostile():
            peak: dict[int, int] = dict(before)
            done = threading.Event()

            def sample(peak: dict[int, int] = peak, done: threading.Event = done) -> None:
                while not done.is_set():
                    for pid, value in rss(proc).items():
                        peak[pid] = max(peak.get(pid, 0), value)
                    time.sleep(0.05)
            sampler = threading.Thread(target=sample)
            sampler.start()
            meta_json = json.dumps({"title": label, "level": "lsoa11", "code_column": "code",
                                    "columns": [{"name": "value", "label": "v", "unit": "count"}], "licence": "OGL",
                                    "source": "bench", "as_of": "2024-01-01", "access": "public"}).encode()
            status, ms, _, answer = post(base, "/api/datasets", token, {
                "file": (filename, data, "application/octet-stream"), "metadata": ("m.json", meta_json,
                                                                                   "application/json")})
            done.set()
            sampler.join()
            after = rss(proc)
            summary = json.loads(answer).get("report", {}).get("summary", answer[:80].decode(errors="replace"))
            print(f"  {label} ({len(data) / 1024:.0f} KB): {status} in {ms / 1000:.1f} s ({summary}); peak "
                  f"{', '.join(f'{v / 2**20:.0f}' for v in peak.values())}; after "
                  f"{', '.join(f'{v / 2**20:.0f}' for v in after.values())}")
        check = subprocess.run([sys.executable, "-m", "atlas", "check"], env=env, cwd=args.app_dir,
                               capture_output=True, text=True)
        print(f"atlas check: {check.stdout.strip().splitlines()[-1] if check.stdout.strip() else check.stderr[-200:]}")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
