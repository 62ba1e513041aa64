"""Numbers as the atlas prints them: one precision per variable, rounded once from full precision.

The rule (docs/explorer.md, "Precision"): every variable has a printed precision (the catalogue's
``decimals``, else by unit), and a figure is rounded to it once, halves away from zero, from the full-precision
value the extracts store. atlas/view.py applies it to every view; atlas/air.py to exposure figures; both
through these functions, so two copies of the rule never drift.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["HALF_TOLERANCE", "MINUS", "UNIT_WORDS", "decimals_for", "format_number", "format_value",
           "round_half_away"]

#: Printed precision by unit, where the catalogue does not give one.
_DECIMALS_BY_UNIT = {
    "percentage": 1, "count": 0, "people": 0, "rank": 0, "decile": 0, "sum": 0, "years": 1, "average": 2,
    "ratio": 2, "per hectare": 1, "per km2": 1, "µg/m³": 1,
}
MINUS = "\u2212"  # a true minus sign in printed numbers
#: Units printed after the number ("12.3 per km2", "10.8 µg/m³"); percentages take "%".
UNIT_WORDS = frozenset({"per hectare", "per km2", "years", "µg/m³"})


def decimals_for(row: dict, values: np.ndarray | None = None) -> int:
    """The printed precision of a variable: the catalogue's ``decimals``, else by unit, else the fewest
    decimals (at most 2) that print the values as published."""
    given = row.get("decimals")
    if given is not None and not (isinstance(given, float) and math.isnan(given)):
        return int(given)
    unit = (row.get("unit") or "").lower()
    if unit in _DECIMALS_BY_UNIT:
        return _DECIMALS_BY_UNIT[unit]
    if values is not None:
        finite = values[np.isfinite(values)]
        for d in range(3):
            if finite.size == 0 or np.allclose(finite, np.round(finite, d), rtol=0, atol=1e-9):
                return d
    return 2


#: How close (relative to the scaled value) a value must be to a half to count as one: float64 division puts
#: a true half (249 / 2000 x 100 = 12.45) a few units in the last place either side of it, while a share of
#: two counts below 10 million that is not a half lies at least 5e-8 from one at 1 decimal place.
HALF_TOLERANCE = 1e-10


def round_half_away(values: Any, decimals: int) -> Any:
    """The one rounding rule for print: to ``decimals`` places, halves away from zero (12.45 -> 12.5,
    -0.45 -> -0.5, 2.5 -> 3), as the publishers' own tables round; from the full-precision value, once.
    Python's and numpy's ``round`` round halves to even and see 12.45 as 12.4499999..., which printed
    "12.4". Takes a float or an array (NaN stays NaN); returns the same kind."""
    x = np.asarray(values, dtype="float64")
    scale = 10.0 ** decimals
    scaled = np.abs(x) * scale
    out = np.sign(x) * np.floor(scaled + 0.5 + HALF_TOLERANCE * np.maximum(scaled, 1.0)) / scale
    out = np.where(out == 0, 0.0, out)  # no "-0"
    return float(out) if np.ndim(out) == 0 else out


def format_number(value: float | None, decimals: int) -> str:
    """``1234.5`` -> "1,234.5" at exactly ``decimals`` places (``round_half_away``), a true minus sign,
    "no data" for missing."""
    if value is None or not math.isfinite(value):
        return "no data"
    value = round_half_away(value, decimals)
    text = f"{abs(value):,.{decimals}f}"
    negative = value < 0 and text.strip("0.,") != ""
    return (MINUS if negative else "") + text


def format_value(value: float | None, decimals: int, unit: str) -> str:
    """A value as the map prints it: with "%" for percentages, the unit word for rates."""
    text = format_number(value, decimals)
    if text == "no data":
        return text
    if unit == "percentage":
        return text + "%"
    if unit in UNIT_WORDS:
        return f"{text} {unit}"
    return text
