"""Object storage: what must outlive a host (published versions, builds), behind one small interface with
two implementations, chosen by ``ATLAS_STORAGE_URL``:

- empty: ``FileStorage`` over ``ATLAS_DATA_DIR`` (one host, or a shared folder), as the app always was;
- ``s3://bucket/prefix``: ``S3Storage`` on any S3-compatible store (AWS, MinIO, Ceph...) through boto3,
  configured by the standard ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
  ``AWS_REGION`` variables.

Objects are immutable: ``put`` refuses to replace an existing key (a file storage links a fully written
temporary file into place, which fails if the name exists; S3 is asked with ``If-None-Match: *``, its
conditional put), so no published version or build file is ever half-overwritten or replaced. The only
mutable objects are pointers (``builds/current.json``: which build is current), replaced whole.

Each host reads through local copies (``local_copy``): a published version's Parquet file is fetched once
into ``ATLAS_DATA_DIR/objects/``, checked against its SHA-256 and renamed into place, so DuckDB reads a
local file and a half-downloaded file is never read. While the store cannot be reached, ``Unavailable`` is
raised (answered 503 with Retry-After); what is already local keeps being served.

This module imports nothing of the project but its settings (the build-time pipeline uploads builds with it).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from atlas import settings

__all__ = ["Entry", "Exists", "FileStorage", "S3Storage", "Storage", "Unavailable", "get", "local_copy", "sha256_file"]

log = logging.getLogger(__name__)

#: Where a host keeps its checked copies of objects it reads (under ATLAS_DATA_DIR).
OBJECTS = "objects"
#: Seconds a client waits when storage was unreachable (Retry-After).
RETRY_AFTER = 5


class Unavailable(RuntimeError):
    """The object store cannot be reached (or failed mid-request): answered 503 with Retry-After."""

    retry_after = RETRY_AFTER


class Exists(FileExistsError):
    """A put that would replace an existing object: refused (objects are immutable)."""


class Corrupt(RuntimeError):
    """An object whose bytes do not match the SHA-256 its record names."""


@dataclass(frozen=True)
class Entry:
    key: str
    size: int
    modified: float  # seconds since the epoch


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"not an object key: {key!r}")
    return key


class Storage(Protocol):
    url: str
    #: Whether objects are files on this host already (a file storage): no local copies are made.
    local: bool

    def put(self, key: str, data: bytes | Path) -> None:
        """Store a new object; raises Exists if ``key`` is taken (never replaced)."""

    def get(self, key: str) -> bytes:
        """An object's bytes; FileNotFoundError if there is none."""

    def download(self, key: str, target: Path) -> None:
        """Write an object to ``target`` (a new file); FileNotFoundError if there is none."""

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> list[Entry]:
        """Every object whose key starts with ``prefix``."""

    def delete(self, key: str) -> None:
        """Remove an object (only the sweeper of unreferenced leftovers does)."""

    def get_pointer(self, key: str) -> bytes | None:
        """A small mutable object (a pointer), or None."""

    def set_pointer(self, key: str, data: bytes) -> None:
        """Replace a pointer whole (readers see the old or the new one, never a mixture)."""

    def ping(self) -> None:
        """Raise Unavailable unless the store answers."""


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileStorage:
    """Objects as files under a folder (``ATLAS_DATA_DIR``): key ``published/ds1/x.parquet`` is the file
    ``<root>/published/ds1/x.parquet``, where the app always kept it."""

    local = True

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.url = f"file://{self.root}"

    def path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def _write_aside(self, key: str, data: bytes | Path) -> tuple[Path, Path]:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")
        with open(tmp, "wb") as handle:
            if isinstance(data, Path):
                with open(data, "rb") as source:
                    for chunk in iter(lambda: source.read(1 << 20), b""):
                        handle.write(chunk)
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return tmp, target

    def put(self, key: str, data: bytes | Path) -> None:
        tmp, target = self._write_aside(key, data)
        try:
            os.link(tmp, target)  # atomic, and refused when the name exists: never a replaced object
        except FileExistsError:
            raise Exists(key) from None
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(target.parent)

    def get(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def download(self, key: str, target: Path) -> None:
        source = self.path(key)
        if not source.exists():
            raise FileNotFoundError(key)
        with open(source, "rb") as src, open(target, "wb") as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                dst.write(chunk)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def list(self, prefix: str) -> list[Entry]:
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        out = []
        if not base.exists():
            return out
        for path in base.rglob("*"):
            # Temporary files a killed writer left are listed too: `atlas check` names them, `sweep` removes them.
            if not path.is_file():
                continue
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix):
                stat = path.stat()
                out.append(Entry(key, stat.st_size, stat.st_mtime))
        return sorted(out, key=lambda e: e.key)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def get_pointer(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    def set_pointer(self, key: str, data: bytes) -> None:
        tmp, target = self._write_aside(key, data)
        os.replace(tmp, target)
        _fsync_dir(target.parent)

    def ping(self) -> None:
        if not self.root.is_dir():
            raise Unavailable(f"the data folder {self.root} does not exist")


class S3Storage:
    """Objects in an S3 bucket under a prefix, through boto3 (``AWS_*`` variables configure the client)."""

    local = False

    def __init__(self, url: str, client: Any = None) -> None:
        parsed = urlparse(url)
        self.url = url
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3  # noqa: PLC0415 - only where object storage is used
                    from botocore.config import Config  # noqa: PLC0415

                    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
                    # Short timeouts and few retries: a request waits seconds, not minutes, for a store that is
                    # down, and is then answered 503 with Retry-After.
                    self._client = boto3.client("s3", region_name=region, config=Config(
                        connect_timeout=2, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"},
                        s3={"addressing_style": "path"}))
        return self._client

    def _key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            return fn(*args, **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412):
                raise Exists(what) from None
            if code in ("NoSuchKey", "404", "NotFound") or status == 404:
                raise FileNotFoundError(what) from None
            if status is not None and status >= 500:
                raise Unavailable(f"object storage answered {status} ({code}) for {what}") from exc
            raise
        except BotoCoreError as exc:  # connection refused, timeouts, DNS: the store is unreachable
            raise Unavailable(f"object storage is unreachable ({exc.__class__.__name__})") from exc

    def put(self, key: str, data: bytes | Path) -> None:
        if isinstance(data, Path):
            with open(data, "rb") as body:
                self._call(key, self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=body,
                           IfNoneMatch="*")
        else:
            self._call(key, self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data,
                       IfNoneMatch="*")

    def get(self, key: str) -> bytes:
        answer = self._call(key, self.client.get_object, Bucket=self.bucket, Key=self._key(key))
        return self._call(key, answer["Body"].read)

    def download(self, key: str, target: Path) -> None:
        answer = self._call(key, self.client.get_object, Bucket=self.bucket, Key=self._key(key))
        body = answer["Body"]
        with open(target, "wb") as handle:
            for chunk in iter(lambda: self._call(key, body.read, 1 << 20), b""):
                handle.write(chunk)

    def exists(self, key: str) -> bool:
        try:
            self._call(key, self.client.head_object, Bucket=self.bucket, Key=self._key(key))
        except FileNotFoundError:
            return False
        return True

    def list(self, prefix: str) -> list[Entry]:
        if prefix:
            _check_key(prefix.rstrip("/"))
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        out = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
        for page in self._call(prefix, lambda: list(pages)):
            for item in page.get("Contents", []):
                key = item["Key"][len(self.prefix) + 1:] if self.prefix else item["Key"]
                out.append(Entry(key, int(item["Size"]), item["LastModified"].timestamp()))
        return sorted(out, key=lambda e: e.key)

    def delete(self, key: str) -> None:
        self._call(key, self.client.delete_object, Bucket=self.bucket, Key=self._key(key))

    def get_pointer(self, key: str) -> bytes | None:
        try:
            return self.get(key)
        except FileNotFoundError:
            return None

    def set_pointer(self, key: str, data: bytes) -> None:
        self._call(key, self.client.put_object, Bucket=self.bucket, Key=self._key(key), Body=data)

    def ping(self) -> None:
        self._call(self.bucket, self.client.head_bucket, Bucket=self.bucket)


_stores: dict[tuple[int, str, str], Storage] = {}
_stores_lock = threading.Lock()


def get(data_dir: Path | None = None) -> Storage:
    """This process's storage (``ATLAS_STORAGE_URL``; empty: the data folder ``data_dir``)."""
    config = settings.load()
    data_dir = Path(data_dir) if data_dir is not None else config.data_dir
    key = (os.getpid(), config.storage_url, str(data_dir))
    found = _stores.get(key)
    if found is None:
        with _stores_lock:
            found = _stores.get(key)
            if found is None:
                found = _stores[key] = (S3Storage(config.storage_url) if config.storage_url
                                        else FileStorage(data_dir))
    return found


def local_path(key: str, data_dir: Path) -> Path:
    """Where this host keeps (or will keep) its copy of object ``key``: the object itself in a file
    storage, else its checked copy under ``ATLAS_DATA_DIR/objects``."""
    store = get(data_dir)
    if store.local:
        return store.path(key)  # type: ignore[attr-defined]
    return Path(data_dir) / OBJECTS / _check_key(key)


_fetching: dict[str, threading.Lock] = {}
_fetching_lock = threading.Lock()


def local_copy(key: str, sha256: str, data_dir: Path) -> Path:
    """A local file holding object ``key``, whose bytes have SHA-256 ``sha256``: the object itself in a file
    storage; else the host's copy, fetched the first time (written aside, checked, renamed into place, so
    a half-fetched or damaged copy is never read). Raises Unavailable while the store cannot be reached,
    FileNotFoundError if the object is gone, Corrupt if its bytes do not match."""
    target = local_path(key, data_dir)
    if target.exists():
        return target
    store = get(data_dir)
    if store.local:
        raise FileNotFoundError(key)
    with _fetching_lock:
        lock = _fetching.setdefault(key, threading.Lock())
    with lock:
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.close(fd)
        try:
            started = time.perf_counter()
            store.download(key, Path(tmp))
            got = sha256_file(Path(tmp))
            if got != sha256:
                raise Corrupt(f"object {key}: SHA-256 {got[:12]}... is not the recorded {sha256[:12]}...")
            os.replace(tmp, target)
            log.info("fetched %s from object storage in %.0f ms", key, (time.perf_counter() - started) * 1000)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return target


def walk(prefix: str, data_dir: Path | None = None) -> Iterator[Entry]:
    """Every object under ``prefix``, sorted by key."""
    yield from get(data_dir).list(prefix)
