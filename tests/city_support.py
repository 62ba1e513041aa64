"""The datastore's test world: a data folder beside the session's build, a database (SQLite, or PostgreSQL from a
private cluster or TEST_POSTGRES_URL), organisations, people, a partnership and datasets at every
access level, and HTTPS test clients signed in through the real sign-in form.

PostgreSQL: ``.ci/run`` installs and starts Debian's postgresql and exports TEST_POSTGRES_URL (an
account that may create databases); without it the tests start a private cluster with Debian's ``initdb``
(as the ``postgres`` user when run as root). Where neither is possible the PostgreSQL cases fail under CI
(``CI`` set) and are skipped with the reason elsewhere: never silently.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CAMDEN, ISLINGTON, HACKNEY, LEEDS, WESTMINSTER = "E09000007", "E09000019", "E09000012", "E08000035", "E09000033"
PASSWORD = "correct horse battery staple"
BASE = "https://localhost"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    return None


class Cluster:
    """A private PostgreSQL server on loopback, for the tests (started, stopped and restarted by them)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="atlas-pg-"))
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8")
        self.start()

    def _run(self, *args: Any) -> None:
        command = [str(a) for a in args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", self.data, "-w", "-t", "60", "-l", self.root / "log", "start", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                  "-c max_connections=200")

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", self.data, "-w", "-t", "60", "-m", "fast", "stop")

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_admin_url() -> tuple[str, Cluster | None]:
    """(an admin URL, the private cluster to close or None)."""
    given = os.environ.get("TEST_POSTGRES_URL")
    if given:
        return given, None
    if _pg_bin("initdb") is None or _pg_bin("pg_ctl") is None:
        message = ("PostgreSQL is not installed here (no initdb) and TEST_POSTGRES_URL is not set: "
                   "`apt-get install postgresql` (.ci/run does)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    cluster = Cluster()
    return cluster.admin_url, cluster


@pytest.fixture(scope="module")
def pg_admin() -> Iterator[str]:
    """An admin URL of PostgreSQL for a test module (postgres_admin_url), its private cluster closed after.
    A module imports it to have it (test_access_matrix.py, test_publishing.py)."""
    url, cluster = postgres_admin_url()
    yield url
    if cluster is not None:
        cluster.close()


def create_database(admin_url: str) -> str:
    import psycopg  # noqa: PLC0415

    name = "atlas_" + secrets.token_hex(6)
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}"')
    return re.sub(r"/[^/]*$", f"/{name}", admin_url)


def data_folder(build_data_dir: Path, root: Path) -> Path:
    """A data folder whose ``current`` is the session's build, with its own published/ and database."""
    root.mkdir(parents=True, exist_ok=True)
    build = (build_data_dir / "current").resolve()
    (root / "builds").mkdir()
    (root / "builds" / build.name).symlink_to(build)  # laid out as a real data folder (builds/<id>, current)
    (root / "current").symlink_to(Path("builds") / build.name)
    return root


# -- HTTP --------------------------------------------------------------------------------------------------------

class Client:
    """A test client over HTTPS (the session cookie is Secure), sending a same-site Referer like a browser."""

    def __init__(self, server: Any) -> None:
        self.raw = server.test_client()

    def get(self, url: str, **kw: Any) -> Any:
        return self.raw.get(url, base_url=BASE, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        headers = {"Referer": BASE + "/datastore", **kw.pop("headers", {})}
        return self.raw.post(url, base_url=BASE, headers=headers, **kw)

    def csrf(self, page: str) -> str:
        html = self.get(page).get_data(as_text=True)
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or \
            re.search(r'value="([^"]+)"[^>]*name="csrf_token"', html)
        assert found, html[:500]
        return found.group(1)

    def sign_in(self, email: str, password: str = PASSWORD) -> Any:
        token = self.csrf("/account/sign-in")
        return self.post("/account/sign-in", data={"email": email, "password": password, "csrf_token": token})


# -- the world ------------------------------------------------------------------------------------------------------

@dataclass
class World:
    data_dir: Path
    url: str
    server: Any
    users: dict[str, str] = field(default_factory=dict)  # role in the matrix -> e-mail
    datasets: dict[str, dict] = field(default_factory=dict)  # access level -> {id, var, title}
    clients: dict[str, Client] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)


#: Who may see which dataset: the expected matrix (users x access levels).
EXPECTED: dict[str, set[str]] = {
    "anonymous": {"public"},
    "outsider": {"public", "registered"},
    "owner_member": {"public", "registered", "organisation", "partnership", "shared_org"},
    "partner_member": {"public", "registered", "partnership"},
    "invited_not_accepted": {"public", "registered"},
    "nonpartner_member": {"public", "registered"},
    "shared_org_member": {"public", "registered", "shared_org"},
    "editor": {"public", "registered", "organisation", "partnership", "shared_org"},
    "admin": {"public", "registered", "organisation", "partnership", "shared_org"},
    "site_admin": {"public", "registered", "organisation", "partnership", "shared_org"},
}
DATASETS = ("public", "registered", "organisation", "partnership", "shared_org")


def camden_csv(store: Any, scale: float = 1.0, rows: int | None = None) -> bytes:
    idx = store.area_index("lsoa11")
    codes = idx[idx["authority"] == CAMDEN]["code"].tolist()[:rows]
    return ("code,value,name\n" + "\n".join(f"{c},{(i + 1) * scale:g},area {i}" for i, c in enumerate(codes))
            + "\n").encode()


def metadata(title: str, access_level: str, **extra: Any) -> dict:
    acc: dict[str, Any] = {"level": access_level}
    if access_level == "partnership":
        acc["partnerships"] = ["North London schools"]
    if access_level == "shared_org":
        acc = {"level": "partnership", "organisations": [WESTMINSTER]}
    return {"title": title, "level": "lsoa11", "code_column": "code",
            "columns": [{"name": "value", "label": f"{title} value", "unit": "count"}],
            "licence": "Open Government Licence v3.0 (https://www.nationalarchives.gov.uk/doc/open-government-licence/"
                       "version/3/)", "source": "London Borough of Camden, school places system",
            "as_of": "2024-03-31", "access": acc, "description": f"{title}: a test dataset", **extra}


def build_world(server: Any, data_dir: Path, url: str) -> World:
    from atlas import accounts, catalogue, publish  # noqa: PLC0415

    s = catalogue.build()
    accounts.seed_authorities(s.authorities())
    users = {
        "outsider": ("outsider@example.org", None, "member"),
        "owner_member": ("member@camden.gov.uk", CAMDEN, "member"),
        "partner_member": ("analyst@islington.gov.uk", ISLINGTON, "member"),
        "invited_not_accepted": ("analyst@hackney.gov.uk", HACKNEY, "member"),
        "nonpartner_member": ("analyst@leeds.gov.uk", LEEDS, "member"),
        "shared_org_member": ("analyst@westminster.gov.uk", WESTMINSTER, "member"),
        "editor": ("editor@camden.gov.uk", CAMDEN, "editor"),
        "admin": ("admin@camden.gov.uk", CAMDEN, "admin"),
        "site_admin": ("root@atlas.example", None, "member"),
    }
    world = World(data_dir=data_dir, url=url, server=server)
    for role, (email, org, r) in users.items():
        accounts.add_user(email, org=org, role=r, password=PASSWORD, site_admin=role == "site_admin")
        world.users[role] = email
    pid = accounts.add_partnership("North London schools", [CAMDEN, ISLINGTON], created_by=CAMDEN, accepted=True)
    accounts.invite_to_partnership(pid, HACKNEY)  # invited, never accepted: sees nothing shared
    editor = accounts.actor_for(accounts.check_password(users["editor"][0], PASSWORD))
    for level in DATASETS:
        title = f"Zebra {level.replace('_', ' ')} places"
        meta = publish.parse_metadata(metadata(title, level))
        out = publish.publish_dataset(editor, meta, camden_csv(s), "places.csv", s.extracts, via="api")
        world.datasets[level] = {"id": out["id"], "var": out["variables"][0], "title": title, "key": f"ds{out['id']}"}
    world.clients["anonymous"] = Client(server)
    for role, email in world.users.items():
        client = Client(server)
        response = client.sign_in(email)
        assert response.status_code == 302, (role, response.status_code, response.get_data(as_text=True)[:300])
        world.clients[role] = client
    return world


@contextlib.contextmanager
def environment(data_dir: Path, url: str | None) -> Iterator[pytest.MonkeyPatch]:
    """The app's settings pointed at ``data_dir`` (and a PostgreSQL URL)."""
    from atlas import db, renderpool  # noqa: PLC0415

    mp = pytest.MonkeyPatch()
    mp.setenv("ATLAS_DATA_DIR", str(data_dir))
    mp.setenv("ATLAS_TILES_URL", "")
    mp.setenv("ATLAS_CACHE_TYPE", "SimpleCache")
    mp.setenv("ATLAS_EXPORT_POOL", "thread")
    mp.setenv("ATLAS_EXPORT_RATE_LIMIT", "")
    mp.setenv("ATLAS_PULL_EVERY", "0")
    if url:
        mp.setenv("ATLAS_DATABASE_URL", url)
    else:
        mp.delenv("ATLAS_DATABASE_URL", raising=False)
    db.reset()
    renderpool.reset_pool()
    try:
        yield mp
    finally:
        mp.undo()
        db.reset()
        renderpool.reset_pool()
