"""Publishing, by the API and in the browser, against SQLite and PostgreSQL: validation before anything is
stored (unknown, duplicate and missing codes with their rows, numbers, encodings, sizes), versions and
restore, a crash mid-publish, the `atlas` command, and hostile uploads (Hypothesis)."""

from __future__ import annotations

import codecs
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from city_support import (
    BASE,
    CAMDEN,
    PASSWORD,
    WESTMINSTER,
    Client,
    camden_csv,
    create_database,
    data_folder,
    environment,
    metadata,
    pg_admin,  # noqa: F401 - the fixture, registered in this module by its name
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent


class Site:
    def __init__(self, server: Any, data_dir: Path) -> None:
        from atlas import accounts, catalogue

        self.server, self.data_dir, self.store = server, data_dir, catalogue.build()
        accounts.seed_authorities(self.store.authorities())
        accounts.add_user("editor@camden.gov.uk", org=CAMDEN, role="editor", password=PASSWORD)
        accounts.add_user("member@camden.gov.uk", org=CAMDEN, role="member", password=PASSWORD)
        accounts.add_user("editor@leeds.gov.uk", org="E08000035", role="editor", password=PASSWORD)
        self.token = accounts.add_token("editor@camden.gov.uk")
        self.member_token = accounts.add_token("member@camden.gov.uk")
        self.leeds_token = accounts.add_token("editor@leeds.gov.uk")
        self.client = Client(server)

    def post(self, path: str, data: bytes, meta: Any, token: str | None = None, filename: str = "t.csv",
             **kw: Any) -> Any:
        form: dict[str, Any] = {"file": (io.BytesIO(data), filename)}
        if meta is not None:
            form["metadata"] = meta if isinstance(meta, str) else json.dumps(meta)
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return self.client.raw.post(path, base_url=BASE, data=form, headers=headers,
                                    content_type="multipart/form-data", **kw)

    def stored(self) -> tuple[int, int, list[str]]:
        from atlas import db

        with db.session() as s:
            files = sorted(str(p.relative_to(self.data_dir)) for p in (self.data_dir / "published").glob("ds*/*"))
            return s.query(db.Dataset).count(), s.query(db.Version).count(), files


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = create_database(request.getfixturevalue("pg_admin")) if request.param == "postgresql" else None
    folder = data_folder(data_dir, tmp_path_factory.mktemp(f"publish-{request.param}"))
    with environment(folder, url):
        import app as app_module

        yield Site(app_module.server, folder)


def _camden(site: Site) -> list[str]:
    idx = site.store.area_index("lsoa11")
    return idx[idx["authority"] == CAMDEN]["code"].tolist()


def test_publish_by_api_then_read_it_back_exactly(site: Site) -> None:
    got = site.post("/api/datasets", camden_csv(site.store, scale=0.5), metadata("Spare places", "organisation"))
    assert got.status_code == 201, got.get_data(as_text=True)[:500]
    body = got.get_json()
    var = body["variables"][0]
    assert var == f"ds{body['id']}_value" and body["version"] == 1
    assert body["links"]["page"] == f"/datastore/datasets/ds{body['id']}"
    api = site.client.raw.get(f"/api/values/{CAMDEN}/lsoa11/{var}.json", base_url=BASE,
                              headers={"Authorization": f"Bearer {site.token}"}).get_json()
    codes = _camden(site)
    assert [r["code"] for r in api["rows"]] == codes
    assert [r["value"] for r in api["rows"]] == [(i + 1) * 0.5 for i in range(len(codes))]
    meta = site.client.raw.get(f"/api/datasets/{body['id']}", base_url=BASE,
                               headers={"Authorization": f"Bearer {site.token}"}).get_json()
    assert meta["versions"][0]["version"] == 1 and meta["access"]["level"] == "organisation"
    assert meta["variables"][0]["label"] == "Spare places value"
    # anonymous: as if it did not exist
    assert site.client.get(f"/api/datasets/{body['id']}").status_code == 404


def test_a_rejected_upload_reports_every_problem_with_its_row_and_stores_nothing(site: Site) -> None:
    codes = _camden(site)
    rows = ["code,value", f"{codes[0]},1", f"{codes[1]},2", f"{codes[0]},3", "E99999999,4", ",5",
            f"{codes[2]},=HYPERLINK(\"http://x\")", f"{codes[3]},1,234", f"{codes[4]},..", "W01000001,7"]
    before = site.stored()
    got = site.post("/api/datasets", "\n".join(rows).encode(), metadata("Broken", "public"))
    assert got.status_code == 422
    report = got.get_json()["report"]
    assert report["valid"] is False
    errors = report["errors"]
    assert errors["duplicate_code"] == [{"message": f"{codes[0]} is also on row 2", "row": 4, "code": codes[0],
                                         "first_row": 2}]
    assert [e["row"] for e in errors["unknown_code"]] == [5]
    assert [e["row"] for e in errors["missing_code"]] == [6]
    assert [(e["row"], e["column"]) for e in errors["not_numeric"]] == [(7, "value")]
    # a Welsh code is a real LSOA, accepted (it is another authority): not an error
    assert "W01000001" not in json.dumps(errors["unknown_code"])
    assert site.stored() == before


def test_encodings_delimiters_and_spreadsheets(site: Site) -> None:
    import openpyxl

    codes = _camden(site)[:5]
    text = "Code;Value\n" + "\n".join(f"{c};{i},5" for i, c in enumerate(codes))
    meta = metadata("Semicolons", "public") | {"code_column": "Code", "columns": [{"name": "Value", "label": "V"}]}
    # semicolons and decimal commas: the comma is not a thousands separator here, so the cells are not numbers
    got = site.post("/api/datasets", text.encode("utf-16"), meta)
    assert got.status_code == 422 and "utf-16" in " ".join(got.get_json()["report"]["notes"])
    text = "\ufeffCode,Value\n" + "\n".join(f"{c},\"1,{i:03d}\"" for i, c in enumerate(codes))
    got = site.post("/api/datasets", text.encode("utf-8"), meta | {"title": "BOM"})
    assert got.status_code == 201, got.get_json()
    var = got.get_json()["variables"][0]
    rows = site.client.raw.get(f"/api/values/{CAMDEN}/lsoa11/{var}.json", base_url=BASE).get_json()["rows"]
    assert {r["code"]: r["value"] for r in rows if r["value"] is not None} == {c: 1000 + i for i, c in enumerate(codes)}
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Code", "Value"])
    for i, c in enumerate(codes):
        sheet.append([c, i * 2.5])
    sink = io.BytesIO()
    book.save(sink)
    got = site.post("/api/datasets", sink.getvalue(), meta | {"title": "Spreadsheet"}, filename="t.xlsx")
    assert got.status_code == 201, got.get_json()
    var = got.get_json()["variables"][0]
    rows = site.client.raw.get(f"/api/values/{CAMDEN}/lsoa11/{var}.json", base_url=BASE).get_json()["rows"]
    assert {r["code"]: r["value"] for r in rows if r["value"] is not None} == {c: i * 2.5 for i, c in enumerate(codes)}
    # Windows-1252 (an accented column name), said in the report
    text = "Code,Valeur é\n" + "\n".join(f"{c},{i}" for i, c in enumerate(codes))
    got = site.post("/api/datasets", text.encode("cp1252"),
                    meta | {"title": "Latin", "columns": [{"name": "Valeur é", "label": "V"}]})
    assert got.status_code == 201 and any("1252" in n for n in got.get_json()["report"]["notes"])


def test_size_limits_and_the_upload_body_limit(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    before = site.stored()
    big = camden_csv(site.store) + b"#" * 1_200_000  # over ATLAS_MAX_BODY_BYTES, under the upload limit
    got = site.post("/api/datasets", big, metadata("Big", "public"))
    assert got.status_code == 422  # read (the upload routes accept it) and refused by validation, not 413
    elsewhere = site.client.raw.post("/api/variables", base_url=BASE, data=b"x" * 1_200_000)
    assert elsewhere.status_code == 413
    monkeypatch.setenv("ATLAS_UPLOAD_MAX_BYTES", "2048")
    got = site.post("/api/datasets", camden_csv(site.store), metadata("Too big", "public"))
    assert got.status_code == 422 and "2,048" in got.get_json()["report"]["errors"]["size"][0]["message"]
    got = site.post("/api/datasets", b"x" * 300_000, metadata("Far too big", "public"))
    assert got.status_code == 413 and got.get_json()["limit"] == 2048 + 256 * 1024
    monkeypatch.setenv("ATLAS_UPLOAD_MAX_BYTES", "20971520")
    monkeypatch.setenv("ATLAS_UPLOAD_MAX_ROWS", "10")
    got = site.post("/api/datasets", camden_csv(site.store), metadata("Too long", "public"))
    assert got.status_code == 422 and "size" in got.get_json()["report"]["errors"]
    assert site.stored() == before


def test_versions_restore_and_what_each_shows(site: Site) -> None:
    got = site.post("/api/datasets", camden_csv(site.store), metadata("Nightly", "registered", update_days=30))
    dataset, var = got.get_json()["id"], got.get_json()["variables"][0]
    auth = {"Authorization": f"Bearer {site.token}"}
    new = site.post(f"/api/datasets/{dataset}/versions", camden_csv(site.store, scale=10), {"as_of": "2099-01-01"})
    assert new.status_code == 201 and new.get_json()["version"] == 2
    values = lambda: [r["value"] for r in site.client.raw.get(  # noqa: E731
        f"/api/values/{CAMDEN}/lsoa11/{var}.json", base_url=BASE, headers=auth).get_json()["rows"]]
    assert values()[:3] == [10, 20, 30]
    view = site.client.raw.get(f"/api/view.json?authority={CAMDEN}&level=lsoa11&variable={var}", base_url=BASE,
                               headers=auth).get_json()
    assert "As of 2099-01-01 (version 2)" in view["legend"]["notes"]
    restored = site.client.raw.post(f"/api/datasets/{dataset}/restore", base_url=BASE, json={"version": 1},
                                    headers=auth)
    assert restored.status_code == 201 and restored.get_json()["version"] == 3
    assert values()[:3] == [1, 2, 3]
    meta = site.client.raw.get(f"/api/datasets/{dataset}", base_url=BASE, headers=auth).get_json()
    assert [v["version"] for v in meta["versions"]] == [3, 2, 1] and meta["versions"][0]["via"] == "restore"
    # as of 2024-03-31 with a 30-day interval: stale, and every view says so
    assert meta["stale"] is True
    view = site.client.raw.get(f"/api/view.json?authority={CAMDEN}&level=lsoa11&variable={var}", base_url=BASE,
                               headers=auth).get_json()
    assert any("stale" in n for n in view["legend"]["notes"])
    # a version with other columns is refused, and the current one stays
    bad = site.post(f"/api/datasets/{dataset}/versions", b"code,other\nE01000842,1\n", {"as_of": "2099-02-01"})
    assert bad.status_code == 422 and values()[:3] == [1, 2, 3]


def test_who_may_publish(site: Site) -> None:
    meta = metadata("Who", "organisation")
    assert site.post("/api/datasets", camden_csv(site.store), meta, token="atlas_nonsense").status_code == 401
    assert site.post("/api/datasets", camden_csv(site.store), meta, token=site.member_token).status_code == 403
    leeds = site.post("/api/datasets", camden_csv(site.store), meta | {"organisation": CAMDEN},
                      token=site.leeds_token)
    assert leeds.status_code in (403, 422)
    # a session cannot publish through the API (no CSRF-able cookie route)
    web = Client(site.server)
    web.sign_in("editor@camden.gov.uk")
    plain = web.raw.post("/api/datasets", base_url=BASE, data={"file": (io.BytesIO(camden_csv(site.store)), "t.csv"),
                                                               "metadata": json.dumps(meta)})
    assert plain.status_code == 401
    # a version of a dataset Leeds' editor may not see: 404, exactly as for none
    own = site.post("/api/datasets", camden_csv(site.store), meta).get_json()["id"]
    hidden = site.post(f"/api/datasets/{own}/versions", camden_csv(site.store), None, token=site.leeds_token)
    none = site.post("/api/datasets/987654/versions", camden_csv(site.store), None, token=site.leeds_token)
    assert hidden.status_code == none.status_code == 404
    assert hidden.get_json()["error"].replace(str(own), "N") == none.get_json()["error"].replace("987654", "N")
    # a revoked token is refused at once
    from atlas import accounts

    token = accounts.add_token("editor@camden.gov.uk", name="to revoke")
    assert site.post("/api/datasets", camden_csv(site.store), meta, token=token).status_code == 201
    accounts.revoke_token(accounts.list_tokens("editor@camden.gov.uk")[-1]["id"])
    assert site.post("/api/datasets", camden_csv(site.store), meta, token=token).status_code == 401


def test_a_crash_mid_publish_leaves_no_half_published_version(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from atlas import publish

    before = site.stored()

    def crash() -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(publish, "_hook_before_commit", crash)
    got = site.post("/api/datasets", camden_csv(site.store), metadata("Crash", "public"))
    assert got.status_code == 500 and "Traceback" not in got.get_data(as_text=True)
    count, versions, files = site.stored()
    # No dataset row and no version; only the push's own file, under a name no other push can take, which
    # nothing but `atlas sweep` ever deletes (a failed commit may have succeeded: deleting would lose it).
    assert (count, versions) == before[:2] and len(files) == len(before[2]) + 1
    assert "Crash" not in site.client.get("/datastore?q=crash").get_data(as_text=True)
    assert len(publish.sweep(site.data_dir, older_than=0)) == 1 and site.stored() == before
    assert publish.check_files(site.data_dir, orphan_age=0) == []


def test_a_killed_publisher_leaves_only_an_unreferenced_file_that_sweep_removes(site: Site) -> None:
    from atlas import publish

    before = site.stored()
    script = f"""
import os, sys
sys.path.insert(0, {str(ROOT)!r})
from atlas import accounts, catalogue, extracts, publish
sys.path.insert(0, {str(ROOT / 'tests')!r})
from city_support import camden_csv, metadata
publish._hook_before_commit = lambda: os._exit(9)  # killed after the file is written, before the commit
s = catalogue.build()
actor = accounts.actor_for(accounts.check_password("editor@camden.gov.uk", {PASSWORD!r}))
publish.publish_dataset(actor, publish.parse_metadata(metadata("Killed", "public")), camden_csv(s), "k.csv", s.extracts)
"""
    done = subprocess.run([sys.executable, "-c", script], env=os.environ.copy(), capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr.decode()[-800:]
    count, versions, files = site.stored()
    assert (count, versions) == before[:2] and len(files) == len(before[2]) + 1
    assert "Killed" not in site.client.get("/datastore?q=killed").get_data(as_text=True)
    assert publish.sweep(site.data_dir, older_than=3600) == []  # a publish in progress is never swept
    assert len(publish.check_files(site.data_dir, orphan_age=0)) == 1  # the unreferenced file, said
    removed = publish.sweep(site.data_dir, older_than=0)
    assert len(removed) == 1 and site.stored() == before
    assert publish.check_files(site.data_dir, orphan_age=0) == []


def test_publishing_in_the_browser(site: Site) -> None:
    web = Client(site.server)
    assert web.sign_in("editor@camden.gov.uk").status_code == 302
    token = web.csrf("/datastore/publish")
    got = web.post("/datastore/publish", data={"csrf_token": token, "level": "lsoa11", "organisation": CAMDEN,
                                                "file": (io.BytesIO(camden_csv(site.store)), "places.csv")},
                   content_type="multipart/form-data")
    assert got.status_code == 302, got.get_data(as_text=True)[:400]
    details = got.headers["Location"]
    page = web.get(details).get_data(as_text=True)
    assert "Column of area codes" in page and ">value<" in page
    token = web.csrf(details)
    form = {"csrf_token": token, "code_column": "code", "use_1": "1", "label_1": "Spare places", "unit_1": "count",
            "title": "Browser places", "source": "Camden", "licence": "OGL", "as_of": "2024-04-01",
            "access": "organisation", "action": "check"}
    checked = web.post(details, data=form)
    html = checked.get_data(as_text=True)
    assert checked.status_code == 200 and "valid: 133 rows" in html and "<svg" in html and "<path" in html
    assert 'value="publish"' in html
    # a problem is reported on the same page (422) with nothing published
    bad = web.post(details, data=form | {"as_of": "soon"})
    assert bad.status_code == 422 and "as_of must be a date" in bad.get_data(as_text=True)
    done = web.post(details, data=form | {"action": "publish"})
    assert done.status_code == 302 and re.fullmatch(r"/datastore/datasets/ds\d+", done.headers["Location"])
    page = web.get(done.headers["Location"]).get_data(as_text=True)
    assert "Browser places" in page and "Versions" in page
    assert web.get(details).status_code == 404  # the staged upload is gone
    # forms without the CSRF token are refused, before anything else is looked at
    assert web.post(details, data={"action": "check"}).status_code == 400
    assert web.post("/datastore/publish", data={"level": "lsoa11"}).status_code in (200, 400)
    assert "Upload" in web.post("/datastore/publish", data={"level": "lsoa11"}).get_data(as_text=True)


def test_the_atlas_command(site: Site) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    def atlas(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "atlas", *args], input=stdin, env=env, capture_output=True,
                              text=True, timeout=120, cwd=ROOT)
    assert atlas("org", "add", "GLA", "Greater London Authority").returncode == 0
    assert atlas("org", "add", "GLA", "again").returncode == 1
    got = atlas("user", "add", "analyst@london.gov.uk", "--org", "GLA", "--role", "editor", "--password-stdin",
                stdin="s3cret pass\n")
    assert got.returncode == 0, got.stderr
    assert atlas("partnership", "add", "London data", "--orgs", f"GLA,{CAMDEN}").returncode == 0
    listed = [json.loads(line) for line in atlas("partnership", "list").stdout.splitlines()]
    assert any(p["name"] == "London data" and {m["code"] for m in p["members"]} == {"GLA", CAMDEN} for p in listed)
    made = atlas("token", "add", "analyst@london.gov.uk", "--expires-days", "30")
    assert made.returncode == 0
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("atlas_")
    got = site.post("/api/datasets", camden_csv(site.store), metadata("From the GLA", "public"), token=token)
    assert got.status_code == 201, got.get_json()
    tokens = [json.loads(line) for line in atlas("token", "list", "analyst@london.gov.uk").stdout.splitlines()]
    assert tokens[0]["last_used"] is not None and "digest" not in tokens[0]
    assert atlas("token", "remove", str(tokens[0]["id"])).returncode == 0
    assert site.post("/api/datasets", camden_csv(site.store), metadata("x", "public"), token=token).status_code == 401
    assert atlas("user", "add", "bad", "--org", "GLA").returncode == 1
    from atlas import accounts, db

    with db.session() as s:  # only the digest of a token is stored
        assert token not in json.dumps([t.digest for t in s.query(db.Token)])
    assert accounts.check_password("analyst@london.gov.uk", "s3cret pass") is not None


def test_a_rebuild_never_loses_published_data(site: Site, raw_dir: Path) -> None:
    from pipeline import build

    got = site.post("/api/datasets", camden_csv(site.store), metadata("Survives", "public"))
    var = got.get_json()["variables"][0]
    before = site.stored()
    build.build(raw_dir, site.data_dir)  # unchanged inputs: returns early and tidies the data folder
    assert site.stored() == before
    assert site.client.get(f"/api/values/{CAMDEN}/lsoa11/{var}.json").status_code == 200


# -- hostile uploads ------------------------------------------------------------------------------------------

HOSTILE = ["", "=cmd|' /C calc'!A0", "@SUM(1)", "+1", "-1", "\x00", "\ufeff", "é" * 50, "<script>", "1e309", "NaN",
           "E01000842", "E09000007", "code", "value", "..", "1,000", "50%", "'; DROP TABLE dataset; --"]
cells = st.sampled_from(HOSTILE) | st.text(max_size=20)


@st.composite
def uploads(draw: Any) -> tuple[bytes, Any, str]:
    header = draw(st.lists(cells, min_size=0, max_size=4))
    rows = draw(st.lists(st.lists(cells, max_size=5), max_size=6))
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    text = "\n".join(delimiter.join(r) for r in [header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "cp1252", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data = draw(st.binary(max_size=200)) if draw(st.booleans()) else codecs.BOM_UTF8 + data
    meta = draw(st.one_of(
        st.just(metadata("Hostile", "public") | {"code_column": header[0] if header else "code",
                                                  "columns": [{"name": h} for h in header[1:3]]}),
        st.dictionaries(st.sampled_from(["title", "level", "code_column", "columns", "access", "as_of", "licence",
                                         "source", "organisation"]),
                        st.none() | cells | st.integers() | st.lists(cells, max_size=3)
                        | st.dictionaries(cells, cells, max_size=3), max_size=9),
        cells, st.lists(cells, max_size=3)))
    return data, meta, draw(st.sampled_from(["t.csv", "t.xlsx", "../../etc/passwd", "", "x" * 300]))


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(upload=uploads())
def test_hostile_uploads_never_crash_and_never_store_a_rejection(site: Site, upload: tuple[bytes, Any, str]) -> None:
    data, meta, filename = upload
    before = site.stored()
    got = site.post("/api/datasets", data, meta, filename=filename)
    body = got.get_data(as_text=True)
    assert got.status_code in (201, 400, 403, 422), (got.status_code, body[:300])
    assert "Traceback" not in body
    if got.status_code != 201:
        assert site.stored() == before
    else:
        json.dumps(got.get_json())


def test_an_upload_is_checked_against_its_own_codes_and_the_areas_it_covers(data_dir: Path, raw_dir: Path) -> None:
    """Only the upload's codes and the areas of the authorities it covers are read (publish.Areas): codes in any
    case, another authority's (Westminster) joining the areas expected, the missing ones named, an unknown code
    an error; the LSOAs are the ONS boundary file's."""
    from atlas import extracts, publish

    def boundary(authority: str) -> list[str]:
        features = json.loads((raw_dir / "boundaries/lsoa11_by_lad" / f"{authority}.json").read_text())["features"]
        return sorted(f["properties"]["LSOA11CD"] for f in features)

    camden, westminster = boundary(CAMDEN), boundary(WESTMINSTER)
    reader = extracts.Extracts.open(data_dir)
    meta = publish.parse_metadata(metadata("Checked", "public"))
    rows = [["code", "value"], [camden[0].lower(), "1"]] + [[c, "2"] for c in camden[1:-3]] + [[westminster[0], "3"]]
    report = publish.Report()
    frame = publish.validate(rows, meta, publish.Areas(reader, "lsoa11"), report)
    assert report.ok and frame is not None
    assert sorted(frame["code"]) == sorted([*camden[:-3], westminster[0]])
    assert report.authorities == sorted([CAMDEN, WESTMINSTER])
    assert report.warnings == [f"{3 + len(westminster) - 1:,} areas of the authorities covered have no row (they show "
                               f"as no data): {', '.join(sorted([*camden[-3:], *westminster[1:]])[:20])} ..."]
    bad = publish.Report()
    assert publish.validate([["code", "value"], ["E01999999", "1"]], meta, publish.Areas(reader, "lsoa11"), bad) is None
    assert [e["code"] for e in bad.errors["unknown_code"]] == ["E01999999"]
    reader.close()
