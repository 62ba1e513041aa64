"""Issue 16: every hole the attack on the City Datastore found, each reproduced here as the attack (each of these
failed on the code before the fix), on SQLite and PostgreSQL; ``atlas check`` (``publish.check_files``) is clean
after every one. The two-worker and kill cases are in test_faults.py; the actions' enumeration, the matrix of
the new actions and the generated table are in test_actions.py."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from city_support import (
    BASE,
    CAMDEN,
    ISLINGTON,
    PASSWORD,
    Client,
    camden_csv,
    create_database,
    data_folder,
    environment,
    metadata,
    pg_admin,  # noqa: F401 - the fixture, registered in this module by its name
)

ROOT = Path(__file__).resolve().parent.parent


class Site:
    def __init__(self, server: Any, data_dir: Path) -> None:
        from atlas import accounts, catalogue

        self.server, self.data_dir, self.store = server, data_dir, catalogue.build()
        accounts.seed_authorities(self.store.authorities())
        for email, org, role in (("editor@camden.gov.uk", CAMDEN, "editor"), ("admin@camden.gov.uk", CAMDEN, "admin"),
                                 ("member@camden.gov.uk", CAMDEN, "member"),
                                 ("admin@islington.gov.uk", ISLINGTON, "admin"),
                                 ("editor@leeds.gov.uk", "E08000035", "editor")):
            accounts.add_user(email, org=org, role=role, password=PASSWORD)
        accounts.add_user("root@atlas.example", password=PASSWORD, site_admin=True)
        self.partnership = accounts.add_partnership("North London data", [CAMDEN, ISLINGTON])
        accounts.add_partnership("Northern data", ["E08000035", "E08000036"])
        self.token = accounts.add_token("editor@camden.gov.uk")
        self.admin_token = accounts.add_token("admin@camden.gov.uk")
        self.client = Client(server)

    def post(self, path: str, data: bytes, meta: Any = None, token: str | None = None, filename: str = "t.csv",
             client: Any = None) -> Any:
        form: dict[str, Any] = {"file": (io.BytesIO(data), filename)}
        if meta is not None:
            form["metadata"] = json.dumps(meta)
        return (client or self.client.raw).post(path, base_url=BASE, data=form, content_type="multipart/form-data",
                                                headers={"Authorization": f"Bearer {token or self.token}"})

    def api(self, path: str, token: str | None = None, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.raw.get(path, base_url=BASE, headers=headers, **kw)

    def publish(self, title: str, level: str = "public", **extra: Any) -> dict:
        got = self.post("/api/datasets", camden_csv(self.store), metadata(title, level, **extra))
        assert got.status_code == 201, got.get_data(as_text=True)[:600]
        return got.get_json()

    def signed_in(self, email: str) -> Client:
        web = Client(self.server)
        assert web.sign_in(email).status_code == 302
        return web

    def clean(self) -> None:
        from atlas import publish

        assert publish.check_files(self.data_dir, orphan_age=0) == []


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = create_database(request.getfixturevalue("pg_admin")) if request.param == "postgresql" else None
    folder = data_folder(data_dir, tmp_path_factory.mktemp(f"safety-{request.param}"))
    with environment(folder, url) as mp:
        mp.setenv("ATLAS_SIGNIN_RATE_LIMIT", "")
        mp.setenv("ATLAS_SIGNIN_CLIENT_RATE_LIMIT", "")
        import app as app_module

        server = app_module.server
        server.config["ATLAS_SIGNIN_RATE_LIMIT"] = server.config["ATLAS_SIGNIN_CLIENT_RATE_LIMIT"] = ""
        yield Site(server, folder)


def _audit(action: str) -> list[dict]:
    from atlas import audit

    return [e for e in audit.entries() if e["action"] == action]


# 1. Published versions lost ---------------------------------------------------------------------------------------

def test_h01_concurrent_pushes_of_one_file_all_succeed_and_lose_nothing(site: Site) -> None:
    out = site.publish("Pushed at once")
    dataset, body = out["id"], camden_csv(site.store, scale=2)
    results: list[int] = []

    def push() -> None:
        client = site.server.test_client()
        for _ in range(3):
            got = site.post(f"/api/datasets/{dataset}/versions", body, client=client)
            if got.status_code == 503:
                assert got.headers["Retry-After"]
            results.append(got.status_code)

    threads = [threading.Thread(target=push) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 500 not in results and results.count(201) >= 10, results
    meta = site.api(f"/api/datasets/{dataset}", site.token).get_json()
    numbers = sorted(v["version"] for v in meta["versions"])
    assert numbers == list(range(1, results.count(201) + 2))  # no gap, no repeat
    for n in numbers:  # every version's file is there: each downloads, and each can be restored
        got = site.client.get(f"/datastore/datasets/ds{dataset}/v{n}.csv")
        assert got.status_code == 200 and got.get_data(as_text=True).count("\n") > 100
    site.clean()


def test_h01_restore_refuses_a_version_whose_file_is_gone(site: Site) -> None:
    from atlas import db, publish

    out = site.publish("Restored")
    dataset = out["id"]
    assert site.post(f"/api/datasets/{dataset}/versions", camden_csv(site.store, scale=3)).status_code == 201
    import sqlalchemy as sa

    with db.session() as s:
        first = s.execute(sa.select(db.Version).where(db.Version.dataset_id == dataset, db.Version.number == 1)
                          ).scalar_one()
        lost = site.data_dir / "published" / first.file
    saved = lost.read_bytes()
    lost.unlink()
    assert any("is missing" in p for p in publish.check_files(site.data_dir))
    got = site.client.raw.post(f"/api/datasets/{dataset}/restore", base_url=BASE, json={"version": 1},
                               headers={"Authorization": f"Bearer {site.token}"})
    assert got.status_code == 409 and "missing or damaged" in got.get_data(as_text=True)
    # the dataset stays visible (its current version is untouched), and the lost version reads as absent
    assert site.client.get(f"/api/datasets/{dataset}").status_code == 200
    assert site.client.get(f"/datastore/datasets/ds{dataset}/v1.csv").status_code == 404
    lost.write_bytes(saved)
    site.clean()


def test_h01_a_killed_restore_leaves_the_dataset_whole(site: Site) -> None:
    out = site.publish("Killed restore")
    dataset = out["id"]
    assert site.post(f"/api/datasets/{dataset}/versions", camden_csv(site.store, scale=5)).status_code == 201
    script = f"""
import os, sys
sys.path.insert(0, {str(ROOT)!r})
from atlas import accounts, publish, settings
publish._hook_before_commit = lambda: os._exit(9)  # killed inside the restore's transaction
actor = accounts.actor_for(accounts.check_password("editor@camden.gov.uk", {PASSWORD!r}))
publish.restore(actor, {dataset}, 1, settings.load().data_dir)
"""
    done = subprocess.run([sys.executable, "-c", script], env=os.environ.copy(), capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr.decode()[-800:]
    meta = site.api(f"/api/datasets/{dataset}", site.token).get_json()
    assert meta["version"] == 2 and len(meta["versions"]) == 2
    site.clean()


# 2. Live feeds fetch internal addresses (SSRF) ------------------------------------------------------------------

PUBLIC = "81.2.69.160"  # never contacted: the checks below refuse or pass before any connection


def _resolver(table: dict[str, list[str]]) -> Any:
    calls: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return table[host]
    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/feed.csv", "https://169.254.169.254/latest/meta-data", "https://[::1]/x",
    "https://0.0.0.0/x", "https://2130706433/x", "https://0x7f.1/x", "https://127.1/x", "https://0177.0.0.1/x",
    "https://[::ffff:127.0.0.1]/x", "https://[::ffff:a9fe:a9fe]/x", "https://[fd00::1]/x", "https://10.1.2.3/x",
    "https://100.64.0.1/x", "https://224.0.0.1/x", "https://[64:ff9b::7f00:1]/x", "https://[2002:7f00:1::]/x",
    "https://internal.example/x", "https://mixed.example/x", "http://public.example/x", "ftp://public.example/x",
    "file:///etc/passwd", "https://user@/x",
])
def test_h02_feed_addresses_that_are_not_public_are_refused_before_any_connection(url: str) -> None:
    from atlas import netguard

    resolve = _resolver({"internal.example": ["10.0.0.5"], "mixed.example": [PUBLIC, "127.0.0.1"],
                         "public.example": [PUBLIC]})
    with pytest.raises(netguard.Refused) as refused:
        netguard.check_url(url, resolve, allow=())
    assert "10.0.0.5" not in str(refused.value) and "127.0.0.1" not in str(refused.value)


def test_h02_a_public_https_address_passes_and_metadata_refuses_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    from atlas import netguard, publish

    resolve = _resolver({"feeds.example.gov.uk": [PUBLIC], "metadata.example": ["169.254.169.254"]})
    target = netguard.check_url("https://feeds.example.gov.uk/places.csv?key=1", resolve, allow=())
    assert target.address == PUBLIC and target.host == "feeds.example.gov.uk" and target.path == "/places.csv?key=1"
    monkeypatch.setattr(netguard, "RESOLVER", resolve)
    report = publish.Report()
    publish.parse_metadata(metadata("Feed", "public", pull_url="https://metadata.example/x.csv"), report)
    assert any("not a public internet address" in e["message"] for e in report.errors["metadata"])
    report = publish.Report()
    publish.parse_metadata(metadata("Feed", "public", pull_url="http://127.0.0.1:9/x.csv"), report)
    assert not report.ok


class _Loopback:
    """A feed server on a loopback address (allowed only through ATLAS_FEED_ALLOW in these tests)."""

    def __init__(self, host: str, status: int = 200, body: bytes = b"code,value\n", location: str | None = None):
        import flask
        from werkzeug.serving import make_server

        self.hits: list[str] = []
        app = flask.Flask(f"feed-{host}")

        @app.get("/<path:path>")
        def serve(path: str) -> Any:
            self.hits.append(flask.request.headers.get("Host", ""))
            headers = {"Location": location} if location else {}
            return flask.Response(body, status=status, headers=headers, mimetype="text/csv")

        self.server = make_server(host, 0, app, threaded=True)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_h02_redirects_are_checked_at_every_hop_and_the_checked_address_is_the_one_connected() -> None:
    from atlas import netguard

    inner = _Loopback("127.0.0.1", body=b"secret internal page")
    outer = _Loopback("127.0.0.2", status=302, location=f"https://inside.test:{inner.port}/admin")
    try:
        resolve = _resolver({"feed.test": ["127.0.0.2"], "inside.test": ["127.0.0.1"]})
        with pytest.raises(netguard.Refused) as refused:
            netguard.fetch(f"http://feed.test:{outer.port}/places.csv", 10_000, resolve, allow=("feed.test",))
        assert "not a public internet address" in str(refused.value)
        assert outer.hits == [f"feed.test:{outer.port}"] and inner.hits == []  # the redirect was never followed
        # DNS rebinding: the name is resolved once per hop and the connection goes to the checked address
        answers = iter([["127.0.0.2"], ["127.0.0.1"]])
        rebinding_calls: list[str] = []

        def rebind(host: str, port: int) -> list[str]:
            rebinding_calls.append(host)
            return next(answers)
        ok = _Loopback("127.0.0.2", body=b"code,value\nE01000001,1\n")
        try:
            body = netguard.fetch(f"http://feed.test:{ok.port}/places.csv", 10_000, rebind, allow=("127.0.0.2/32",))
        finally:
            ok.close()
        assert body.startswith(b"code,value") and rebinding_calls == ["feed.test"] and inner.hits == []
        # too large, and an HTTP error: said without what is at the address
        big = _Loopback("127.0.0.2", body=b"x" * 5000)
        try:
            with pytest.raises(netguard.Refused, match="larger than 1,000 bytes"):
                netguard.fetch(f"http://127.0.0.2:{big.port}/x", 1000, allow=("127.0.0.2/32",))
        finally:
            big.close()
    finally:
        inner.close()
        outer.close()


# 3. A feed's secret shown to everyone ------------------------------------------------------------------------------

def test_h03_a_feeds_credentials_reach_its_editors_only(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from atlas import feeds, netguard

    secret = "k3y-" + os.urandom(6).hex()
    monkeypatch.setattr(netguard, "RESOLVER", _resolver({"feeds.camden.example": [PUBLIC]}))
    address = f"https://robot:{secret}pw@feeds.camden.example/places.csv?api_key={secret}"
    out = site.publish("Keyed feed", "public", pull_url=address, pull_minutes=60)
    monkeypatch.setattr(feeds, "fetch", lambda url, limit: camden_csv(site.store, scale=9))
    assert feeds.pull_due(everything=True) == [f"ds{out['id']}: version 2"]
    monkeypatch.setattr(feeds, "fetch", lambda url, limit: (_ for _ in ()).throw(feeds.PullError("the feed answered "
                                                                                                "HTTP 500")))
    feeds.pull_due(everything=True)
    key = f"ds{out['id']}"
    anonymous = Client(site.server)
    member = site.signed_in("member@camden.gov.uk")
    for client in (anonymous, member):
        for path in (f"/api/datasets/{out['id']}", f"/datastore/datasets/{key}", "/datastore/whats-new",
                     "/datastore/feeds/whats-new.atom", f"/datastore/feeds/datasets/{key}.atom",
                     f"/datastore/feeds/authorities/{CAMDEN}.atom", "/datastore/catalog.jsonld", "/api/datasets"):
            text = client.get(path).get_data(as_text=True)
            assert secret not in text, path
    assert "pulled from its live feed" in anonymous.get(f"/api/datasets/{out['id']}").get_data(as_text=True)
    editor = site.signed_in("editor@camden.gov.uk")
    assert secret in editor.get(f"/datastore/datasets/{key}").get_data(as_text=True)
    assert all(secret not in e["detail"] for e in _audit("pull.failed"))
    assert feeds.redact(address) == "https://***@feeds.camden.example/places.csv?api_key=%2A%2A%2A"
    site.clean()


# 4. Signing out does not end a session; tokens ---------------------------------------------------------------------

def test_h04_sign_out_ends_the_session_on_the_server_and_everywhere_ends_all(site: Site) -> None:
    web = site.signed_in("member@camden.gov.uk")
    copied = Client(site.server)
    cookie = web.raw.get_cookie("atlas_session", domain="localhost")
    copied.raw.set_cookie("atlas_session", cookie.value, domain="localhost")
    assert copied.get("/account").status_code == 200  # the copy works while the session lives
    web.post("/account/sign-out", data={"csrf_token": web.csrf("/account")})
    assert copied.get("/account").status_code == 302  # ...and not after sign-out
    token = copied.csrf("/account/sign-in")
    assert copied.post("/account", data={"csrf_token": token, "name": "stolen"}).status_code == 302
    # sign out everywhere, and a password change, end every other session
    a, b = site.signed_in("member@camden.gov.uk"), site.signed_in("member@camden.gov.uk")
    a.post("/account/sign-out-everywhere", data={"csrf_token": a.csrf("/account")})
    assert a.get("/account").status_code == 302 and b.get("/account").status_code == 302
    a, b = site.signed_in("member@camden.gov.uk"), site.signed_in("member@camden.gov.uk")
    got = a.post("/account", data={"password-csrf_token": a.csrf("/account"), "what": "password",
                                   "password-current": PASSWORD, "password-new": PASSWORD + "!"})
    assert "Password changed" in got.get_data(as_text=True)
    assert a.get("/account").status_code == 200 and b.get("/account").status_code == 302
    from atlas import accounts

    accounts.set_password("member@camden.gov.uk", PASSWORD)


def test_h04_sessions_end_when_idle_or_old_and_tokens_expire_by_default(site: Site) -> None:
    import sqlalchemy as sa

    from atlas import accounts, db, settings

    web = site.signed_in("member@camden.gov.uk")
    assert web.get("/account").status_code == 200
    with db.session() as s:
        s.execute(sa.update(db.UserSession).values(last_seen=db.now().replace(year=2020)))
    assert web.get("/account").status_code == 302  # idle too long
    web = site.signed_in("member@camden.gov.uk")
    with db.session() as s:
        s.execute(sa.update(db.UserSession).where(db.UserSession.ended.is_(None)).values(expires=db.now()))
    assert web.get("/account").status_code == 302  # past its absolute lifetime
    config = settings.load()
    accounts.add_token("member@camden.gov.uk", name="default")
    listed = accounts.list_tokens("member@camden.gov.uk")[-1]
    from datetime import datetime

    days = (datetime.fromisoformat(listed["expires"]) - db.now()).days
    assert config.token_default_days - 1 <= days <= config.token_default_days
    with pytest.raises(accounts.AccountError, match="ATLAS_TOKEN_MAX_DAYS"):
        accounts.add_token("member@camden.gov.uk", config.token_max_days + 1)
    token = accounts.add_token("member@camden.gov.uk", 5, name="used")
    assert site.api("/api/datasets", token).status_code == 200
    assert accounts.list_tokens("member@camden.gov.uk")[-1]["last_used"] is not None
    page = site.signed_in("member@camden.gov.uk").get("/account").get_data(as_text=True)
    assert "Last used" in page and "Sign out everywhere" in page


# 5. Members: remove, change role, leave a partnership ---------------------------------------------------------------

def test_h05_members_are_removed_and_roles_changed_on_the_page_and_by_the_command(site: Site) -> None:
    from atlas import accounts

    accounts.add_user("temp@camden.gov.uk", org=CAMDEN, role="editor", password=PASSWORD)
    private = site.publish("Members only", "organisation")
    temp = site.signed_in("temp@camden.gov.uk")
    assert temp.get(f"/api/datasets/{private['id']}").status_code == 200
    admin = site.signed_in("admin@camden.gov.uk")
    page = f"/datastore/org/{CAMDEN}"
    got = admin.post(page, data={"csrf_token": admin.csrf(page), "action": "role", "email": "temp@camden.gov.uk",
                                 "role": "member"})
    assert "is now member" in got.get_data(as_text=True)
    got = admin.post(page, data={"csrf_token": admin.csrf(page), "action": "remove", "email": "temp@camden.gov.uk"})
    assert "no longer a member" in got.get_data(as_text=True)
    assert temp.get(f"/api/datasets/{private['id']}").status_code == 404  # at their very next request
    assert {e["action"] for e in _audit("member.role") + _audit("member.remove")} == {"member.role", "member.remove"}
    # the last admin cannot leave the organisation without one
    got = admin.post(page, data={"csrf_token": admin.csrf(page), "action": "remove", "email": "admin@camden.gov.uk"})
    assert "last admin" in got.get_data(as_text=True)
    # a non-admin's attempt is refused
    member = site.signed_in("member@camden.gov.uk")
    assert member.post(page, data={"csrf_token": member.csrf(page), "action": "remove",
                                   "email": "editor@camden.gov.uk"}).status_code == 403
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "atlas", *a], env=env, capture_output=True,  # noqa: E731
                                    text=True, timeout=120, cwd=ROOT)
    accounts.add_member("temp@camden.gov.uk", CAMDEN, "member")
    assert run("member", "role", "temp@camden.gov.uk", "--org", CAMDEN, "--role", "editor").returncode == 0
    assert run("member", "remove", "temp@camden.gov.uk", "--org", CAMDEN).returncode == 0
    assert run("member", "remove", "temp@camden.gov.uk", "--org", CAMDEN).returncode == 1
    assert any(e["email"] == "atlas command" for e in _audit("member.remove"))


def test_h05_leaving_a_partnership_ends_what_it_shared(site: Site) -> None:
    from atlas import accounts

    shared = site.publish("Shared north London", "partnership", access={"level": "partnership",
                                                                           "partnerships": ["North London data"]})
    islington = site.signed_in("admin@islington.gov.uk")
    assert islington.get(f"/api/datasets/{shared['id']}").status_code == 200
    page = f"/datastore/org/{ISLINGTON}"
    got = islington.post(page, data={"csrf_token": islington.csrf(page), "action": "leave",
                                     "partnership": str(site.partnership)})
    assert "left the partnership" in got.get_data(as_text=True)
    assert islington.get(f"/api/datasets/{shared['id']}").status_code == 404
    assert _audit("partnership.leave")
    accounts.invite_to_partnership(site.partnership, ISLINGTON)
    accounts.accept_partnership(site.partnership, ISLINGTON)


# 6. Open redirect after sign-in -------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/%09/evil.example", "/\t/evil.example", "//evil.example", "/\\evil.example",
                                    "https://evil.example/", "/%2F%2Fevil.example", "/x\r\nSet-Cookie: a=b",
                                    "/\n/evil.example", "javascript:alert(1)"])
def test_h06_sign_in_goes_only_to_a_same_site_path(site: Site, target: str) -> None:
    web = Client(site.server)
    token = web.csrf("/account/sign-in")
    got = web.post("/account/sign-in", query_string={"next": target},
                   data={"email": "member@camden.gov.uk", "password": PASSWORD, "csrf_token": token})
    assert got.status_code == 302 and got.headers["Location"] == "/datastore", got.headers.get("Location")
    assert web.get("/account/sign-in", query_string={"next": target}).status_code == 200
    ok = Client(site.server)
    token = ok.csrf("/account/sign-in")
    got = ok.post("/account/sign-in", query_string={"next": "/datastore/whats-new?x=1"},
                  data={"email": "member@camden.gov.uk", "password": PASSWORD, "csrf_token": token})
    assert got.headers["Location"] == "/datastore/whats-new?x=1"


# 7. Spreadsheet bombs ----------------------------------------------------------------------------------------------

def _xlsx(sheet_rows: Any, dimension: str | None = None) -> bytes:
    """A workbook whose first sheet's XML is written from ``sheet_rows`` (an iterable of XML chunks)."""
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["code", "value"])
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for item in src.infolist():
            if item.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(item, src.read(item.filename))
        with dst.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                        b'spreadsheetml/2006/main">')
            if dimension:
                sheet.write(f'<dimension ref="{dimension}"/>'.encode())
            sheet.write(b"<sheetData>")
            for chunk in sheet_rows:
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_h07_spreadsheet_bombs_are_refused_in_a_limited_process(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    from atlas import publish

    monkeypatch.setenv("ATLAS_UPLOAD_MAX_BYTES", str(1_000_000))
    monkeypatch.setenv("ATLAS_UPLOAD_PARSE_SECONDS", "2")
    row = b'<row><c t="inlineStr"><is><t>' + b"A" * 900 + b"</t></is></c></row>"
    declared = _xlsx(row for _ in range(30_000))  # 28 MB of cells in a small archive
    assert len(declared) < 300_000
    cells = _xlsx((f'<row r="{i}">'.encode() + b'<c><v>1</v></c>' * 20 + b"</row>") for i in range(1, 25_001))
    wide = _xlsx([b'<row r="1"><c r="A1"><v>1</v></c></row>'], dimension="A1:XFD1048576")
    import openpyxl

    from atlas import sheets

    book = openpyxl.Workbook()
    book.active.append(["code", "value"])
    book.active.append(["E01000001", 3.5])
    plain = io.BytesIO()
    book.save(plain)
    # An ordinary workbook reads, in the child; how long that takes on this host now (the child's start-up,
    # slower on a loaded machine) is the baseline the bombs' refusals are measured against.
    report = publish.Report()
    started = time.monotonic()
    assert publish.read_table(plain.getvalue(), "ok.xlsx", report) == [["code", "value"], ["E01000001", "3.5"]]
    baseline = time.monotonic() - started
    # However the child ends (its own limits, or the parent's wait running out), the refusal comes within the
    # parent's wait and a few start-ups, on a loaded host as on an idle one.
    bound = sheets.wall_seconds(2) + 3 * baseline
    before = _rss()
    for data, said in ((declared, "declares"), (cells, "more time or memory"), (wide, "declares 1,048,576 rows")):
        report = publish.Report()
        started = time.monotonic()
        assert publish.read_table(data, "bomb.xlsx", report) == []
        assert not report.ok and said in json.dumps(report.as_dict()), report.as_dict()
        assert time.monotonic() - started < bound, (time.monotonic() - started, baseline)
    assert _rss() - before < 60 * 1024 * 1024  # the worker's own memory barely moves: the child did the reading
    got = site.post("/api/datasets", declared, metadata("Bomb", "public"), filename="bomb.xlsx")
    assert got.status_code == 422 and "declares" in got.get_data(as_text=True)


# 8 and 9. Exported images keyed by what they show; every restricted read audited with its user ------------------------

def test_h08_h09_exports_follow_versions_and_every_restricted_read_is_audited(site: Site) -> None:
    out = site.publish("Exported", "public")
    var = out["variables"][0]
    url = f"/export/map.svg?authority={CAMDEN}&level=lsoa11&variable={var}"
    first = site.client.get(url)
    assert first.status_code == 200
    assert site.post(f"/api/datasets/{out['id']}/versions", camden_csv(site.store, scale=7)).status_code == 201
    second = site.client.get(url)
    assert second.status_code == 200 and second.headers["ETag"] != first.headers["ETag"]
    assert second.get_data() != first.get_data()
    # a restricted dataset: every read is in the audit log with its reader, also a cached export's
    private = site.publish("Exported privately", "organisation")
    member = site.signed_in("member@camden.gov.uk")
    path = f"/export/map.svg?authority={CAMDEN}&level=lsoa11&variable={private['variables'][0]}"
    counts = []
    for _ in range(2):  # the second image comes from the cache: its read is recorded all the same
        got = member.get(path)
        assert got.status_code == 200 and got.headers["Cache-Control"] == "private, no-store"
        counts.append(len([e for e in _audit("data.read") if e["dataset_id"] == private["id"]]))
    assert counts[0] >= 1 and counts[1] == counts[0] + 1
    # ...and so is every read through the view's JSON twin, whose classification is cached too
    view = f"/api/view.json?authority={CAMDEN}&level=lsoa11&variable={private['variables'][0]}"
    for _ in range(2):
        got = member.get(view)
        assert got.status_code == 200 and got.headers["Cache-Control"] == "private, no-store"
        counts.append(len([e for e in _audit("data.read") if e["dataset_id"] == private["id"]]))
    assert counts[2] == counts[1] + 1 and counts[3] == counts[2] + 1
    reads = [e for e in _audit("data.read") if e["dataset_id"] == private["id"]]
    assert all(e["email"] == "member@camden.gov.uk" for e in reads)
    assert site.api("/api/datasets", site.token).status_code == 200
    uses = _audit("token.use")
    assert uses and all(e["email"] for e in uses)


# 10. Sign-in attempts limited ------------------------------------------------------------------------------------

def test_h10_sign_in_attempts_are_limited_per_account_and_per_client(site: Site) -> None:
    config = site.server.config
    try:
        config["ATLAS_SIGNIN_RATE_LIMIT"] = "3 per minute"
        web = Client(site.server)
        email = "editor@leeds.gov.uk"
        statuses = []
        for _ in range(4):
            statuses.append(web.post("/account/sign-in", data={"email": email, "password": "wrong",
                                                               "csrf_token": web.csrf("/account/sign-in")}).status_code)
        assert statuses == [401, 401, 401, 429]
        right = web.post("/account/sign-in", data={"email": email, "password": PASSWORD,
                                                   "csrf_token": web.csrf("/account/sign-in")})
        assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0  # even the right password
        assert any(e["email"] == email for e in _audit("signin.limited"))
        config["ATLAS_SIGNIN_RATE_LIMIT"], config["ATLAS_SIGNIN_CLIENT_RATE_LIMIT"] = "", "5 per minute"
        other = Client(site.server)
        got = [other.post("/account/sign-in", data={"email": f"nobody{i}@x.example", "password": "x",
                                                    "csrf_token": other.csrf("/account/sign-in")}).status_code
               for i in range(6)]
        assert got[-1] == 429 and got[0] == 401
    finally:
        config["ATLAS_SIGNIN_RATE_LIMIT"] = config["ATLAS_SIGNIN_CLIENT_RATE_LIMIT"] = ""
        from web import ratelimit

        ratelimit.limiter.reset()


# 11. Councils write only into their own space ----------------------------------------------------------------------

def test_h11_a_council_publishes_onto_its_own_areas_and_shares_with_its_own_partnerships(site: Site) -> None:
    idx = site.store.area_index("lsoa11")
    hackney = idx[idx["authority"] == "E09000012"]["code"].tolist()[:5]
    islington = idx[idx["authority"] == ISLINGTON]["code"].tolist()[:5]
    body = ("code,value\n" + "".join(f"{c},{i}\n" for i, c in enumerate(hackney))).encode()
    got = site.post("/api/datasets", body, metadata("Onto Hackney", "public"))
    assert got.status_code == 422
    report = got.get_json()["report"]
    assert report["error_counts"] == {"outside_area": 5}
    assert "E09000012" in report["errors"]["outside_area"][0]["message"]
    # ...but onto a partnership's area it belongs to, yes: Camden and Islington together
    mixed = camden_csv(site.store, rows=3) + "".join(f"{c},1\n" for c in islington).encode()
    meta = metadata("North London together", "public")
    assert site.post("/api/datasets", mixed, meta).status_code == 201
    # shares: only its own partnerships; an unknown one and someone else's read the same
    answers = []
    for name in ("Northern data", "No such partnership"):
        got = site.post("/api/datasets", camden_csv(site.store), metadata("Shared", "partnership", access={
            "level": "partnership", "partnerships": [name]}))
        assert got.status_code == 422
        answers.append(json.dumps(got.get_json()["report"]["errors"]).replace(name, "X"))
    assert answers[0] == answers[1]
    # membership and invitations: members only
    from atlas import accounts

    accounts.invite("newcomer@camden.gov.uk", CAMDEN)
    outsider = site.signed_in("editor@leeds.gov.uk")
    for client in (Client(site.server), outsider):
        page = client.get(f"/datastore/org/{CAMDEN}").get_data(as_text=True)
        assert "member@camden.gov.uk" not in page and "North London data" not in page and "newcomer" not in page
    page = site.signed_in("member@camden.gov.uk").get(f"/datastore/org/{CAMDEN}").get_data(as_text=True)
    assert "member@camden.gov.uk" in page and "North London data" in page and "newcomer" not in page
    page = site.signed_in("admin@camden.gov.uk").get(f"/datastore/org/{CAMDEN}").get_data(as_text=True)
    assert "newcomer@camden.gov.uk" in page


# 12. Strict number parsing ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["1_000", "١٢٣", "１２", "infinity", "nan(1)", "0x1A", "1e999", "½", "1 000"])
def test_h12_only_plain_decimal_numbers_are_numbers(site: Site, text: str) -> None:
    codes = camden_csv(site.store, rows=2).decode().splitlines()[1:]
    body = f"code,value\n{codes[0].split(',')[0]},{text}\n{codes[1].split(',')[0]},4\n".encode()
    got = site.post("/api/datasets", body, metadata("Odd numbers", "public"))
    assert got.status_code == 422, text
    problem = got.get_json()["report"]["errors"]["not_numeric"][0]
    assert problem["row"] == 2 and problem["column"] == "value"


# 13. Cache lifetimes ------------------------------------------------------------------------------------------------

def test_h13_published_data_is_cached_briefly_and_restricted_data_never(site: Site) -> None:
    public = site.publish("Cached openly", "public")
    private = site.publish("Never cached", "organisation")
    got = site.client.get(f"/api/values/{CAMDEN}/lsoa11/{public['variables'][0]}.json")
    assert got.status_code == 200 and got.headers["Cache-Control"] == "public, max-age=60, must-revalidate"
    assert site.client.get("/api/variables?q=cached").headers["Cache-Control"] == "public, max-age=60, must-revalidate"
    got = site.api(f"/api/values/{CAMDEN}/lsoa11/{private['variables'][0]}.json", site.token)
    assert got.status_code == 200 and got.headers["Cache-Control"] == "private, no-store"
    assert site.api(f"/datastore/datasets/ds{private['id']}/v1.csv", site.token).headers["Cache-Control"] == \
        "private, no-store"


# 14. The publishing flow ----------------------------------------------------------------------------------------------

def test_h14_the_unit_chosen_survives_check_and_is_published(site: Site) -> None:
    web = site.signed_in("editor@camden.gov.uk")
    token = web.csrf("/datastore/publish")
    got = web.post("/datastore/publish", data={"csrf_token": token, "level": "lsoa11", "organisation": CAMDEN,
                                                "file": (io.BytesIO(camden_csv(site.store)), "places.csv")},
                   content_type="multipart/form-data")
    details = got.headers["Location"]
    form = {"csrf_token": web.csrf(details), "code_column": "code", "use_1": "1", "label_1": "Share",
            "unit_1": "percentage", "title": "Unit kept", "source": "Camden", "licence": "OGL",
            "as_of": "2024-04-01", "access": "public", "action": "check"}
    html = web.post(details, data=form).get_data(as_text=True)
    select = re.search(r'<select name="unit_1".*?</select>', html, re.S).group(0)
    assert re.search(r'<option value="percentage" selected>', select), select
    done = web.post(details, data=form | {"action": "publish"})
    dataset = int(done.headers["Location"].rsplit("ds", 1)[1])
    assert site.client.get(f"/api/datasets/{dataset}").get_json()["variables"][0]["unit"] == "percentage"


def test_h14_private_maps_are_not_offered_for_embedding_and_say_so(site: Site) -> None:
    from atlas import registry
    from callbacks import embed
    from ui import embed as embed_page

    private = site.publish("Not embeddable", "organisation")
    public = site.publish("Embeddable", "public")
    search = f"?authority={CAMDEN}&level=lsoa11&variable={private['variables'][0]}"
    with site.server.test_request_context("/", base_url=BASE):
        snippet, preview, problem = embed.write_snippet(1, [], 600, 400, {"search": search}, "t")
        assert snippet == "" and "not available to embed" in problem
        assert registry.embed_refusal(f"?variable={public['variables'][0]}") is None
        page = json.dumps(embed_page.embed_layout(search).to_plotly_json(), default=str)
        assert "not available to embed" in page and "Mean age" not in page
        # the same words for a dataset that never existed
        assert registry.embed_refusal("?variable=ds999999_value") == registry.embed_refusal(search)


def test_h14_invitations_and_resets_are_one_time_expiring_links(site: Site) -> None:
    import sqlalchemy as sa

    from atlas import accounts, db

    sent: list[tuple] = []
    accounts.on_link(lambda kind, email, path: sent.append((kind, email, path)))
    admin = site.signed_in("admin@camden.gov.uk")
    page = f"/datastore/org/{CAMDEN}"
    got = admin.post(page, data={"csrf_token": admin.csrf(page), "action": "member",
                                 "email": "new.analyst@camden.gov.uk", "role": "editor"}).get_data(as_text=True)
    link = re.search(r'<code id="one-time-link">([^<]+)</code>', got).group(1)
    path = link.replace(BASE, "").replace("http://localhost", "")
    assert sent[-1][:2] == ("invite", "new.analyst@camden.gov.uk") and sent[-1][2] == path
    newcomer = Client(site.server)
    assert "Choose a password" in newcomer.get(path).get_data(as_text=True)
    joined = newcomer.post(path, data={"csrf_token": newcomer.csrf(path), "password": "a long new password"})
    assert joined.status_code == 302 and newcomer.get("/account").status_code == 200
    assert f"{CAMDEN}" in newcomer.get("/account").get_data(as_text=True)
    assert newcomer.get(path).status_code == 404  # used once
    assert Client(site.server).sign_in("new.analyst@camden.gov.uk", "a long new password").status_code == 302
    # a reset link from the command; it expires
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "atlas", "user", "reset", "new.analyst@camden.gov.uk"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    reset = done.stdout.strip().splitlines()[-1]
    assert reset.startswith(("/account/join/", "http"))
    reset_path = reset[reset.index("/account/join/"):]
    with db.session() as s:
        s.execute(sa.update(db.Invitation).where(db.Invitation.used.is_(None)).values(expires=db.now()))
    assert Client(site.server).get(reset_path).status_code == 404
    # the sign-in page says how to get access
    assert "ask your organisation" in Client(site.server).get("/account/sign-in").get_data(as_text=True).lower()


# The site administrators' "may X do Y to Z, and why" ------------------------------------------------------------------

def test_the_allowed_page_answers_for_site_administrators_only(site: Site) -> None:
    private = site.publish("Asked about", "organisation")
    root = site.signed_in("root@atlas.example")
    ask = {"actor": "member@camden.gov.uk", "action": "dataset.read", "resource": f"ds{private['id']}"}
    page = root.get("/-/allowed", query_string=ask).get_data(as_text=True)
    assert "<h2>Allowed</h2>" in page and "a member of the organisation that owns it" in page
    page = root.get("/-/allowed", query_string=ask | {"actor": "editor@leeds.gov.uk"}).get_data(as_text=True)
    assert "<h2>Not allowed</h2>" in page and "organisation-only and not theirs" in page
    page = root.get("/-/allowed", query_string={"actor": "editor@camden.gov.uk", "action": "place.publish",
                                                "resource": f"{CAMDEN} E09000012"}).get_data(as_text=True)
    assert "Not allowed" in page and "neither the organisation" in page
    for client in (Client(site.server), site.signed_in("admin@camden.gov.uk")):
        assert client.get("/-/allowed", query_string=ask).status_code == 404


# Hostile inputs to the two checks that stand between a request and the network or another site -------------------

def _any_resolver(host: str, port: int) -> list[str]:
    """A resolver with a fixed mix of answers by the name's length: public, private, loopback, mapped."""
    return [["81.2.69.160"], ["10.0.0.1"], ["127.0.0.1"], ["::ffff:169.254.169.254"], ["2a00:1450:4009:81f::200e"],
            ["81.2.69.160", "192.168.1.1"]][len(host) % 6]


def test_hostile_feed_addresses_are_refused_or_point_at_a_public_address() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from atlas import netguard

    parts = st.sampled_from(["https://", "http://", "HTTPS://", "https:/", "", "ftp://", "https://user:pw@",
                             "https://[", "https://0x", "https://127.", "https://%31", "https://\t", "//"])
    hosts = st.one_of(st.text(max_size=40), st.ip_addresses().map(str), st.integers(0, 2**32).map(str),
                      st.sampled_from(["localhost", "metadata.google.internal", "feeds.council.gov.uk", "::1]",
                                       "[::ffff:7f00:1]", "127.0.0.1.nip.io", "0", "1e100"]))

    @settings(max_examples=400, deadline=None)
    @given(parts, hosts, st.text(max_size=20))
    def check(scheme: str, host: str, rest: str) -> None:
        url = f"{scheme}{host}/{rest}"
        try:
            target = netguard.check_url(url, _any_resolver, allow=())
        except netguard.Refused:
            return
        assert target.scheme == "https" and netguard.public(target.address), url

    check()


def test_hostile_next_targets_stay_on_this_site() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from web import auth

    prefix = st.sampled_from(["", "/", "//", "/\\", "/%09/", "/%2f", "\\\\", "https:", "/\t", " /", "/./"])

    @settings(max_examples=500, deadline=None)
    @given(prefix, st.text(max_size=40))
    def check(start: str, rest: str) -> None:
        got = auth._safe_next(start + rest)
        assert got == "/datastore" or (got.startswith("/") and not got.startswith("//") and "\\" not in got
                                       and not any(ord(c) < 33 or ord(c) == 127 for c in got))

    check()


def test_h11_access_changes_share_only_with_the_councils_partnerships_and_the_preview_says_whose_rows(
        site: Site) -> None:
    out = site.publish("Reshared", "organisation")
    answers = []
    editor = site.client.raw.post(f"/api/datasets/{out['id']}/access", base_url=BASE, json={"level": "public"},
                                  headers={"Authorization": f"Bearer {site.token}"})
    assert editor.status_code == 403 and "admins" in editor.get_json()["error"]  # dataset.share: admins only
    for name in ("Northern data", "Nope"):
        got = site.client.raw.post(f"/api/datasets/{out['id']}/access", base_url=BASE,
                                   json={"level": "partnership", "partnerships": [name]},
                                   headers={"Authorization": f"Bearer {site.admin_token}"})
        assert got.status_code == 422
        answers.append(json.dumps(got.get_json()["report"]["errors"]).replace(name, "X"))
    assert answers[0] == answers[1]
    got = site.client.raw.post(f"/api/datasets/{out['id']}/access", base_url=BASE,
                               json={"level": "partnership", "partnerships": ["North London data"]},
                               headers={"Authorization": f"Bearer {site.admin_token}"})
    assert got.status_code == 200 and got.get_json()["access"]["partnerships"] == ["North London data"]
    # the browser's check and preview: another council's rows are errors, not "valid"
    idx = site.store.area_index("lsoa11")
    hackney = idx[idx["authority"] == "E09000012"]["code"].tolist()[:3]
    body = camden_csv(site.store) + "".join(f"{c},1,x\n" for c in hackney).encode()
    web = site.signed_in("editor@camden.gov.uk")
    token = web.csrf("/datastore/publish")
    staged = web.post("/datastore/publish", data={"csrf_token": token, "level": "lsoa11", "organisation": CAMDEN,
                                                  "file": (io.BytesIO(body), "places.csv")},
                      content_type="multipart/form-data").headers["Location"]
    checked = web.post(staged, data={"csrf_token": web.csrf(staged), "code_column": "code", "use_1": "1",
                                     "title": "Mixed", "source": "s", "licence": "OGL", "as_of": "2024-04-01",
                                     "access": "public", "action": "check"})
    html = checked.get_data(as_text=True)
    assert checked.status_code == 422 and "E09000012" in html and "valid:" not in html


def test_h03_the_migration_removes_feed_addresses_from_earlier_notes(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic import command

    from atlas import db

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as con:
        cfg = db._alembic_config(url)
        cfg.attributes["connection"] = con
        command.upgrade(cfg, "0001")
        con.execute(sa.text("INSERT INTO organisation (id, code, name, created) VALUES (1, 'X', 'X', '2024-01-01')"))
        con.execute(sa.text("INSERT INTO dataset (id, org_id, title, description, topic, level, code_column, source, "
                            "licence, access, created, updated) VALUES (1, 1, 't', '', 't', 'lsoa11', 'code', 's', "
                            "'l', 'public', '2024-01-01', '2024-01-01')"))
        for n, (via, note) in enumerate([("pull", "pulled from https://feed.example/x.csv?api_key=SECRET"),
                                         ("api", "pulled from my own notes")], start=1):
            con.execute(sa.text("INSERT INTO version (dataset_id, number, as_of, file, sha256, rows, via, note, "
                                "created) VALUES (1, :n, '2024-01-01', 'f', 's', 1, :via, :note, '2024-01-01')"),
                        {"n": n, "via": via, "note": note})
        con.execute(sa.text("INSERT INTO user_account (id, email, name, site_admin, active, feed_secret, "
                            "session_nonce, created) VALUES (1, 'a@x', '', 0, 1, 'f', 'n', '2024-01-01')"))
        con.execute(sa.text("INSERT INTO api_token (user_id, digest, prefix, name, created) VALUES "
                            "(1, 'd', 'atlas_', 'forever', '2024-01-01')"))
    with engine.begin() as con:
        cfg = db._alembic_config(url)
        cfg.attributes["connection"] = con
        command.upgrade(cfg, "head")
        notes = [r[0] for r in con.execute(sa.text("SELECT note FROM version ORDER BY number"))]
        expires = con.execute(sa.text("SELECT expires FROM api_token")).scalar_one()
    assert notes == ["pulled from its live feed", "pulled from my own notes"]
    assert expires is not None  # a token made without an expiry now has one


def _valid_html(text: str, where: str) -> None:
    import html5lib

    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    try:
        parser.parse(text)
    except html5lib.html5parser.ParseError as exc:
        pytest.fail(f"{where}: {exc}")


def test_the_new_pages_are_valid_html_and_a_link_is_used_once_under_concurrency(site: Site) -> None:
    from atlas import accounts

    root, admin = site.signed_in("root@atlas.example"), site.signed_in("admin@camden.gov.uk")
    _valid_html(root.get("/-/allowed?actor=member%40camden.gov.uk&action=org.view&resource=" + CAMDEN)
                .get_data(as_text=True), "/-/allowed")
    _valid_html(admin.get(f"/datastore/org/{CAMDEN}").get_data(as_text=True), "the organisation page as admin")
    _valid_html(admin.get("/account").get_data(as_text=True), "/account")
    _valid_html(Client(site.server).get("/account/sign-in").get_data(as_text=True), "/account/sign-in")
    path = accounts.invite("twice@camden.gov.uk", CAMDEN, "member")
    _valid_html(Client(site.server).get(path).get_data(as_text=True), "the invitation page")
    secret = path.rsplit("/", 1)[1]
    outcomes: list[str] = []

    def redeem() -> None:
        try:
            accounts.redeem_link(secret, "a long enough password")
            outcomes.append("joined")
        except accounts.AccountError:
            outcomes.append("refused")
    threads = [threading.Thread(target=redeem) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["joined", "refused", "refused", "refused"]


def test_h08_a_partnerships_export_follows_its_membership(site: Site) -> None:
    from atlas import accounts

    member = site.signed_in("member@camden.gov.uk")
    url = f"/export/map.svg?authority=P{site.partnership}&level=lsoa11&variable=ks102ew0002"
    first = member.get(url)
    assert first.status_code == 200, first.get_data(as_text=True)[:300]
    accounts.invite_to_partnership(site.partnership, "E09000012")
    accounts.accept_partnership(site.partnership, "E09000012")  # Hackney joins: the area grows
    try:
        grown = member.get(url)
        assert grown.status_code == 200 and grown.headers["ETag"] != first.headers["ETag"]
        assert grown.headers["X-Map-Bounds"] != first.headers["X-Map-Bounds"]
    finally:
        accounts.leave_partnership(site.partnership, "E09000012")
    assert member.get(url).headers["X-Map-Bounds"] == first.headers["X-Map-Bounds"]
