"""Today's deprivation for one district, in words: the figures of MHCLG's district summaries (IoD 2025 File 10)
and what moved between the 2019 and 2025 editions, for the datastore's authority pages.

Everything comes from the catalogue's values at the ``lad`` level (the build's ``imd2025_districts`` and
``imd2019_2025_counts`` datasets), printed by the view's own rules (``atlas.view.format_value``), so the page
says what the map, the API and the downloads say. A December 2021 district merged in April 2023 shows its 2024
district's figures, and the page says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from atlas import view
from atlas.extracts import ALL, NATIONAL_LEVEL, NotFound

if TYPE_CHECKING:
    from atlas.catalogue import Catalogue

__all__ = ["CAUTION", "DISTRICT_MEASURES", "MOVEMENT", "district_summary"]

#: (label, value variable, rank variable) of File 10's IMD measures shown first.
DISTRICT_MEASURES: tuple[tuple[str, str, str], ...] = (
    ("IMD average score", "imd2025_lad_imd_average_score", "imd2025_lad_imd_rank_of_average_score"),
    ("IMD average rank", "imd2025_lad_imd_average_rank", "imd2025_lad_imd_rank_of_average_rank"),
    ("Proportion of LSOAs in the most deprived 10% nationally", "imd2025_lad_imd_proportion_10",
     "imd2025_lad_imd_rank_of_proportion_10"),
    ("Extent", "imd2025_lad_imd_extent", "imd2025_lad_imd_rank_of_extent"),
    ("Local concentration", "imd2025_lad_imd_local_concentration", "imd2025_lad_imd_rank_of_local_concentration"),
    ("Income: scale (people income deprived)", "imd2025_lad_income_scale", "imd2025_lad_income_rank_of_scale"),
    ("Employment: scale (people employment deprived)", "imd2025_lad_employment_scale",
     "imd2025_lad_employment_rank_of_scale"),
)
#: (words, variable) of the move 2019 -> 2025 of the district's unchanged LSOAs.
MOVEMENT: tuple[tuple[str, str], ...] = (
    ("LSOAs compared (unchanged since 2011)", "imd_2019_2025_compared"),
    ("moved into the most deprived 10%", "imd_2019_2025_into_10"),
    ("moved out of the most deprived 10%", "imd_2019_2025_out_of_10"),
    ("in the most deprived 10% in both", "imd_2019_2025_stayed_10"),
    ("moved into the most deprived 20%", "imd_2019_2025_into_20"),
    ("moved out of the most deprived 20%", "imd_2019_2025_out_of_20"),
    ("in a more deprived decile", "imd_2019_2025_more"),
    ("in the same decile", "imd_2019_2025_same"),
    ("in a less deprived decile", "imd_2019_2025_less"),
)
CAUTION = ("The indices measure relative deprivation: a move between deciles means the area's position among all "
           "English LSOAs changed, not that it became more or less deprived in absolute terms, and the 2025 "
           "edition uses updated indicators and methods (MHCLG's guidance).")


def _at(cat: Catalogue, variable: str, code: str) -> tuple[Any, dict] | None:
    try:
        frame = cat.values(ALL, NATIONAL_LEVEL, variable)
    except NotFound:
        return None
    rows = frame[frame["code"] == code]
    return (rows.iloc[0], cat.variable(variable)) if len(rows) else None


def district_summary(cat: Catalogue, code: str) -> dict | None:
    """File 10's summaries and the 2019 -> 2025 move for district ``code``, as printed; None where the build
    has none (a Welsh, Scottish or Northern Irish district, or a build without the 2025 indices)."""
    first = _at(cat, DISTRICT_MEASURES[0][1], code)
    if first is None or first[0]["value"] != first[0]["value"]:  # absent, or NaN
        return None
    note = first[0].get("carried_note")
    rows = []
    for label, variable, rank in DISTRICT_MEASURES:
        got, ranked = _at(cat, variable, code), _at(cat, rank, code)
        if got is None:
            continue
        value, row = got
        text = view.format_value(value["value"], view.decimals_for(row), (row.get("unit") or "").lower())
        rank_text = (view.format_number(ranked[0]["value"], 0) if ranked is not None else "")
        rows.append({"label": label, "value": text, "rank": rank_text, "variable": variable})
    moved = []
    for words, variable in MOVEMENT:
        got = _at(cat, variable, code)
        if got is not None and got[0]["value"] == got[0]["value"]:
            moved.append({"label": words, "count": int(got[0]["value"]), "variable": variable})
    return {"code": code, "rows": rows, "note": note if isinstance(note, str) else "", "movement": moved,
            "caution": CAUTION,
            "source": first[1].get("source") or "", "districts": 296}
