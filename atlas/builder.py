"""Built indicators: a share made by a user from the counts of one table, over a denominator of the same
universe, carried whole in its code (so a link holds it, and it goes wherever a variable code goes).

A code reads ``b~<table>~<numerator cells>~<denominator cells>~<name>``, for example
``b~ks105ew~2~~Older people living alone`` (one person households aged 65 and over, of all households):

- ``<table>`` is the dataset id of a census table in the catalogue (``ks105ew``, ``ts054``, ``ts054_lsoa11``);
- cells are the table's count cells by number (``cells(...)`` lists them: 1 is the first in the catalogue's
  order), joined by ``-``; the numerator needs at least one; an empty denominator means the table's total;
- ``<name>`` is what the map, legend and downloads call it: 1-60 letters, digits, spaces and ``'()+-%``.

Which cells may go together is read from the catalogue itself: a table's **universe** is a total (a count cell
that a published share divides by: its ``denominator``) and the count cells shared over it. Every cell of a
built indicator must be a published count of that one universe, at the levels where the table exists. A cell
and a part of it (``Owned`` and ``Owned: Owns outright``) may not be added on one side (the part would count
twice), and a chosen denominator must hold every numerator cell (itself or a cell it is part of), so the share
is a share (0-100).

The share is sum(numerator) / sum(denominator) x 100 per area, at full precision (printed once, by the
catalogue's rule for percentages, 1 decimal); an area whose denominator is 0 or missing has no value.
``row`` makes the catalogue row the store serves for a code; ``value_sql`` the expression it reads.
Pure functions: no store, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["MAX_CELLS", "MAX_CODE", "MAX_NAME", "PREFIX", "BuiltError", "Definition", "Table", "cells_text",
           "describe", "encode", "is_code", "parse", "row", "tables", "value_sql"]

PREFIX = "b~"
MAX_NAME = 60
MAX_CELLS = 40  # per side; the longest universe here has a few hundred cells, a share of 40 is already unusual
#: The longest code: what an address's value may hold (atlas/viewstate.py MAX_VALUE, checked by a test).
MAX_CODE = 200
#: What a name may hold: it is printed on maps, in file names and in CSV headers as it is.
_NAME = re.compile(r"^[A-Za-z0-9 '()+%-]+$")  # no ",": codes are listed comma-separated (?variables=)
_CELLS = re.compile(r"^[0-9]{1,4}(-[0-9]{1,4})*$")
_TABLE = re.compile(r"^[a-z0-9_]{1,60}$")
_NOMIS_CELL = re.compile(r"^[A-Z]{2}[0-9]{3}[A-Z]{2}[0-9]{4}$")  # KS105EW0002: the publisher's cell code
#: Count cells that may be built from: as published, or re-based onto other areas (counts still).
_METHODS = ("published", "apportioned", "re-based")


class BuiltError(ValueError):
    """A built indicator's code that cannot be used; ``str()`` says what was wrong, in a sentence."""


@dataclass(frozen=True)
class Definition:
    """A parsed code: table (dataset id), numerator and denominator cell numbers (1-based), name."""

    table: str
    numerator: tuple[int, ...]
    denominator: tuple[int, ...]  # empty: the table's total
    name: str


@dataclass(frozen=True)
class Table:
    """A census table that indicators can be built from: its dataset id, its count cells (catalogue rows, in
    id order: cell n is ``cells[n - 1]``) and, per cell, the total of its universe (a cell id) or None."""

    dataset: str
    cells: tuple[dict, ...]
    universe: tuple[str | None, ...]


def is_code(text: object) -> bool:
    """Whether ``text`` is meant as a built indicator's code (it may still be invalid)."""
    return isinstance(text, str) and text.startswith(PREFIX)


def encode(table: str, numerator: Iterable[int], denominator: Iterable[int], name: str) -> str:
    """The code of a definition (cells sorted, without repeats); ``parse`` checks it."""
    num = "-".join(str(n) for n in sorted(set(numerator)))
    den = "-".join(str(n) for n in sorted(set(denominator)))
    return f"{PREFIX}{table}~{num}~{den}~{' '.join(str(name).split())}"


def _cells(text: str, side: str) -> tuple[int, ...]:
    if not _CELLS.match(text):
        raise BuiltError(f"the {side} cells {text[:40]!r} are not cell numbers joined by '-' (such as 2-3)")
    numbers = tuple(int(n) for n in text.split("-"))
    if len(set(numbers)) != len(numbers):
        raise BuiltError(f"a {side} cell is listed twice ({text[:40]})")
    if len(numbers) > MAX_CELLS:
        raise BuiltError(f"{len(numbers)} {side} cells; a built indicator takes at most {MAX_CELLS}")
    if 0 in numbers:
        raise BuiltError(f"there is no cell 0 (the {side} cells are numbered from 1)")
    return numbers


def parse(code: str) -> Definition:
    """The definition in ``code``, checked for form only (``row`` checks it against the catalogue).
    Raises BuiltError naming what is wrong."""
    if not is_code(code):
        raise BuiltError(f"a built indicator's code starts with {PREFIX!r}")
    if len(code) > MAX_CODE:
        raise BuiltError(f"the code is {len(code)} characters long, more than an address holds ({MAX_CODE}): "
                         "choose fewer cells or a shorter name")
    parts = code[len(PREFIX):].split("~", 3)
    if len(parts) != 4:
        raise BuiltError("a built indicator's code has four parts after 'b~': table~numerator~denominator~name "
                         "(such as b~ks105ew~2~~Older people living alone)")
    table, num, den, name = parts
    if not _TABLE.match(table):
        raise BuiltError(f"{table[:40]!r} is not a table id (lower-case letters, digits and _, such as ks105ew)")
    if not num:
        raise BuiltError("the numerator is empty: choose at least one cell to count")
    numerator = _cells(num, "numerator")
    denominator = _cells(den, "denominator") if den else ()
    if not name.strip():
        raise BuiltError("the indicator has no name: give it one (up to 60 characters)")
    if len(name) > MAX_NAME:
        raise BuiltError(f"the name is {len(name)} characters long; at most {MAX_NAME}")
    if not _NAME.match(name):
        bad = sorted({c for c in name if not _NAME.match(c)})
        shown = " ".join(repr(c) for c in bad[:5])
        raise BuiltError(f"the name holds characters it may not ({shown}): use letters, digits, spaces and "
                         "' ( ) + - %")
    if name != " ".join(name.split()):
        raise BuiltError("the name starts or ends with a space, or has two spaces in a row")
    return Definition(table, numerator, denominator, name)


def tables(rows: Iterable[dict]) -> dict[str, Table]:
    """Every table of the catalogue ``rows`` that indicators can be built from, by dataset id: the datasets
    with a published count cell that a published share divides by (a universe's total)."""
    rows = [r for r in rows if not r.get("published") and not r.get("points")]
    by_id = {r["id"]: r for r in rows}
    totals: dict[tuple[str, str], str] = {}  # (dataset, cell text) -> the total of a share of that cell
    for r in rows:
        den = r.get("denominator")
        if (r.get("unit") == "percentage" and den in by_id and by_id[den].get("unit") == "count"
                and by_id[den]["dataset"] == r["dataset"]):
            totals.setdefault((r["dataset"], r.get("cell") or ""), den)
            totals.setdefault((r["dataset"], by_id[den].get("cell") or ""), den)
    out: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: r["id"]):
        if (r.get("unit") == "count" and r.get("method") in _METHODS and r.get("kind", "numeric") == "numeric"
                and (r["dataset"], r.get("cell") or "") in totals):
            out.setdefault(r["dataset"], []).append(r)
    found: dict[str, Table] = {}
    for d, cells in out.items():
        ids = {c["id"] for c in cells}
        # A universe whose total is not itself a count cell here (a derived total) cannot be built over.
        kept = [c for c in cells if totals[(d, c.get("cell") or "")] in ids]
        if kept:
            found[d] = Table(d, tuple(kept), tuple(totals[(d, c.get("cell") or "")] for c in kept))
    return found


def _part_of(child: dict, parent: dict) -> bool:
    """Whether count ``child`` is a part of count ``parent`` by their labels (``Owned: Owns outright`` of
    ``Owned``), as the publishers write a table's hierarchy."""
    a, b = _bare(child), _bare(parent)
    return a != b and a.startswith(b + ": ")


def _bare(row: dict) -> str:
    label = str(row.get("label") or "")
    return re.sub(r" \((persons|households|people)\)$", "", label).strip()


def row(table: Table | None, code: str, definition: Definition) -> dict:
    """The catalogue row of a built indicator (what ``store.variable`` answers for its code), or BuiltError
    naming what does not fit the table."""
    d = definition
    if table is None:
        raise BuiltError(f"there is no census table {d.table!r} to build from (tables are listed at "
                         "/api/builder)")
    n = len(table.cells)
    for side, cells in (("numerator", d.numerator), ("denominator", d.denominator)):
        beyond = [c for c in cells if c > n]
        if beyond:
            raise BuiltError(f"{d.table} has {n} count cells; there is no {side} cell {beyond[0]}")
    num = [table.cells[i - 1] for i in d.numerator]
    universes = {table.universe[i - 1] for i in d.numerator + d.denominator}
    if len(universes) != 1:
        names = sorted(str(_row_of(table, u)["label"]) for u in universes if u)
        raise BuiltError("the cells are counts of different universes (" + "; ".join(names[:3])
                         + "): choose cells shared over one total")
    total_id = universes.pop()
    total = _row_of(table, total_id)
    den = [table.cells[i - 1] for i in d.denominator] if d.denominator else [total]
    for side, cells in (("numerator", num), ("denominator", den)):
        for a in cells:
            for b in cells:
                if _part_of(a, b):
                    raise BuiltError(f"the {side} holds both {b['label']!r} and its part {a['label']!r}, "
                                     "which would count it twice")
    if d.denominator:
        for c in num:
            if not any(c["id"] == x["id"] or _part_of(c, x) or x["id"] == total_id for x in den):
                raise BuiltError(f"the numerator cell {c['label']!r} is not within the denominator: a share "
                                 "counts part of its denominator (choose it there too, or leave the denominator "
                                 "empty for the table's total)")
    cells = num + den
    levels = [lv for lv in cells[0].get("levels") or [] if all(lv in (c.get("levels") or []) for c in cells)]
    national = [lv for lv in cells[0].get("national_levels") or []
                if all(lv in (c.get("national_levels") or []) for c in cells)]
    authorities = sorted(set.intersection(*(set(c.get("authorities") or []) for c in cells)))
    base = total
    text = cells_text(num, den, total)
    den_label = " + ".join(str(c["label"]) for c in den)
    method = "apportioned" if any(c.get("method") == "apportioned" for c in cells) else "derived"
    note = (f"Built indicator: {d.name}, a share made in this atlas from {base.get('table') or d.table} "
            f"({base.get('table_title') or ''}). Numerator: " + "; ".join(str(c["label"]) for c in num)
            + f". Denominator: {den_label}.")
    notes = [str(c.get("note")) for c in cells if c.get("note")]
    if notes:
        note += " " + notes[0]
    return {
        "id": code, "label": d.name, "topic": base.get("topic"), "table": base.get("table"),
        "table_title": base.get("table_title"), "cell": " + ".join(str(c.get("cell")) for c in num),
        "unit": "percentage", "denominator": None, "polarity": None, "vintage": base.get("vintage"),
        "levels": levels, "authorities": authorities, "national": bool(national), "national_levels": national,
        "coverage": base.get("coverage"), "source": base.get("source"), "licence": base.get("licence"),
        "dataset": table.dataset, "description": None, "kind": "numeric", "method": method,
        "cells": text, "note": note, "decimals": 1, "categories": None, "palette": None, "centre": None,
        "rank_variable": None, "sources": base.get("sources"), "reason_variable": None, "thresholds": None,
        "built": {"table": table.dataset, "numerator": [c["id"] for c in num], "denominator": [c["id"] for c in den],
                  "numerator_cells": list(d.numerator), "denominator_cells": list(d.denominator),
                  "numerator_labels": [c["label"] for c in num], "denominator_labels": [c["label"] for c in den],
                  "name": d.name},
    }


def _row_of(table: Table, cell_id: str | None) -> dict:
    return next(c for c in table.cells if c["id"] == cell_id)


def cells_text(num: list[dict], den: list[dict], total: dict) -> str:
    """The cells in words, as the catalogue's ``cells`` says a derived share's."""
    def side(cells: list[dict]) -> str:
        return " + ".join(f"{c['cell']} ({c['label']})" if _NOMIS_CELL.match(str(c.get("cell") or ""))
                          else f"{c.get('table') or ''} {c['label']!r}".strip() for c in cells)
    return f"({side(num)}) / ({side(den)}) x 100"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def value_sql(built: dict) -> str:
    """The SQL expression of a built row's share per area (its cells: catalogue ids, quoted): NULL where the
    denominator is 0 or any cell missing. Divided, then multiplied by 100, as the
    pipeline's own shares are (pipeline/datasets.py), so a built share of one cell equals the published one."""
    def total(ids: list[str]) -> str:
        return "(" + " + ".join("CAST(" + _quote(i) + " AS DOUBLE)" for i in ids) + ")"
    num, den = total(built["numerator"]), total(built["denominator"])
    return f"(CASE WHEN {den} > 0 THEN {num} / {den} * 100.0 END)"


def describe(table: Table) -> dict:
    """A table as the API and the builder's form list it: its id, title, levels, and each count cell with its
    number (what a code names), label, and its universe's total (the default denominator)."""
    first = table.cells[0]
    totals = {u for u in table.universe if u}
    return {
        "table": table.dataset, "publisher_table": first.get("table"), "title": first.get("table_title"),
        "topic": first.get("topic"), "vintage": first.get("vintage"), "source": first.get("source"),
        "licence": first.get("licence"),
        "levels": sorted({lv for c in table.cells for lv in c.get("levels") or []}),
        "totals": [{"cell": n, "id": c["id"], "label": c["label"]} for n, c in enumerate(table.cells, 1)
                   if c["id"] in totals],
        "cells": [{"cell": n, "id": c["id"], "label": c["label"], "publisher_cell": c.get("cell"),
                   "total": next(i for i, x in enumerate(table.cells, 1) if x["id"] == u) if u else None}
                  for n, (c, u) in enumerate(zip(table.cells, table.universe, strict=True), 1)],
    }
