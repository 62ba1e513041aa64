"""Every setting of Neighbourhood Atlas, in one declarative table.

Each setting is read from an ``ATLAS_*`` environment variable, has a default and help text, and is
validated when it is first read (at start-up of the app, the pipeline and the tests), with a message
that names the bad variable. The README's settings table is checked against ``SETTINGS`` by a test.

This module imports nothing of the project: everything else may import it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["SETTINGS", "Setting", "Settings", "SettingsError", "load"]

PROJECT_DIR = Path(__file__).resolve().parent.parent  # atlas/ sits in the project folder


class SettingsError(ValueError):
    """A setting's value is not valid; the message names the variable."""


def _path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (PROJECT_DIR / path).resolve()


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def _url_or_empty(value: str) -> str:
    if value and urlparse(value.replace("{", "").replace("}", "")).scheme not in ("http", "https"):
        raise ValueError("must be an http(s) URL or empty")
    return value


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive whole number")
    return number


def _int_range(lo: int, hi: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = int(value)
        if not lo <= number <= hi:
            raise ValueError(f"must be a whole number from {lo:,} to {hi:,}")
        return number

    return parse


def _origin_or_empty(value: str) -> str:
    """A site's public origin (scheme, host and port, optionally a path prefix), without a trailing slash."""
    if not value:
        return ""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
        raise ValueError("must be an http(s) address such as https://atlas.example.gov.uk, or empty")
    return value.rstrip("/")


def _hosts(value: str) -> tuple[str, ...]:
    hosts = tuple(v.lower() for v in value.split() if v)
    for host in hosts:
        if "/" in host or "@" in host:
            raise ValueError(f"{host!r} is not a host name such as atlas.example.gov.uk or .example.gov.uk")
    return hosts


def _database_url(value: str) -> str:
    """Empty (SQLite in ATLAS_DATA_DIR), or an SQLAlchemy URL of SQLite or PostgreSQL."""
    if value and not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
        raise ValueError("must be empty, sqlite:///path or postgresql+psycopg://user:password@host/database")
    return value


def _storage_url(value: str) -> str:
    """Empty (ATLAS_DATA_DIR), or s3://bucket/prefix."""
    if not value:
        return ""
    parsed = urlparse(value)
    if parsed.scheme != "s3" or not parsed.netloc or parsed.query or parsed.fragment:
        raise ValueError("must be empty or s3://bucket/prefix (an S3-compatible store named by AWS_ENDPOINT_URL)")
    return value.rstrip("/")


def _redis_url_or_empty(value: str) -> str:
    if value and urlparse(value).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must be empty or a Redis URL such as redis://127.0.0.1:6379/0")
    return value


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be 1 or 0")


def _issuers(value: str) -> tuple[str, ...]:
    issuers = tuple(v.rstrip("/") for v in value.split() if v)
    for issuer in issuers:
        parsed = urlparse(issuer)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"{issuer!r} is not an issuer URL such as "
                             "https://login.microsoftonline.com/<tenant>/v2.0")
    return issuers


def _rate_limit(value: str) -> str:
    """A flask-limiter limit string ("12 per minute; 200 per day"), or empty for no limit."""
    if value.strip():
        from limits import parse_many  # noqa: PLC0415 - only to validate the text

        parse_many(value)
    return value.strip()


def _networks(value: str) -> tuple[str, ...]:
    """Host names and IP networks (``feeds.internal 10.20.0.0/16 fd00::/8``), checked here, parsed by
    atlas/netguard.py."""
    import ipaddress  # noqa: PLC0415

    items = tuple(v.lower() for v in value.replace(",", " ").split() if v)
    for item in items:
        if "/" in item or item.replace(".", "").isdigit() or ":" in item:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is neither a host name nor an IP network such as 10.20.0.0/16") from None
        elif not all(c.isalnum() or c in "-._" for c in item):
            raise ValueError(f"{item!r} is not a host name such as feeds.council.internal")
    return items


def _origins(value: str) -> tuple[str, ...]:
    origins = tuple(v for v in value.split() if v)
    for origin in origins:
        if origin not in ("*", "'self'") and urlparse(origin).scheme not in ("http", "https"):
            raise ValueError(f"{origin!r} is not an origin such as https://www.example.gov.uk or *")
    return origins


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    parse: Callable[[str], object] = str


SETTINGS: tuple[Setting, ...] = (
    Setting("ATLAS_RAW_DIR", "../shared/data",
            "Folder of the publishers' raw files, laid out as in the fetch manifest. Relative paths are "
            "taken from the project folder.", _path),
    Setting("ATLAS_DATA_DIR", "data",
            "Folder of built extracts: `python -m pipeline build` writes here, the app reads from here.",
            _path),
    Setting("ATLAS_KEEP_BUILDS", "3",
            "How many complete builds `python -m pipeline build` keeps in ATLAS_DATA_DIR/builds (the newest; a "
            "build that a running process still reads is never removed).", _positive_int),
    Setting("ATLAS_FETCH_MIRROR", "",
            "Base URL of a mirror laid out like ATLAS_RAW_DIR; when set, `pipeline fetch` downloads from "
            "it instead of each file's source address.", _url_or_empty),
    Setting("ATLAS_CACHE_TYPE", "SimpleCache",
            "flask-caching backend for classified results when ATLAS_REDIS_URL is empty: SimpleCache (each "
            "worker's memory), FileSystemCache (shared by the workers of one host) or NullCache (none). With "
            "ATLAS_REDIS_URL set, results are cached in Redis whatever this says.",
            _choice("SimpleCache", "FileSystemCache", "NullCache")),
    Setting("ATLAS_CACHE_DIR", "/tmp/atlas-cache", "Folder used when ATLAS_CACHE_TYPE is FileSystemCache (and "
            "for built datapacks).", _path),
    Setting("ATLAS_CACHE_TIMEOUT", "3600", "Seconds a cached result is kept.", _positive_int),
    Setting("ATLAS_TILES_URL", "",
            "Basemap tile URL template ({z}/{x}/{y}); empty for no basemap (the map is complete without it).",
            _url_or_empty),
    Setting("ATLAS_TILES_ATTRIBUTION", "",
            "Attribution shown for the basemap tiles (required by most tile providers).", str),
    Setting("ATLAS_EMBED_ORIGINS", "*",
            "Space-separated origins allowed to frame the /embed page (* for any).", _origins),
    Setting("ATLAS_PUBLIC_URL", "",
            "The site's public address (e.g. https://atlas.example.gov.uk), used for links the server writes for "
            "other sites (the embed snippet). Empty: the address the request came to, only when its host is in "
            "ATLAS_ALLOWED_HOSTS.", _origin_or_empty),
    Setting("ATLAS_ALLOWED_HOSTS", "localhost 127.0.0.1 [::1]",
            "Space-separated host names (a leading dot allows subdomains) whose Host header may be trusted to "
            "write links when ATLAS_PUBLIC_URL is empty.", _hosts),
    Setting("ATLAS_MAX_BODY_BYTES", "1048576",
            "Largest request body accepted, in bytes; a larger one is answered 413.", _int_range(1024, 100_000_000)),
    Setting("ATLAS_EXPORT_POOL", "process",
            "Where map images are drawn, and files with geometry (GeoPackage, GeoJSON, GeoParquet, datapacks) and PDF "
            "reports written: process (a pool of processes per worker, started by forkserver; the worker never imports "
            "geopandas, fpdf2 or matplotlib) or thread (threads of the worker itself).", _choice("process", "thread")),
    Setting("ATLAS_CLASSIFIER", "host",
            "Where mapclassify computes breaks under gunicorn: host (one classification process per host, started "
            "by the master; workers never import mapclassify, about 230 MB less each) or worker (in each worker).",
            _choice("host", "worker")),
    Setting("ATLAS_EXPORT_WORKERS", "1",
            "Map images drawn (or files with geometry written) at once per gunicorn worker.", _int_range(1, 16)),
    Setting("ATLAS_EXPORT_QUEUE", "1",
            "Map images or files with geometry that may wait per gunicorn worker while the others are made; beyond "
            "that the request is answered 503 with Retry-After.", _int_range(0, 64)),
    Setting("ATLAS_EXPORT_TIMEOUT", "30",
            "Seconds a request waits for its image or file with geometry before it is answered 503 (a datapack "
            "waits up to 600).", _int_range(1, 600)),
    Setting("ATLAS_EXPORT_TASKS_PER_CHILD", "1",
            "Images or files a pool process makes before it is replaced by a fresh one from the fork server "
            "(returns its memory; 1: a pool holds nothing between tasks).",
            _int_range(1, 10_000)),
    Setting("ATLAS_EXPORT_MAX_PIXELS", "36000000",
            "Most pixels (width x height) an exported image may have: A4 at 600 dpi is 34.8 million.",
            _int_range(40_000, 100_000_000)),
    Setting("ATLAS_EXPORT_RATE_LIMIT", "20 per minute; 300 per hour",
            "Exports one client (IP address) may ask for, as flask-limiter limits; empty for none. Counted in "
            "Redis when ATLAS_REDIS_URL is set (every host), else in each worker's memory.", _rate_limit),
    Setting("ATLAS_DATABASE_URL", "",
            "Where accounts, organisations, partnerships, dataset metadata, tokens, follows and the audit log are "
            "kept: empty for SQLite in ATLAS_DATA_DIR/atlas.db (nothing to install), or a PostgreSQL URL "
            "(postgresql+psycopg://user:password@host/database) for several hosts.", _database_url),
    Setting("ATLAS_STORAGE_URL", "",
            "Where what must outlive a host is kept (published versions, builds): empty for ATLAS_DATA_DIR itself "
            "(one host), or s3://bucket/prefix for any S3-compatible object store (AWS, MinIO...), configured by "
            "the standard AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION variables. "
            "Each host then keeps checked local copies in ATLAS_DATA_DIR.", _storage_url),
    Setting("ATLAS_BUILD_POLL", "10",
            "Seconds between a host's checks of object storage for a newer build (with ATLAS_STORAGE_URL set): a "
            "build published by `python -m pipeline build --publish` is fetched, checked and switched to; 0 "
            "checks only at start.", _int_range(0, 86_400)),
    Setting("ATLAS_REDIS_URL", "",
            "Redis shared by every host (redis://host:6379/0): cached results, rate limits (exports, sign-in), "
            "sessions and the exported-image cache. Empty: each worker's memory (sessions in the database).",
            _redis_url_or_empty),
    Setting("ATLAS_DUCKDB_MEMORY_MB", "160",
            "Memory DuckDB may use per worker process, in MB (its buffer of decompressed Parquet); a query needing "
            "more spills to the temporary folder.", _int_range(32, 65_536)),
    Setting("ATLAS_SECRET_KEY", "",
            "Key signing sessions and forms. Empty: one is generated once and kept in ATLAS_DATA_DIR/secret_key "
            "(set the same key on every host when several serve the site).", str),
    Setting("ATLAS_COOKIE_SECURE", "1",
            "Send the session cookie over HTTPS only (1); 0 only for trying the site over plain HTTP on a "
            "machine other than localhost.", _flag),
    Setting("ATLAS_OIDC_ISSUERS", "",
            "Space-separated OpenID Connect issuers whose sign-ins are accepted (e.g. a council's Microsoft "
            "Entra ID tenant, https://login.microsoftonline.com/<tenant>/v2.0); empty: local passwords only.",
            _issuers),
    Setting("ATLAS_OIDC_CLIENT_ID", "", "The client id this site is registered with at the OIDC issuers.", str),
    Setting("ATLAS_OIDC_CLIENT_SECRET", "", "The client secret that goes with ATLAS_OIDC_CLIENT_ID.", str),
    Setting("ATLAS_UPLOAD_MAX_BYTES", "20971520",
            "Largest upload accepted by the publishing routes (the browser form and POST /api/datasets), in "
            "bytes; only those routes accept more than ATLAS_MAX_BODY_BYTES.", _int_range(1024, 1_000_000_000)),
    Setting("ATLAS_UPLOAD_MAX_ROWS", "200000",
            "Most rows an uploaded table may have (one row per area: England and Wales have 181,408 OAs).",
            _int_range(1, 10_000_000)),
    Setting("ATLAS_PULL_EVERY", "60",
            "Seconds between checks for live feeds (CSV URLs) due to be pulled, in each gunicorn worker; 0 "
            "turns the in-app scheduler off (then run `atlas pull` from cron).", _int_range(0, 86_400)),
    Setting("ATLAS_FEED_ALLOW", "",
            "Hosts and networks a live feed may be pulled from although they are not public addresses: a "
            "council's own internal feed servers (host names or networks such as 10.20.0.0/16, separated by "
            "spaces). Empty by default: feeds are pulled only from public addresses over https; an allowed host "
            "may also use http.", _networks),
    Setting("ATLAS_FEED_TIMEOUT", "30", "Seconds a live feed's pull may take in all (connecting, redirects, "
            "reading).", _int_range(1, 600)),
    Setting("ATLAS_SESSION_IDLE_MINUTES", "120",
            "A browser session unused for this many minutes is ended (signed out).", _int_range(1, 60 * 24 * 90)),
    Setting("ATLAS_SESSION_MAX_HOURS", "24",
            "A browser session ends this many hours after sign-in, however busy.", _int_range(1, 24 * 366)),
    Setting("ATLAS_TOKEN_DEFAULT_DAYS", "90",
            "Days an API token lives when its maker names no expiry.", _int_range(1, 3660)),
    Setting("ATLAS_TOKEN_MAX_DAYS", "366",
            "Longest life an API token may be given, in days.", _int_range(1, 3660)),
    Setting("ATLAS_INVITATION_HOURS", "72",
            "Hours an invitation or password-reset link stays valid (each is used once).", _int_range(1, 24 * 31)),
    Setting("ATLAS_SIGNIN_RATE_LIMIT", "10 per minute; 50 per hour",
            "Password sign-in attempts allowed per account (flask-limiter syntax); over it: 429 with "
            "Retry-After, audited. Empty: no limit.", _rate_limit),
    Setting("ATLAS_SIGNIN_CLIENT_RATE_LIMIT", "30 per minute; 300 per hour",
            "Password sign-in attempts allowed per client address, whichever accounts they name.", _rate_limit),
    Setting("ATLAS_UPLOAD_PARSE_SECONDS", "30",
            "Seconds of CPU a spreadsheet upload may take to read (in a separate process).", _int_range(1, 600)),
    Setting("ATLAS_UPLOAD_PARSE_MEMORY_MB", "1024",
            "Memory a spreadsheet upload may take to read, in MB (a separate process, ended beyond it).",
            _int_range(64, 65536)),
    Setting("ATLAS_LOG_LEVEL", "INFO", "Logging level of the app and pipeline.",
            _choice("DEBUG", "INFO", "WARNING", "ERROR")),
)


class Settings:
    """Parsed settings, attribute access by lower-case name without the prefix (``settings.data_dir``)."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        for setting in SETTINGS:
            raw = environ.get(setting.name, setting.default)
            try:
                value = setting.parse(raw)
            except (ValueError, TypeError) as exc:
                raise SettingsError(f"{setting.name}={raw!r} is not valid: {exc}. {setting.help}") from None
            setattr(self, setting.name.removeprefix("ATLAS_").lower(), value)
        unknown = sorted(k for k in environ if k.startswith("ATLAS_") and k not in {s.name for s in SETTINGS})
        if unknown:
            raise SettingsError(
                f"unknown setting {', '.join(unknown)}; valid settings are "
                f"{', '.join(s.name for s in SETTINGS)}")

    raw_dir: Path
    data_dir: Path
    keep_builds: int
    fetch_mirror: str
    cache_type: str
    cache_dir: Path
    cache_timeout: int
    tiles_url: str
    tiles_attribution: str
    embed_origins: tuple[str, ...]
    public_url: str
    allowed_hosts: tuple[str, ...]
    max_body_bytes: int
    export_pool: str
    classifier: str
    export_workers: int
    export_queue: int
    export_timeout: int
    export_tasks_per_child: int
    export_max_pixels: int
    export_rate_limit: str
    database_url: str
    storage_url: str
    build_poll: int
    redis_url: str
    duckdb_memory_mb: int
    secret_key: str
    cookie_secure: bool
    oidc_issuers: tuple[str, ...]
    oidc_client_id: str
    oidc_client_secret: str
    upload_max_bytes: int
    upload_max_rows: int
    pull_every: int
    feed_allow: tuple[str, ...]
    feed_timeout: int
    session_idle_minutes: int
    session_max_hours: int
    token_default_days: int
    token_max_days: int
    invitation_hours: int
    signin_rate_limit: str
    signin_client_rate_limit: str
    upload_parse_seconds: int
    upload_parse_memory_mb: int
    log_level: str


def load(environ: dict[str, str] | None = None) -> Settings:
    """Read and validate every setting (raises SettingsError naming the bad variable)."""
    return Settings(environ)
