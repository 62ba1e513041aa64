"""``python -m pipeline fetch``: download every missing raw file into ATLAS_RAW_DIR and verify its SHA-256.

The manifest ``pipeline/sources.json`` (made by ``pipeline.make_sources`` from SOURCES.md) lists each file
the pipeline reads with its SHA-256 and where it comes from:
- ``url``: a byte-for-byte copy at a fixed commit of its source repository;
- ``derive.zip_url`` + ``derive.member``: the file is a member of a zip (Nomis ``bulk.csv``);
- ``derive.xlsx`` + ``derive.sheet``: the file is one sheet of an xlsx in the raw folder, written as CSV by
  the command SOURCES.md documents (the IoD 2019 ``csv_from_xlsx/`` files);
- ``unresolved``: nobody knows an address; fetch says so, and the file must be copied by hand.
With ATLAS_FETCH_MIRROR set, every file (derived ones too) is fetched from ``mirror/<path>`` instead.

Every file is written to a temporary name beside its target, checked, then renamed over it, so the raw
folder never holds a partial or unverified file; a file already present with the right SHA-256 is left alone.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import http.client
import io
import json
import logging
import os
import shutil
import socket
import sys
import threading
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal
from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlsplit
from urllib.request import Request, urlopen

__all__ = ["SOURCES_JSON", "FetchReport", "ManifestError", "Outcome", "Source", "fetch", "load_sources",
           "main", "sha256_of"]

log = logging.getLogger(__name__)

SOURCES_JSON = Path(__file__).with_name("sources.json")
TIMEOUT = 30.0          # seconds without a byte before a connection or a read is given up
WORKERS = 4             # parallel downloads: GitHub's raw host is latency-bound, not bandwidth-bound
_CHUNK = 1 << 16
_USER_AGENT = "neighbourhood-atlas-fetch/0.1 (+python urllib)"


class ManifestError(ValueError):
    """The manifest (or the selection asked of it) cannot be used; the message says why."""


@dataclass(frozen=True)
class Source:
    """One raw file of the manifest."""

    path: str                       # relative to the raw folder, with forward slashes
    sha256: str
    size: int
    url: str | None = None
    derive: Mapping[str, str] | None = None
    source: Mapping[str, str] | None = None
    collection: str | None = None
    unresolved: str | None = None

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> Source:
        """Validate one entry: a bad entry must neither write outside the raw folder nor pass unchecked."""
        path = entry.get("path")
        where = f"manifest entry {path!r}"
        if not isinstance(path, str) or not path:
            raise ManifestError(f"manifest entry without a path: {dict(entry)!r}")
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts or "\\" in path:
            raise ManifestError(f"{where}: the path must stay inside the raw folder")
        sha = entry.get("sha256")
        if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
            raise ManifestError(f"{where}: sha256 must be 64 lower-case hex digits, not {sha!r}")
        size = entry.get("size")
        if not isinstance(size, int) or size < 0:
            raise ManifestError(f"{where}: size must be a whole number of bytes, not {size!r}")
        derive = entry.get("derive")
        if derive is not None and not (
                {"zip_url", "member"} <= derive.keys() or {"xlsx", "sheet"} <= derive.keys()):
            raise ManifestError(f"{where}: derive needs zip_url + member or xlsx + sheet, not {derive!r}")
        return cls(path=path, sha256=sha, size=size, url=entry.get("url"), derive=derive,
                   source=entry.get("source"), collection=entry.get("collection"),
                   unresolved=entry.get("unresolved"))


@dataclass(frozen=True)
class Outcome:
    """What happened to one file."""

    path: str
    status: Literal["present", "fetched", "failed"]
    url: str | None = None
    bytes: int = 0                  # bytes written (fetched) or found (present)
    problem: str = ""

    def __str__(self) -> str:
        where = f" (from {self.url})" if self.url else ""
        if self.status == "failed":
            return f"{self.path}: {self.problem}{where}"
        return f"{self.path}: {self.status}, {self.bytes:,} bytes{where}"


@dataclass
class FetchReport:
    """Outcomes of one fetch, in manifest order."""

    outcomes: list[Outcome] = field(default_factory=list)

    def _with(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def present(self) -> list[Outcome]:
        return self._with("present")

    @property
    def fetched(self) -> list[Outcome]:
        return self._with("fetched")

    @property
    def failed(self) -> list[Outcome]:
        return self._with("failed")

    @property
    def bytes_fetched(self) -> int:
        return sum(o.bytes for o in self.fetched)

    @property
    def ok(self) -> bool:
        return not self.failed

    def outcome(self, path: str) -> Outcome:
        """The outcome for one path (KeyError if it was not part of this fetch)."""
        for o in self.outcomes:
            if o.path == path:
                return o
        raise KeyError(path)

    def summary(self) -> str:
        lines = [f"fetch: {len(self.outcomes)} files: {len(self.present)} present, {len(self.fetched)} "
                 f"fetched ({_mib(self.bytes_fetched)}), {len(self.failed)} failed"]
        if self.failed:
            lines.append("failed (nothing was written for these; any existing file was left as it was):")
            lines += [f"  {o}" for o in self.failed]
        if any(o.problem.startswith(_UNREACHABLE) for o in self.failed):
            lines.append("The network looks unreachable from here: check the connection or proxy, or set "
                         "ATLAS_FETCH_MIRROR to a mirror laid out like the raw folder, then run fetch again "
                         "(files already fetched are kept).")
        return "\n".join(lines)


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def load_sources(path: Path = SOURCES_JSON) -> list[Source]:
    """The manifest's entries, validated."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"the fetch manifest {path} is missing; regenerate it with "
                            "`python -m pipeline.make_sources`") from None
    except (OSError, ValueError) as exc:
        raise ManifestError(f"the fetch manifest {path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), list):
        raise ManifestError(f"the fetch manifest {path} has no 'files' list")
    entries = [Source.from_json(e) for e in data["files"]]
    seen: set[str] = set()
    for entry in entries:
        if entry.path in seen:
            raise ManifestError(f"the fetch manifest {path} lists {entry.path} twice")
        seen.add(entry.path)
    return entries


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- problems -------------------------------------------------------------------------------------------

_UNREACHABLE = "cannot reach"


class _Problem(Exception):
    """A failure of one file, with a message meant for the person running fetch."""

    def __init__(self, message: str, url: str | None = None, host_down: bool = False) -> None:
        super().__init__(message)
        self.url = url
        self.host_down = host_down


def _describe_url_error(url: str, exc: URLError, timeout: float) -> _Problem:
    host = urlsplit(url).netloc
    reason = exc.reason
    if isinstance(reason, socket.gaierror):
        text = (f"{_UNREACHABLE} {host}: its name does not resolve ({reason.strerror or reason}); "
                "no network or DNS?")
    elif isinstance(reason, ConnectionRefusedError):
        text = f"{_UNREACHABLE} {host}: connection refused"
    elif isinstance(reason, TimeoutError):
        text = f"{_UNREACHABLE} {host}: no answer within {timeout:g} s"
    elif isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        text = f"{_UNREACHABLE} {host}: network unreachable"
    else:
        text = f"{_UNREACHABLE} {host}: {reason}"
    return _Problem(text, url, host_down=True)


class _Hosts:
    """Hosts found unreachable during this fetch, so hundreds of files do not each wait for a timeout."""

    def __init__(self) -> None:
        self._down: dict[str, str] = {}
        self._lock = threading.Lock()

    def check(self, url: str) -> None:
        host = urlsplit(url).netloc
        with self._lock:
            first = self._down.get(host)
        if first is not None:
            raise _Problem(f"{_UNREACHABLE} {host}, not tried again (first error: {first})", url)

    def mark(self, url: str, problem: str) -> None:
        with self._lock:
            self._down.setdefault(urlsplit(url).netloc, problem)


# --- writing --------------------------------------------------------------------------------------------

def _write_verified(target: Path, entry: Source, write: Callable[[IO[bytes]], None], url: str | None) -> int:
    """Write through ``write`` to a temporary file beside ``target``; rename it over ``target`` only if
    its SHA-256 is the manifest's. Returns the bytes written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    # A unique name per attempt (not mkstemp, whose 0600 mode would stick to the renamed file).
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        with open(temp, "xb") as out:
            write(out)
        got = sha256_of(temp)
        size = temp.stat().st_size
        if got != entry.sha256:
            raise _Problem(f"SHA-256 mismatch: got {got} ({size:,} bytes), expected {entry.sha256} "
                           f"({entry.size:,} bytes); the download was discarded", url)
        os.replace(temp, target)
        return size
    finally:
        temp.unlink(missing_ok=True)


def _open(url: str, timeout: float) -> IO[bytes]:
    try:
        return urlopen(Request(url, headers={"User-Agent": _USER_AGENT}), timeout=timeout)  # noqa: S310
    except HTTPError as exc:
        raise _Problem(f"HTTP {exc.code} {exc.reason}", url) from None
    except URLError as exc:
        raise _describe_url_error(url, exc, timeout) from None
    except TimeoutError:
        raise _Problem(f"{_UNREACHABLE} {urlsplit(url).netloc}: no answer within {timeout:g} s", url,
                       host_down=True) from None
    except (OSError, http.client.HTTPException) as exc:  # the server hung up before answering...
        raise _Problem(f"no valid answer from {urlsplit(url).netloc}: {exc!r}", url) from None
    except ValueError as exc:  # a malformed address in the manifest or the mirror setting
        raise _Problem(f"not a usable URL: {exc}", url) from None


def _copy_from(url: str, timeout: float) -> Callable[[IO[bytes]], None]:
    def write(out: IO[bytes]) -> None:
        with _open(url, timeout) as response:
            announced = response.headers.get("Content-Length")
            received = 0
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
            except TimeoutError:
                raise _Problem(f"the download stalled (no data for {timeout:g} s)", url) from None
            except (OSError, http.client.HTTPException) as exc:  # connection reset, IncompleteRead...
                raise _Problem(f"the download broke off: {exc!r}", url) from None
        # http.client returns a short body without complaint when the server hangs up early.
        if announced and announced.isdigit() and received != int(announced):
            raise _Problem(f"the download broke off after {received:,} of {int(announced):,} bytes", url)
    return write


def _zip_member(entry: Source, target: Path, hosts: _Hosts, timeout: float) -> tuple[int, str]:
    assert entry.derive is not None
    url, member = entry.derive["zip_url"], entry.derive["member"]
    hosts.check(url)
    # The zip itself has no known SHA-256: it is only a carrier, and the member's SHA-256 is checked.
    target.parent.mkdir(parents=True, exist_ok=True)
    zip_temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.zip.part")
    try:
        with open(zip_temp, "xb") as out:
            _copy_from(url, timeout)(out)

        def write(out: IO[bytes]) -> None:
            try:
                with zipfile.ZipFile(zip_temp) as archive, archive.open(member) as source:
                    shutil.copyfileobj(source, out, _CHUNK)
            except KeyError:
                raise _Problem(f"the zip has no member {member!r}", url) from None
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise _Problem(f"not a valid zip file ({exc})", url) from None

        return _write_verified(target, entry, write, url), f"{url} [member {member}]"
    finally:
        zip_temp.unlink(missing_ok=True)


def _xlsx_sheet(entry: Source, raw_dir: Path, target: Path, known: Mapping[str, Source]) -> tuple[int, str]:
    assert entry.derive is not None
    xlsx_path, sheet = entry.derive["xlsx"], entry.derive["sheet"]
    xlsx = raw_dir / xlsx_path
    where = f"{xlsx_path} [sheet {sheet}]"
    if not xlsx.exists():
        raise _Problem(f"it is written from {xlsx_path}, which is missing", where)
    parent = known.get(xlsx_path)
    if parent is not None and sha256_of(xlsx) != parent.sha256:
        raise _Problem(f"it is written from {xlsx_path}, whose SHA-256 is wrong", where)

    def write(out: IO[bytes]) -> None:
        import openpyxl  # only this step needs it
        from openpyxl.utils.exceptions import InvalidFileException

        try:
            workbook = openpyxl.load_workbook(xlsx, read_only=True, data_only=True)
        except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
            raise _Problem(f"{xlsx_path} cannot be read as xlsx: {exc}", where) from None
        try:
            if sheet not in workbook.sheetnames:
                names = ", ".join(workbook.sheetnames)
                raise _Problem(f"{xlsx_path} has no sheet {sheet!r} (sheets: {names})", where)
            # The command documented in SOURCES.md "Derived files", kept exactly: the SHA-256 depends on it.
            text = io.TextIOWrapper(out, encoding="utf-8", newline="")
            writer = csv.writer(text)
            for row in workbook[sheet].iter_rows(values_only=True):
                if row is None or all(v is None for v in row):
                    continue
                writer.writerow(["" if v is None else v for v in row])
            text.flush()
            text.detach()
        finally:
            workbook.close()

    return _write_verified(target, entry, write, where), where


# --- the fetch ------------------------------------------------------------------------------------------

def _select(entries: Sequence[Source], only: Sequence[str]) -> list[Source]:
    prefixes = [p.strip().removeprefix("./") for p in only if p.strip()]
    if not prefixes:
        return list(entries)
    chosen = {e.path for e in entries if any(e.path.startswith(p) for p in prefixes)}
    if not chosen:
        tops = sorted({e.path.split("/", 1)[0] + "/" for e in entries})
        raise ManifestError(f"no file of the manifest starts with {', '.join(map(repr, prefixes))}; "
                            f"paths start with {', '.join(tops)}")
    # A CSV written from an xlsx needs its xlsx: fetch it too.
    by_path = {e.path: e for e in entries}
    for path in list(chosen):
        derive = by_path[path].derive or {}
        if "xlsx" in derive and derive["xlsx"] in by_path:
            chosen.add(derive["xlsx"])
    return [e for e in entries if e.path in chosen]


def _mirror_url(mirror: str, path: str) -> str:
    return mirror.rstrip("/") + "/" + quote(path, safe="/()")


def fetch(raw_dir: Path, entries: Iterable[Source | Mapping[str, Any]], mirror: str = "",
          only: Sequence[str] = (), *, timeout: float = TIMEOUT, workers: int = WORKERS) -> FetchReport:
    """Make every selected entry present in ``raw_dir`` with its SHA-256; report what happened to each.

    ``mirror``: base URL laid out like the raw folder; when set, every file is fetched from mirror + path.
    ``only``: path prefixes; empty means every entry. Raises ManifestError for a bad entry or a selection
    that matches nothing; a file that cannot be fetched is a failed Outcome, never an exception.
    """
    sources = [e if isinstance(e, Source) else Source.from_json(e) for e in entries]
    selected = _select(sources, only)
    known = {e.path: e for e in sources}
    hosts = _Hosts()
    raw_dir = Path(raw_dir)

    def one(entry: Source) -> Outcome:
        target = raw_dir / entry.path
        url = _mirror_url(mirror, entry.path) if mirror else entry.url
        stale = False
        if target.is_file():
            if sha256_of(target) == entry.sha256:
                log.debug("present: %s", entry.path)
                return Outcome(entry.path, "present", url, target.stat().st_size)
            stale = True
            log.warning("%s: present but its SHA-256 is wrong; fetching it again", entry.path)
        try:
            if mirror or entry.url:
                assert url is not None
                hosts.check(url)
                written, where = _write_verified(target, entry, _copy_from(url, timeout), url), url
            elif entry.derive and "zip_url" in entry.derive:
                written, where = _zip_member(entry, target, hosts, timeout)
            elif entry.derive and "xlsx" in entry.derive:
                written, where = _xlsx_sheet(entry, raw_dir, target, known)
            else:
                reason = entry.unresolved or "the manifest gives no address for it"
                raise _Problem(f"no download address: {reason}")
        except _Problem as problem:
            if problem.host_down and problem.url:
                hosts.mark(problem.url, str(problem))
            text = str(problem) + (" (the existing file, whose SHA-256 is wrong, was left as it was)"
                                   if stale else "")
            outcome = Outcome(entry.path, "failed", problem.url or url, problem=text)
            log.error("%s", outcome)
            return outcome
        except OSError as exc:  # the raw folder itself: read-only, disk full...
            outcome = Outcome(entry.path, "failed", url, problem=f"cannot write {target}: {exc}")
            log.error("%s", outcome)
            return outcome
        except Exception as exc:  # one odd file must not stop the others; say what it was
            log.exception("%s: unexpected error", entry.path)
            return Outcome(entry.path, "failed", url, problem=f"unexpected error: {exc!r}")
        log.info("fetched %s (%s bytes) from %s", entry.path, f"{written:,}", where)
        return Outcome(entry.path, "fetched", where, written)

    # Files written from an xlsx wait until the xlsx itself has been fetched (unless the mirror has them).
    later = [e for e in selected if not mirror and not e.url and e.derive and "xlsx" in e.derive]
    first = [e for e in selected if e not in later]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = {o.path: o for o in pool.map(one, first)}
    for entry in later:  # openpyxl is CPU-bound: threads would not help
        results[entry.path] = one(entry)
    return FetchReport([results[e.path] for e in selected])


def main(conf: Any, only: Sequence[str] = ()) -> int:
    """``python -m pipeline fetch``: 0 when every selected file is present and verified, 1 when some failed,
    2 when the manifest or the selection is unusable."""
    try:
        entries = load_sources()
        source = f" from mirror {conf.fetch_mirror}" if conf.fetch_mirror else " from each file's source"
        print(f"fetch: {len(entries)} files in the manifest, into {conf.raw_dir}{source}", flush=True)
        report = fetch(conf.raw_dir, entries, mirror=conf.fetch_mirror, only=only)
    except ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1
