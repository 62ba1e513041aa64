"""Publishing: a council's table (CSV or XLSX, one row per area) checked, then stored as an immutable
version, for the browser's upload flow, ``POST /api/datasets`` and the live-feed puller alike.

Nothing is stored before the whole upload passed validation (``Rejected`` carries the report, answered 422):
- **reading**: size limits (bytes, rows, columns, cell length); the encoding from its byte order mark
  (UTF-8, UTF-16 LE/BE), else UTF-8, else Windows-1252 (said in the report); the delimiter (comma,
  semicolon or tab); XLSX's first sheet through openpyxl (read-only, XML parsed by defusedxml);
- **codes**: every code must be an area of the chosen level in the build (unknown codes with their rows),
  once (duplicates with their rows), and present (rows without a code); the areas of the authorities the
  table covers that have no row are reported as missing (a warning: they show as "no data");
- **values**: indicator cells numeric (thousands separators and a trailing % accepted and said; the
  usual suppression marks ``..``, ``-``, ``x``, ``c``, ``*``, ``:``, ``NA`` and empty cells are missing values);
  anything else is an error naming its row, column and text;
- **metadata**: title, level, code column, columns (name, label, unit), licence, source, as-of date and
  access are required; text has control characters removed; formula-looking text is kept as written and
  made safe wherever a CSV is written (atlas/csvsafe.py).

Storing: the values go to the object ``published/ds<id>/<sha16>-<random>.parquet`` (code, authority, one
column per variable) in the storage ``ATLAS_STORAGE_URL`` names (atlas/storage.py: the data folder, written
aside, fsynced and linked into place; or an S3 bucket, by a conditional put that never replaces an object),
*then* the version row is committed with the dataset's new current version in the same transaction. A crash
before the commit leaves at most an unreferenced object (``sweep`` removes it) and no version: never a
half-published one. The registry's
generation is bumped in that transaction, so every worker shows the new version on its next request.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from atlas import access, audit, builds, db, netguard, pointdata, registry, settings, storage

if TYPE_CHECKING:
    from atlas.extracts import Extracts

__all__ = ["Areas", "Busy", "Denied", "Forbidden", "Metadata", "Rejected", "Report", "add_version", "check_files",
           "owner_for", "parse_metadata", "publish_dataset", "read_table", "restore", "set_access", "sweep",
           "validate", "version_frame"]

LEVELS = ("lsoa11", "oa11", "lsoa21", "oa21", "ward22", "lad")
MAX_COLUMNS = 200
MAX_CELL = 1000
MAX_LISTED = 100  # problems of one kind listed in a report (the count says how many in all)
MISSING_MARKS = {"", "..", ".", "-", "x", "c", "*", ":", "na", "n/a", "#n/a", "null", "none", "nan", "z"}
_THOUSANDS = re.compile(r"^[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?$")
#: A plain decimal number, ASCII digits only (float() also takes "1_000", Arabic-Indic digits, "infinity").
_DECIMAL = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SLUG = re.compile(r"[^a-z0-9]+")


class Rejected(ValueError):
    """The upload failed validation: nothing was stored. ``report`` says everything that was wrong."""

    def __init__(self, report: Report) -> None:
        self.report = report
        super().__init__(report.summary())


class Denied(LookupError):
    """The dataset does not exist, or the actor may not see it: the same answer (404)."""


class Forbidden(PermissionError):
    """The actor may see the dataset or organisation but not change it (403)."""


@dataclass
class Report:
    errors: dict[str, list[dict]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rows: int = 0
    areas: int = 0
    authorities: list[str] = field(default_factory=list)

    def error(self, kind: str, message: str, **where: Any) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        listed = self.errors.setdefault(kind, [])
        if len(listed) < MAX_LISTED:
            listed.append({"message": message, **where})

    @property
    def ok(self) -> bool:
        return not self.counts

    def summary(self) -> str:
        if self.ok:
            return f"valid: {self.rows:,} rows, {self.areas:,} areas in {len(self.authorities)} authorities"
        return "rejected: " + "; ".join(f"{n:,} {kind.replace('_', ' ')}" for kind, n in self.counts.items())

    def as_dict(self) -> dict:
        return {"valid": self.ok, "summary": self.summary(), "rows": self.rows, "areas": self.areas,
                "authorities": self.authorities, "error_counts": dict(self.counts), "errors": self.errors,
                "warnings": list(self.warnings), "notes": list(self.notes)}


@dataclass
class Column:
    name: str
    label: str
    unit: str = ""
    denominator: str = ""
    polarity: str = ""
    decimals: int | None = None


@dataclass
class Metadata:
    title: str
    level: str
    code_column: str
    columns: list[Column]
    licence: str
    source: str
    as_of: str
    access: str = "organisation"
    partnerships: list[str] = field(default_factory=list)
    organisations: list[str] = field(default_factory=list)
    description: str = ""
    topic: str = "Published by councils"
    organisation: str | None = None
    update_days: int | None = None
    pull_url: str | None = None
    pull_minutes: int | None = None


def _text(value: Any, limit: int) -> str:
    if value is None:
        return ""
    return _CONTROL.sub("", str(value)).strip()[:limit]


def parse_metadata(raw: Any, report: Report | None = None, partial: bool = False) -> Metadata | dict:
    """Metadata from the API's JSON (or the browser form's fields). Problems go into ``report`` as
    ``metadata`` errors. ``partial``: a new version's metadata (``as_of`` and ``note`` only): a dict."""
    report = report if report is not None else Report()
    if not isinstance(raw, dict):
        report.error("metadata", "metadata must be a JSON object")
        raw = {}
    if partial:
        out: dict[str, Any] = {}
        if "as_of" in raw:
            out["as_of"] = _date(raw.get("as_of"), report)
        out["note"] = _text(raw.get("note"), 2000)
        return out
    def need(key: str, limit: int = 300) -> str:
        value = _text(raw.get(key), limit)
        if not value:
            report.error("metadata", f"{key} is required", field=key)
        return value
    title = need("title")
    # A table of points names its coordinate columns instead of a level and a code column (atlas/pointdata.py).
    spec = pointdata.spec_from_metadata(raw, _text, report)
    if spec is not None:
        level, code_column = registry.POINTS, json.dumps(spec, separators=(",", ":"))
        if len(code_column) > 200:
            report.error("metadata", "the coordinate, id and name column names are too long together",
                         field="lon_column")
    else:
        level = need("level", 20)
        if level and level not in LEVELS:
            report.error("metadata", f"level must be one of {', '.join(LEVELS)}, not {level!r} (or, for a table "
                         "of points, lon_column and lat_column, or x_column, y_column and crs)", field="level")
        code_column = need("code_column", 200)
    licence, source = need("licence", 2000), need("source", 2000)
    as_of = _date(raw.get("as_of"), report)
    columns: list[Column] = []
    given = raw.get("columns")
    if given in (None, []) and spec is not None:
        given = []  # a table of points may be just where things are: counted per area
    elif not isinstance(given, list) or not given:
        report.error("metadata", "columns must list at least one indicator: [{name, label, unit}]",
                     field="columns")
        given = []
    if len(given) > MAX_COLUMNS:
        report.error("metadata", f"at most {MAX_COLUMNS} indicator columns", field="columns")
        given = given[:MAX_COLUMNS]
    for i, col in enumerate(given):
        if isinstance(col, str):
            col = {"name": col}
        if not isinstance(col, dict) or not _text(col.get("name"), 200):
            report.error("metadata", f"columns[{i}] needs a name", field="columns")
            continue
        decimals = col.get("decimals")
        if decimals is not None and (not isinstance(decimals, int) or isinstance(decimals, bool)
                                     or not 0 <= decimals <= 6):
            report.error("metadata", f"columns[{i}].decimals must be a whole number from 0 to 6", field="columns")
            decimals = None
        name = _text(col.get("name"), 200)
        columns.append(Column(name=name, label=_text(col.get("label"), 300) or name,
                              unit=_text(col.get("unit"), 40).lower(),
                              denominator=_text(col.get("denominator"), 200),
                              polarity=_text(col.get("polarity"), 200), decimals=decimals))
    if len({c.name for c in columns}) != len(columns):
        report.error("metadata", "an indicator column is named twice", field="columns")
    if spec is not None and set(spec.columns) & {c.name for c in columns}:
        report.error("metadata", "a coordinate, id or name column cannot also be an indicator", field="columns")
    if spec is None and code_column and code_column in {c.name for c in columns}:
        report.error("metadata", "the code column cannot also be an indicator", field="columns")
    acc = raw.get("access")
    if isinstance(acc, str):
        acc = {"level": acc}
    if not isinstance(acc, dict):
        report.error("metadata", "access is required: {\"level\": \"public\"|\"registered\"|\"organisation\"|"
                     "\"partnership\", \"partnerships\": [...], \"organisations\": [...]}", field="access")
        acc = {}
    level_access = _text(acc.get("level"), 20)
    if acc and level_access not in access.LEVELS:
        report.error("metadata", f"access.level must be one of {', '.join(access.LEVELS)}", field="access")
    def names(key: str) -> list[str]:
        value = acc.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                                  for v in value):
            report.error("metadata", f"access.{key} must be a list of names", field="access")
            return []
        return [_text(v, 200) for v in value][:100]
    partnerships, organisations = names("partnerships"), names("organisations")
    if level_access == "partnership" and not partnerships and not organisations:
        report.error("metadata", "access level partnership needs partnerships or organisations to share with",
                     field="access")
    def whole(key: str, lo: int, hi: int) -> int | None:
        value = raw.get(key)
        if value in (None, ""):
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = None
        if number is None or isinstance(value, bool) or not lo <= number <= hi:
            report.error("metadata", f"{key} must be a whole number from {lo} to {hi}", field=key)
            return None
        return number
    pull_url = _text(raw.get("pull_url"), 2000) or None
    if pull_url:
        try:
            netguard.check_url(pull_url)
        except netguard.Refused as exc:
            if "could not be found" in str(exc):
                report.notes.append("the live feed's host could not be found now; it is checked at every pull")
            else:
                report.error("metadata", f"pull_url: {exc}", field="pull_url")
    return Metadata(
        title=title, level=level, code_column=code_column, columns=columns, licence=licence, source=source,
        as_of=as_of, access=level_access or "organisation", partnerships=partnerships, organisations=organisations,
        description=_text(raw.get("description"), 5000), topic=_text(raw.get("topic"), 100) or "Published by councils",
        organisation=_text(raw.get("organisation"), 40) or None, update_days=whole("update_days", 1, 3660),
        pull_url=pull_url, pull_minutes=whole("pull_minutes", 1, 60 * 24 * 31) if pull_url else None)


def _date(value: Any, report: Report) -> str:
    text = _text(value, 10)
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        report.error("metadata", "as_of must be a date, YYYY-MM-DD", field="as_of")
        return ""


# -- reading ----------------------------------------------------------------------------------------------

def _decode(data: bytes, report: Report) -> str:
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            report.notes.append(f"read as {encoding.replace('-sig', '')} (byte order mark)")
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                report.error("format", f"the file starts with a {encoding.replace('-sig', '')} byte order mark "
                             f"but is not {encoding.replace('-sig', '')} text (byte {exc.start})")
                return ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        report.notes.append("not UTF-8: read as Windows-1252 (check accented names)")
        return data.decode("cp1252", errors="replace")


def read_table(data: bytes, filename: str, report: Report, max_rows: int | None = None) -> list[list[str]]:
    """Rows of text cells (the header first) from a CSV or XLSX upload; problems go into ``report``."""
    config = settings.load()
    max_rows = max_rows or config.upload_max_rows
    if len(data) > config.upload_max_bytes:
        report.error("size", f"the file is {len(data):,} bytes; at most {config.upload_max_bytes:,} are accepted")
        return []
    if not data.strip():
        report.error("size", "the file is empty")
        return []
    is_xlsx = filename.lower().endswith((".xlsx", ".xlsm")) or data[:4] == b"PK\x03\x04"
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):  # a JSON point feed (atlas/pointdata.py)
        rows = pointdata.json_rows(data, report)
        if len(rows) > max_rows + 1:
            report.error("size", f"{len(rows) - 1:,} rows; at most {max_rows:,} are accepted")
            return []
    else:
        rows = _read_xlsx(data, report, max_rows) if is_xlsx else _read_csv(data, report, max_rows)
    if rows and len(rows[0]) > MAX_COLUMNS + 1:
        report.error("size", f"{len(rows[0])} columns; at most {MAX_COLUMNS + 1} are accepted")
        return []
    return rows


def _read_csv(data: bytes, report: Report, max_rows: int) -> list[list[str]]:
    text = _decode(data, report)
    if not report.ok:
        return []
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    if delimiter != ",":
        report.notes.append(f"columns separated by {'tabs' if delimiter == chr(9) else 'semicolons'}")
    rows: list[list[str]] = []
    try:
        for i, row in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)):
            if i > max_rows:
                report.error("size", f"more than {max_rows:,} rows; at most {max_rows:,} are accepted")
                return []
            if any(len(c) > MAX_CELL for c in row):
                report.error("size", f"a cell longer than {MAX_CELL} characters", row=i + 1)
                return []
            rows.append(row)
    except csv.Error as exc:
        report.error("format", f"not a readable CSV file: {exc}")
        return []
    return rows


def _read_xlsx(data: bytes, report: Report, max_rows: int) -> list[list[str]]:
    """A workbook's first sheet, read in a separate process with memory and time limits (atlas/sheets.py)."""
    from atlas import sheets  # noqa: PLC0415 - only for spreadsheets

    out = sheets.read_xlsx(data, max_rows, MAX_COLUMNS + 1, MAX_CELL)
    if "problem" in out:
        kind, message = out["problem"]
        report.error(kind, message)
        return []
    report.notes.extend(out.get("notes", []))
    return out["rows"]


def _cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)[:MAX_CELL]


# -- validating --------------------------------------------------------------------------------------------

def _number(text: str) -> tuple[float | None, str | None]:
    """(value, None) for a number or a missing mark, (None, reason) otherwise."""
    t = text.strip()
    if t.lower() in MISSING_MARKS:
        return math.nan, None
    if _THOUSANDS.match(t):
        t = t.replace(",", "")
    if t.endswith("%"):
        t = t[:-1].strip()
    if not _DECIMAL.match(t):
        return None, "not a plain decimal number"
    value = float(t)
    if not math.isfinite(value):
        return None, "not a finite number"
    return value, None


def _shown(text: str) -> str:
    text = _CONTROL.sub("?", text)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class Areas:
    """The build's areas at one level, as an upload is checked against them: only the upload's own codes and the
    areas of the authorities it covers are read (a whole level's index, 34,753 LSOAs as Python strings and a
    dict of them, was a peak of 10-20 MB in the worker for every upload)."""

    reader: Extracts
    level: str

    def authorities(self, codes: set[str]) -> dict[str, str]:
        """code -> its district, for the ``codes`` the build holds at this level."""
        return self.reader.area_authorities(self.level, sorted(codes)) if codes else {}

    def codes_of(self, authorities: list[str]) -> set[str]:
        return set(self.reader.codes_of(self.level, authorities)) if authorities else set()


def validate(rows: list[list[str]], meta: Metadata, areas: Areas, report: Report,
             onto: Any = None) -> pd.DataFrame | None:
    """The upload as a frame (code, authority, one float column per indicator, in ``meta.columns``' order),
    or None when ``report`` holds errors. ``areas``: the build's areas at ``meta.level``.
    ``onto(authority) -> bool``: whether the publisher may publish onto that authority's areas
    (``place.publish``); a row of any other authority is an error naming it."""
    checked = pointdata.checked_header(rows, [meta.code_column, *(c.name for c in meta.columns)], report,
                                       _CONTROL)
    if checked is None:
        return None
    header, at = checked
    column = at[meta.code_column]
    known = areas.authorities({row[column].strip().upper() for row in rows[1:] if len(row) > column})
    seen: dict[str, int] = {}
    codes: list[str] = []
    values: list[list[float]] = [[] for _ in meta.columns]
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    report.rows = len(body)
    if not body:
        report.error("format", "the table has a header but no rows")
        return None
    adjusted = suppressed = 0
    line = 1
    for row in rows[1:]:
        line += 1
        if not any(c.strip() for c in row):
            continue
        cells = row + [""] * (len(header) - len(row))
        code = cells[at[meta.code_column]].strip().upper()
        if not code:
            report.error("missing_code", "no area code", row=line)
            continue
        if code not in known:
            report.error("unknown_code", f"{_shown(code)} is not a {meta.level} area code", row=line, code=_shown(code))
            continue
        if onto is not None and not onto(known[code]):
            report.error("outside_area", f"{code} is an area of {known[code]}, which this organisation does not "
                         "publish for (its own authority, or a partnership's it belongs to)", row=line, code=code,
                         authority=known[code])
            continue
        if code in seen:
            report.error("duplicate_code", f"{code} is also on row {seen[code]}", row=line, code=code,
                         first_row=seen[code])
            continue
        seen[code] = line
        codes.append(code)
        for j, col in enumerate(meta.columns):
            text = cells[at[col.name]]
            value, problem = _number(text)
            if problem:
                report.error("not_numeric", f"{col.name}: {_shown(text)!r} is {problem}", row=line,
                             column=col.name, value=_shown(text))
                value = math.nan
            elif math.isnan(value):
                suppressed += bool(text.strip())
            elif text.strip() != str(value) and ("," in text or "%" in text):
                adjusted += 1
            values[j].append(value)
    if adjusted:
        report.notes.append(f"{adjusted:,} cells had thousands separators or a % sign, read as numbers")
    if suppressed:
        report.notes.append(f"{suppressed:,} cells held a suppression or missing mark (.., -, x, c...): no data")
    if not report.ok:
        return None
    authorities = sorted({known[c] for c in codes})
    report.areas, report.authorities = len(codes), authorities
    covered = areas.codes_of(authorities)
    without = sorted(covered - set(codes))
    if without:
        report.warnings.append(f"{len(without):,} areas of the authorities covered have no row (they show as no "
                               f"data): {', '.join(without[:20])}" + (" ..." if len(without) > 20 else ""))
    frame = pd.DataFrame({"code": codes, "authority": [known[c] for c in codes]})
    for col, vals in zip(meta.columns, values, strict=True):
        frame[col.name] = pd.array(vals, dtype="float64")
    return frame.sort_values(["authority", "code"], kind="stable").reset_index(drop=True)


# -- storing -----------------------------------------------------------------------------------------------

def _slug(text: str) -> str:
    return _SLUG.sub("_", text.lower()).strip("_")[:40] or "value"


def _var_ids(dataset_id: int, columns: list[Column]) -> list[str]:
    out: list[str] = []
    for col in columns:
        base = f"ds{dataset_id}_{_slug(col.name)}"
        vid, n = base, 2
        while vid in out:
            vid, n = f"{base}_{n}", n + 1
        out.append(vid)
    return out


def _parquet(frame: pd.DataFrame, var_ids: list[str], columns: list[str]) -> bytes:
    # A table of points also keeps each point's coordinates, name and areas (``pt_...``: atlas/pointdata.py).
    extra = {c: pa.array(frame[c], pa.float64() if c in ("pt_lon", "pt_lat") else pa.string(), from_pandas=True)
             for c in frame.columns if c.startswith(pointdata.PREFIX)}
    table = pa.table({"code": pa.array(frame["code"], pa.string()),
                      "authority": pa.array(frame["authority"], pa.string()),
                      **{vid: pa.array(frame[col].to_numpy(dtype="float64"), pa.float64(), from_pandas=True)
                         for vid, col in zip(var_ids, columns, strict=True)}, **extra})
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _digest(frame: pd.DataFrame, var_ids: list[str], columns: list[str]) -> str:
    return hashlib.sha256(_parquet(frame, var_ids, columns)).hexdigest()


def _write(data_dir: Path, dataset_id: int, frame: pd.DataFrame, var_ids: list[str], columns: list[str]
           ) -> tuple[str, str, str]:
    """Store a version's Parquet as a new immutable object (atlas/storage.py: written aside and linked into
    place in the data folder, or a conditional put to object storage) under a name no other push can take
    (its checksum and a random part): returns (path relative to ``published/``, sha256, the authorities it
    covers as JSON). Nothing but ``sweep`` ever deletes a version file (a failed push leaves its own
    unreferenced file for it)."""
    body = _parquet(frame, var_ids, columns)
    digest = hashlib.sha256(body).hexdigest()
    rel = f"ds{dataset_id}/{digest[:16]}-{uuid.uuid4().hex[:16]}.parquet"
    key = registry.object_key(rel)
    store = storage.get(data_dir)
    store.put(key, body)
    if not store.local:
        # This host's copy, written now rather than fetched back (the same bytes, checked by their digest).
        local = storage.local_path(key, data_dir)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex[:8]}.part")
        tmp.write_bytes(body)
        os.replace(tmp, local)
    authorities = sorted({a for a in frame["authority"].tolist() if a})
    return rel, digest, json.dumps(authorities)


def _hook_before_commit() -> None:
    """Called after a version's file is written and before its row is committed (tests crash here)."""


#: Seconds after which a version file no row refers to is a leftover (``sweep`` removes it; ``check`` says so).
SWEEP_AGE = 3600


class Busy(RuntimeError):
    """The dataset is being changed by others right now: try again (503 with Retry-After)."""

    retry_after = 2


def _lock_dataset(s: Any, dataset_id: int) -> None:
    """Take the dataset's write lock as the transaction's first statement (a row lock in PostgreSQL, the
    write lock in SQLite), so version numbers are allocated one push at a time."""
    s.execute(sa.update(db.Dataset).where(db.Dataset.id == dataset_id).values(updated=db.now()))


def _next_number(s: Any, dataset_id: int) -> int:
    return (s.execute(sa.select(sa.func.max(db.Version.number)).where(db.Version.dataset_id == dataset_id)
                      ).scalar() or 0) + 1


def _retrying(step: Any, attempts: int = 6) -> Any:
    """Run ``step()`` (one transaction); a clash with another push (an integrity error, a busy SQLite) is
    tried again, and after ``attempts`` answered Busy, never a 500."""
    import time  # noqa: PLC0415

    for attempt in range(attempts):
        try:
            return step()
        except (sa.exc.IntegrityError, db.Unavailable) as exc:
            if isinstance(exc, db.Unavailable) and "OperationalError" not in str(exc):
                raise
            time.sleep(0.05 * (attempt + 1))
    raise Busy("the dataset is being changed by someone else; try again in a moment")


def _org_resource(reader: Extracts, org_id: int) -> access.Org:
    return registry.snapshot(reader.data_dir).org(org_id)


def _onto(actor: access.Actor, org: access.Org) -> Any:
    return lambda authority: access.allowed(actor, "place.publish", access.Target(org, authority))


def _resolve_owner(s: Any, actor: access.Actor, code: str | None, report: Report) -> db.Organisation | None:
    if code:
        org = s.execute(sa.select(db.Organisation).where(db.Organisation.code == code)).scalar_one_or_none()
        if org is None or not (access.allowed(actor, "dataset.publish", access.Org(org.id)) or actor.role(org.id)):
            report.error("metadata", f"you do not publish for an organisation {code!r}", field="organisation")
            return None
        if not access.allowed(actor, "dataset.publish", access.Org(org.id)):
            raise Forbidden(f"only editors and admins of {code} publish for it")
        return org
    editable = [org for org in sorted(actor.orgs) if access.allowed(actor, "dataset.publish", access.Org(org))]
    if len(editable) != 1:
        if not editable:
            raise Forbidden("only editors and admins of an organisation publish")
        report.error("metadata", "you publish for several organisations: name one in `organisation`",
                     field="organisation")
        return None
    return s.get(db.Organisation, editable[0])


def _shares(s: Any, meta: Metadata, report: Report, org_id: int | None) -> tuple[list[int], list[int]]:
    """The partnerships (only those the owning organisation is an accepted member of: ``partnership.share``)
    and organisations a dataset is shared with. An unknown partnership and someone else's read the same."""
    pids, oids = [], []
    for name in meta.partnerships:
        p = s.execute(sa.select(db.Partnership).where(
            (db.Partnership.name == name) | (sa.cast(db.Partnership.id, sa.String) == name))).scalar_one_or_none()
        ref = None
        if p is not None:
            ref = access.PartnershipRef(p.id, frozenset(m.org_id for m in p.members if m.status == "accepted"))
        if ref is None or org_id is None or not access.allowed(access.ANONYMOUS, "partnership.share",
                                                               access.Share(ref, org_id)):
            report.error("metadata", f"{_shown(name)!r} is not a partnership of the publishing organisation",
                         field="access")
        else:
            pids.append(p.id)
    for code in meta.organisations:
        o = s.execute(sa.select(db.Organisation).where(db.Organisation.code == code)).scalar_one_or_none()
        if o is None:
            report.error("metadata", f"no organisation {_shown(code)!r}", field="access")
        else:
            oids.append(o.id)
    return pids, oids


def check(data: bytes, filename: str, meta: Metadata, reader: Extracts, report: Report,
          onto: Any = None) -> pd.DataFrame | None:
    """Read and validate an upload against the build's areas (nothing stored). ``onto``: see ``validate``."""
    if not report.ok:
        return None
    rows = read_table(data, filename, report)
    if not report.ok:
        return None
    if meta.level == registry.POINTS:
        return pointdata.validate(rows, pointdata.parse_spec(meta.code_column), [c.name for c in meta.columns],
                                  reader, report, _number, onto=onto)
    if meta.level not in reader.levels:
        report.error("metadata", f"this build has no level {meta.level!r}", field="level")
        return None
    return validate(rows, meta, Areas(reader, meta.level), report, onto=onto)


def owner_for(actor: access.Actor, code: str | None, reader: Extracts) -> access.Org | None:
    """The organisation ``actor`` publishes for (``code``, or their only one), as a resource; None when it
    is not clear (the browser's preview then checks no areas)."""
    report = Report()
    try:
        with db.session(db.database_url(data_dir=reader.data_dir)) as s:
            org = _resolve_owner(s, actor, code, report)
            return _org_resource(reader, org.id) if org is not None else None
    except Forbidden:
        return None


def publish_dataset(actor: access.Actor, meta: Metadata, data: bytes, filename: str, reader: Extracts,
                    via: str = "api", report: Report | None = None) -> dict:
    """A new dataset with its first version. Raises Rejected (nothing stored) or Forbidden."""
    report = report or Report()
    url = db.database_url(data_dir=reader.data_dir)
    with db.session(url) as s:
        org = _resolve_owner(s, actor, meta.organisation, report)
        org_id = org.id if org is not None else None
    frame = check(data, filename, meta, reader, report,
                  onto=_onto(actor, _org_resource(reader, org_id)) if org_id is not None else None)
    with db.session(url) as s:
        pids, oids = _shares(s, meta, report, org_id)
        if not report.ok or frame is None or org_id is None:
            raise Rejected(report)
        ds = db.Dataset(org_id=org_id, title=meta.title, description=meta.description, topic=meta.topic,
                        level=meta.level, code_column=meta.code_column, source=meta.source, licence=meta.licence,
                        access=meta.access, update_days=meta.update_days, pull_url=meta.pull_url,
                        pull_minutes=meta.pull_minutes)
        s.add(ds)
        s.flush()
        var_ids = _var_ids(ds.id, meta.columns)
        for i, (col, vid) in enumerate(zip(meta.columns, var_ids, strict=True)):
            s.add(db.Variable(dataset_id=ds.id, position=i, var_id=vid, column=col.name, label=col.label,
                              unit=col.unit, denominator=col.denominator, polarity=col.polarity,
                              decimals=col.decimals))
        s.add_all([db.DatasetShare(dataset_id=ds.id, partnership_id=p) for p in pids])
        s.add_all([db.DatasetShare(dataset_id=ds.id, org_id=o) for o in oids])
        rel, digest, covers = _write(reader.data_dir, ds.id, frame, var_ids, [c.name for c in meta.columns])
        version = db.Version(dataset_id=ds.id, number=1, as_of=meta.as_of, file=rel, sha256=digest,
                             authorities=covers, rows=len(frame), via=via, created_by=actor.user_id)
        s.add(version)
        s.flush()
        ds.current_version_id = version.id
        if meta.pull_url:
            s.add(db.PullState(dataset_id=ds.id, next_at=db.now()))
        audit.record(s, "dataset.publish", org_id=org_id, dataset_id=ds.id, actor=actor,
                     detail=f"{meta.title!r} {meta.level} access={meta.access} via {via}: {report.summary()}")
        db.bump(s)
        _hook_before_commit()
        result = {"id": ds.id, "version": 1, "variables": var_ids, "report": report.as_dict()}
    return result


def _rule(s: Any, ds: db.Dataset) -> access.Rule:
    shares = s.execute(sa.select(db.DatasetShare).where(db.DatasetShare.dataset_id == ds.id)).scalars().all()
    return access.Rule(ds.id, ds.org_id, ds.access, frozenset(x.partnership_id for x in shares if x.partnership_id),
                       frozenset(x.org_id for x in shares if x.org_id))


def _editable(s: Any, actor: access.Actor, dataset_id: int, action: str = "dataset.version") -> db.Dataset:
    """The dataset, when the actor may ``action`` it; Denied when they may not see it, Forbidden otherwise."""
    ds = s.get(db.Dataset, dataset_id)
    if ds is None:
        raise Denied(dataset_id)
    rule = _rule(s, ds)
    if not access.allowed(actor, "dataset.read", rule):
        raise Denied(dataset_id)
    ok, why = access.explain(actor, action, rule)
    if not ok:
        raise Forbidden(f"not allowed: {why}")
    return ds


def _feed_actor(org_id: int) -> access.Actor:
    """The live-feed puller acts as an editor of the dataset's organisation, and only that."""
    return access.Actor(roles=((org_id, "editor"),), via="feed")


def add_version(actor: access.Actor | None, dataset_id: int, data: bytes, filename: str, reader: Extracts,
                as_of: str | None = None, note: str = "", via: str = "api", report: Report | None = None,
                unchanged_ok: bool = False) -> dict:
    """A new version of a dataset (same code column and indicators). ``actor`` None: the live-feed puller,
    acting for the dataset's organisation. ``unchanged_ok``: values equal to the current version's make no
    new version (``{"unchanged": True}``). Raises Rejected, Denied, Forbidden or Busy."""
    report = report or Report()
    url = db.database_url(data_dir=reader.data_dir)
    with db.session(url) as s:
        ds = s.get(db.Dataset, dataset_id) if actor is None else _editable(s, actor, dataset_id)
        if ds is None:
            raise Denied(dataset_id)
        variables = list(ds.variables)
        meta = Metadata(title=ds.title, level=ds.level, code_column=ds.code_column,
                        columns=[Column(v.column, v.label, v.unit) for v in variables], licence=ds.licence,
                        source=ds.source, as_of=as_of or date.today().isoformat())
        org_id = ds.org_id
    onto = _onto(actor or _feed_actor(org_id), _org_resource(reader, org_id))
    frame = check(data, filename, meta, reader, report, onto=onto)
    if frame is None or not report.ok:
        audit.record_now("version.rejected", org_id=org_id, dataset_id=dataset_id, actor=actor or _feed_actor(org_id),
                         detail=f"via {via}: {report.summary()}", url=url)
        raise Rejected(report)
    var_ids, columns = [v.var_id for v in variables], [v.column for v in variables]
    if unchanged_ok:
        with db.session(url) as s:
            current = s.execute(sa.select(db.Version).join(db.Dataset, db.Dataset.current_version_id == db.Version.id)
                                .where(db.Dataset.id == dataset_id)).scalar_one_or_none()
        if current is not None and _digest(frame, var_ids, columns) == current.sha256:
            return {"id": dataset_id, "version": current.number, "unchanged": True, "report": report.as_dict()}
    # The file first, under its own name; then the row, numbered inside the transaction.
    rel, digest, covers = _write(reader.data_dir, dataset_id, frame, var_ids, columns)

    def commit() -> int:
        with db.session(url) as s:
            _lock_dataset(s, dataset_id)
            ds = s.get(db.Dataset, dataset_id)
            if ds is None:
                raise Denied(dataset_id)
            number = _next_number(s, dataset_id)
            version = db.Version(dataset_id=dataset_id, number=number, as_of=meta.as_of, file=rel,
                                 sha256=digest, authorities=covers, rows=len(frame), via=via, note=note,
                                 created_by=actor.user_id if actor else None)
            s.add(version)
            s.flush()
            ds.current_version_id = version.id
            audit.record(s, "version.add", org_id=org_id, dataset_id=dataset_id, actor=actor or _feed_actor(org_id),
                         detail=f"version {number} as of {meta.as_of} via {via}: {report.summary()}")
            db.bump(s)
            _hook_before_commit()
            return number

    number = _retrying(commit)
    return {"id": dataset_id, "version": number, "variables": var_ids, "report": report.as_dict()}


def _file_ok(data_dir: Path, version: db.Version) -> bool:
    """Whether a version's file is there with the bytes its row names (fetched to this host if need be).
    Raises storage.Unavailable while object storage cannot be reached."""
    try:
        path = storage.local_copy(registry.object_key(version.file), version.sha256, data_dir)
        return storage.sha256_file(path) == version.sha256
    except (FileNotFoundError, storage.Corrupt):
        return False


def restore(actor: access.Actor, dataset_id: int, number: int, data_dir: Path) -> dict:
    """Make an earlier version current again, as a new version (the history only grows). A version whose
    file is missing or damaged is never made current (Rejected, saying so)."""
    url = db.database_url(data_dir=data_dir)
    with db.session(url) as s:
        _editable(s, actor, dataset_id)
        old = s.execute(sa.select(db.Version).where(db.Version.dataset_id == dataset_id,
                                                    db.Version.number == number)).scalar_one_or_none()
        if old is None:
            raise Denied(f"{dataset_id}/{number}")
        if not _file_ok(data_dir, old):
            report = Report()
            report.error("version", f"version {number}'s file is missing or damaged: it cannot be restored "
                         "(`atlas check` lists such versions)")
            raise Rejected(report)

    def commit() -> dict:
        with db.session(url) as s:
            _lock_dataset(s, dataset_id)
            ds = s.get(db.Dataset, dataset_id)
            old = s.execute(sa.select(db.Version).where(db.Version.dataset_id == dataset_id,
                                                        db.Version.number == number)).scalar_one()
            latest = _next_number(s, dataset_id)
            version = db.Version(dataset_id=dataset_id, number=latest, as_of=old.as_of, file=old.file,
                                 sha256=old.sha256, authorities=old.authorities, rows=old.rows, via="restore",
                                 note=f"restores version {number}",
                                 created_by=actor.user_id)
            s.add(version)
            s.flush()
            ds.current_version_id = version.id
            audit.record(s, "version.restore", org_id=ds.org_id, dataset_id=ds.id, actor=actor,
                         detail=f"version {latest} restores version {number}")
            db.bump(s)
            _hook_before_commit()
            return {"id": dataset_id, "version": latest, "restores": number}

    return _retrying(commit)


def set_access(actor: access.Actor, dataset_id: int, level: str, partnerships: list[str], organisations: list[str],
               data_dir: Path) -> None:
    """Change who may see a dataset (organisation admins and site administrators)."""
    if level not in access.LEVELS:
        raise ValueError(f"access level must be one of {', '.join(access.LEVELS)}")
    url = db.database_url(data_dir=data_dir)
    with db.session(url) as s:
        ds = _editable(s, actor, dataset_id, "dataset.share")
        report = Report()
        meta = Metadata("", "", "", [], "", "", "", access=level, partnerships=partnerships,
                        organisations=organisations)
        pids, oids = _shares(s, meta, report, ds.org_id)
        if not report.ok:
            raise Rejected(report)
        s.execute(sa.delete(db.DatasetShare).where(db.DatasetShare.dataset_id == dataset_id))
        s.add_all([db.DatasetShare(dataset_id=dataset_id, partnership_id=p) for p in pids])
        s.add_all([db.DatasetShare(dataset_id=dataset_id, org_id=o) for o in oids])
        before = ds.access
        ds.access = level
        audit.record(s, "dataset.access", org_id=ds.org_id, dataset_id=ds.id, actor=actor,
                     detail=f"{before} -> {level}; partnerships {json.dumps(partnerships)}; "
                            f"organisations {json.dumps(organisations)}")
        db.bump(s)


def version_frame(actor: access.Actor, dataset_id: int, number: int, data_dir: Path) -> tuple[pd.DataFrame, Any]:
    """One version of a published dataset as a table (code, authority, one column per indicator, named by
    the uploaded column), for its download. Denied when the actor may not see the dataset (or no such
    version). A read of restricted data is audited."""
    pub = registry.snapshot(data_dir).by_id(dataset_id, actor)
    if pub is None:
        raise Denied(dataset_id)
    with db.session(db.database_url(data_dir=data_dir)) as s:
        version = s.execute(sa.select(db.Version).where(db.Version.dataset_id == dataset_id,
                                                        db.Version.number == number)).scalar_one_or_none()
        if version is None:
            raise Denied(f"{dataset_id}/{number}")
        key, sha256 = registry.object_key(version.file), version.sha256
    try:
        frame = pq.read_table(storage.local_copy(key, sha256, data_dir)).to_pandas()
    except (OSError, pa.ArrowException, storage.Corrupt):
        # A file lost outside the app (`atlas check` reports it): absent, like an unknown version.
        raise Denied(f"{dataset_id}/{number}") from None
    frame = frame.rename(columns={v["id"]: v["cell"] for v in pub.variables})
    if pub.points:  # a table of points: its coordinates, name and areas under plain names, where free
        taken = set(frame.columns)
        plain = {c: {"pt_lon": "longitude", "pt_lat": "latitude"}.get(c, c[len(pointdata.PREFIX):])
                 for c in frame.columns if c.startswith(pointdata.PREFIX)}
        frame = frame.rename(columns={c: n for c, n in plain.items() if n not in taken})
    if pub.rule.access != "public":
        audit.read(pub.id, pub.rule.org_id, f"download version {number}", url=db.database_url(data_dir=data_dir),
                   actor=actor)
    return frame, pub


def check_files(data_dir: Path, orphan_age: float = SWEEP_AGE) -> list[str]:
    """What is wrong between the version rows and the stored files (``atlas check``): a row whose file is
    missing, a file whose checksum differs from its row's, two rows with one number, a dataset whose current
    version is not its own, and a file no row refers to that is older than ``orphan_age`` seconds (a younger
    one is a push in progress, or one a crash left, which ``atlas sweep`` removes at that age); with object
    storage, also the builds stored there (atlas/builds.py). Empty when all is well. Raises
    storage.Unavailable while object storage cannot be reached."""
    problems: list[str] = []
    url = db.database_url(data_dir=data_dir)
    store = storage.get(data_dir)
    problems += builds.check_stored(store, orphan_age)
    if not db.exists(url):
        return problems
    with db.session(url) as s:
        versions = s.execute(sa.select(db.Version).order_by(db.Version.dataset_id, db.Version.number)).scalars().all()
        current = dict(s.execute(sa.select(db.Dataset.id, db.Dataset.current_version_id)).all())
    own = {v.id: v.dataset_id for v in versions}
    numbers: dict[tuple[int, int], int] = {}
    stored = {e.key: e for e in _version_objects(store)}
    checked: dict[str, bool] = {}
    for v in versions:
        numbers[(v.dataset_id, v.number)] = numbers.get((v.dataset_id, v.number), 0) + 1
        key = registry.object_key(v.file)
        if key not in stored:
            problems.append(f"ds{v.dataset_id} version {v.number}: its file {v.file} is missing")
            continue
        if key not in checked:  # a restore shares its file with the version it restores
            checked[key] = hashlib.sha256(store.get(key)).hexdigest() == v.sha256
        if not checked[key]:
            problems.append(f"ds{v.dataset_id} version {v.number}: its file {v.file} does not match its checksum")
    for (ds_id, number), n in numbers.items():
        if n > 1:
            problems.append(f"ds{ds_id} version {number}: {n} rows with that number")
    for ds_id, version_id in current.items():
        if version_id is None or own.get(version_id) != ds_id:
            problems.append(f"ds{ds_id}: its current version is {'none' if version_id is None else 'not its own'}")
    used = {registry.object_key(v.file) for v in versions}
    now = time.time()
    for key, entry in sorted(stored.items()):
        if key not in used and now - entry.modified >= orphan_age:
            problems.append(f"{key.removeprefix(registry.PUBLISHED + '/')}: a file no version refers to "
                            "(`atlas sweep` removes it)")
    return problems


def _version_objects(store: storage.Storage) -> list[storage.Entry]:
    """The stored objects under ``published/`` that are versions' files: not a table of points' aggregates,
    which a file storage keeps beside them (``published/.derived/``, atlas/pointdata.py: derived by each host,
    swept apart)."""
    derived = f"{registry.PUBLISHED}/{pointdata.DERIVED}/"
    return [e for e in store.list(registry.PUBLISHED + "/") if not e.key.startswith(derived)]


def sweep(data_dir: Path, older_than: float = SWEEP_AGE) -> list[str]:
    """Remove version files no version row refers to (left by a crash before a commit) and older than
    ``older_than`` seconds (a publish in progress elsewhere is never touched), and with object storage the
    objects of build uploads that never finished; and a table of points' area aggregates (atlas/pointdata.py,
    derived again on demand, in this host's folder) of a version no longer current or of another build than
    the current one, at the same age. Returns their keys (paths, for the aggregates)."""
    store = storage.get(data_dir)
    removed = builds.sweep_stored(store, older_than)
    url = db.database_url(data_dir=data_dir)
    if not db.exists(url):
        return removed
    with db.session(url) as s:
        versions = list(s.execute(sa.select(db.Version.file)).scalars())
        current = set(s.execute(sa.select(db.Version.file).join(
            db.Dataset, db.Dataset.current_version_id == db.Version.id)).scalars())
    used = {registry.object_key(f) for f in versions}
    now = time.time()
    for entry in _version_objects(store):
        if entry.key not in used and now - entry.modified >= older_than:
            store.delete(entry.key)
            removed.append(entry.key)
    build = (Path(data_dir) / "current").resolve().name
    keep = {f"{rel.replace('/', '-').removesuffix('.parquet')}.{build}" for rel in current}
    for path in (registry.published_dir(data_dir) / pointdata.DERIVED).glob("*.parquet"):
        if path.name.rsplit(".", 2)[0] not in keep and now - path.stat().st_mtime >= older_than:
            path.unlink(missing_ok=True)
            removed.append(str(path))
    return removed
