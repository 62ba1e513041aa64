"""Air quality: LAEI modelled concentrations by LSOA, and monitoring sites with their readings (AURN, LAQN).

Three publishers' files (``../shared/data/SOURCES.md``, ``later/air_quality/``):

- **LAEI** (GLA/TfL London Atmospheric Emissions Inventory), modelled annual mean NO2 and PM2.5 on a 20 m grid,
  summarised to every London LSOA (2011 and 2021) by James Millington: one file per level, year and pollutant,
  the year in the column names (``NO2-2013-mean``). Read strictly (header, codes, numbers), every London LSOA
  once, and made the variables ``laei_<no2|pm25>_<year>_<mean|max>`` (the mean and the highest of the area's
  20 m cells) and the change 2013 -> 2019 of each, at ``lsoa11`` and ``lsoa21``. The catalogue's
  ``thresholds`` give the WHO 2021 guideline, interim targets and the UK's legal limit and target (the
  "Guideline and limits" classes of the map; atlas/view.py).
- **AURN** (Defra), daily means of NO2, O3 and PM2.5 at the sites with a complete record for 1 February to
  31 August 2020 (aggregated from the hourly data by M. J. Hollaway): sites with coordinates, type and the
  pollutants they measure, and one reading per site, pollutant and day.
- **LAQN** (King's College / Imperial College ERG), one response of the hourly Daily Air Quality Index for the
  London sites (2019-09-26 11:00): the XML-converted JSON's quirks handled (an object where there is one
  site or species, no ``Site`` key for boroughs without sites, every value a string, the ``...WGS84`` fields
  in Web Mercator metres: the degrees are ``@Latitude``/``@Longitude``), index 0 / "No data" kept as no reading.

Monitoring sites become open *point datasets* (``points/``: one table of sites and one of readings each, and
``points/datasets.parquet`` describing them), placed by point-in-polygon in the district (December 2021
boundaries, the whole UK) and in the display LSOA polygons of both vintages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from pipeline import datasets as ds
from pipeline import readers
from pipeline.datasets import Dataset
from pipeline.readers import RawFiles, SourceError

__all__ = ["F_AURN", "F_LAQN", "LAEI_DIR", "LAEI_YEARS", "POINT_TABLES", "Points", "laei_datasets", "read_points",
           "write_points"]

AIR = "later/air_quality"
LAEI_DIR = f"{AIR}/laei_modelled_london_lsoa_jamesdamillington"
F_AURN = {"no2": f"{AIR}/aurn_daily_feb-aug2020_gampelt/AURN_NO2_01022020_31082020.csv",
          "o3": f"{AIR}/aurn_daily_feb-aug2020_gampelt/AURN_O3_01022020_31082020.csv",
          "pm25": f"{AIR}/aurn_daily_feb-aug2020_gampelt/AURN_PM_01022020_31082020.csv"}
F_LAQN = f"{AIR}/laqn_hourly_index_london_2019-09-26/hourly.json"

LAEI_YEARS = ("2013", "2016", "2019")
LAEI_POLLUTANTS = {"no2": ("NO2", "Nitrogen dioxide (NO2)"), "pm25": ("PM25", "Fine particulate matter (PM2.5)")}
LAEI_STATS = {"mean": "area average (mean of its 20 m cells)", "max": "highest 20 m cell in the area"}
LAEI_COLUMNS = ("min", "max", "mean", "std", "median")
LAEI_ROWS = {"lsoa11": 4835, "lsoa21": 4994}
UNIT = "µg/m³"

# Thresholds for annual means, µg/m³: WHO global air quality guidelines (2021), table 0.1; the UK's limit values
# (Air Quality Standards Regulations 2010, and their Welsh equivalent); England's 2040 PM2.5 target
# (Environmental Targets (Fine Particulate Matter) (England) Regulations 2023). Each class of the "Guideline and
# limits" preset includes its upper bound: an area at exactly the guideline meets it.
ANNUAL_THRESHOLDS: dict[str, list[dict]] = {
    "pm25": [
        {"value": 5.0, "label": "WHO 2021 guideline", "kind": "guideline", "basis": "annual mean"},
        {"value": 10.0, "label": "WHO interim target 4 and England's 2040 target", "kind": "target",
         "basis": "annual mean"},
        {"value": 15.0, "label": "WHO interim target 3", "kind": "target", "basis": "annual mean"},
        {"value": 20.0, "label": "UK legal limit", "kind": "limit", "basis": "annual mean"},
    ],
    "no2": [
        {"value": 10.0, "label": "WHO 2021 guideline", "kind": "guideline", "basis": "annual mean"},
        {"value": 20.0, "label": "WHO interim target 3", "kind": "target", "basis": "annual mean"},
        {"value": 30.0, "label": "WHO interim target 2", "kind": "target", "basis": "annual mean"},
        {"value": 40.0, "label": "UK legal limit (also WHO interim target 1)", "kind": "limit", "basis": "annual mean"},
    ],
}
# Daily means at the monitoring sites, against the WHO 2021 24-hour guideline and interim targets (and, for
# ozone, whose guideline and UK target are for 8-hour means, those: a daily mean is compared only loosely).
DAILY_THRESHOLDS: dict[str, list[dict]] = {
    "pm25": [
        {"value": 15.0, "label": "WHO 2021 24-hour guideline", "kind": "guideline", "basis": "24-hour mean"},
        {"value": 25.0, "label": "WHO interim target 4", "kind": "target", "basis": "24-hour mean"},
        {"value": 37.5, "label": "WHO interim target 3", "kind": "target", "basis": "24-hour mean"},
        {"value": 50.0, "label": "WHO interim target 2", "kind": "target", "basis": "24-hour mean"},
        {"value": 75.0, "label": "WHO interim target 1", "kind": "target", "basis": "24-hour mean"},
    ],
    "no2": [
        {"value": 25.0, "label": "WHO 2021 24-hour guideline", "kind": "guideline", "basis": "24-hour mean"},
        {"value": 50.0, "label": "WHO interim target 2", "kind": "target", "basis": "24-hour mean"},
        {"value": 120.0, "label": "WHO interim target 1", "kind": "target", "basis": "24-hour mean"},
    ],
    "o3": [
        {"value": 60.0, "label": "WHO 2021 peak-season guideline", "kind": "guideline",
         "basis": "peak-season mean of daily maximum 8-hour means"},
        {"value": 100.0, "label": "WHO 2021 8-hour guideline", "kind": "guideline", "basis": "8-hour mean"},
        {"value": 120.0, "label": "UK target value (also WHO interim target 2)", "kind": "limit",
         "basis": "8-hour mean"},
    ],
}
# The lines of a site's chart: the daily thresholds above, and for NO2 and PM2.5 the annual guideline and legal
# limit (the period's mean, printed in the card, is what compares with them).
ANNUAL_LINES = {p: [t for t in ANNUAL_THRESHOLDS[p] if t["kind"] in ("guideline", "limit")] for p in ANNUAL_THRESHOLDS}

AURN_COLUMNS = ["U", "V", "T", "tstamp", "SID", "SCODE", "SFNAME", "STYPE", "Poll_Value"]
AURN_DAYS = 213
AURN_MEASURES = {"no2": "Nitrogen dioxide (NO2)", "o3": "Ozone (O3)", "pm25": "Fine particulate matter (PM2.5)"}
#: The first COVID-19 lockdown in England began on 23 March 2020: the period before it and the weeks of it,
#: as each site's card and the API compare them (atlas/air.py reads these dates from the datasets table).
LOCKDOWN = {"before": ["2020-02-01", "2020-03-22"], "during": ["2020-03-23", "2020-05-31"]}

# The Daily Air Quality Index (Defra, COMEAP 2011): its ten values in four bands, with Defra's colours.
DAQI_BANDS = [
    {"low": 1, "high": 3, "label": "Low", "colours": ["#9cff9c", "#31ff00", "#31cf00"]},
    {"low": 4, "high": 6, "label": "Moderate", "colours": ["#ffff00", "#ffcf00", "#ff9a00"]},
    {"low": 7, "high": 9, "label": "High", "colours": ["#ff6464", "#ff0000", "#990000"]},
    {"low": 10, "high": 10, "label": "Very High", "colours": ["#ce30ff"]},
]
LAQN_SPECIES = {"NO2": "Nitrogen dioxide (NO2)", "O3": "Ozone (O3)", "PM10": "Particulate matter (PM10)",
                "PM25": "Fine particulate matter (PM2.5)", "SO2": "Sulphur dioxide (SO2)",
                "CO": "Carbon monoxide (CO)"}
LAQN_BANDS = {"Low", "Moderate", "High", "Very High"}

SOURCES = {
    "aurn": ("Defra, UK Automatic Urban and Rural Network (AURN), daily means of the hourly data aggregated by "
             "M. J. Hollaway (mjhollaway/GAM.PELT). © Crown copyright 2021 Defra via uk-air.defra.gov.uk.",
             "Open Government Licence v2.0 (https://www.nationalarchives.gov.uk/doc/open-government-licence/version/2/)"),
    "laqn": ("Environmental Research Group, King's College London (now Imperial College London), London Air "
             "Quality Network (http://www.londonair.org.uk): hourly air quality index, API response of "
             "2019-09-26 11:00.",
             "Open Government Licence v2.0 (https://www.nationalarchives.gov.uk/doc/open-government-licence/version/2/)"),
}

LAEI_NOTE = ("Modelled, not measured: the LAEI's modelled annual mean on a 20 m grid, summarised to each area "
             "(the mean of its cells, or its highest cell). Each year is a separate LAEI release whose model and "
             "emission estimates changed, so a change between years includes changes of method as well as of air. "
             "2019 is the LAEI 2019 base year (before the COVID-19 lockdowns); 2016 and 2013 are earlier releases.")
_HEADER = re.compile(r"^(NO2|PM25)-(\d{4})-(min|max|mean|std|median)$")

#: The open point datasets' tables under ``points/`` of a build (atlas/extracts.py reads them).
POINT_TABLES = ("datasets.parquet",)


def _thresholds_json(items: list[dict]) -> str:
    return json.dumps(items, ensure_ascii=False)


# -- LAEI --------------------------------------------------------------------------------------------------------

def _read_laei(raw: RawFiles, level: str, year: str, pollutant: str, expected: pd.Index) -> pd.DataFrame:
    """One file: code + the five statistics, every London LSOA of ``level`` once, numbers only."""
    key = LAEI_POLLUTANTS[pollutant][0]
    label = f"{LAEI_DIR}/{level}-{year}-{key}.csv"
    frame = readers.read_csv(raw(label), label, encoding="utf-8-sig")
    code = level.upper() + "CD"
    columns = [code] + [f"{key}-{year}-{s}" for s in LAEI_COLUMNS]
    if list(frame.columns) != columns:
        raise SourceError(label, f"has an unexpected header {list(frame.columns)}; expected {columns}")
    readers.require_codes(frame[code], label, "E")
    if len(frame) != LAEI_ROWS[level]:
        raise SourceError(label, f"has {len(frame):,} rows; the London {level} summaries have {LAEI_ROWS[level]:,}")
    missing = expected.difference(frame[code])
    extra = pd.Index(frame[code]).difference(expected)
    if len(missing) or len(extra):
        raise SourceError(label, f"area codes do not join with London's {level} areas: {len(extra)} not London's "
                                 f"(e.g. {list(extra[:3])}), {len(missing)} London areas missing (e.g. "
                                 f"{list(missing[:3])})")
    numbers = readers.to_numbers(frame, columns[1:], label)
    if numbers.isna().any().any():
        raise SourceError(label, f"has {int(numbers.isna().sum().sum())} empty cells; the LAEI summaries have none")
    if (numbers < 0).any().any():
        raise SourceError(label, "has negative concentrations")
    low, high, mean = (numbers[f"{key}-{year}-{s}"] for s in ("min", "max", "mean"))
    if ((mean < low - 1e-9) | (mean > high + 1e-9)).any():
        raise SourceError(label, "has areas whose mean lies outside their min-max range")
    out = pd.DataFrame({"code": frame[code].to_numpy()})
    for stat in ("mean", "max"):
        out[f"laei_{pollutant}_{year}_{stat}"] = numbers[f"{key}-{year}-{stat}"].to_numpy()
    return out.set_index("code")


def laei_datasets(raw: RawFiles, london: dict[str, pd.Index]) -> list[Dataset]:
    """The LAEI variables at ``lsoa11`` and ``lsoa21`` (``london``: each level's London LSOA codes), and their
    change 2013 -> 2019 (a dataset of its own: change variables are diverging around 0)."""
    frames: dict[str, pd.DataFrame] = {}
    for level, codes in london.items():
        parts = [_read_laei(raw, level, year, pollutant, codes)
                 for pollutant in LAEI_POLLUTANTS for year in LAEI_YEARS]
        frames[level] = pd.concat(parts, axis=1).sort_index()
    title = "London Atmospheric Emissions Inventory: modelled annual mean NO2 and PM2.5 (2013, 2016, 2019)"
    variables, changes = [], []
    for pollutant, (key, name) in LAEI_POLLUTANTS.items():
        thresholds = _thresholds_json(ANNUAL_THRESHOLDS[pollutant])
        for year in LAEI_YEARS:
            for stat, words in LAEI_STATS.items():
                variables.append(ds.variable(
                    f"laei_{pollutant}_{year}_{stat}", f"{name}, {year}: modelled annual mean, {words}",
                    "Environment", "LAEI", title, f"{key}-{year}-{stat}", UNIT, "laei", year,
                    polarity="lower is better",
                    description=f"LAEI modelled annual mean {key} concentration ({year}), µg/m³: the {words}.",
                    note=LAEI_NOTE, decimals=1, coverage="London", palette="YlOrRd", thresholds=thresholds))
        for stat, words in LAEI_STATS.items():
            changes.append(ds.variable(
                f"laei_{pollutant}_{stat}_change_2013_2019", f"{name}: change 2013 to 2019 in the modelled annual "
                f"mean, {words} (µg/m³)", "Environment", "LAEI change", f"{title}: change 2013 to 2019",
                f"{key}-2019-{stat} - {key}-2013-{stat}", UNIT, "laei", "2013 and 2019", polarity="lower is better",
                description=f"The 2019 LAEI figure less the 2013 one ({words}), µg/m³: negative is a fall.",
                method="change", cells=f"{key}-2019-{stat} - {key}-2013-{stat}", note=LAEI_NOTE, decimals=1,
                coverage="London", palette="RdBu", centre=0.0))
    out_levels = {level: frame.reset_index() for level, frame in frames.items()}
    change_levels = {}
    for level, frame in frames.items():
        change = pd.DataFrame({"code": frame.index})
        for pollutant in LAEI_POLLUTANTS:
            for stat in LAEI_STATS:
                change[f"laei_{pollutant}_{stat}_change_2013_2019"] = (
                    frame[f"laei_{pollutant}_2019_{stat}"] - frame[f"laei_{pollutant}_2013_{stat}"]).to_numpy()
        change_levels[level] = change
    return [Dataset("laei", out_levels, variables, (), "London"),
            Dataset("laei_change", change_levels, changes, (), "London")]


# -- monitoring sites --------------------------------------------------------------------------------------------

@dataclass
class Points:
    """An open point dataset: its description (a row of ``points/datasets.parquet``), its sites and readings."""

    meta: dict
    sites: pd.DataFrame      # site, name, type, lon, lat, network, measures (list), place (text)
    readings: pd.DataFrame   # site, measure, time (text), value (float), band (text or None), note (text or None)


def _aurn(raw: RawFiles) -> Points:
    sites: dict[str, dict] = {}
    readings = []
    for measure, label in F_AURN.items():
        frame = readers.read_csv(raw(label), label)
        if list(frame.columns) != AURN_COLUMNS:
            raise SourceError(label, f"has an unexpected header {list(frame.columns)}; expected {AURN_COLUMNS}")
        numbers = readers.to_numbers(frame, ["U", "V", "T", "Poll_Value"], label)
        if numbers.isna().any().any():
            raise SourceError(label, "has empty cells; the complete-record sites have none")
        days = pd.to_datetime(frame["tstamp"], format="%Y-%m-%d", errors="coerce")
        if days.isna().any():
            bad = frame.loc[days.isna(), "tstamp"].iloc[0]
            raise SourceError(label, f"has dates that are not YYYY-MM-DD, e.g. {bad!r}")
        first = pd.Timestamp("2020-02-01")
        if not ((days - first).dt.days + 1 == numbers["T"]).all():
            raise SourceError(label, "its day index T does not follow its dates (T = 1 on 2020-02-01)")
        counts = frame.groupby("SCODE").size()
        if (counts != AURN_DAYS).any():
            raise SourceError(label, f"sites without one reading a day for {AURN_DAYS} days: "
                                     f"{list(counts[counts != AURN_DAYS].index[:3])}")
        if frame.duplicated(["SCODE", "tstamp"]).any():
            raise SourceError(label, "has two readings of one site on one day")
        if (numbers["Poll_Value"] < 0).any():
            raise SourceError(label, "has negative concentrations")
        for code, part in frame.assign(lon=numbers["U"], lat=numbers["V"]).groupby("SCODE", sort=True):
            first_row = part.iloc[0]
            if part["SFNAME"].nunique() != 1 or part["STYPE"].nunique() != 1 or part["lon"].nunique() != 1 \
                    or part["lat"].nunique() != 1:
                raise SourceError(label, f"site {code} changes its name, type or place between days")
            seen = sites.get(code)
            here = {"name": first_row["SFNAME"], "type": first_row["STYPE"], "lon": float(first_row["lon"]),
                    "lat": float(first_row["lat"])}
            if seen is None:
                sites[code] = {**here, "measures": [measure]}
            else:
                if seen["name"] != here["name"] or abs(seen["lon"] - here["lon"]) > 1e-6 \
                        or abs(seen["lat"] - here["lat"]) > 1e-6:
                    raise SourceError(label, f"site {code} differs from the other pollutants' files "
                                             f"({seen['name']!r} against {here['name']!r})")
                seen["measures"].append(measure)
        readings.append(pd.DataFrame({"site": frame["SCODE"].to_numpy(), "measure": measure,
                                      "time": frame["tstamp"].to_numpy(), "value": numbers["Poll_Value"].to_numpy(),
                                      "band": None, "note": None}))
    site_frame = pd.DataFrame([{"site": code, **v} for code, v in sorted(sites.items())])
    site_frame["network"] = "AURN"
    site_frame["place"] = ""  # the LAQN names each site's borough; the AURN files do not
    measures = [{"id": m, "label": AURN_MEASURES[m], "unit": UNIT, "decimals": 1, "scale": "concentration",
                 "period": "daily mean", "thresholds": DAILY_THRESHOLDS[m],
                 "lines": DAILY_THRESHOLDS[m] + ANNUAL_LINES.get(m, [])} for m in F_AURN]
    meta = {
        "id": "aurn2020", "title": "Air quality monitoring: AURN daily means, February to August 2020",
        "description": ("Daily mean concentrations of nitrogen dioxide, ozone and fine particulate matter at the "
                        "UK's national monitoring sites (the Automatic Urban and Rural Network) with a complete record "
                        "from 1 February to 31 August 2020, spanning the first COVID-19 lockdown."),
        "kind": "series", "as_of": "2020-08-31", "start": "2020-02-01", "end": "2020-08-31",
        "note": ("Only the sites with a reading on every day of the period are included (74 measure NO2, 30 ozone "
                 "and 30 PM2.5). The WHO guideline for ozone and the UK target are for 8-hour means: daily means "
                 "compare with them only loosely. Annual guidelines and limits apply to a year's mean, not a day's."),
        "measures": measures, "lockdown": LOCKDOWN, "monitoring": True,
        "source": SOURCES["aurn"][0], "licence": SOURCES["aurn"][1], "inputs": list(F_AURN.values())}
    return Points(meta, site_frame, pd.concat(readings, ignore_index=True))


def _as_list(value: object) -> list:
    """XML-converted JSON: one item is an object, several a list, none absent."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _laqn(raw: RawFiles) -> Points:
    label = F_LAQN
    try:
        doc = json.loads(raw(label).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceError(label, f"is not valid JSON: {exc}") from None
    return laqn_points(doc, label)


def laqn_points(doc: object, label: str) -> Points:
    """The sites and index readings of one LAQN ``HourlyAirQualityIndex`` response (the pipeline's reader; a
    live feed of this shape is read by atlas/pointfeeds.py)."""
    root = doc.get("HourlyAirQualityIndex") if isinstance(doc, dict) else None
    if not isinstance(root, dict) or not isinstance(root.get("LocalAuthority"), (list, dict)):
        raise SourceError(label, "is not an LAQN HourlyAirQualityIndex response (no LocalAuthority list)")
    sites, readings, bulletins = [], [], set()
    for la in _as_list(root["LocalAuthority"]):
        for site in _as_list(la.get("Site")):
            code = str(site.get("@SiteCode") or "").strip()
            try:
                lat, lon = float(site["@Latitude"]), float(site["@Longitude"])
            except (KeyError, TypeError, ValueError):
                raise SourceError(label, f"site {code or '?'} has no latitude and longitude in degrees") from None
            if not code or not (49 < lat < 61 and -9 < lon < 3):
                raise SourceError(label, f"site {code or '?'} lies outside the UK ({lat}, {lon})")
            bulletin = str(site.get("@BulletinDate") or "").strip()
            bulletins.add(bulletin)
            measures = []
            for species in _as_list(site.get("Species")):
                kind = str(species.get("@SpeciesCode") or "").strip()
                band = str(species.get("@AirQualityBand") or "").strip()
                try:
                    index = int(str(species.get("@AirQualityIndex")).strip())
                except ValueError:
                    raise SourceError(label, f"site {code} {kind}: index {species.get('@AirQualityIndex')!r} is "
                                             "not a whole number") from None
                if kind not in LAQN_SPECIES:
                    raise SourceError(label, f"site {code}: unknown species {kind!r}")
                if index == 0 and band == "No data":
                    value, band_text = None, None  # no reading this hour (43 of the 224 here)
                elif 1 <= index <= 10 and band == _band_of(index):
                    value, band_text = float(index), band
                else:
                    raise SourceError(label, f"site {code} {kind}: index {index} does not match band {band!r}")
                measures.append(kind.lower())
                readings.append({"site": code, "measure": kind.lower(), "time": bulletin, "value": value,
                                 "band": band_text, "note": str(species.get("@IndexSource") or "") or None})
            sites.append({"site": code, "name": str(site.get("@SiteName") or code), "type": str(site.get(
                "@SiteType") or ""), "lon": lon, "lat": lat, "measures": measures,
                "place": str(la.get("@LocalAuthorityName") or "")})
    if not sites:
        raise SourceError(label, "lists no sites")
    frame = pd.DataFrame(sites)
    if frame["site"].duplicated().any():
        raise SourceError(label, f"lists a site twice: {list(frame.loc[frame['site'].duplicated(), 'site'][:3])}")
    if len(bulletins) != 1:
        raise SourceError(label, f"mixes bulletin times {sorted(bulletins)[:3]}: one snapshot was expected")
    as_of = bulletins.pop()
    present = sorted({r["measure"] for r in readings}, key=lambda m: list(map(str.lower, LAQN_SPECIES)).index(m))
    measures = [{"id": "highest", "label": "Air quality index: the highest of the site's pollutants", "unit": "index",
                 "decimals": 0, "scale": "index", "period": "hourly index", "bands": DAQI_BANDS}]
    measures += [{"id": m, "label": f"Air quality index: {LAQN_SPECIES[m.upper()]}", "unit": "index", "decimals": 0,
                  "scale": "index", "period": "hourly index", "bands": DAQI_BANDS} for m in present]
    frame["network"] = "LAQN"
    frame = frame.sort_values("site", ignore_index=True)
    meta = {
        "id": "laqn2019", "title": f"Air quality index: London Air Quality Network, {as_of[:16]}",
        "description": ("The Daily Air Quality Index (1 to 10, in four bands) of each London monitoring site and "
                        "pollutant, as the LAQN's hourly API gave it at one time."),
        "kind": "snapshot", "as_of": as_of, "start": as_of[:10], "end": as_of[:10],
        "note": ("An index, not a concentration: 1-3 Low, 4-6 Moderate, 7-9 High, 10 Very High (Defra's Daily Air "
                 "Quality Index). A site's pollutant with no reading that hour is shown as no data. 'Trigger' "
                 "readings are estimated by the network from a related measurement."),
        "measures": measures, "lockdown": None, "monitoring": True,
        "source": SOURCES["laqn"][0], "licence": SOURCES["laqn"][1], "inputs": [label]}
    return Points(meta, frame, pd.DataFrame(readings))


def _band_of(index: int) -> str:
    return next(b["label"] for b in DAQI_BANDS if b["low"] <= index <= b["high"])


def read_points(raw: RawFiles) -> list[Points]:
    """The open point datasets (AURN, LAQN), read and checked; placed in areas by ``write_points``."""
    return [_aurn(raw), _laqn(raw)]


def _place(sites: pd.DataFrame, polygons: gpd.GeoDataFrame, column: str) -> pd.Series:
    """The code of the polygon holding each site (None outside every one; the lowest code on a shared edge)."""
    points = gpd.GeoDataFrame(sites[["site"]], geometry=gpd.points_from_xy(sites["lon"], sites["lat"]), crs=4326)
    joined = gpd.sjoin(points, polygons[[column, "geometry"]].to_crs(4326), how="left", predicate="intersects")
    joined = joined.sort_values(["site", column]).drop_duplicates("site")
    found = joined.set_index("site")[column]
    return sites["site"].map(found).astype(object).where(lambda s: s.notna(), None)


def write_points(out: Path, items: list[Points], lads: gpd.GeoDataFrame, areas: dict[str, gpd.GeoDataFrame],
                 write_table) -> dict:
    """``points/<id>.parquet`` (sites), ``points/<id>_readings.parquet`` and ``points/datasets.parquet``. Each site
    gets its district (December 2021, any UK nation) and, in England and Wales, its LSOAs of 2011 and 2021 (the
    display polygons the map draws)."""
    folder = out / "points"
    folder.mkdir(parents=True, exist_ok=True)
    rows, counts = [], {}
    districts = lads.rename(columns={"LAD21CD": "code"})[["code", "geometry"]]
    for item in items:
        sites = item.sites.copy()
        for level in ("lsoa11", "lsoa21"):
            sites[level] = _place(sites, areas[level][["code", "geometry"]], "code")
        # A site's district is its LSOA's (so it agrees with the map's areas); outside England and Wales, the
        # district polygon holding it (Scotland, Northern Ireland); outside the UK (Mace Head) none.
        lsoa_district = areas["lsoa11"].set_index("code")["authority"]
        sites["authority"] = sites["lsoa11"].map(lsoa_district).astype(object)
        outside = sites["authority"].isna()
        sites.loc[outside, "authority"] = _place(sites[outside], districts, "code")
        sites["authority"] = sites["authority"].where(sites["authority"].notna(), None)
        names = lads.set_index("LAD21CD")["LAD21NM"]
        sites["authority_name"] = sites["authority"].map(names).astype(object).where(lambda s: s.notna(), None)
        sites = sites[["site", "name", "type", "network", "lon", "lat", "authority", "authority_name", "lsoa11",
                       "lsoa21", "place", "measures"]]
        unknown = set(item.readings["site"]) - set(sites["site"])
        if unknown:
            raise SourceError(item.meta["id"], f"readings of sites not listed: {sorted(unknown)[:3]}")
        readings = item.readings.sort_values(["measure", "time", "site"], ignore_index=True)
        readings["value"] = readings["value"].astype("float64")
        for column in ("band", "note"):
            readings[column] = readings[column].astype(object).where(readings[column].notna(), None)
        write_table(folder / f"{item.meta['id']}.parquet", sites)
        write_table(folder / f"{item.meta['id']}_readings.parquet", readings)
        meta = dict(item.meta)
        meta["sites"] = int(len(sites))
        meta["readings"] = int(readings["value"].notna().sum())
        for key in ("measures", "lockdown", "inputs"):
            meta[key] = json.dumps(meta[key], ensure_ascii=False)
        rows.append(meta)
        counts[item.meta["id"]] = {"sites": int(len(sites)), "readings": meta["readings"],
                                   "in_england_and_wales": int(sites["lsoa11"].notna().sum())}
    write_table(folder / "datasets.parquet", pd.DataFrame(rows))
    return counts


def london_codes(areas: dict[str, gpd.GeoDataFrame]) -> dict[str, pd.Index]:
    """Each LSOA level's London codes (the 33 London boroughs, E09...), sorted."""
    return {level: pd.Index(np.sort(areas[level].loc[areas[level]["authority"].str.startswith("E09"), "code"]
                                    .to_numpy())) for level in ("lsoa11", "lsoa21")}
