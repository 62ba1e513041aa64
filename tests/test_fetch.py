"""`python -m pipeline fetch` against a local HTTP server on 127.0.0.1 (never any other network).

The server serves a temporary copy of a few real raw files, laid out like the raw folder, plus a corrupted
copy of one of them; the real manifest (pipeline/sources.json) says what each file's SHA-256 must be.
"""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import shutil
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from atlas import settings
from pipeline import fetch, make_sources

CITY = "boundaries/lsoa11_by_lad/E09000001.json"            # City of London, 6 LSOAs
LOOKUP = "lookups/Local_Authority_District_to_Region_(April_2021)_Lookup_in_England.csv"  # () in the URL
SCILLY = "boundaries/lsoa11_by_lad/E06000053.json"          # served corrupted
README = "census2021/trafford_E08000009_trafforddatalab/population/README.md"  # not served: 404
BULK = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
XLSX = "deprivation/imd2019_england/File_2_-_IoD2019_Domains_of_Deprivation.xlsx"
XLSX_CSV = "deprivation/imd2019_england/csv_from_xlsx/File_2_-_IoD2019_Domains_of_Deprivation.csv"


@pytest.fixture(scope="module")
def manifest() -> dict[str, fetch.Source]:
    return {e.path: e for e in fetch.load_sources()}


class _Server:
    """A folder served over HTTP on an ephemeral loopback port, remembering the paths asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def asked_for(self, path: str) -> bool:
        return any(fetch._mirror_url("", path).lstrip("/") in r for r in self.requests)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def mirror(tmp_path: Path, raw_dir: Path) -> Iterator[_Server]:
    """A mirror of CITY and LOOKUP (good), SCILLY (one byte changed), and no README (404)."""
    root = tmp_path / "mirror"
    for path in (CITY, LOOKUP, SCILLY):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(raw_dir / path, root / path)
    corrupt = bytearray((root / SCILLY).read_bytes())
    corrupt[100] ^= 0x20
    (root / SCILLY).write_bytes(bytes(corrupt))
    server = _Server(root)
    yield server
    server.close()


def _parts(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part")]


def test_fetch_from_mirror_verifies_every_file(tmp_path: Path, raw_dir: Path, mirror: _Server,
                                               manifest: dict[str, fetch.Source]) -> None:
    target = tmp_path / "raw"
    report = fetch.fetch(target, manifest.values(), mirror=mirror.url, only=[CITY, LOOKUP, SCILLY, README])

    assert [o.path for o in report.fetched] == sorted([CITY, LOOKUP])
    for path in (CITY, LOOKUP):
        assert (target / path).read_bytes() == (raw_dir / path).read_bytes()
        assert report.outcome(path).bytes == manifest[path].size

    corrupt = report.outcome(SCILLY)
    assert corrupt.status == "failed"
    assert "SHA-256 mismatch" in corrupt.problem and manifest[SCILLY].sha256 in corrupt.problem
    assert corrupt.url == mirror.url + SCILLY
    assert not (target / SCILLY).exists()

    missing = report.outcome(README)
    assert missing.status == "failed" and missing.problem == "HTTP 404 File not found"
    assert not (target / README).exists()

    assert not report.ok
    assert _parts(target) == []
    summary = report.summary()
    assert "4 files: 0 present, 2 fetched" in summary and "2 failed" in summary
    assert f"{SCILLY}: SHA-256 mismatch" in summary and f"{README}: HTTP 404" in summary


def test_present_good_files_are_neither_downloaded_nor_overwritten(
        tmp_path: Path, raw_dir: Path, mirror: _Server, manifest: dict[str, fetch.Source]) -> None:
    target = tmp_path / "raw"
    for path in (CITY, SCILLY):  # the mirror's SCILLY is corrupt: a download would be refused anyway
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(raw_dir / path, target / path)
    before = {p: (target / p).stat().st_mtime_ns for p in (CITY, SCILLY)}

    report = fetch.fetch(target, manifest.values(), mirror=mirror.url, only=[CITY, SCILLY, LOOKUP])

    assert report.ok
    assert {o.path for o in report.present} == {CITY, SCILLY}
    assert [o.path for o in report.fetched] == [LOOKUP]
    assert not mirror.asked_for(CITY) and not mirror.asked_for(SCILLY) and mirror.asked_for(LOOKUP)
    for path in (CITY, SCILLY):
        assert (target / path).stat().st_mtime_ns == before[path]
        assert (target / path).read_bytes() == (raw_dir / path).read_bytes()


def test_a_wrong_local_file_is_replaced_only_by_a_verified_download(
        tmp_path: Path, raw_dir: Path, mirror: _Server, manifest: dict[str, fetch.Source]) -> None:
    target = tmp_path / "raw"
    truncated = (raw_dir / SCILLY).read_bytes()[:500]
    (target / SCILLY).parent.mkdir(parents=True)
    (target / SCILLY).write_bytes(truncated)

    report = fetch.fetch(target, manifest.values(), mirror=mirror.url, only=[SCILLY])
    outcome = report.outcome(SCILLY)
    assert outcome.status == "failed" and "SHA-256 mismatch" in outcome.problem
    assert "existing file" in outcome.problem
    assert (target / SCILLY).read_bytes() == truncated  # a corrupt download never replaces anything

    shutil.copyfile(raw_dir / SCILLY, mirror.root / SCILLY)  # the mirror is mended
    report = fetch.fetch(target, manifest.values(), mirror=mirror.url, only=[SCILLY])
    assert report.ok and report.outcome(SCILLY).status == "fetched"
    assert (target / SCILLY).read_bytes() == (raw_dir / SCILLY).read_bytes()
    assert _parts(target) == []


def test_main_exit_code_and_summary(tmp_path: Path, mirror: _Server,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    conf = settings.load({"ATLAS_RAW_DIR": str(tmp_path / "raw"), "ATLAS_FETCH_MIRROR": mirror.url})

    assert fetch.main(conf, only=[CITY, SCILLY]) == 1
    out = capsys.readouterr().out
    assert "1 fetched" in out and "1 failed" in out and f"{SCILLY}: SHA-256 mismatch" in out

    assert fetch.main(conf, only=[CITY, LOOKUP]) == 0
    out = capsys.readouterr().out
    assert "2 files: 1 present, 1 fetched" in out and "0 failed" in out

    assert fetch.main(conf, only=["nowhere/"]) == 2
    err = capsys.readouterr().err
    assert "no file of the manifest starts with 'nowhere/'" in err and "boundaries/" in err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_mirror_says_so_and_gives_up_on_the_host(
        tmp_path: Path, manifest: dict[str, fetch.Source]) -> None:
    port = _closed_port()
    target = tmp_path / "raw"
    report = fetch.fetch(target, manifest.values(), mirror=f"http://127.0.0.1:{port}",
                         only=[CITY, LOOKUP, SCILLY], workers=1)
    assert [o.status for o in report.outcomes] == ["failed"] * 3
    first, *rest = (report.outcome(p) for p in sorted([CITY, LOOKUP, SCILLY]))
    assert first.problem == f"cannot reach 127.0.0.1:{port}: connection refused"
    assert all("not tried again" in o.problem for o in rest)
    assert "network looks unreachable" in report.summary() and "ATLAS_FETCH_MIRROR" in report.summary()
    assert not target.exists() or not any(p.is_file() for p in target.rglob("*"))


def test_a_silent_server_times_out(tmp_path: Path, manifest: dict[str, fetch.Source]) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        report = fetch.fetch(tmp_path / "raw", manifest.values(), mirror=f"http://127.0.0.1:{port}/",
                             only=[CITY], timeout=0.5)
    outcome = report.outcome(CITY)
    assert outcome.status == "failed"
    assert outcome.problem == f"cannot reach 127.0.0.1:{port}: no answer within 0.5 s"


def test_a_download_cut_short_leaves_nothing(tmp_path: Path, manifest: dict[str, fetch.Source]) -> None:
    with socket.socket() as listener:  # promises the whole file, sends 10 bytes, hangs up
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def serve_once() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n0123456789"
                             % manifest[CITY].size)

        thread = threading.Thread(target=serve_once, daemon=True)
        thread.start()
        target = tmp_path / "raw"
        report = fetch.fetch(target, manifest.values(),
                             mirror=f"http://127.0.0.1:{listener.getsockname()[1]}/", only=[CITY])
        thread.join(5)
    outcome = report.outcome(CITY)
    assert outcome.status == "failed" and outcome.problem == (
        f"the download broke off after 10 of {manifest[CITY].size:,} bytes")
    assert not (target / CITY).exists() and _parts(target) == []


def test_zip_member_is_extracted_and_verified(tmp_path: Path, raw_dir: Path,
                                              manifest: dict[str, fetch.Source]) -> None:
    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "nomis.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(raw_dir / BULK, "bulk.csv")
        archive.writestr("readme.txt", "not this one")
    with zipfile.ZipFile(served / "other.zip", "w") as archive:
        archive.writestr("something.csv", "a,b\n")
    (served / "fake.zip").write_bytes(b"<html>not a zip</html>")
    server = _Server(served)
    try:
        entry = manifest[BULK]
        assert entry.derive == {"zip_url": "https://raw.githubusercontent.com/nickbearman/intro-r-spatial-analysis/"
                                           "d5fb5c1c6d1852d2046bb230cb94a1e1cf6712e6/data/nomis-2011-age-data.zip",
                                "member": "bulk.csv"}

        def at(zip_name: str) -> fetch.Source:
            return dataclasses.replace(entry, derive={"zip_url": server.url + zip_name, "member": "bulk.csv"})

        target = tmp_path / "raw"
        for zip_name, problem in (("other.zip", "the zip has no member 'bulk.csv'"),
                                  ("fake.zip", "not a valid zip file"), ("gone.zip", "HTTP 404")):
            outcome = fetch.fetch(target, [at(zip_name)]).outcome(BULK)
            assert outcome.status == "failed" and outcome.problem.startswith(problem), outcome
            assert not (target / BULK).exists()

        report = fetch.fetch(target, [at("nomis.zip")])
        assert report.ok and report.outcome(BULK).status == "fetched"
        assert (target / BULK).read_bytes() == (raw_dir / BULK).read_bytes()
        assert _parts(target) == []
    finally:
        server.close()


@pytest.mark.slow
def test_csv_is_written_from_the_xlsx_exactly_as_shipped(tmp_path: Path, raw_dir: Path,
                                                          manifest: dict[str, fetch.Source]) -> None:
    # File_2, the largest workbook (4 MB, 32,844 LSOAs x 20 columns), converts in about 5 s here.
    target = tmp_path / "raw"
    assert manifest[XLSX_CSV].derive == {"xlsx": XLSX, "sheet": "IoD2019 Domains"}
    # The xlsx's own address would be GitHub: point it at a closed loopback port instead.
    xlsx = dataclasses.replace(manifest[XLSX], url=f"http://127.0.0.1:{_closed_port()}/File_2.xlsx")
    entries = [xlsx, manifest[XLSX_CSV]]

    missing = fetch.fetch(target, entries, only=[XLSX_CSV], workers=1)
    # The xlsx is fetched along with its CSV; it cannot be, so the CSV says why it cannot be written.
    assert missing.outcome(XLSX).status == "failed"
    assert missing.outcome(XLSX_CSV).problem == f"it is written from {XLSX}, which is missing"

    (target / XLSX).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(raw_dir / XLSX, target / XLSX)
    wrong_sheet = dataclasses.replace(manifest[XLSX_CSV], derive={"xlsx": XLSX, "sheet": "IMD"})
    outcome = fetch.fetch(target, [wrong_sheet]).outcome(XLSX_CSV)
    assert outcome.status == "failed"
    assert "has no sheet 'IMD' (sheets: Notes, IoD2019 Domains)" in outcome.problem

    report = fetch.fetch(target, entries, only=[XLSX_CSV])
    assert report.outcome(XLSX).status == "present"
    assert report.outcome(XLSX_CSV).status == "fetched", report.summary()
    assert (target / XLSX_CSV).read_bytes() == (raw_dir / XLSX_CSV).read_bytes()


def test_a_file_without_an_address_is_named(tmp_path: Path, manifest: dict[str, fetch.Source]) -> None:
    orphan = dataclasses.replace(manifest[CITY], url=None, source=None,
                                 unresolved="SOURCES.md gives no source address for this file")
    report = fetch.fetch(tmp_path / "raw", [orphan])
    assert report.outcome(CITY).problem == ("no download address: SOURCES.md gives no source address "
                                            "for this file")
    assert f"{CITY}: no download address" in report.summary()


def test_bad_manifest_entries_are_refused(tmp_path: Path, manifest: dict[str, fetch.Source]) -> None:
    good = dataclasses.asdict(manifest[CITY])
    for change, message in (({"path": "../../etc/passwd"}, "inside the raw folder"),
                            ({"path": "/etc/passwd"}, "inside the raw folder"),
                            ({"sha256": "abc"}, "64 lower-case hex digits"),
                            ({"size": "12"}, "whole number of bytes"),
                            ({"derive": {"member": "x"}}, "derive needs")):
        with pytest.raises(fetch.ManifestError, match=message):
            fetch.Source.from_json({**good, **change})
    with pytest.raises(fetch.ManifestError, match="make_sources"):
        fetch.load_sources(tmp_path / "absent.json")
    (tmp_path / "twice.json").write_text(json.dumps({"files": [good, good]}))
    with pytest.raises(fetch.ManifestError, match="twice"):
        fetch.load_sources(tmp_path / "twice.json")


def test_manifest_covers_every_raw_file_the_pipeline_reads(raw_dir: Path,
                                                           manifest: dict[str, fetch.Source]) -> None:
    if not (raw_dir / "MANIFEST.sha256").exists():
        pytest.skip(f"{raw_dir} has no MANIFEST.sha256 (a fetched raw folder has none)")
    shipped = make_sources.read_manifest(raw_dir / "MANIFEST.sha256")
    wanted = {p: sha for p, sha in shipped.items()
              if p.startswith(make_sources.FOLDERS) and p not in make_sources.SUB_SOURCES}
    assert len(wanted) > 1100
    assert {p: e.sha256 for p, e in manifest.items()} == wanted
    # from later/ only what the build reads: the exact-fit lookup, every authority's LSOA 2021 polygons, the
    # 2025 deprivation indices, Code-Point Open and the WC NSPL, the gazetteer; and Trafford's ONSPD, which the
    # tests check the postcodes' LSOAs against
    assert {p.rsplit("/", 1)[0] for p in manifest if p.startswith("later/")} == {
        "later/lookups", "later/boundaries/lsoa21_all_by_lad_drkane", "later/postcodes/nspl_nov2021_WC_area",
        "later/postcodes/trafford_E08000009_onspd_trafforddatalab/onspd_may2022_lsoa11",
        "later/deprivation_2025/iod2025_england_lsoa21", "later/deprivation_2025/wimd2025_wales_lsoa21",
        "later/postcodes/codepoint_open_2025_4", "later/places/os_open_names_2021_settlements_EW_partial",
        # air quality (pipeline/air.py): the LAEI by LSOA, the AURN daily means, the LAQN index response
        "later/air_quality/laei_modelled_london_lsoa_jamesdamillington",
        "later/air_quality/aurn_daily_feb-aug2020_gampelt",
        "later/air_quality/laqn_hourly_index_london_2019-09-26"}
    # packed or filtered for the collection: no address holds them, and fetch says so
    assert {p for p, e in manifest.items() if e.unresolved} == {
        p for p in wanted if p.startswith(("later/postcodes/codepoint_open_2025_4/",
                                           "later/places/os_open_names_2021_settlements_EW_partial/"))}
    assert "later/lookups/lsoa11_to_lsoa21_best_fit_lookup_england_wales_v2.csv" not in manifest
    assert sum(p.startswith("later/boundaries/lsoa21_all_by_lad_drkane/") for p in manifest) == 321
    # the third round's sections give their sources in prose: a folder template, and files after a "Source:"
    assert manifest["later/boundaries/lsoa21_all_by_lad_drkane/W06000015.geojson"].url == (
        "https://raw.githubusercontent.com/drkane/geo-lookups/e20a072d5fc0918437abaa3622be63f40b71d9dd/"
        "boundaries/lsoa/W06000015.geojson")
    assert manifest["later/deprivation_2025/iod2025_england_lsoa21/imd2025_england_ltla24.rda"].url == (
        "https://raw.githubusercontent.com/humaniverse/IMD/2f6c9050afee99a40041eb63b02b6b0c58850704/data/"
        "imd2025_england_ltla24.rda")
    assert manifest["later/deprivation_2025/wimd2025_wales_lsoa21/wimd-2025-index-and-domain-ranks-by-small-area.csv"
                    ].source["repo"] == "Sport-Wales/crowdfunder-calculator"
    # the R package's licence statement is not a file the build reads (its address in SOURCES.md is a folder's)
    assert "later/deprivation_2025/iod2025_england_lsoa21/LICENSE.note" not in manifest
    assert sum(p.startswith("national/") for p in manifest) == 376  # every data file of national/
    for path, entry in manifest.items():
        assert entry.size == (raw_dir / path).stat().st_size, path
        if entry.url:
            src = entry.source
            assert src and len(src["commit"]) == 40
            assert entry.url == make_sources.raw_url(src["repo"], src["commit"], src["path"])
        else:
            assert entry.derive or entry.unresolved, path
    assert [p for p, e in manifest.items() if e.derive] == [BULK] + sorted(
        p for p in wanted if "/csv_from_xlsx/" in p) + sorted(p for p in wanted if p.startswith("national/census2021"))
    # Census 2021 tables and their metadata are members of Nomis zips, named in national/SOURCES.md
    ts054 = manifest["national/census2021_lsoa21/census2021-ts054-lsoa.csv"]
    assert ts054.derive == {"zip_url": "https://raw.githubusercontent.com/PlaceBasedCarbonCalculator/inputdata/"
                                       "3c345b470011a19abbceacbe282b1ac5e0cbec52/nomis/census2021-ts054.zip",
                            "member": "census2021-ts054-lsoa.csv"}
    assert manifest["national/census2021_lsoa21/metadata/ts054-2021-2.txt"].derive["member"] == \
        "metadata/ts054-2021-2.txt"
    # a file kept as the zip it was published in is a plain copy
    assert manifest["national/classifications/RUC11_OA11_EW.zip"].url.endswith("/rural_urban/RUC11_OA11_EW.zip")
    # The national LSOA folder is addressed by nation, the Camden pack as a folder.
    assert manifest["boundaries/lsoa11_by_lad/W06000001.json"].source["path"] == \
        "json/statistical/wal/lsoa_by_lad/W06000001.json"
    assert manifest["census2011/cdrc_census_pack_camden_E09000007/tables/KS101EW_oa11.csv"].url == (
        "https://raw.githubusercontent.com/namkyodai/2022-UrbanComputation-SUTD/"
        "1fd528eb461056eca8750e2d712192575856a31b/notes/week5-examples/Camden/tables/KS101EW_oa11.csv")


def test_sources_json_is_what_make_sources_writes(tmp_path: Path, raw_dir: Path) -> None:
    if not (raw_dir / "SOURCES.md").exists():
        pytest.skip(f"{raw_dir} has no SOURCES.md")
    written = tmp_path / "sources.json"
    make_sources.write_sources(make_sources.build_sources(raw_dir), written)
    assert written.read_text(encoding="utf-8") == make_sources.SOURCES_JSON.read_text(encoding="utf-8"), \
        "pipeline/sources.json is out of date: run `python -m pipeline.make_sources`"
    assert len(fetch.load_sources(written)) == len(json.loads(written.read_text())["files"])
