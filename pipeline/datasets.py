"""What every step of the build hands to the writer: datasets (one values frame per level) and catalogue rows.

One catalogue row per variable, built by ``variable()`` so every row has every column of the catalogue
contract (README, "Extract layout"): besides what a variable is (label, unit, source...), how it was made
(``method``: published, derived, re-based, apportioned, change), from exactly which cells (``cells``),
its caveats (``note``), how many decimals to print (``decimals``), whether it is numeric or categorical
(``kind``, with its ``categories``), and a default ``palette`` and ``centre`` where one is needed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

__all__ = ["Dataset", "KINDS", "METHODS", "OGL", "SOURCES", "UNIT_DECIMALS", "categories_json", "pct",
           "variable", "CATALOGUE_COLUMNS"]

OGL = "Open Government Licence v3.0 (https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/)"
OPL = "Open Parliament Licence v3.0 (https://www.parliament.uk/site-information/copyright-parliament/open-parliament-licence/)"
_ONS_C = "Contains National Statistics data © Crown copyright and database right"
SOURCES: dict[str, tuple[str, str]] = {
    "ks102ew": ("Office for National Statistics, 2011 Census table KS102EW (Age structure), Nomis bulk "
                f"download. {_ONS_C} 2013.", OGL),
    "cdrc": ("Office for National Statistics, 2011 Census Key and Quick Statistics, packaged by the ESRC "
             "Consumer Data Research Centre (2011 Census Geodata Pack). Contains National Statistics data "
             "© Crown copyright and database right 2015.", OGL),
    "imd2019": ("Ministry of Housing, Communities and Local Government, English Indices of Deprivation "
                "2019.", OGL),
    "wimd2019": ("Welsh Government, Welsh Index of Multiple Deprivation 2019.", OGL),
    "gla2011": ("Greater London Authority, London Datastore, Statistical GIS Boundary Files for London "
                "(2011 Census attributes). Contains National Statistics data © Crown copyright.", OGL),
    "c21": ("Office for National Statistics, Census 2021 (via Nomis), reshaped by Trafford Council Data "
            "Lab. Contains public sector information licensed under the Open Government Licence v3.0.", OGL),
    "nomis2011": ("Office for National Statistics, 2011 Census (Nomis bulk download and table downloads). "
                  f"{_ONS_C} 2013.", OGL),
    "mlid": ("Office for National Statistics, 2011 Census table KS201EW (Ethnic group), UK Data Service 2011 "
             "Census aggregate data (June 2016), as R data in the MLID package (Richard Harris). "
             f"{_ONS_C} 2017.", OGL),
    "imdpkg_qs119": ("Office for National Statistics, 2011 Census table QS119EW (Households by deprivation "
                     "dimensions, Nomis NM_519_1), as R data in the IMD package (humaniverse/IMD). "
                     f"{_ONS_C} 2013.", OGL),
    "census2021": ("Office for National Statistics, Census 2021, Nomis bulk download (topic summary tables at "
                   f"LSOA 2021). {_ONS_C} 2023.", OGL),
    "census2021_rebased": ("Office for National Statistics, Census 2021, Nomis bulk download, re-based here onto "
                           "2011 LSOAs with the ONS LSOA (2011) to LSOA (2021) to LAD (2022) exact-fit lookup. "
                           f"{_ONS_C} 2023.", OGL),
    "change": ("Office for National Statistics, 2011 Census and Census 2021 (Nomis), compared here on 2011 "
               f"LSOAs. {_ONS_C}.", OGL),
    "ruc11": ("Office for National Statistics, 2011 Rural-Urban Classification of Lower Layer Super Output "
              f"Areas in England and Wales. {_ONS_C}.", OGL),
    "oac11": ("Office for National Statistics and University College London, 2011 Area Classification for "
              f"Output Areas (2011 OAC, v3). {_ONS_C}.", OGL),
    "imd2019_file9": ("Ministry of Housing, Communities and Local Government, English Indices of Deprivation "
                      "2019, File 9 (transformed domain scores); the IMD score is rebuilt here from them.", OGL),
    "imd2019_file8": ("Ministry of Housing, Communities and Local Government, English Indices of Deprivation "
                      "2019, File 8 (underlying indicators), as R data in the IMD package (humaniverse/IMD).",
                      OGL),
    "sape2017": ("Office for National Statistics, Small Area Population Estimates: Lower layer Super Output "
                 f"Area population density, mid-2017. {_ONS_C}.", OGL),
    "voa": ("Valuation Office Agency, Council Tax stock of properties by build period, at LSOA by the ESRC "
            "Consumer Data Research Centre (Dwelling Ages and Prices).", OGL),
    "imd2025_file1": ("Ministry of Housing, Communities and Local Government, English Indices of Deprivation 2025 "
                      "(30 October 2025, reissued 13 November 2025), File 1: Index of Multiple Deprivation.", OGL),
    "imd2025_file3": ("Ministry of Housing, Communities and Local Government, English Indices of Deprivation 2025 "
                      "(reissued 13 November 2025), File 3: supplementary indices, IDACI and IDAOPI.", OGL),
    "imd2025_rda": ("Ministry of Housing, Communities and Local Government, English Indices of Deprivation 2025, "
                    "File 7 (scores, ranks and deciles of the IMD, its domains and sub-domains), as R data in the "
                    "IMD package (humaniverse/IMD).", OGL),
    "imd2025_indicators": ("Ministry of Housing, Communities and Local Government, English Indices of Deprivation "
                           "2025, File 8 (underlying indicators), as R data in the IMD package (humaniverse/IMD).",
                           OGL),
    "imd2025_file10": ("Ministry of Housing, Communities and Local Government, English Indices of Deprivation 2025, "
                       "File 10 (local authority district summaries, corrected v2), as R data in the IMD package "
                       "(humaniverse/IMD).", OGL),
    "imd2025_movement": ("Ministry of Housing, Communities and Local Government, English Indices of Deprivation "
                         "2019 and 2025 (File 1 of each), compared here for the LSOAs unchanged in 2021 (ONS exact-fit "
                         "lookup).", OGL),
    "wimd2025": ("Welsh Government, Welsh Index of Multiple Deprivation 2025: index and domain ranks by small "
                 "area (November 2025).", OGL),
    "laei": ("Greater London Authority and Transport for London, London Atmospheric Emissions Inventory (LAEI): "
             "modelled annual mean concentrations on a 20 m grid (2013, 2016 and 2019 releases), summarised to LSOAs "
             "by James Millington (King's College London, jamesdamillington/london-data).",
             "Open Government Licence v2.0 (https://www.nationalarchives.gov.uk/doc/open-government-licence/version/2/)"),
    "elections": ("House of Commons Library, Local Elections Handbook: results by ward (2021 and 2022). "
                  "Ward boundaries: Office for National Statistics, Wards (December 2022); contains OS data "
                  "© Crown copyright and database right.", OPL),
}

KINDS = ("numeric", "categorical")
METHODS = ("published", "derived", "re-based", "apportioned", "change")

#: Printed precision by unit (README, catalogue contract): percentages and point changes 1 decimal, counts,
#: ranks and deciles none, means 1, densities 1, ratios and scores 2 unless the publisher prints more.
UNIT_DECIMALS: dict[str, int] = {
    "count": 0, "percentage": 1, "percentage points": 1, "percent": 1, "rank": 0, "decile": 0, "years": 1,
    "score": 2, "per hectare": 1, "per km2": 1, "ratio": 2, "sum": 0, "average": 1, "people": 2, "km": 3,
    "proportion": 3, "rate": 3, "category": 0, "µg/m³": 1,
}

CATALOGUE_COLUMNS = ["id", "label", "topic", "table", "table_title", "cell", "unit", "denominator", "polarity",
                     "vintage", "levels", "authorities", "national", "national_levels", "coverage", "source",
                     "licence", "dataset", "description", "kind", "method", "cells", "note", "decimals",
                     "categories", "palette", "centre", "rank_variable", "sources", "reason_variable",
                     "thresholds"]


@dataclass
class Dataset:
    """One values file per level: a frame of code + variable columns, and a catalogue row per variable.

    A dataset holds numeric or categorical variables, never both (categorical values are text codes)."""

    name: str
    frames: dict[str, pd.DataFrame]
    variables: list[dict]
    national_levels: tuple[str, ...] = ()
    coverage: str = ""


def variable(id_: str, label: str, topic: str, table: str, table_title: str, cell: str, unit: str,
             source: str, vintage: str, denominator: str | None = None, polarity: str | None = None,
             description: str = "", *, method: str | None = None, cells: str | None = None, note: str = "",
             decimals: int | None = None, kind: str = "numeric", categories: list[dict] | None = None,
             palette: str = "", centre: float | None = None, coverage: str | None = None,
             rank_variable: str = "", thresholds: str = "") -> dict:
    """One catalogue row. ``method`` defaults to "derived" for percentages said to be derived here and to
    "published" otherwise; ``cells`` to the cell itself; ``decimals`` to the unit's (UNIT_DECIMALS)."""
    text, licence = SOURCES[source]
    if method is None:
        method = "derived" if description.startswith("Derived") else "published"
    if method not in METHODS:
        raise ValueError(f"{id_}: unknown method {method!r}")
    if kind not in KINDS:
        raise ValueError(f"{id_}: unknown kind {kind!r}")
    if kind == "categorical" and not categories:
        raise ValueError(f"{id_}: a categorical variable needs its categories")
    if decimals is None:
        decimals = UNIT_DECIMALS.get(unit)
        if decimals is None:
            raise ValueError(f"{id_}: no printed precision for unit {unit!r}")
    row = {"id": id_, "label": label, "topic": topic, "table": table, "table_title": table_title, "cell": cell,
           "unit": unit, "denominator": denominator, "polarity": polarity, "vintage": vintage, "source": text,
           "licence": licence, "description": description, "kind": kind, "method": method,
           "cells": cell if cells is None else cells, "note": note, "decimals": int(decimals),
           "categories": categories_json(categories) if categories else "", "palette": palette,
           "centre": None if centre is None else float(centre), "rank_variable": rank_variable,
           # Where a variable comes from several publishers, which one gives which levels and places (JSON:
           # [{"source", "levels", "coverage"}]); "" for one source. The app credits the view's own.
           "sources": "",
           # A categorical variable whose label says why an area has no value (election results: a tie, no
           # election that year...); "" for none.
           "reason_variable": "",
           # Values a figure is judged against (JSON: [{"value", "label", "kind": guideline|target|limit,
           # "basis"}], increasing), e.g. the WHO guideline and the UK legal limit of an air pollutant: the map's
           # "Guideline and limits" classes and the population-weighted exposure (atlas/air.py); "" for none.
           "thresholds": thresholds}
    if coverage is not None:
        row["coverage"] = coverage
    return row


def categories_json(items: list[dict]) -> str:
    """``[{"code": "1", "label": "...", "colour": "#..."|null}, ...]`` in the publisher's order."""
    out = []
    for item in items:
        code, label = str(item["code"]), str(item["label"])
        colour = item.get("colour")
        if colour is not None and not (isinstance(colour, str) and len(colour) == 7 and colour.startswith("#")):
            raise ValueError(f"category {code}: colour {colour!r} is not #rrggbb")
        out.append({"code": code, "label": label, "colour": colour})
    codes = [c["code"] for c in out]
    if len(set(codes)) != len(codes):
        raise ValueError(f"category codes repeat: {codes}")
    return json.dumps(out, ensure_ascii=False)


def pct(frame: pd.DataFrame, column: str, total: str) -> pd.Series:
    """Percentage of the table's total; missing where the total is zero or missing (never invented)."""
    denominator = frame[total].where(frame[total] > 0)
    # Full precision: the app rounds once, for print (atlas/view.py); a stored 4-dp value would be rounded twice.
    return frame[column] / denominator * 100
