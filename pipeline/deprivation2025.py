"""Today's deprivation: the English Indices of Deprivation 2025 and the Welsh Index of Multiple Deprivation 2025
(``later/deprivation_2025/``), on the LSOAs of 2021 they were published for, on the 2011 LSOAs through the
ONS exact-fit lookup, what moved between the 2019 and 2025 editions, and MHCLG's district summaries.

What is read, and checked against what:

- **IoD2025 ranks and deciles as published**: File 1 (IMD) and File 3 (IMD, IDACI and IDAOPI), the reissued
  versions of 13 November 2025; every English LSOA of 2021 once, ranks a permutation of 1..33,755, deciles
  1..10, File 3's IMD columns equal to File 1's.
- **Scores, domain ranks and deciles, sub-domains and indicators**: the R data frames of the IMD package
  (humaniverse/IMD, made from MHCLG's Files 7, 8 and 10): the IMD rank and decile there must equal File 1's
  for every LSOA, or the build stops (a frame of another edition, or rows out of order, would not).
- **WIMD 2025 ranks as published** (Welsh Government): overall and eight domain ranks for every Welsh LSOA of
  2021, ties kept (Income, Employment and Housing have tied ranks). **No deciles, quintiles or most-deprived
  groupings**: the Welsh Government publishes them as band limits in the original workbook's
  ``Deciles_quintiles_quartiles`` sheet (191-193 LSOAs a band), which is not in this collection, and a plain
  split of the ranks into tenths does not reproduce them; so none are made here (docs/data.md).
- **District summaries** (File 10, corrected v2): 296 districts of 2024; each December 2021 district of
  England is matched to the 2024 district holding its LSOAs (File 1 names each LSOA's 2024 district, the
  exact-fit lookup its 2021 one), which must be exactly one.

Figures carried onto other areas (never averaged, never re-ranked) say so per area, in two columns of the
values file that the store reads (``__status`` and ``__note``, see ``CARRIED_STATUS``):

- on a 2011 LSOA: *unchanged* in 2021 (the same area: its figures), *merged* with others into one 2021 LSOA
  (that area's figures, flagged), *split* into several 2021 LSOAs (no single figure: the lowest and highest of
  its parts are kept in ``<id>__lo`` and ``<id>__hi``, and the value is empty unless every part has the same
  one, e.g. the same decile), or changed *irregularly* (ONS's 'X': as merged or split, by how many 2021 LSOAs
  it touches). Counts (the indicators' numerators) are not carried: a merged area's count is not its 2011
  LSOA's.
- on a 2021 district: *unchanged* (File 10's own row) or *merged* in 2023 into a larger 2024 district (that
  district's figures, flagged: Cumberland, Westmorland and Furness, North Yorkshire, Somerset).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline import datasets as ds
from pipeline import readers
from pipeline.datasets import Dataset
from pipeline.national import F_EXACT, FILE8, Rebase
from pipeline.readers import RawFiles, SourceError

__all__ = [
    "CARRIED_STATUS", "CARRIED_NOTE", "CARRIED_PARTS", "DECILE_CHANGE", "LOW", "HIGH", "Deprivation2025",
    "F_FILE1", "F_FILE3", "F_LTLA", "F_RDA", "F_SUBDOMAINS", "F_INDICATORS", "F_WIMD", "IMD_CAUTION",
    "WIMD_DECILES_NOTE", "carry_to_lsoa11", "read", "datasets", "district_map", "movement",
]

D25 = "later/deprivation_2025"
E25 = f"{D25}/iod2025_england_lsoa21"
F_FILE1 = f"{E25}/File_1_IoD2025_Index_of_Multiple_Deprivation.xlsx"
F_FILE3 = f"{E25}/File_3_IoD2025_Supplementary_Indices_IDACI_and_IDAOPI.xlsx"
F_RDA = f"{E25}/imd2025_england_lsoa21.rda"
F_SUBDOMAINS = f"{E25}/imd2025_england_lsoa21_subdomains.rda"
F_INDICATORS = f"{E25}/imd2025_england_lsoa21_indicators.rda"
F_LTLA = f"{E25}/imd2025_england_ltla24.rda"
F_WIMD = f"{D25}/wimd2025_wales_lsoa21/wimd-2025-index-and-domain-ranks-by-small-area.csv"
SHEET1, SHEET3 = "IMD25", "IoD2025 IDACI & IDAOPI"

#: Reserved columns of a values file whose figures were carried from other areas (read by atlas/extracts.py):
#: the area's status (unchanged, merged, split, irregular) and a sentence saying what its figures are.
CARRIED_STATUS = "__status"
CARRIED_NOTE = "__note"
#: How many 2021 LSOAs a 2011 LSOA's figures come from (1, or the parts of a split).
CARRIED_PARTS = "__parts"
#: Suffixes of a carried variable's range over the parts of a split area (lowest, highest).
LOW, HIGH = "__lo", "__hi"

LSOAS_ENGLAND = 33755
LSOAS_WALES = 1917
CODE = "LSOA code (2021)"
LAD24 = "Local Authority District code (2024)"
RANK = "Rank (where 1 is most deprived)"
DECILE = "Decile (where 1 is most deprived 10% of LSOAs)"
IMD_NAME = "Index of Multiple Deprivation (IMD)"

EDITION = "IoD 2025"
WIMD_EDITION = "WIMD 2025"
MOST = "1 is most deprived"
MOST10 = "1 is the most deprived 10%"

#: The publisher's caution on comparing editions (MHCLG's guidance on using the English indices), in our words.
IMD_CAUTION = ("The indices measure relative deprivation: a change of decile means an area's position among all "
               "English LSOAs moved, not that it became more or less deprived in absolute terms, and the 2025 "
               "edition uses updated indicators and methods (MHCLG's guidance), so compare editions with care.")
WIMD_DECILES_NOTE = ("No deciles or most-deprived groupings are given: the Welsh Government publishes them as band "
                     "limits (191-193 LSOAs a band) in the workbook's Deciles_quintiles_quartiles sheet, which this "
                     "collection does not hold, and a plain split of the ranks into tenths does not reproduce them.")
WIMD_NOT_WITH_IMD = "Welsh ranks only: never ranked or classed with England's indices."

# (id part, name in labels, the R frame's column prefix)
DOMAINS: tuple[tuple[str, str, str], ...] = (
    ("imd", IMD_NAME, "IMD"), ("income", "Income", "Income"), ("employment", "Employment", "Employment"),
    ("education", "Education, Skills and Training", "Education"),
    ("health", "Health Deprivation and Disability", "Health"), ("crime", "Crime", "Crime"),
    ("barriers", "Barriers to Housing and Services", "Housing_and_Services"),
    ("living", "Living Environment", "Environment"),
)
SUPPLEMENTARY: tuple[tuple[str, str], ...] = (
    ("idaci", "Income Deprivation Affecting Children Index (IDACI)"),
    ("idaopi", "Income Deprivation Affecting Older People (IDAOPI)"),
)
SUBDOMAINS: tuple[tuple[str, str, str], ...] = (
    ("children_and_young_people", "Children and Young People sub-domain", "Education"),
    ("adult_skills", "Adult Skills sub-domain", "Education"),
    ("geographical_barriers", "Geographical Barriers sub-domain", "Barriers to Housing and Services"),
    ("wider_barriers", "Wider Barriers sub-domain", "Barriers to Housing and Services"),
    ("indoors", "Indoors Living Environment sub-domain", "Living Environment"),
    ("outdoors", "Outdoors Living Environment sub-domain", "Living Environment"),
)
# (R column, id part, label, unit, decimals): MHCLG's underlying indicators (File 8), as the IMD package names them.
INDICATORS: tuple[tuple[str, str, str, str, int], ...] = (
    *FILE8[:4],  # the four numerators, named as in the 2019 edition
    ("adult_skills_and_english_language_proficiency_indicator", "adult_skills",
     "Adult skills and English language proficiency indicator", "proportion", 3),
    ("entry_to_higher_education_indicator", "entry_to_higher_education", "Entry to higher education indicator",
     "score", 3),
    ("acute_morbidity_indicator", "acute_morbidity", "Acute morbidity indicator", "ratio", 3),
    ("comparative_illness_and_disability_ratio_indicator", "illness_disability_ratio",
     "Comparative illness and disability ratio indicator", "ratio", 3),
    ("mental_health_indicator", "mental_health", "Mental health indicator", "score", 3),
    ("years_of_potential_life_lost_indicator", "years_of_potential_life_lost", "Years of potential life lost indicator",
     "score", 3),
    ("violence_with_injury_rate_per_1_000_at_risk_population", "violence_with_injury",
     "Violence with injury (rate per 1,000 at-risk population)", "rate", 1),
    ("violence_without_injury_rate_per_1_000_at_risk_population", "violence_without_injury",
     "Violence without injury (rate per 1,000 at-risk population)", "rate", 1),
    ("stalking_and_harassment_rate_per_1_000_at_risk_population", "stalking_and_harassment",
     "Stalking and harassment (rate per 1,000 at-risk population)", "rate", 1),
    ("burglary_rate_per_1_000_at_risk_properties", "burglary", "Burglary (rate per 1,000 at-risk properties)", "rate",
     1),
    ("theft_rate_per_1_000_at_risk_population", "theft", "Theft (rate per 1,000 at-risk population)", "rate", 1),
    ("criminal_damage_rate_per_1_000_at_risk_population", "criminal_damage",
     "Criminal damage (rate per 1,000 at-risk population)", "rate", 1),
    ("public_order_and_possession_of_weapons_rate_per_1_000_at_risk_population", "public_order_weapons",
     "Public order and possession of weapons (rate per 1,000 at-risk population)", "rate", 1),
    ("anti_social_behaviour_rate_per_1_000_at_risk_population", "anti_social_behaviour",
     "Anti-social behaviour (rate per 1,000 at-risk population)", "rate", 1),
    ("connectivity_score", "connectivity", "Connectivity score (access to services)", "score", 3),
    ("owner_occupation_affordability_component_of_housing_affordability_indicator",
     "owner_occupation_affordability", "Owner-occupation affordability (component of housing affordability)",
     "score", 3),
    ("private_rental_affordability_component_of_housing_affordability_indicator", "private_rental_affordability",
     "Private rental affordability (component of housing affordability)", "score", 3),
    ("housing_affordability_indicator", "housing_affordability", "Housing affordability indicator", "score", 3),
    ("digital_connectivity_broadband_download_and_upload_speeds", "digital_connectivity",
     "Digital connectivity (broadband download and upload speeds)", "score", 3),
    ("core_homelessness_rate_percent_of_households", "core_homelessness",
     "Core homelessness rate (% of households)", "rate", 3),
    ("patient_to_gp_ratio", "patients_per_gp", "Patients per GP (patient to GP ratio)", "ratio", 3),
    ("homelessness_indicator_rate_per_1_000_households", "homelessness",
     "Homelessness indicator (rate per 1,000 households)", "rate", 3),
    ("household_overcrowding_indicator_rooms", "overcrowding_rooms", "Household overcrowding indicator (rooms)",
     "proportion", 3),
    ("household_overcrowding_indicator_bedrooms", "overcrowding_bedrooms",
     "Household overcrowding indicator (bedrooms)", "proportion", 3),
)
WIMD_DOMAINS: tuple[tuple[str, str], ...] = (
    ("wimd", "WIMD 2025"), ("income", "Income"), ("employment", "Employment"), ("health", "Health"),
    ("education", "Education"), ("access", "Access to Services"), ("housing", "Housing"),
    ("safety", "Community Safety"), ("environment", "Physical Environment"),
)
# File 10's domains: (the R frame's column prefix, id part, name)
DISTRICT_DOMAINS: tuple[tuple[str, str, str], ...] = (
    ("imd", "imd", "IMD"), ("income", "income", "Income"), ("employment", "employment", "Employment"),
    ("education_skills_and_training", "education", "Education, Skills and Training"),
    ("health_deprivation_and_disability", "health", "Health Deprivation and Disability"),
    ("crime", "crime", "Crime"), ("barriers_to_housing_and_services", "barriers", "Barriers to Housing and Services"),
    ("living_environment", "living", "Living Environment"),
)
#: The decile change 2019 -> 2025 as categories, coloured by ColorBrewer RdBu (11): falls (more deprived) red,
#: rises blue, no change in its neutral middle; a change of 5 or more deciles takes the darkest colour.
_RDBU11 = ("#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7", "#d1e5f0", "#92c5de", "#4393c3",
           "#2166ac", "#053061")


def _decile_change_categories() -> list[dict]:
    out = []
    for k in range(-9, 10):
        colour = _RDBU11[5 + max(-5, min(5, k))]
        if k == 0:
            label = "Same decile in both editions"
        else:
            n = abs(k)
            label = (f"{n} decile{'s' if n > 1 else ''} "
                     + ("more deprived (lower decile)" if k < 0 else "less deprived (higher decile)"))
        out.append({"code": f"{k:+d}" if k else "0", "label": label, "colour": colour})
    return out


DECILE_CHANGE = _decile_change_categories()


def _group_categories(share: int) -> list[dict]:
    return [
        {"code": "into", "label": f"Moved into the most deprived {share}%", "colour": "#b2182b"},
        {"code": "stayed", "label": f"In the most deprived {share}% in both editions", "colour": "#f4a582"},
        {"code": "neither", "label": f"In neither edition's most deprived {share}%", "colour": "#f7f7f7"},
        {"code": "out_of", "label": f"Moved out of the most deprived {share}%", "colour": "#2166ac"},
    ]


# -- reading ---------------------------------------------------------------------------------------------------

@dataclass
class Deprivation2025:
    """What the readers found: per-LSOA 2021 frames (index: LSOA 2021 code) and the district summaries."""

    imd: pd.DataFrame           # imd2025_<domain>_<score|rank|decile>, imd2025_<idaci|idaopi>_<rank|decile>
    subdomains: pd.DataFrame    # imd2025_<subdomain>_<score|rank|decile>
    indicators: pd.DataFrame    # imd2025_<indicator>
    lad24: pd.Series            # LSOA 2021 -> its district of 2024 (File 1)
    districts: pd.DataFrame     # File 10, index: 2024 district code; columns as in the R frame
    district_names: pd.Series   # 2024 district code -> name
    wimd: pd.DataFrame          # wimd2025_<domain>_rank


def _integers(values: pd.Series, label: str, column: str, low: int, high: int) -> pd.Series:
    bad = values.isna() | (values % 1 != 0) | (values < low) | (values > high)
    if bad.any():
        raise SourceError(label, f"column {column!r} should hold whole numbers {low} to {high}; "
                                 f"{int(bad.sum())} cells do not")
    return values


def _require_codes(codes: pd.Series, expected: pd.Index, label: str, what: str) -> None:
    got, want = set(codes), set(expected)
    if got != want:
        extra, missing = sorted(got - want), sorted(want - got)
        raise SourceError(label, f"area codes do not join with {what}: {len(extra)} not in it (e.g. {extra[:3]}), "
                                 f"{len(missing)} of it missing here (e.g. {missing[:3]})")


def _published_sheet(raw: RawFiles, label: str, sheet: str, indices: list[tuple[str, str]],
                     english: pd.Index) -> pd.DataFrame:
    """File 1 or File 3: per English LSOA 2021, the rank and decile of each index, as published.

    File 1's decile header is cut short in the workbook ("... most deprived 10% of LSOA"): a decile column is
    the one column whose header starts with the decile's words up to "LSOA"."""
    frame = readers.read_xlsx(raw(label), label, sheet, [CODE, LAD24], raw)
    headers = {}
    for _, name in indices:
        headers[f"{name} {RANK}"] = f"{name} {RANK}"
        start = f"{name} {DECILE}"[:-len("s)")]
        found = [c for c in frame.columns if c.startswith(start) and start.startswith(c[:len(start)])]
        if len(found) != 1:
            raise SourceError(label, f"should have one column {start}...; it has {list(frame.columns)[:12]}")
        headers[f"{name} {DECILE}"] = found[0]
    readers.require_columns(frame, list(headers.values()), label)
    readers.require_codes(frame[CODE], label, "E")
    _require_codes(frame[CODE], english, label, f"the English LSOAs of 2021 in {F_EXACT}")
    numbers = readers.to_numbers(frame, list(headers.values()), label)
    out = pd.DataFrame(index=pd.Index(frame[CODE].to_numpy(), name="code"))
    for key, name in indices:
        column = headers[f"{name} {RANK}"]
        rank = _integers(numbers[column], label, column, 1, LSOAS_ENGLAND)
        if key == "imd" and rank.duplicated().any():  # IDACI and IDAOPI are published with tied ranks
            raise SourceError(label, f"{name} ranks repeat: they should rank 1..{LSOAS_ENGLAND} once each")
        column = headers[f"{name} {DECILE}"]
        decile = _integers(numbers[column], label, column, 1, 10)
        out[f"imd2025_{key}_rank"] = rank.to_numpy()
        out[f"imd2025_{key}_decile"] = decile.to_numpy()
    out["lad24"] = frame[LAD24].to_numpy()
    return out


def read(raw: RawFiles, lsoa21: pd.Index) -> Deprivation2025:
    """Every file of ``later/deprivation_2025/``, checked (module docstring). ``lsoa21``: every LSOA of 2021
    (the exact-fit lookup's)."""
    english = lsoa21[lsoa21.str.startswith("E")]
    wimd = _read_wimd(raw, lsoa21[lsoa21.str.startswith("W")])  # first: the quickest to read
    file1 = _published_sheet(raw, F_FILE1, SHEET1, [("imd", IMD_NAME)], english)
    file3 = _published_sheet(raw, F_FILE3, SHEET3, [("imd", IMD_NAME), *SUPPLEMENTARY], english)
    again = file3.reindex(file1.index)
    for column in ("imd2025_imd_rank", "imd2025_imd_decile", "lad24"):
        differ = again[column].to_numpy() != file1[column].to_numpy()
        if differ.any():
            raise SourceError(F_FILE3, f"{column.removeprefix('imd2025_')} differs from {F_FILE1} for "
                                       f"{int(differ.sum())} LSOAs, e.g. {list(file1.index[differ][:3])}")

    # The IMD and its domains (scores, ranks, deciles) from the IMD package's frame of File 7.
    r_columns = [f"{prefix}_{kind}" for _, _, prefix in DOMAINS for kind in ("score", "rank", "decile")]
    frame = readers.read_rda(raw(F_RDA), F_RDA, "imd2025_england_lsoa21", ["lsoa21_code", *r_columns], raw)
    codes = frame["lsoa21_code"].astype(str)
    readers.require_codes(codes, F_RDA, "E")
    _require_codes(codes, english, F_RDA, f"the English LSOAs of 2021 in {F_EXACT}")
    imd = _scores_ranks_deciles(frame, codes, [(key, prefix) for key, _, prefix in DOMAINS], F_RDA)
    # File 1 is the headline table: the frame must agree with it for every LSOA (or it is another edition).
    for kind in ("rank", "decile"):
        column = f"imd2025_imd_{kind}"
        theirs = imd[column].reindex(file1.index).to_numpy()
        differ = theirs != file1[column].to_numpy()
        if differ.any():
            raise SourceError(F_RDA, f"IMD_{kind} differs from {F_FILE1} for {int(differ.sum())} LSOAs, e.g. "
                                     f"{list(file1.index[differ][:3])}")
    # Ranks and deciles as published: the IMD's from File 1, IDACI and IDAOPI from File 3.
    imd["imd2025_imd_rank"] = file1["imd2025_imd_rank"].reindex(imd.index).to_numpy()
    imd["imd2025_imd_decile"] = file1["imd2025_imd_decile"].reindex(imd.index).to_numpy()
    for key, _ in SUPPLEMENTARY:
        for kind in ("rank", "decile"):
            imd[f"imd2025_{key}_{kind}"] = file3[f"imd2025_{key}_{kind}"].reindex(imd.index).to_numpy()

    sub_columns = [f"{key}_{kind}" for key, _, _ in SUBDOMAINS for kind in ("score", "rank", "decile")]
    frame = readers.read_rda(raw(F_SUBDOMAINS), F_SUBDOMAINS, "imd2025_england_lsoa21_subdomains",
                             ["lsoa21_code", *sub_columns], raw)
    codes = frame["lsoa21_code"].astype(str)
    _require_codes(codes, english, F_SUBDOMAINS, f"the English LSOAs of 2021 in {F_EXACT}")
    sub = _scores_ranks_deciles(frame, codes, [(key, key) for key, _, _ in SUBDOMAINS], F_SUBDOMAINS)

    frame = readers.read_rda(raw(F_INDICATORS), F_INDICATORS, "imd2025_england_lsoa21_indicators",
                             ["lsoa21_code", *[c for c, *_ in INDICATORS]], raw)
    codes = frame["lsoa21_code"].astype(str)
    _require_codes(codes, english, F_INDICATORS, f"the English LSOAs of 2021 in {F_EXACT}")
    ind = pd.DataFrame(index=pd.Index(codes.to_numpy(), name="code"))
    for column, part, *_ in INDICATORS:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().sum() != frame[column].isna().sum():
            raise SourceError(F_INDICATORS, f"column {column!r} has values that are not numbers")
        ind[f"imd2025_{part}"] = values.to_numpy(dtype="float64")

    districts, names = _read_districts(raw, set(file1["lad24"]))
    return Deprivation2025(imd=imd.sort_index(), subdomains=sub.sort_index(), indicators=ind.sort_index(),
                           lad24=file1["lad24"].sort_index(), districts=districts, district_names=names, wimd=wimd)


def _scores_ranks_deciles(frame: pd.DataFrame, codes: pd.Series, items: list[tuple[str, str]],
                          label: str) -> pd.DataFrame:
    """``imd2025_<key>_score|rank|decile`` from an R frame's ``<prefix>_score|rank|decile`` columns: scores
    numbers, ranks whole numbers 1..33,755, deciles 1..10, none empty."""
    out = pd.DataFrame(index=pd.Index(codes.to_numpy(), name="code"))
    for key, prefix in items:
        score = pd.to_numeric(frame[f"{prefix}_score"], errors="coerce")
        if score.isna().any():
            raise SourceError(label, f"column {prefix}_score has empty or non-numeric cells")
        out[f"imd2025_{key}_score"] = score.to_numpy(dtype="float64")
        for kind, high in (("rank", LSOAS_ENGLAND), ("decile", 10)):
            column = f"{prefix}_{kind}"
            values = _integers(pd.to_numeric(frame[column], errors="coerce"), label, column, 1, high)
            out[f"imd2025_{key}_{kind}"] = values.to_numpy(dtype="float64")
    return out


def _district_columns() -> list[str]:
    out = []
    for prefix, _, _ in DISTRICT_DOMAINS:
        out += [f"{prefix}_average_rank", f"{prefix}_rank_of_average_rank", f"{prefix}_average_score",
                f"{prefix}_rank_of_average_score",
                f"{prefix}_proportion_of_lso_as_in_most_deprived_10_percent_nationally",
                f"{prefix}_rank_of_proportion_of_lso_as_in_most_deprived_10_percent_nationally"]
    out += ["imd25_extent", "imd25_rank_of_extent", "imd25_local_concentration", "imd25_rank_of_local_concentration",
            "income_scale", "rank_of_income_scale", "employment_scale", "rank_of_employment_scale"]
    return out


def _read_districts(raw: RawFiles, lad24: set[str]) -> tuple[pd.DataFrame, pd.Series]:
    columns = _district_columns()
    frame = readers.read_rda(raw(F_LTLA), F_LTLA, "imd2025_england_ltla24", ["ltla24_code", "ltla24_name", *columns],
                             raw)
    codes = frame["ltla24_code"].astype(str)
    readers.require_codes(codes, F_LTLA, "E")
    if set(codes) != lad24:
        extra, missing = sorted(set(codes) - lad24), sorted(lad24 - set(codes))
        raise SourceError(F_LTLA, f"its districts are not those of {F_FILE1}'s LSOAs: {extra[:3]} not there, "
                                  f"{missing[:3]} missing")
    out = pd.DataFrame(index=pd.Index(codes.to_numpy(), name="code"))
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce")
        if values.isna().any():
            raise SourceError(F_LTLA, f"column {column!r} has empty or non-numeric cells")
        out[column] = values.to_numpy(dtype="float64")
    return out, pd.Series(frame["ltla24_name"].astype(str).to_numpy(), index=out.index)


def _read_wimd(raw: RawFiles, welsh: pd.Index) -> pd.DataFrame:
    label = F_WIMD
    frame = readers.read_csv(raw(label), label, encoding="utf-8-sig")
    # Header cells keep the original's trailing spaces ("WIMD 2025 "), and a last column (headed " ") is empty:
    # match on the stripped text and require the rest to be empty; the two empty rows at the end are dropped.
    stripped = {c.strip(): c for c in frame.columns}
    needed = ["LSOA code", *[name for _, name in WIMD_DOMAINS]]
    readers.require_columns(pd.DataFrame(columns=list(stripped)), needed, label)
    extra = [c for c in frame.columns if c.strip() not in needed and c.strip() not in
             ("LSOA name (Eng)", "Local Authority name (Eng)")]
    if any(str(c).strip() and not str(c).startswith("Unnamed") for c in extra) or \
            (frame[extra] != "").any().any():
        raise SourceError(label, f"has columns beyond the index and its domains that are not empty: {extra[:3]}")
    frame = frame[(frame != "").any(axis=1)]
    code = frame[stripped["LSOA code"]]
    readers.require_codes(code, label, "W")
    _require_codes(code, welsh, label, f"the Welsh LSOAs of 2021 in {F_EXACT}")
    numbers = readers.to_numbers(frame, [stripped[name] for _, name in WIMD_DOMAINS], label)
    out = pd.DataFrame(index=pd.Index(code.to_numpy(), name="code"))
    for key, name in WIMD_DOMAINS:
        values = _integers(numbers[stripped[name]], label, stripped[name], 1, LSOAS_WALES)
        if values.min() != 1:
            raise SourceError(label, f"{stripped[name]!r} should rank from 1 (most deprived)")
        out[f"wimd2025_{key}_rank"] = values.to_numpy()
    return out.sort_index()


# -- carrying 2021 figures onto other areas ------------------------------------------------------------------

def carry_to_lsoa11(frame21: pd.DataFrame, rebase: Rebase, columns: list[str], label: str) -> pd.DataFrame:
    """``frame21`` (index: LSOA 2021 code) onto the 2011 LSOAs whose 2021 LSOAs it covers, by the rules of the
    module's docstring: ``code``, the carried columns (empty for a split area whose parts differ), their
    ``__lo``/``__hi`` (split areas only), ``__status`` and ``__note``. Never averaged."""
    lookup = rebase.lookup
    covered = lookup["lsoa21"].map(lambda targets: all(t in frame21.index for t in targets))
    partly = lookup["lsoa21"].map(lambda targets: any(t in frame21.index for t in targets)) & ~covered
    if partly.any():
        raise SourceError(label, f"{int(partly.sum())} LSOAs of 2011 map to 2021 LSOAs only some of which have "
                                 f"figures, e.g. {list(lookup.loc[partly, 'code'][:3])}")
    rows = lookup[covered].reset_index(drop=True)
    # Who else shares each 2021 LSOA (for the words of merged and irregular areas).
    pairs = rows[["code", "lsoa21"]].explode("lsoa21")
    sharers = pairs.groupby("lsoa21")["code"].agg(list)
    values = frame21[columns]
    n = len(rows)
    out = pd.DataFrame({"code": rows["code"].to_numpy()})
    first = rows["lsoa21"].map(lambda t: t[0]).to_numpy()
    single = rows["lsoa21"].map(len).to_numpy() == 1
    carried = values.reindex(first).to_numpy(dtype="float64")
    lows = np.full((n, len(columns)), np.nan)
    highs = np.full((n, len(columns)), np.nan)
    for i in np.flatnonzero(~single):
        parts = values.loc[rows.at[i, "lsoa21"]].to_numpy(dtype="float64")
        lows[i], highs[i] = parts.min(axis=0), parts.max(axis=0)
        same = lows[i] == highs[i]
        carried[i] = np.where(same, lows[i], np.nan)
    for j, column in enumerate(columns):
        out[column] = carried[:, j]
    status, notes = [], []
    for change, code, targets in zip(rows["change"], rows["code"], rows["lsoa21"], strict=True):
        others = [c for t in targets for c in sharers[t] if c != code]
        others = list(dict.fromkeys(others))
        if len(targets) == 1 and change == "unchanged":
            status.append("unchanged")
            notes.append(None)
        elif len(targets) == 1:
            kind = "merged" if change == "merged" else "irregular"
            status.append(kind)
            with_ = _list(others)
            notes.append(f"Merged in 2021 with {with_} into {targets[0]}: these are that 2021 LSOA's figures, "
                         "shared by every 2011 LSOA in it." if kind == "merged" else
                         f"Changed irregularly in 2021 (ONS 'X'): these are the figures of {targets[0]}, which "
                         f"also covers {with_}.")
        else:
            kind = "split" if change == "split" else "irregular"
            status.append(kind)
            notes.append((f"Split in 2021 into {_list(targets)}" if kind == "split" else
                          f"Changed irregularly in 2021 (ONS 'X') into parts of {_list(targets)}")
                         + ": its figures are the range over those 2021 LSOAs, never an average; a single figure "
                           "only where every part has the same one.")
    out[CARRIED_STATUS] = status
    out[CARRIED_NOTE] = notes
    out[CARRIED_PARTS] = rows["lsoa21"].map(len).to_numpy(dtype="float64")
    for j, column in enumerate(columns):
        out[f"{column}{LOW}"] = lows[:, j]
        out[f"{column}{HIGH}"] = highs[:, j]
    return out


def _list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def district_map(lad24_of_lsoa: pd.Series, lad22_of_lsoa: pd.Series, names24: pd.Series) -> pd.DataFrame:
    """Each December 2021 district of England: the 2024 district holding all its LSOAs (code24, name24), its
    status (``unchanged``: the same district; ``merged``: part of a larger 2024 district) and the note."""
    both = pd.DataFrame({"lad24": lad24_of_lsoa, "lad21": lad22_of_lsoa.reindex(lad24_of_lsoa.index)})
    if both["lad21"].isna().any():
        raise SourceError(F_FILE1, "LSOAs without a 2021 district in the exact-fit lookup")
    per21 = both.groupby("lad21")["lad24"].agg(lambda s: sorted(set(s)))
    two = per21[per21.map(len) > 1]
    if len(two):
        raise SourceError(F_FILE1, f"December 2021 districts whose LSOAs lie in several 2024 districts: "
                                   f"{dict(two.head(3))}")
    code24 = per21.map(lambda v: v[0])
    members = code24.groupby(code24).apply(lambda s: sorted(s.index))
    rows = []
    for lad21, c24 in code24.items():
        group = members[c24]
        if len(group) == 1:
            status, note = "unchanged", None
            if c24 != lad21:
                status, note = "recoded", f"The 2024 district has the code {c24}; File 10's row for it is shown."
        else:
            status = "merged"
            note = (f"Part of {names24[c24]} ({c24}) since April 2023, with {len(group) - 1} other former "
                    f"district{'s' if len(group) > 2 else ''} ({_list([g for g in group if g != lad21])}): File 10 "
                    "summarises the 2024 district, so these are its figures, shared by all of them.")
        rows.append({"lad21": lad21, "lad24": c24, "status": status, "note": note})
    return pd.DataFrame(rows).set_index("lad21")


# -- datasets ----------------------------------------------------------------------------------------------------

def _rank_variable(ident: str, name: str, kind: str, table: str, title: str, source: str, cells: str,
                   edition: str, coverage: str, note: str = "") -> dict:
    words = MOST if kind == "rank" else MOST10
    return ds.variable(ident, f"{name} {kind}, {edition} ({words})", "Deprivation", table, title, cells, kind,
                       source, edition, polarity="higher is better",
                       description=f"As published: {words}; within {coverage} only, never re-ranked.",
                       note=" ".join(n for n in (f"{words[0].upper()}{words[1:]} in {coverage}; as published, "
                                                 "never re-ranked.", note) if n),
                       cells=cells, coverage=coverage)


def _carry_note(level_note: bool) -> str:
    return ("On 2011 LSOAs: carried from the 2021 LSOAs through the ONS exact-fit lookup; an unchanged LSOA has its "
            "own figures, a 2011 LSOA merged into a 2021 one has that area's (flagged), and one split into several "
            "has no single figure: the range over its parts is given, never an average.") if level_note else ""


def datasets(dep: Deprivation2025, rebase: Rebase, imd2019: pd.DataFrame, lad22: pd.Series
             ) -> list[Dataset]:
    """Every dataset of the 2025 editions (module docstring). ``imd2019``: the IoD2019 frame of the build
    (code = LSOA 2011, ``imd2019_imd_decile``); ``lad22``: LSOA 2021 -> December 2021 district (the lookup's)."""
    out = []
    carry = _carry_note(True)
    # IoD2025: the IMD, its domains, IDACI and IDAOPI
    variables = []
    title = "English Indices of Deprivation 2025: the IMD, its domains, IDACI and IDAOPI"
    for key, name, prefix in DOMAINS:
        source = "imd2025_file1" if key == "imd" else "imd2025_rda"
        variables.append(ds.variable(
            f"imd2025_{key}_score", f"{name} score, {EDITION} (higher is more deprived)", "Deprivation", "IoD2025",
            title, f"{prefix}_score", "score", "imd2025_rda", EDITION, polarity="lower is better", decimals=3,
            description="As published (File 7): a higher score is more deprived.",
            cells=f"{prefix}_score (IMD package, MHCLG File 7 '{name} Score')",
            note=f"Higher score = more deprived. {carry}", coverage="England"))
        for kind in ("rank", "decile"):
            file = "File 1" if key == "imd" else "File 7 (IMD package)"
            variables.append(_rank_variable(
                f"imd2025_{key}_{kind}", name, kind, "IoD2025", title, source,
                f"{name} {kind.title()} ({file})", EDITION, "England", carry))
    for key, name in SUPPLEMENTARY:
        for kind in ("rank", "decile"):
            variables.append(_rank_variable(f"imd2025_{key}_{kind}", name, kind, "IoD2025", title, "imd2025_file3",
                                            f"{name} {kind.title()} (File 3)", EDITION, "England", carry))
    columns = [v["id"] for v in variables]
    frame21 = dep.imd[columns].reset_index()
    frame11 = carry_to_lsoa11(dep.imd, rebase, columns, F_RDA)
    out.append(Dataset("imd2025", {"lsoa21": frame21, "lsoa11": frame11}, variables, ("lsoa21",), "England"))

    # sub-domains
    variables = []
    title = "English Indices of Deprivation 2025: sub-domains"
    for key, name, domain in SUBDOMAINS:
        variables.append(ds.variable(
            f"imd2025_{key}_score", f"{name} score ({domain}), {EDITION} (higher is more deprived)", "Deprivation",
            "IoD2025 sub-domains", title, f"{key}_score", "score", "imd2025_rda", EDITION,
            polarity="lower is better", decimals=3, cells=f"{key}_score (IMD package)",
            note=f"Higher score = more deprived. {carry}", coverage="England"))
        for kind in ("rank", "decile"):
            variables.append(_rank_variable(f"imd2025_{key}_{kind}", f"{name} ({domain})", kind,
                                            "IoD2025 sub-domains", title, "imd2025_rda",
                                            f"{key}_{kind} (IMD package)", EDITION, "England", carry))
    columns = [v["id"] for v in variables]
    out.append(Dataset("imd2025_subdomains", {"lsoa21": dep.subdomains[columns].reset_index(),
                                              "lsoa11": carry_to_lsoa11(dep.subdomains, rebase, columns,
                                                                        F_SUBDOMAINS)},
                       variables, ("lsoa21",), "England"))

    # the underlying indicators (File 8): counts are not carried onto 2011 LSOAs
    variables = []
    carried_columns = []
    for column, part, text, unit, decimals in INDICATORS:
        ident = f"imd2025_{part}"
        values = dep.indicators[ident]
        suppressed = int(values.isna().sum())
        note = "Direction as MHCLG defines the indicator."
        if suppressed:
            note += f" Empty in {suppressed:,} LSOAs where the publisher suppressed a small figure."
        if unit == "count":
            note += " Not carried onto 2011 LSOAs: a merged area's count is not its 2011 LSOA's."
        else:
            carried_columns.append(ident)
            note += " " + carry
        variables.append(ds.variable(ident, f"{text}, {EDITION}", "Deprivation", "IoD2025 indicators",
                                     "English Indices of Deprivation 2025: underlying indicators (File 8)", column,
                                     unit, "imd2025_indicators", EDITION, decimals=decimals, note=note,
                                     coverage="England", cells=f"File 8 column {column} (snake case of MHCLG's "
                                                               "header, as in the IMD package)"))
    frame11 = carry_to_lsoa11(dep.indicators, rebase, carried_columns, F_INDICATORS)
    out.append(Dataset("imd2025_indicators", {"lsoa21": dep.indicators.reset_index(), "lsoa11": frame11},
                       variables, ("lsoa21",), "England"))

    # WIMD 2025: ranks only
    variables = []
    title = "Welsh Index of Multiple Deprivation 2025: index and domain ranks"
    for key, name in WIMD_DOMAINS:
        text = "Welsh Index of Multiple Deprivation" if key == "wimd" else name
        ties = int(dep.wimd[f"wimd2025_{key}_rank"].duplicated().sum())
        extra = (f"{ties} tied rank{'s' if ties != 1 else ''} kept as published. " if ties else "")
        variables.append(_rank_variable(f"wimd2025_{key}_rank", text, "rank", "WIMD 2025", title, "wimd2025",
                                        f"{name.strip()} (WIMD_2025_ranks)", WIMD_EDITION, "Wales",
                                        f"{extra}{WIMD_NOT_WITH_IMD} {WIMD_DECILES_NOTE} {carry}"))
    columns = [v["id"] for v in variables]
    out.append(Dataset("wimd2025", {"lsoa21": dep.wimd[columns].reset_index(),
                                    "lsoa11": carry_to_lsoa11(dep.wimd, rebase, columns, F_WIMD)},
                       variables, ("lsoa21",), "Wales"))

    out += movement_datasets(dep, rebase, imd2019, lad22)
    out.append(district_dataset(dep, lad22))
    return out


def movement(dep: Deprivation2025, rebase: Rebase, imd2019: pd.DataFrame) -> pd.DataFrame:
    """Per English LSOA unchanged between the editions' geographies (ONS: unchanged 2011 -> 2021, same code):
    the IMD decile of 2019 and of 2025, as published, and their difference."""
    same = rebase.lookup.loc[rebase.lookup["change"] == "unchanged", "code"]
    same = same[same.str.startswith("E")]
    old = imd2019.set_index("code")["imd2019_imd_decile"].reindex(same)
    new = dep.imd["imd2025_imd_decile"].reindex(same)
    if old.isna().any() or new.isna().any():
        raise SourceError(F_RDA, "unchanged English LSOAs without an IMD decile in one of the editions, e.g. "
                                 f"{list(same[old.isna().to_numpy() | new.isna().to_numpy()][:3])}")
    return pd.DataFrame({"d2019": old.to_numpy(), "d2025": new.to_numpy()}, index=pd.Index(same, name="code"))


def _group_move(d2019: pd.Series, d2025: pd.Series, deciles: int) -> np.ndarray:
    before, after = d2019 <= deciles, d2025 <= deciles
    return np.select([after & ~before, before & after, before & ~after], ["into", "stayed", "out_of"], "neither")


def movement_datasets(dep: Deprivation2025, rebase: Rebase, imd2019: pd.DataFrame, lad22: pd.Series
                      ) -> list[Dataset]:
    """The move 2019 -> 2025 of the unchanged English LSOAs, as categories (maps at both LSOA levels: the areas
    are the same), and the counts per December 2021 district (the ``lad`` level)."""
    moved = movement(dep, rebase, imd2019)
    change = (moved["d2025"] - moved["d2019"]).astype(int)
    frame = pd.DataFrame({"code": moved.index.to_numpy(),
                          "imd_2019_2025_decile_change": [f"{k:+d}" if k else "0" for k in change],
                          "imd_2019_2025_most_deprived_10": _group_move(moved["d2019"], moved["d2025"], 1),
                          "imd_2019_2025_most_deprived_20": _group_move(moved["d2019"], moved["d2025"], 2)})
    caution = IMD_CAUTION
    scope = ("For the English LSOAs unchanged between the editions' geographies (the ONS exact-fit lookup's "
             f"unchanged LSOAs, {len(moved):,} of them); the others changed in 2021 and are not compared. ")
    title = "IMD decile 2019 to 2025 (unchanged LSOAs)"
    cells = ("IMD 2025 decile (File 1) - IMD 2019 decile (IoD2019 File 1), both as published, for the same LSOA")
    variables = [
        ds.variable("imd_2019_2025_decile_change", "IMD decile change, IoD 2019 to IoD 2025 (negative: more deprived)",
                    "Deprivation", "IoD 2019 to 2025", title, "decile change", "category", "imd2025_movement",
                    "IoD2019 and IoD2025", kind="categorical", categories=DECILE_CHANGE, method="change",
                    cells=cells, note=scope + caution, coverage="England", palette="RdBu", centre=0.0),
    ]
    for share, deciles in ((10, 1), (20, 2)):
        variables.append(ds.variable(
            f"imd_2019_2025_most_deprived_{share}", f"In or out of the most deprived {share}% (IMD), IoD 2019 to "
            "IoD 2025", "Deprivation", "IoD 2019 to 2025", title, f"most deprived {share}%", "category",
            "imd2025_movement", "IoD2019 and IoD2025", kind="categorical", categories=_group_categories(share),
            method="change", note=scope + caution, coverage="England", palette="RdBu", centre=0.0,
            cells=f"IMD decile {'1' if deciles == 1 else '1 or 2'} (the most deprived {share}% of LSOAs in "
                  "England) in IoD2019 and in IoD2025, both as published"))
    # Every English LSOA of each level has a row: empty (no data) where it changed in 2021 and is not compared.
    english11 = rebase.lookup.loc[rebase.lookup["code"].str.startswith("E"), "code"]
    english21 = dep.imd.index
    frames = {level: frame.set_index("code").reindex(pd.Index(codes, name="code")).reset_index()
              for level, codes in (("lsoa21", english21), ("lsoa11", english11))}
    out = [Dataset("imd2019_2025", frames, variables, (), "England")]

    # counts per December 2021 district
    by = lad22.reindex(moved.index)
    counts = pd.DataFrame({
        "compared": 1, "more": (change < 0).astype(int), "same": (change == 0).astype(int),
        "less": (change > 0).astype(int),
        **{f"{kind}_{share}": (frame.set_index("code")[f"imd_2019_2025_most_deprived_{share}"] == kind).astype(int)
           for share in (10, 20) for kind in ("into", "stayed", "out_of")}}, index=moved.index)
    per = counts.groupby(by.to_numpy()).sum()
    lad = pd.DataFrame({"code": per.index.to_numpy()})
    variables = []
    words = {"compared": ("LSOAs compared (unchanged since 2011)", "count of the district's English LSOAs "
                                                                   "unchanged in 2021"),
             "more": ("LSOAs in a more deprived IMD decile in 2025 than 2019", "IMD decile 2025 < 2019"),
             "same": ("LSOAs in the same IMD decile in 2019 and 2025", "IMD decile 2025 = 2019"),
             "less": ("LSOAs in a less deprived IMD decile in 2025 than 2019", "IMD decile 2025 > 2019")}
    for share in (10, 20):
        words[f"into_{share}"] = (f"LSOAs that moved into the most deprived {share}%", "in 2025, not 2019")
        words[f"stayed_{share}"] = (f"LSOAs in the most deprived {share}% in both editions", "in both")
        words[f"out_of_{share}"] = (f"LSOAs that moved out of the most deprived {share}%", "in 2019, not 2025")
    for part, (text, how) in words.items():
        ident = f"imd_2019_2025_{part}"
        lad[ident] = per[part].to_numpy(dtype="float64")
        variables.append(ds.variable(ident, f"{text} (count), IoD 2019 to IoD 2025", "Deprivation",
                                     "IoD 2019 to 2025", "IMD 2019 to 2025 by district (unchanged LSOAs)", part,
                                     "count", "imd2025_movement", "IoD2019 and IoD2025", method="derived",
                                     cells=f"LSOAs of the district, unchanged in 2021, with {how}",
                                     note=scope + caution, coverage="England"))
    out.append(Dataset("imd2019_2025_counts", {"lad": lad}, variables, (), "England"))
    return out


def district_dataset(dep: Deprivation2025, lad22: pd.Series) -> Dataset:
    """File 10's summaries of the 2024 districts, on the December 2021 districts (``district_map``)."""
    mapping = district_map(dep.lad24, lad22, dep.district_names)
    rows = dep.districts.reindex(mapping["lad24"])
    frame = pd.DataFrame({"code": mapping.index.to_numpy()})
    variables = []
    title = "English Indices of Deprivation 2025: local authority district summaries (File 10)"
    note_all = ("File 10 summarises the 296 districts of 2024; a December 2021 district merged in April 2023 shows "
                "its 2024 district's figures, flagged. Measures of districts are ranked by MHCLG among the 296 "
                "(1 = most deprived); they are shown as published, never re-ranked.")

    def add(column: str, ident: str, label: str, unit: str, decimals: int, polarity: str, cells: str) -> None:
        frame[ident] = rows[column].to_numpy(dtype="float64")
        variables.append(ds.variable(ident, f"{label}, {EDITION}", "Deprivation", "IoD2025 districts", title,
                                     column, unit, "imd2025_file10", EDITION, polarity=polarity, decimals=decimals,
                                     cells=cells, note=note_all, coverage="England"))

    for prefix, part, name in DISTRICT_DOMAINS:
        base = f"imd2025_lad_{part}"
        for measure, text, unit, dec, pol in (
                ("average_rank", "average rank", "average rank", 2, "lower is better"),
                ("average_score", "average score", "score", 3, "lower is better"),
                ("proportion_of_lso_as_in_most_deprived_10_percent_nationally",
                 "proportion of LSOAs in the most deprived 10% nationally", "proportion", 4, "lower is better")):
            short = {"average_rank": "average_rank", "average_score": "average_score"}.get(measure, "proportion_10")
            add(f"{prefix}_{measure}", f"{base}_{short}", f"{name}: {text}", unit, dec, pol,
                f"File 10 '{name}' {text} (IMD package column {prefix}_{measure})")
            add(f"{prefix}_rank_of_{measure}", f"{base}_rank_of_{short}", f"{name}: rank of {text} ({MOST})", "rank",
                0, "higher is better", f"File 10 '{name}' rank of {text}, among the 296 districts of 2024")
    for column, ident, label, unit, dec, pol in (
            ("imd25_extent", "imd2025_lad_imd_extent", "IMD: extent", "proportion", 4, "lower is better"),
            ("imd25_rank_of_extent", "imd2025_lad_imd_rank_of_extent", f"IMD: rank of extent ({MOST})", "rank", 0,
             "higher is better"),
            ("imd25_local_concentration", "imd2025_lad_imd_local_concentration", "IMD: local concentration",
             "average rank", 2, "lower is better"),
            ("imd25_rank_of_local_concentration", "imd2025_lad_imd_rank_of_local_concentration",
             f"IMD: rank of local concentration ({MOST})", "rank", 0, "higher is better"),
            ("income_scale", "imd2025_lad_income_scale", "Income: scale (people income deprived)", "count", 0,
             "lower is better"),
            ("rank_of_income_scale", "imd2025_lad_income_rank_of_scale", f"Income: rank of scale ({MOST})", "rank", 0,
             "higher is better"),
            ("employment_scale", "imd2025_lad_employment_scale", "Employment: scale (people employment deprived)",
             "people", 2, "lower is better"),
            ("rank_of_employment_scale", "imd2025_lad_employment_rank_of_scale",
             f"Employment: rank of scale ({MOST})", "rank", 0, "higher is better")):
        add(column, ident, label, unit, dec, pol, f"File 10 column {column} (IMD package)")
    frame[CARRIED_STATUS] = mapping["status"].to_numpy()
    frame[CARRIED_NOTE] = mapping["note"].to_numpy()
    return Dataset("imd2025_districts", {"lad": frame}, variables, (), "England")
