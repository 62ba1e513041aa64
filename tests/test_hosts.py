"""Several hosts, as they will run: two app hosts (separate gunicorn masters on two loopback addresses, each
with its own data folder, no shared filesystem) in front of one PostgreSQL, one Redis (Debian's
``redis-server``, started here on a loopback port) and one S3 endpoint (moto's server on loopback: the real
S3 protocol, conditional puts included).

- what is published on one host is read on the other at once; an access change made on one is enforced by
  the other at once; a session made on one is accepted by the other, and signing out on one ends it on both;
- a new build published while both serve: both switch, with no 5xx and no answer mixing two builds;
- Redis down: pages and maps still served, what needs it answers 503 with Retry-After, recovery by itself;
  the same for the S3 endpoint (published data 503, census maps still served);
- a host killed mid-upload, and a build publisher killed mid-upload: nothing half-published (`atlas check`
  clean, the pointer where it was) and the other host keeps serving.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from city_support import (
    CAMDEN,
    ISLINGTON,
    PASSWORD,
    camden_csv,
    create_database,
    data_folder,
    environment,
    metadata,
    pg_admin,  # noqa: F401 - the fixture, registered in this module by its name
)

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "atlas-hosts"
OPEN_VALUES = f"/api/values/{CAMDEN}/lsoa11/ks102ew0002.json"
EXPORT = f"/export/map.png?authority={CAMDEN}&level=lsoa11&variable=ks102ew0002&dpi=96"
EDITOR, PARTNER = "admin@camden.gov.uk", "analyst@islington.gov.uk"  # EDITOR: an admin (changes access)
#: How long a test waits for something that should happen by itself (a host switching builds, a service
#: coming back): the assertion is that it happens, not how fast (bench/bench_hosts.py measures).
SETTLE = 60


def _free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _wait(what: str, check, timeout: float = SETTLE) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return
        except Exception as exc:  # noqa: BLE001 - not yet (refused connections, a server still starting)
            last = exc
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {timeout} s (last: {last!r})")


class Redis:
    """Debian's redis-server on a loopback port, saved to its own folder so a restart keeps the sessions."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed here: `apt-get install redis-server` (.ci/run does)"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        self.binary, self.folder, self.port = binary, folder, _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no", "--protected-mode", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis  # noqa: PLC0415

        _wait("redis-server answers", lambda: redis.Redis.from_url(self.url, socket_timeout=1).ping())

    def stop(self) -> None:
        """Save what it holds, then kill it (connections are refused until ``start``)."""
        import redis  # noqa: PLC0415

        redis.Redis.from_url(self.url, socket_timeout=5).save()
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


class S3:
    """moto's S3 server on a loopback port, in this process (stopped and started again with its objects)."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415

        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._server_type = ThreadedMotoServer
        self.server = None
        self.start()

    def start(self) -> None:
        self.server = self._server_type(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()

    def stop(self) -> None:
        self.server.stop()


@dataclass
class Host:
    name: str
    address: str
    folder: Path
    env: dict
    process: subprocess.Popen | None = None
    base: str = ""
    session: requests.Session = field(default_factory=requests.Session)

    def start(self) -> None:
        port = _free_port(self.address)
        self.base = f"http://{self.address}:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"{self.address}:{port}",
             "--workers", "1", "--threads", "4", "--access-logfile", "/dev/null"] + ["app:server"],
            cwd=ROOT, env=self.env, start_new_session=True)
        _wait(f"host {self.name} is ready", lambda: self.get("/readyz").status_code == 200, timeout=300)

    def kill(self) -> None:
        """SIGKILL the master and its workers at once: a host that dies, not one that is stopped."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.base + path, timeout=60, allow_redirects=False, **kw)


@dataclass
class Site:
    a: Host
    b: Host
    redis: Redis
    s3: S3
    env: dict  # what every host shares (database, Redis, storage, secret key)
    token: str  # the Camden editor's API token
    csv: bytes
    build: str  # the build both hosts serve at the start
    seed: Path  # a data folder with the session's build, for building a second one

    def upload(self, host: Host, title: str, level: str = "public", body: bytes | None = None) -> dict:
        got = requests.post(f"{host.base}/api/datasets", headers={"Authorization": f"Bearer {self.token}"},
                            timeout=120, files={"file": ("places.csv", body or self.csv, "text/csv"),
                                                "metadata": ("m.json", json.dumps(metadata(title, level)),
                                                             "application/json")})
        assert got.status_code == 201, got.text[:500]
        return got.json()

    def check(self, host: Host) -> subprocess.CompletedProcess:
        """`atlas check` as ``host`` would run it: versions against their objects, the stored builds."""
        return subprocess.run([sys.executable, "-m", "atlas", "check"], env=host.env, capture_output=True,
                              text=True, timeout=300, cwd=ROOT)


def _sign_in(host: Host, email: str) -> requests.Session:
    session = requests.Session()
    page = session.get(host.base + "/account/sign-in", timeout=60).text
    got = session.post(host.base + "/account/sign-in", timeout=60, allow_redirects=False,
                       data={"email": email, "password": PASSWORD, "csrf_token": _csrf_in(page)},
                       headers={"Referer": host.base + "/account/sign-in"})
    assert got.status_code == 302, got.text[:500]
    return session


def _cookies(session: requests.Session) -> dict:
    return {c.name: c.value for c in session.cookies}


def _csrf_in(page: str) -> str:
    found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    assert found, page[:500]
    return found.group(1)


@pytest.fixture(scope="module")
def site(data_dir: Path, pg_admin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:  # noqa: F811
    root = tmp_path_factory.mktemp("hosts")
    redis_server = Redis(root)
    s3 = S3()
    url = create_database(pg_admin)
    shared = {"ATLAS_DATABASE_URL": url, "ATLAS_REDIS_URL": redis_server.url,
              "ATLAS_STORAGE_URL": f"s3://{BUCKET}/site", "AWS_ENDPOINT_URL": s3.endpoint,
              "AWS_ACCESS_KEY_ID": "atlas-test", "AWS_SECRET_ACCESS_KEY": "atlas-test-secret",
              "AWS_REGION": "eu-west-2", "ATLAS_SECRET_KEY": "a shared key " + "x" * 40, "ATLAS_BUILD_POLL": "1",
              "ATLAS_TILES_URL": "", "ATLAS_EXPORT_POOL": "thread", "ATLAS_PULL_EVERY": "0",
              "ATLAS_COOKIE_SECURE": "0", "ATLAS_LOG_LEVEL": "WARNING"}
    seed = data_folder(data_dir, root / "seed")
    hosts: list[Host] = []
    mp = pytest.MonkeyPatch()
    try:
        for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
            mp.setenv(key, shared[key])
        import boto3  # noqa: PLC0415

        boto3.client("s3", region_name="eu-west-2").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        with environment(seed, url) as env_mp:
            env_mp.setenv("ATLAS_STORAGE_URL", shared["ATLAS_STORAGE_URL"])
            from atlas import accounts, builds, catalogue, storage  # noqa: PLC0415

            # The session's build, published as `python -m pipeline build --publish` would.
            builds.publish((seed / "current").resolve(), storage.S3Storage(shared["ATLAS_STORAGE_URL"]))
            s = catalogue.build(data_dir=seed)
            accounts.seed_authorities(s.authorities())
            accounts.add_user(EDITOR, org=CAMDEN, role="admin", password=PASSWORD)
            accounts.add_user(PARTNER, org=ISLINGTON, role="member", password=PASSWORD)
            accounts.add_partnership("North London schools", [CAMDEN, ISLINGTON], created_by=CAMDEN, accepted=True)
            token = accounts.add_token(EDITOR)
            csv = camden_csv(s.extracts)
            build_id = s.build_id
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
        for name, address in (("A", "127.0.0.1"), ("B", "127.0.0.2")):
            folder = root / name
            folder.mkdir()
            env = {**base_env, **shared, "PYTHONPATH": str(ROOT), "ATLAS_DATA_DIR": str(folder),
                   "ATLAS_CACHE_DIR": str(folder / "cache")}
            hosts.append(Host(name, address, folder, env))
        for host in hosts:
            host.start()
        yield Site(hosts[0], hosts[1], redis_server, s3, shared, token, csv, build_id, seed)
    finally:
        for host in hosts:
            host.stop()
        mp.undo()
        with contextlib.suppress(Exception):
            s3.stop()
        redis_server.close()


def test_hosts_serve_their_own_verified_copy_of_the_stored_build(site: Site) -> None:
    for host in (site.a, site.b):
        ready = host.get("/readyz").json()
        assert ready["ready"] and ready["checks"]["build"]["id"] == site.build, ready
        assert set(ready["checks"]) == {"build", "database", "redis", "storage"}
        assert (host.folder / "current" / "manifest.json").exists()
        assert not (host.folder / "current").resolve().is_relative_to(site.seed)  # fetched, not shared
        assert host.get("/api").json()["build"] == site.build
    # Health is the process; an unknown page is a real 404, not the app's page with 200.
    assert site.a.get("/healthz").json() == {"status": "ok"}
    missing = site.a.get("/no/such/page")
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert site.a.get("/").status_code == 200 and site.a.get("/embed").status_code == 200


def test_published_on_a_is_read_on_b_and_an_access_change_on_b_is_enforced_on_a(site: Site) -> None:
    out = site.upload(site.a, "Shared places")
    dataset, var = out["id"], out["variables"][0]
    # The very first read on B after A answered: the registry's generation is in the shared database, the
    # version's file in object storage (B fetches and checks it on this first read).
    got = site.b.get(f"/api/values/{CAMDEN}/lsoa11/{var}.json")
    assert got.status_code == 200, got.text[:300]
    codes = [line.split(",")[0] for line in site.csv.decode().splitlines()[1:]]
    assert [r["code"] for r in got.json()["rows"]] == sorted(codes)
    assert [r["value"] for r in got.json()["rows"]] == [float(i + 1) for i in
                                                        sorted(range(len(codes)), key=lambda i: codes[i])]
    changed = requests.post(f"{site.b.base}/api/datasets/{dataset}/access", timeout=60,
                            headers={"Authorization": f"Bearer {site.token}"}, json={"level": "organisation"})
    assert changed.status_code == 200, changed.text[:300]
    # The first anonymous read on A after B answered is refused, like a dataset that does not exist.
    assert site.a.get(f"/api/values/{CAMDEN}/lsoa11/{var}.json").status_code == 404
    assert site.a.get(f"/api/variables/{var}").status_code == 404


def test_a_session_made_on_a_is_accepted_on_b_and_signing_out_on_b_ends_it_on_a(site: Site) -> None:
    on_a = _sign_in(site.a, PARTNER)
    cookies = _cookies(on_a)
    assert site.a.get("/account", cookies=cookies).status_code == 200
    on_b = site.b.get("/account", cookies=cookies)
    assert on_b.status_code == 200 and PARTNER in on_b.text
    # The browser, now sent to B by the balancer, keeps what B sets (the form's CSRF secret in its cookie).
    page = site.b.get("/account", cookies=cookies)
    browser = {**cookies, **page.cookies.get_dict()}
    out = requests.post(site.b.base + "/account/sign-out", cookies=browser, timeout=60, allow_redirects=False,
                        data={"csrf_token": _csrf_in(page.text)}, headers={"Referer": site.b.base + "/account"})
    assert out.status_code == 302, out.text[:300]
    # The same cookie (a copy, as a thief would hold it) no longer signs anyone in, on either host.
    for host in (site.a, site.b):
        again = host.get("/account", cookies=cookies)
        assert again.status_code == 302 and "/account/sign-in" in again.headers["Location"]


def _second_build(site: Site, root: Path) -> Path:
    """The same files as the current build (hard links) under a new id: a rebuild whose inputs changed
    only in what build.json records."""
    old = (site.seed / "current").resolve()
    new_id = "29990101T000000-" + os.urandom(4).hex()
    target = root / new_id
    shutil.copytree(old, target, copy_function=os.link)
    meta = json.loads((old / "build.json").read_text())
    (target / "build.json").unlink()
    (target / "build.json").write_text(json.dumps({**meta, "id": new_id}))
    return target


def test_a_new_build_is_switched_to_by_both_hosts_with_no_error_and_no_mixed_answer(
        site: Site, tmp_path: Path) -> None:
    new = _second_build(site, tmp_path)
    seen: dict[str, list[str]] = {"A": [], "B": []}
    failures: list[str] = []
    stop = threading.Event()

    def read(host: Host) -> None:
        paths = ["/api", OPEN_VALUES, "/api/authorities", "/api/search?q=camden"]
        n = 0
        while not stop.is_set():
            path = paths[n % len(paths)]
            n += 1
            try:
                got = host.get(path)
            except requests.RequestException as exc:
                failures.append(f"{host.name} {path}: {exc}")
                continue
            if got.status_code >= 500:
                failures.append(f"{host.name} {path}: {got.status_code} {got.text[:200]}")
                continue
            # One answer, one build: every build id the body names is the same one.
            named = set(re.findall(r"\b\d{8}T\d{6}-[0-9a-f]{8}\b", got.text))
            if len(named) != 1:
                failures.append(f"{host.name} {path}: names builds {sorted(named)}")
            build = got.json().get("build")
            if build:
                seen[host.name].append(build)

    threads = [threading.Thread(target=read, args=(h,)) for h in (site.a, site.b)]
    for t in threads:
        t.start()
    try:
        from atlas import builds, storage  # noqa: PLC0415

        builds.publish(new, storage.S3Storage(site.env["ATLAS_STORAGE_URL"]))
        for host in (site.a, site.b):
            _wait(f"host {host.name} switches", lambda host=host: host.get("/api").json()["build"] == new.name)
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert failures == []
    for name, builds_seen in seen.items():
        assert set(builds_seen) <= {site.build, new.name}, name
        # Once a host answered from the new build it never answered from the old one again.
        first_new = builds_seen.index(new.name)
        assert site.build not in builds_seen[first_new:], name
    for host in (site.a, site.b):
        ready = host.get("/readyz").json()
        assert ready["ready"] and ready["checks"]["build"]["id"] == new.name
        # The unchanged files were shared with the build before, not fetched again.
        assert (host.folder / "current" / "catalogue.parquet").stat().st_nlink >= 2


def test_redis_down_serves_maps_refuses_what_needs_it_with_retry_after_and_recovers(site: Site) -> None:
    signed_in = _cookies(_sign_in(site.a, EDITOR))
    assert site.a.get("/account", cookies=signed_in).status_code == 200
    assert site.b.get(EXPORT).status_code == 200
    site.redis.stop()
    try:
        for host in (site.a, site.b):
            assert host.get("/").status_code == 200
            assert host.get(OPEN_VALUES).status_code == 200  # the cache is skipped, the answer computed
            assert host.get("/api/search?q=camden").status_code == 200
            for path, cookies in (("/account", signed_in), (EXPORT, None)):
                got = host.get(path, cookies=cookies)
                assert got.status_code == 503, (host.name, path, got.status_code, got.text[:300])
                assert int(got.headers["Retry-After"]) > 0 and "Traceback" not in got.text
            ready = host.get("/readyz")
            assert ready.status_code == 503 and not ready.json()["checks"]["redis"]["ok"]
    finally:
        site.redis.start()
    for host in (site.a, site.b):
        _wait(f"host {host.name} recovers", lambda host=host: host.get(EXPORT).status_code == 200
              and host.get("/account", cookies=signed_in).status_code == 200
              and host.get("/readyz").status_code == 200)


def test_storage_down_refuses_published_data_with_retry_after_serves_census_maps_and_recovers(site: Site) -> None:
    out = site.upload(site.a, "Stored places")
    var = out["variables"][0]
    path = f"/api/values/{CAMDEN}/lsoa11/{var}.json"
    site.s3.stop()
    try:
        got = site.b.get(path)  # B never had this version's file: it would have to fetch it
        assert got.status_code == 503 and int(got.headers["Retry-After"]) > 0, got.text[:300]
        assert "object storage" in got.json()["error"]
        assert site.a.get(path).status_code == 200  # A keeps the copy it wrote
        for host in (site.a, site.b):
            assert host.get(OPEN_VALUES).status_code == 200
            assert host.get("/").status_code == 200
            ready = host.get("/readyz")
            assert ready.status_code == 503 and not ready.json()["checks"]["storage"]["ok"]
    finally:
        site.s3.start()
    _wait("host B reads the published data again", lambda: site.b.get(path).status_code == 200)
    _wait("host B is ready again", lambda: site.b.get("/readyz").status_code == 200)


def test_killed_mid_upload_nothing_is_half_published_and_the_other_host_serves(site: Site, tmp_path: Path) -> None:
    from atlas import builds, storage  # noqa: PLC0415

    store = storage.S3Storage(site.env["ATLAS_STORAGE_URL"])
    pointer = store.get_pointer(builds.POINTER)
    # A build publisher killed after its third object: objects no manifest names, the pointer unmoved.
    third = _second_build(site, tmp_path)
    (third / "extra.bin").write_bytes(os.urandom(1 << 16))  # something the stored builds do not have
    script = (f"import os, sys\nsys.path.insert(0, {str(ROOT)!r})\nfrom pathlib import Path\n"
              "from atlas import builds, storage\n"
              f"store = storage.S3Storage({site.env['ATLAS_STORAGE_URL']!r})\n"
              "put, n = store.put, [0]\n"
              "def dying(key, data):\n    n[0] += 1\n    if n[0] > 1:\n        os._exit(9)\n    put(key, data)\n"
              f"store.put = dying\nbuilds.publish(Path({str(third)!r}), store)\n")
    done = subprocess.run([sys.executable, "-c", script], env={**site.a.env}, capture_output=True, timeout=300)
    assert done.returncode == 9, done.stderr.decode()[-2000:]
    assert store.get_pointer(builds.POINTER) == pointer

    # Host A killed while a dataset's upload is on the wire to it.
    before = site.b.get("/api/datasets").json()

    def slow_body() -> Iterator[bytes]:
        head = (b"--x\r\nContent-Disposition: form-data; name=\"metadata\"\r\n\r\n"
                + json.dumps(metadata("Never stored", "public")).encode()
                + b"\r\n--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.csv\"\r\n\r\n")
        yield head + site.csv[: len(site.csv) // 2]
        time.sleep(1.5)
        yield site.csv[len(site.csv) // 2:] + b"\r\n--x--\r\n"

    killer = threading.Timer(0.7, site.a.kill)
    killer.start()
    with contextlib.suppress(requests.RequestException):
        requests.post(f"{site.a.base}/api/datasets", data=slow_body(), timeout=30,
                      headers={"Authorization": f"Bearer {site.token}",
                               "Content-Type": "multipart/form-data; boundary=x"})
    killer.join()
    assert site.a.process.poll() is not None
    # B keeps serving, and nothing was half-published.
    assert site.b.get(OPEN_VALUES).status_code == 200
    assert site.b.get("/readyz").status_code == 200
    assert site.b.get("/api/datasets").json() == before
    checked = site.check(site.b)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    # The killed publisher's objects are reported once old enough, and swept.
    assert any(e.key.startswith(f"builds/{third.name}/") for e in store.list("builds/"))
    assert builds.check_stored(store, orphan_age=0) and builds.sweep_stored(store, older_than=0)
    assert builds.check_stored(store, orphan_age=0) == []
