"""Reading an uploaded spreadsheet (XLSX) in a separate process, with memory and time limits, so a
"spreadsheet bomb" (a small file declaring hundreds of megabytes, or millions of cells) costs a short-lived
child process and never the web worker: the worker's memory stays at its baseline whatever is uploaded.

``read_xlsx(data, max_rows, max_columns, max_cell)`` runs ``python -m atlas.sheets`` (this module, which
imports only the standard library and openpyxl), hands it the file on standard input, and reads rows of
text back as JSON. The child:

- limits its own address space (``ATLAS_UPLOAD_PARSE_MEMORY_MB``) and CPU time
  (``ATLAS_UPLOAD_PARSE_SECONDS``) with ``setrlimit`` before reading anything; the parent also waits at
  most that long (and a little more) and kills it;
- checks what the archive declares before inflating anything: the first sheet's and the shared strings'
  uncompressed sizes (``MAX_EXPANDED`` times the upload limit at most), and the sheet's declared dimension
  (``<dimension ref="A1:Z1000000">``) against the row and column limits;
- reads the first sheet streaming (openpyxl read-only; XML through defusedxml), stopping at the limits.

What was wrong comes back as a ``(kind, message)`` problem for the validation report.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from typing import Any

__all__ = ["MAX_EXPANDED", "read_xlsx"]

#: How much larger than the upload limit the first sheet and shared strings may expand.
MAX_EXPANDED = 10
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')


def _column_number(letters: bytes) -> int:
    n = 0
    for c in letters:
        n = n * 26 + (c - 64)
    return n


def _text(value: Any, max_cell: int) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return str(value)[:max_cell]


def _sheet_member(zf: zipfile.ZipFile) -> str | None:
    names = set(zf.namelist())
    if "xl/worksheets/sheet1.xml" in names:
        return "xl/worksheets/sheet1.xml"
    sheets = sorted(n for n in names if n.startswith("xl/worksheets/") and n.endswith(".xml"))
    return sheets[0] if sheets else None


def _parse(data: bytes, max_rows: int, max_columns: int, max_cell: int, max_bytes: int) -> dict:
    """In the child: rows, notes and at most one problem."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return {"problem": ["format", "not a readable XLSX workbook (not a zip archive)"]}
    with zf:
        member = _sheet_member(zf)
        if member is None:
            return {"problem": ["format", "not a readable XLSX workbook (no worksheet)"]}
        declared = sum(i.file_size for i in zf.infolist()
                       if i.filename in (member, "xl/sharedStrings.xml"))
        whole = sum(i.file_size for i in zf.infolist())
        if declared > MAX_EXPANDED * max_bytes or whole > 4 * MAX_EXPANDED * max_bytes:
            return {"problem": ["size", f"the spreadsheet declares {declared:,} bytes of cells; at most "
                                f"{MAX_EXPANDED * max_bytes:,} are read"]}
        with zf.open(member) as handle:
            head = handle.read(4096)
        found = _DIMENSION.search(head)
        if found and found.group(3):
            rows = int(found.group(4)) - int(found.group(2)) + 1
            cols = _column_number(found.group(3)) - _column_number(found.group(1)) + 1
            if rows > max_rows + 1:
                return {"problem": ["size", f"the spreadsheet declares {rows:,} rows; at most {max_rows:,} are "
                                    "accepted"]}
            if cols > max_columns:
                return {"problem": ["size", f"the spreadsheet declares {cols:,} columns; at most {max_columns} "
                                    "are accepted"]}
    import openpyxl  # noqa: PLC0415 - only here, in the child

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable workbook is the uploader's problem, said plainly
        return {"problem": ["format", f"not a readable XLSX workbook ({exc.__class__.__name__})"]}
    notes = []
    out: list[list[str]] = []
    cells = 0
    try:
        sheet = book.worksheets[0]
        for i, row in enumerate(sheet.iter_rows(values_only=True)):
            if i > max_rows:
                return {"problem": ["size", f"more than {max_rows:,} rows; at most {max_rows:,} are accepted"]}
            if len(row) > max_columns:
                return {"problem": ["size", f"{len(row)} columns; at most {max_columns} are accepted"]}
            cells += len(row)
            if cells > (max_rows + 1) * max_columns:
                return {"problem": ["size", "too many cells"]}
            out.append(["" if v is None else _text(v, max_cell) for v in row])
        if len(book.worksheets) > 1:
            notes.append(f"read the first sheet, {sheet.title!r}, of {len(book.worksheets)}")
    finally:
        book.close()
    while out and not any(c.strip() for c in out[-1]):
        out.pop()
    return {"rows": out, "notes": notes}


def _child() -> None:
    import resource  # noqa: PLC0415

    args = json.loads(sys.argv[1])
    memory = args["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (args["seconds"], args["seconds"] + 1))
    data = sys.stdin.buffer.read()
    try:
        result = _parse(data, args["max_rows"], args["max_columns"], args["max_cell"], args["max_bytes"])
    except MemoryError:
        result = {"problem": ["size", "the spreadsheet needs more time or memory to read than an upload may take "
                              f"({args['seconds']} s, {args['memory_mb']} MB)"]}
    sys.stdout.write(json.dumps(result))


def wall_seconds(cpu_seconds: int) -> int:
    """How long the parent waits for the child (its CPU time limit, twice over, and its start-up)."""
    return cpu_seconds * 2 + 10


def read_xlsx(data: bytes, max_rows: int, max_columns: int, max_cell: int) -> dict:
    """{"rows": [...], "notes": [...]} or {"problem": [kind, message]}, read in a limited child process."""
    from atlas import settings  # noqa: PLC0415 - not in the child

    config = settings.load()
    args = {"max_rows": max_rows, "max_columns": max_columns, "max_cell": max_cell,
            "max_bytes": config.upload_max_bytes, "memory_mb": config.upload_parse_memory_mb,
            "seconds": config.upload_parse_seconds}
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.dirname(os.path.dirname(__file__)),
                                                      env.get("PYTHONPATH", "")]))
    env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    wall = wall_seconds(config.upload_parse_seconds)
    # One answer for every limit reached (the CPU time, the memory, or the parent's wall-clock wait, which a
    # busy machine may reach first): which one is hit first depends on the machine, not on the workbook.
    too_big = {"problem": ["size", "the spreadsheet needs more time or memory to read than an upload may take "
                           f"({config.upload_parse_seconds} s, {config.upload_parse_memory_mb} MB)"]}
    try:
        done = subprocess.run([sys.executable, "-m", "atlas.sheets", json.dumps(args)], input=data,
                              capture_output=True, timeout=wall, env=env,
                              check=False)
    except subprocess.TimeoutExpired:
        return too_big
    if done.returncode != 0 or not done.stdout:
        if done.returncode in (-9, -24, 152, 137) or b"MemoryError" in done.stderr:
            return too_big
        return {"problem": ["format", "not a readable XLSX workbook"]}
    try:
        return json.loads(done.stdout)
    except ValueError:
        return {"problem": ["format", "not a readable XLSX workbook"]}


if __name__ == "__main__":
    _child()
