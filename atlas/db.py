"""The datastore's own records: accounts, organisations, partnerships, published datasets and their versions,
API tokens, follows, live-feed state and the audit log. SQLAlchemy 2 over SQLite (by default, in
ATLAS_DATA_DIR/atlas.db: nothing to install) or PostgreSQL (``ATLAS_DATABASE_URL``), with Alembic migrations
(atlas/migrations). DuckDB never sees these tables: the published values themselves are Parquet files
beside the builds, read by atlas/catalogue.py.

- ``engine()`` is opened per process (after gunicorn's fork) and per database URL, with ``pool_pre_ping``
  so a restarted database server costs the requests made while it is down (they fail with
  ``Unavailable``, which the web layer answers 503) and nothing after.
- ``ensure_schema()`` runs the migrations to the newest, once per process, holding an exclusive lock
  (an ``flock`` on ATLAS_DATA_DIR/.db.lock; with PostgreSQL also an advisory lock, for several hosts), so two
  workers starting together never migrate twice.
- ``secret_key()``: ATLAS_SECRET_KEY, or a key generated once and kept in ATLAS_DATA_DIR/secret_key.
- ``generation``: every change that alters what someone may see (a publish, a new version, an access change,
  a membership or partnership change) increments ``registry_state.generation`` in its own transaction, so
  every worker notices it with one cheap read (atlas/registry.py).
- The audit log is append-only: the ORM refuses updates and deletes of its rows, and a trigger in the
  database (SQLite and PostgreSQL alike) refuses them from anywhere else.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, orm
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from atlas import settings

__all__ = [
    "ROLES", "AuditEntry", "Base", "Dataset", "DatasetShare", "Follow", "Invitation", "Membership",
    "Organisation", "Partnership", "PartnershipMember", "PullState", "RegistryState", "SavedArea", "Token",
    "Unavailable", "User", "UserSession", "Variable",
    "Version", "bump", "database_url", "engine", "ensure_schema", "exists", "now", "reset", "secret_key", "session",
]

ROLES = ("admin", "editor", "member")
ACCESS_LEVELS = ("public", "registered", "organisation", "partnership")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Unavailable(RuntimeError):
    """The database cannot be reached (or failed mid-request): answered 503, never a traceback."""


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # stored naive, always UTC


class Base(DeclarativeBase):
    pass


class Organisation(Base):
    __tablename__ = "organisation"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    #: The local authority (Dec 2021 code) an organisation is, when it is one; its datasets default to it.
    authority: Mapped[str | None] = mapped_column(sa.String(12), nullable=True)
    created: Mapped[datetime] = mapped_column(default=now)


class User(Base):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    oidc_issuer: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    oidc_subject: Mapped[str | None] = mapped_column(sa.String(300), nullable=True)
    site_admin: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    #: The secret in the address of this user's private Atom feed (their follows); replaced on request.
    feed_secret: Mapped[str] = mapped_column(sa.String(64), default=lambda: secrets.token_urlsafe(24), unique=True)
    #: Changed to sign the user out everywhere (the session cookie carries it).
    session_nonce: Mapped[str] = mapped_column(sa.String(32), default=lambda: secrets.token_hex(8))
    created: Mapped[datetime] = mapped_column(default=now)
    memberships: Mapped[list[Membership]] = relationship(back_populates="user", cascade="all, delete-orphan")
    __table_args__ = (sa.UniqueConstraint("oidc_issuer", "oidc_subject"),)


class Membership(Base):
    __tablename__ = "membership"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(sa.String(10))
    user: Mapped[User] = relationship(back_populates="memberships")
    org: Mapped[Organisation] = relationship()


class Partnership(Base):
    __tablename__ = "partnership"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_org: Mapped[int | None] = mapped_column(sa.ForeignKey("organisation.id", ondelete="SET NULL"),
                                                       nullable=True)
    created: Mapped[datetime] = mapped_column(default=now)
    members: Mapped[list[PartnershipMember]] = relationship(cascade="all, delete-orphan")


class PartnershipMember(Base):
    __tablename__ = "partnership_member"
    partnership_id: Mapped[int] = mapped_column(sa.ForeignKey("partnership.id", ondelete="CASCADE"),
                                                primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id", ondelete="CASCADE"), primary_key=True)
    #: ``invited`` until the organisation's admin accepts; only ``accepted`` members see shared data.
    status: Mapped[str] = mapped_column(sa.String(10), default="invited")
    org: Mapped[Organisation] = relationship()


class Dataset(Base):
    __tablename__ = "dataset"
    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(sa.String(300))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    topic: Mapped[str] = mapped_column(sa.String(100), default="Published by councils")
    level: Mapped[str] = mapped_column(sa.String(10))
    code_column: Mapped[str] = mapped_column(sa.String(200))
    source: Mapped[str] = mapped_column(sa.Text)
    licence: Mapped[str] = mapped_column(sa.Text)
    access: Mapped[str] = mapped_column(sa.String(12), default="organisation")
    #: Days after its as-of date when the dataset is stale (a newer version was expected); null: never.
    update_days: Mapped[int | None] = mapped_column(nullable=True)
    #: A live feed: a CSV address pulled every ``pull_minutes`` minutes (null: pushed or uploaded only).
    pull_url: Mapped[str | None] = mapped_column(sa.String(2000), nullable=True)
    pull_minutes: Mapped[int | None] = mapped_column(nullable=True)
    current_version_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("version.id", use_alter=True, name="fk_dataset_current_version", ondelete="SET NULL"),
        nullable=True)
    created: Mapped[datetime] = mapped_column(default=now)
    updated: Mapped[datetime] = mapped_column(default=now)
    org: Mapped[Organisation] = relationship()
    shares: Mapped[list[DatasetShare]] = relationship(cascade="all, delete-orphan")
    variables: Mapped[list[Variable]] = relationship(cascade="all, delete-orphan", order_by="Variable.position")
    versions: Mapped[list[Version]] = relationship(cascade="all, delete-orphan", order_by="Version.number",
                                                   foreign_keys="Version.dataset_id")


class DatasetShare(Base):
    """A partnership or an organisation a dataset at access ``partnership`` is shared with."""

    __tablename__ = "dataset_share"
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(sa.ForeignKey("dataset.id", ondelete="CASCADE"))
    partnership_id: Mapped[int | None] = mapped_column(sa.ForeignKey("partnership.id", ondelete="CASCADE"),
                                                       nullable=True)
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisation.id", ondelete="CASCADE"), nullable=True)


class Variable(Base):
    __tablename__ = "variable"
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(sa.ForeignKey("dataset.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(default=0)
    #: The catalogue id the map, the API and the downloads use (``ds<dataset>_<column>``): never reused.
    var_id: Mapped[str] = mapped_column(sa.String(80), unique=True)
    column: Mapped[str] = mapped_column(sa.String(200))
    label: Mapped[str] = mapped_column(sa.String(300))
    unit: Mapped[str] = mapped_column(sa.String(40), default="")
    denominator: Mapped[str] = mapped_column(sa.String(200), default="")
    polarity: Mapped[str] = mapped_column(sa.String(200), default="")
    decimals: Mapped[int | None] = mapped_column(nullable=True)


class Version(Base):
    __tablename__ = "version"
    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(sa.ForeignKey("dataset.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column()
    as_of: Mapped[str] = mapped_column(sa.String(10))  # ISO date
    #: Relative to ATLAS_DATA_DIR/published; written (and fsynced) before this row is committed.
    file: Mapped[str] = mapped_column(sa.String(300))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    #: The authorities the version covers, a JSON list (null for a version made before migration 0004 whose
    #: file was not at hand then: read from the file).
    authorities: Mapped[str | None] = mapped_column(sa.Text, nullable=True, default=None)
    rows: Mapped[int] = mapped_column()
    via: Mapped[str] = mapped_column(sa.String(10))  # upload | api | pull | restore
    note: Mapped[str] = mapped_column(sa.Text, default="")
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="SET NULL"),
                                                   nullable=True)
    created: Mapped[datetime] = mapped_column(default=now)
    __table_args__ = (sa.UniqueConstraint("dataset_id", "number"),)


class Token(Base):
    """An API token: only its SHA-256 is stored; the token itself is shown once, when it is made."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(12))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    created: Mapped[datetime] = mapped_column(default=now)
    expires: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used: Mapped[datetime | None] = mapped_column(nullable=True)
    user: Mapped[User] = relationship()


class UserSession(Base):
    """A signed-in browser session, kept on the server (atlas/sessions.py): the cookie holds only a random
    secret, this row its SHA-256. Signing out ends it; "sign out everywhere" and a password change end all of
    the user's; it ends by itself after ATLAS_SESSION_IDLE_MINUTES unused or ATLAS_SESSION_MAX_HOURS."""

    __tablename__ = "user_session"
    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)  # SHA-256 of the cookie's secret
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    created: Mapped[datetime] = mapped_column(default=now)
    last_seen: Mapped[datetime] = mapped_column(default=now)
    expires: Mapped[datetime] = mapped_column()
    ended: Mapped[datetime | None] = mapped_column(nullable=True)
    how: Mapped[str] = mapped_column(sa.String(300), default="")
    address: Mapped[str] = mapped_column(sa.String(64), default="")


class Invitation(Base):
    """A one-time, expiring link: to join an organisation (``invite``, made by its admin) or to set a new
    password (``reset``). Only the SHA-256 of the link's secret is stored."""

    __tablename__ = "invitation"
    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(10))  # invite | reset
    email: Mapped[str] = mapped_column(sa.String(320))
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisation.id", ondelete="CASCADE"), nullable=True)
    role: Mapped[str] = mapped_column(sa.String(10), default="member")
    created_by: Mapped[int | None] = mapped_column(nullable=True)
    created: Mapped[datetime] = mapped_column(default=now)
    expires: Mapped[datetime] = mapped_column()
    used: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked: Mapped[datetime | None] = mapped_column(nullable=True)
    org: Mapped[Organisation | None] = relationship()


class Follow(Base):
    __tablename__ = "follow"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10), primary_key=True)  # dataset | authority
    target: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    created: Mapped[datetime] = mapped_column(default=now)


class PullState(Base):
    __tablename__ = "pull_state"
    dataset_id: Mapped[int] = mapped_column(sa.ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(default=now)
    last_attempt: Mapped[datetime | None] = mapped_column(nullable=True)
    last_success: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    failures: Mapped[int] = mapped_column(default=0)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=now)
    user_id: Mapped[int | None] = mapped_column(nullable=True)  # no foreign key: the log outlives accounts
    email: Mapped[str] = mapped_column(sa.String(320), default="")
    org_id: Mapped[int | None] = mapped_column(nullable=True)
    dataset_id: Mapped[int | None] = mapped_column(nullable=True)
    action: Mapped[str] = mapped_column(sa.String(40))
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    address: Mapped[str] = mapped_column(sa.String(64), default="")


class SavedArea(Base):
    """A person's own area (issue 22): a set of small areas of one level, opened as a place by code
    ``A<id>`` by whoever ``access`` allows (atlas/areas.py)."""

    __tablename__ = "saved_area"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    level: Mapped[str] = mapped_column(sa.String(10))
    #: The areas' codes, space-separated, in code order.
    codes: Mapped[str] = mapped_column(sa.Text)
    #: How it was made (codes | polygon | radius) and what was given (the polygon, or centre and radius), JSON.
    how: Mapped[str] = mapped_column(sa.String(10), default="codes")
    definition: Mapped[str] = mapped_column(sa.Text, default="")
    access: Mapped[str] = mapped_column(sa.String(12), default="private")
    org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisation.id", ondelete="CASCADE"), nullable=True)
    partnership_id: Mapped[int | None] = mapped_column(sa.ForeignKey("partnership.id", ondelete="CASCADE"),
                                                       nullable=True)
    created: Mapped[datetime] = mapped_column(default=now)


class RegistryState(Base):
    __tablename__ = "registry_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    generation: Mapped[int] = mapped_column(default=0)


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _append_only(mapper: Any, connection: Any, target: AuditEntry) -> None:
    raise PermissionError("the audit log is append-only")


# -- connection -------------------------------------------------------------------------------------------

_engines: dict[tuple[int, str], sa.Engine] = {}
_makers: dict[tuple[int, str], orm.sessionmaker] = {}
_ready: set[tuple[int, str]] = set()
_lock = threading.Lock()


def database_url(config: settings.Settings | None = None, data_dir: Path | None = None) -> str:
    """ATLAS_DATABASE_URL, or SQLite in the data folder (``data_dir``, by default ATLAS_DATA_DIR)."""
    config = config or settings.load()
    return config.database_url or f"sqlite:///{(data_dir or config.data_dir) / 'atlas.db'}"


def exists(url: str) -> bool:
    """False only for a default SQLite file not made yet (a data folder nobody has published into)."""
    return not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).exists()


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")  # readers never wait for a publishing writer
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.close()


def engine(url: str | None = None) -> sa.Engine:
    """This process's engine for ``url`` (default: the settings'), opened on first use, so after a fork."""
    url = url or database_url()
    key = (os.getpid(), url)
    found = _engines.get(key)
    if found is None:
        with _lock:
            found = _engines.get(key)
            if found is None:
                if url.startswith("sqlite"):
                    found = sa.create_engine(url, connect_args={"timeout": 10, "check_same_thread": False})
                    event.listen(found, "connect", _sqlite_pragmas)
                else:
                    found = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                                             pool_timeout=5, connect_args={"connect_timeout": 5})
                _engines[key] = found
                _makers[key] = orm.sessionmaker(found, expire_on_commit=False)
    return found


def reset() -> None:
    """Forget this process's engines (tests switch databases)."""
    with _lock:
        for key, eng in list(_engines.items()):
            if key[0] == os.getpid():
                eng.dispose()
        _engines.clear()
        _makers.clear()
        _ready.clear()


@contextlib.contextmanager
def session(url: str | None = None) -> Iterator[orm.Session]:
    """A session committed on success and rolled back on any error; database failures raise Unavailable."""
    url = url or database_url()
    ensure_schema(url)
    engine(url)
    maker = _makers[(os.getpid(), url)]
    with maker() as s:
        try:
            yield s
            s.commit()
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            s.rollback()
            raise Unavailable(f"the datastore's database is unavailable: {exc.__class__.__name__}") from exc
        except BaseException:
            s.rollback()
            raise


def bump(s: orm.Session) -> None:
    """Tell every worker that what people may see has changed (in the caller's transaction)."""
    s.execute(sa.update(RegistryState).where(RegistryState.id == 1)
              .values(generation=RegistryState.generation + 1))


def _alembic_config(url: str) -> Any:
    from alembic.config import Config  # noqa: PLC0415 - only when migrating

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


#: The newest migration's revision (atlas/migrations/versions): a database already there is used without
#: importing Alembic (and Mako), 9 MB a web worker would otherwise hold for a check (tests/test_db.py keeps
#: this equal to Alembic's head).
HEAD = "0004"


def _at_head(url: str) -> bool:
    """Whether the database's Alembic revision is ``HEAD``: one read, no Alembic. False when it has no
    revision table yet (a new database) or cannot be read (then the migration says why)."""
    try:
        with engine(url).connect() as con:
            return con.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
    except sa.exc.SQLAlchemyError:
        return False


def ensure_schema(url: str | None = None) -> None:
    """Migrate the database to the newest revision, once per process and URL (under a lock); a database
    already at ``HEAD`` is left as it is."""
    url = url or database_url()
    key = (os.getpid(), url)
    if key in _ready:
        return
    if _at_head(url):
        _ready.add(key)
        return
    from alembic import command  # noqa: PLC0415

    lock_dir = (Path(url.removeprefix("sqlite:///")).parent if url.startswith("sqlite:///")
                else settings.load().data_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    try:
        with open(lock_dir / ".db.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                eng = engine(url)
                with eng.begin() as con:
                    if eng.dialect.name == "postgresql":
                        con.execute(sa.text("SELECT pg_advisory_xact_lock(4711)"))
                    cfg = _alembic_config(url)
                    cfg.attributes["connection"] = con
                    command.upgrade(cfg, "head")
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise Unavailable(f"the datastore's database is unavailable: {exc.__class__.__name__}") from exc
    _ready.add(key)


def secret_key(config: settings.Settings | None = None) -> str:
    """ATLAS_SECRET_KEY, or the key generated the first time and kept in ATLAS_DATA_DIR/secret_key (0600)."""
    config = config or settings.load()
    if config.secret_key:
        return config.secret_key
    path = config.data_dir / "secret_key"
    try:
        if not path.exists():
            config.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".secret_key.{os.getpid()}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
            try:
                os.link(tmp, path)  # fails if another process made it first: theirs is kept
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip()
    except OSError as exc:
        # A data folder mounted read-only, or owned by another user (a container's volume): say what to change
        # rather than let every worker die on a traceback.
        raise unwritable_data_dir(config, exc) from None


def require_writable_data_dir(config: settings.Settings | None = None) -> None:
    """Stop with ``unwritable_data_dir``'s message unless this user can create files in ATLAS_DATA_DIR.

    gunicorn's master calls it before it starts a worker (gunicorn.conf.py): a worker that stopped on the
    folder instead would be started again for ever, each one importing the app only to stop."""
    config = config or settings.load()
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=config.data_dir):
            pass
    except OSError as exc:
        raise unwritable_data_dir(config, exc) from None


def unwritable_data_dir(config: settings.Settings, exc: OSError) -> SystemExit:
    """The one message for a data folder this process cannot write: the folder, the user, why, what to do."""
    import pwd  # noqa: PLC0415

    uid = os.getuid()
    try:
        user = f"{pwd.getpwuid(uid).pw_name}, uid {uid}"
    except KeyError:  # a container run with --user <uid> that has no account
        user = f"uid {uid}"
    return SystemExit(
        f"ATLAS_DATA_DIR={config.data_dir} must be writable by the user the app runs as ({user}), and is not "
        f"({exc.strerror or exc}): it keeps the secret key there, the database (SQLite), fetched builds and "
        f"published files. Make that folder theirs (chown {uid} on the host or the volume; not read-only), or "
        "point ATLAS_DATA_DIR at a folder they can write.")
