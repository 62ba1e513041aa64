"""Every postcode of Great Britain, placed once in the atlas's areas at build time (``postcodes.parquet``), and
the gazetteer's towns, villages, hamlets and suburbs placed in them too (build time only).

Inputs, read as published:

- **OS Code-Point Open 2025.4** (``codepo_gb_2025.4.0_csv.tar.xz``: the release's 120 postcode-area CSVs, read
  out of the archive, each member's SHA-256 checked against the release's own manifest): every live postcode of
  Great Britain with its grid point (British National Grid), country, district and ward at the release date.
  Positional quality 90 means the postcode has no point (836 in Great Britain): it is kept, unplaced.
- **The NSPL of November 2021 for the WC postcode area**, the one held directory that keeps terminated
  postcodes: each with its date of termination (``doterm``, YYYYMM) and point; a postcode it lists as live that
  Code-Point Open no longer has ended between the two releases (its date unknown).
- **Polygons, as published** (repaired where invalid, never simplified): LSOA 2011 (UK-GeoJSON, London from
  the GLA's file, as on the map), LSOA 2021 of every authority (ONS December 2021: the build reads them for
  the display areas too), the Output Areas held (2011: seven authorities; 2021: Trafford) and the December 2022
  wards.

Each point is placed by a vectorised point-in-polygon: a shapely STRtree of the 1.75 million points, queried
with each level's polygons (``covers``: a point on a shared edge is in both, and takes the lowest code, as
atlas/locate.py does). A point in no polygon of a level (a quay or a beach that the generalised, coast-clipped
boundaries leave out) takes the nearest polygon within ``NEAREST_M`` metres, and the distance is kept so the
answer can say so; farther out it is left unplaced. Output Areas are only looked for where the atlas holds
them (a postcode elsewhere has none, said as such). The authority is the atlas's own (December 2021), the one
of the 2011 LSOA the point lies in: a district reorganised since (North Yorkshire 2023, Somerset 2023...) is
named beside it, from Code-Point's current district code.

Scottish postcodes are kept with their point and district only, so a search can say "in Scotland, not covered"
rather than "not found".
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyproj
import shapely

from pipeline import geometry, readers
from pipeline.readers import RawFiles, SourceError

__all__ = ["COLUMNS", "F_CODEPOINT", "F_NAMES", "F_NSPL_WC", "NEAREST_M", "Placed", "Points",
           "authority_names", "gazetteer_gaps", "place_in_levels", "place_points", "postcode_areas",
           "postcode_districts", "postcode_index", "read_codepoint", "read_missing_tiles",
           "read_nspl_wc", "read_settlements", "settlement_index", "tile_box"]

CODEPOINT_DIR = "later/postcodes/codepoint_open_2025_4"
F_CODEPOINT = f"{CODEPOINT_DIR}/codepo_gb_2025.4.0_csv.tar.xz"
F_CODEPOINT_MANIFEST = f"{CODEPOINT_DIR}/codepo_gb_2025.4.0_MANIFEST.sha256"
F_NSPL_WC = "later/postcodes/nspl_nov2021_WC_area/NSPL_NOV_2021_UK_WC.csv"
NAMES_DIR = "later/places/os_open_names_2021_settlements_EW_partial"
F_NAMES = f"{NAMES_DIR}/os_open_names_2021_populated_places_EW_partial.csv"
F_MISSING_TILES = f"{NAMES_DIR}/MISSING_TILES.txt"
F_AUTHORITY_NAMES = "national/elections/wd22_by_lad/README_drkane_boundaries.md"
#: A point outside every polygon of a level takes the nearest one up to this far (metres); farther, none.
NEAREST_M = 1000.0
#: Code-Point's columns, in order (the CSVs have no header: Doc/Code-Point_Open_Column_Headers.csv).
CODEPOINT_COLUMNS = ["PC", "PQ", "EA", "NO", "CY", "RH", "LH", "CC", "DC", "WC"]
COUNTRIES = {"E92000001": "England", "W92000004": "Wales", "S92000003": "Scotland"}
NO_POSITION = 90
#: Levels a point is placed in, with the polygons' words for the docs; ``oa`` levels only where held.
LEVELS = ("lsoa11", "lsoa21", "oa11", "oa21", "ward22")
#: postcodes.parquet's columns: ``pc7`` the 7-character form (the NSPL's ``pcd``: outward code left-justified to 4,
#: then the inward code: "M1  1AE", "B15 2TT", "AB101AB"; sorted by it, a district's postcodes are together),
#: ``status`` live (Code-Point Open) or terminated (the WC NSPL; ``terminated`` "YYYY-MM", None when only
#: known to have ended since November 2021), the point as integer micro-degrees (WGS84; None without a
#: point), the areas it lies in and their names, ``<level>_m`` the distance to a polygon it was placed in
#: without being inside (None when inside), and Code-Point's current district and ward.
COLUMNS = ["pc7", "status", "terminated", "country", "quality", "lon_e6", "lat_e6", "authority", "authority_name",
           "lsoa11", "lsoa11_name", "lsoa11_m", "lsoa21", "lsoa21_name", "lsoa21_m",
           "oa11", "oa21", "oa_m", "ward22", "ward22_name", "ward22_m", "district_now", "district_now_name",
           "ward_now"]
_TO_WGS84 = pyproj.Transformer.from_crs(27700, 4326, always_xy=True)
_TO_BNG = pyproj.Transformer.from_crs(4326, 27700, always_xy=True)


# -- reading -----------------------------------------------------------------------------------------------

def _manifest(raw: RawFiles) -> dict[str, str]:
    out = {}
    for line in raw(F_CODEPOINT_MANIFEST).read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"([0-9a-f]{64}) [ *]?(?:\./)?(.+)", line.strip())
        if match:
            out[match.group(2)] = match.group(1)
    if not out:
        raise SourceError(F_CODEPOINT_MANIFEST, "lists no files (sha256sum lines expected)")
    return out


def read_codepoint(raw: RawFiles) -> pd.DataFrame:
    """Every postcode of Code-Point Open: ``pc7``, ``quality``, ``east``, ``north`` (None without a point),
    ``country``, ``district_now``, ``ward_now``. Each CSV's SHA-256 must match the release's manifest."""
    manifest = _manifest(raw)
    types = {c: pa.string() for c in CODEPOINT_COLUMNS} | {"PQ": pa.int16(), "EA": pa.int32(), "NO": pa.int32()}
    tables = []
    try:
        with tarfile.open(raw(F_CODEPOINT), "r:xz") as archive:
            for member in archive:
                if not (member.isfile() and re.search(r"/Data/CSV/[a-z]{1,2}\.csv$", member.name)):
                    continue
                data = archive.extractfile(member).read()
                name = member.name.split("codepo_gb/", 1)[-1]
                want = manifest.get(name) or manifest.get(member.name)
                if want is None:
                    raise SourceError(F_CODEPOINT, f"holds {member.name}, which {F_CODEPOINT_MANIFEST} does not list")
                if hashlib.sha256(data).hexdigest() != want:
                    raise SourceError(F_CODEPOINT, f"{member.name} does not match its SHA-256 in the manifest")
                try:
                    tables.append(pacsv.read_csv(io.BytesIO(data), read_options=pacsv.ReadOptions(
                        column_names=CODEPOINT_COLUMNS), convert_options=pacsv.ConvertOptions(column_types=types)))
                except pa.ArrowInvalid as exc:
                    raise SourceError(F_CODEPOINT, f"{member.name} cannot be read as Code-Point CSV: {exc}") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise SourceError(F_CODEPOINT, f"cannot be read as an xz tar archive (truncated?): {exc}") from None
    listed = sorted(k for k in manifest if re.search(r"Data/CSV/[a-z]{1,2}\.csv$", k))
    if len(tables) != len(listed):
        raise SourceError(F_CODEPOINT, f"holds {len(tables)} postcode-area CSVs; the manifest lists {len(listed)}")
    frame = pa.concat_tables(tables).to_pandas()
    # Written with one or two spaces ("B15 2TT", "M1  1AE", "AB10 1AB"): taken to the NSPL's 7 characters.
    compact = frame["PC"].str.upper().str.replace(" ", "", regex=False)
    bad = compact[~compact.str.match(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")]
    if len(bad):
        raise SourceError(F_CODEPOINT, f"{len(bad)} rows' postcodes are not postcodes, e.g. "
                                       f"{list(frame['PC'][bad.index[:3]])}")
    seven = compact.str[:-3].str.ljust(4) + compact.str[-3:]
    if seven.duplicated().any():
        raise SourceError(F_CODEPOINT, f"postcodes listed twice, e.g. {list(seven[seven.duplicated()][:3])}")
    unknown = sorted(set(frame["CY"]) - set(COUNTRIES))
    if unknown:
        raise SourceError(F_CODEPOINT, f"unknown country codes {unknown[:3]}")
    placed = frame["PQ"] != NO_POSITION
    return pd.DataFrame({
        "pc7": seven.to_numpy(), "quality": frame["PQ"].to_numpy(),
        "east": frame["EA"].where(placed).to_numpy(), "north": frame["NO"].where(placed).to_numpy(),
        "country": frame["CY"].to_numpy(), "district_now": frame["DC"].fillna("").to_numpy(),
        "ward_now": frame["WC"].fillna("").to_numpy()})


def read_nspl_wc(raw: RawFiles) -> pd.DataFrame:
    """The WC area's NSPL: ``pc7``, ``terminated`` ("YYYY-MM" or "" when live in November 2021), ``east``,
    ``north`` (None for the 13 postcodes without a grid reference), ``country``."""
    frame = readers.read_csv(raw(F_NSPL_WC), F_NSPL_WC)
    readers.require_columns(frame, ["pcd", "doterm", "oseast1m", "osnrth1m", "osgrdind", "ctry"], F_NSPL_WC)
    seven = frame["pcd"].str.upper()
    if (seven.str.len() != 7).any() or seven.duplicated().any():
        raise SourceError(F_NSPL_WC, "pcd is not a unique 7-character postcode on every row")
    doterm = frame["doterm"].str.strip()
    odd = doterm[(doterm != "") & ~doterm.str.fullmatch(r"(19|20)\d\d(0[1-9]|1[0-2])")]
    if len(odd):
        raise SourceError(F_NSPL_WC, f"doterm is not YYYYMM, e.g. {list(odd[:3])}")
    east = pd.to_numeric(frame["oseast1m"].str.strip(), errors="coerce")
    north = pd.to_numeric(frame["osnrth1m"].str.strip(), errors="coerce")
    # osgrdind 9 (and no easting) is "no grid reference": those 13 keep no point.
    placed = east.notna() & north.notna() & (frame["osgrdind"].str.strip() != "9")
    return pd.DataFrame({"pc7": seven.to_numpy(),
                         "terminated": np.where(doterm != "", doterm.str[:4] + "-" + doterm.str[4:], ""),
                         "east": east.where(placed).to_numpy(), "north": north.where(placed).to_numpy(),
                         "country": frame["ctry"].str.strip().to_numpy()})


def authority_names(raw: RawFiles) -> dict[str, str]:
    """District code -> name for the authorities of April 2023 (drkane's index beside the ward files), which
    names the districts made since 2021 (North Yorkshire E06000065, Cumberland E06000063...)."""
    text = raw(F_AUTHORITY_NAMES).read_text(encoding="utf-8")
    found = dict((code, name.strip()) for name, code in re.findall(r"^- (.+?) \(([EW]0[6-9]\d{6})\):", text, re.M))
    if not found:
        raise SourceError(F_AUTHORITY_NAMES, "names no authority (lines '- Name (E06...): ...')")
    return found


# -- placing points ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Placed:
    """Per point: the code of the polygon it lies in (None outside all), and the distance in metres to the
    nearest polygon for a point placed in one it is not inside (NaN when inside or unplaced)."""

    codes: np.ndarray
    metres: np.ndarray


class Points:
    """British National Grid points (NaN: no point) as WGS84 shapely points in one STRtree, built once and
    queried with each level's polygons."""

    def __init__(self, east: np.ndarray, north: np.ndarray) -> None:
        self.east = np.asarray(east, dtype="float64")
        self.north = np.asarray(north, dtype="float64")
        self.where = np.flatnonzero(~(np.isnan(self.east) | np.isnan(self.north)))
        lon, lat = _TO_WGS84.transform(self.east[self.where], self.north[self.where])
        self.lon = np.full(len(self.east), np.nan)
        self.lat = np.full(len(self.east), np.nan)
        self.lon[self.where], self.lat[self.where] = lon, lat
        self.points = shapely.points(lon, lat)
        self.tree = shapely.STRtree(self.points)

    def __len__(self) -> int:
        return len(self.east)


def place_points(points: Points, polygons: gpd.GeoDataFrame, nearest: bool = True,
                 eligible: np.ndarray | None = None) -> Placed:
    """Which of ``polygons`` (WGS84, index = code) each point lies in (vectorised: the points' STRtree queried
    with every polygon). Points without a position, or not ``eligible``, are left unplaced."""
    n = len(points)
    codes = np.full(n, None, dtype=object)
    metres = np.full(n, np.nan)
    where = points.where
    ok = np.ones(len(where), dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)[where]
    if not ok.any() or not len(polygons):
        return Placed(codes, metres)
    polys = np.asarray(polygons.geometry.values)
    names = polygons.index.to_numpy(dtype=object)
    poly_i, point_i = points.tree.query(polys, predicate="covers")
    keep = ok[point_i]
    poly_i, point_i = poly_i[keep], point_i[keep]
    # On a shared edge a point is covered by two polygons: the lowest code wins (as in atlas/locate.py).
    order = np.lexsort((names[poly_i], point_i))
    point_i, poly_i = point_i[order], poly_i[order]
    first = np.r_[True, point_i[1:] != point_i[:-1]] if len(point_i) else np.zeros(0, dtype=bool)
    codes[where[point_i[first]]] = names[poly_i[first]]
    if nearest:
        inside = np.zeros(len(where), dtype=bool)
        inside[point_i] = True
        left = np.flatnonzero(ok & ~inside)
        if len(left):
            # A first cut in degrees (0.03 is over 2 km here), then the distance in metres on the grid.
            got_point, got_poly = shapely.STRtree(polys).query_nearest(points.points[left], max_distance=0.03,
                                                                       all_matches=False)
            if len(got_point):
                bng = shapely.transform(polys[got_poly],
                                        lambda xy: np.column_stack(_TO_BNG.transform(xy[:, 0], xy[:, 1])))
                at = where[left[got_point]]
                dist = shapely.distance(shapely.points(points.east[at], points.north[at]), bng)
                near = dist <= NEAREST_M
                codes[at[near]] = names[got_poly[near]]
                metres[at[near]] = np.round(dist[near], 1)
    return Placed(codes, metres)


def _polygons(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    fixed, _ = geometry.repair(frame.geometry)
    return frame.set_geometry(fixed.to_numpy())


# -- the index ---------------------------------------------------------------------------------------------

def postcode_index(codepoint: pd.DataFrame, nspl: pd.DataFrame, polygons: dict[str, gpd.GeoDataFrame],
                   authority_name: dict[str, str], current_names: dict[str, str]) -> pd.DataFrame:
    """One row per postcode (``COLUMNS``), sorted by ``pc7``: every Code-Point postcode (live), then the WC
    NSPL's terminated postcodes and those it lists as live that Code-Point no longer has.

    ``polygons`` maps each of ``LEVELS`` to its polygons (index = code; ``name`` and ``authority`` columns);
    ``authority_name`` names the atlas's districts, ``current_names`` the districts of Code-Point's release."""
    live = codepoint.assign(status="live", terminated="")
    gone = nspl[pd.Index(codepoint["pc7"].to_numpy(dtype=object)).get_indexer(nspl["pc7"].to_numpy(dtype=object)) < 0]
    gone = gone.assign(status="terminated", quality=np.where(gone["east"].isna(), NO_POSITION, 0),
                       district_now="", ward_now="")
    frame = pd.concat([live, gone[live.columns]], ignore_index=True).sort_values("pc7", ignore_index=True)
    points = Points(frame["east"].to_numpy(dtype="float64"), frame["north"].to_numpy(dtype="float64"))
    lon, lat = points.lon, points.lat
    out = pd.DataFrame({"pc7": frame["pc7"], "status": frame["status"],
                        "terminated": frame["terminated"].replace("", None), "country": frame["country"],
                        "quality": frame["quality"].astype("int16"),
                        "lon_e6": pd.array(np.round(lon * 1e6), dtype="Int32"),
                        "lat_e6": pd.array(np.round(lat * 1e6), dtype="Int32")})
    ew = frame["country"].to_numpy() != "S92000003"
    areas = place_in_levels(points, polygons, authority_name, eligible=ew)
    for column in areas.columns:
        out[column] = areas[column].to_numpy()
    out["district_now"] = frame["district_now"].replace("", None)
    out["district_now_name"] = out["district_now"].map(current_names)
    out["ward_now"] = frame["ward_now"].replace("", None)
    for column in ("terminated", "district_now", "district_now_name", "ward_now"):
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out[COLUMNS]


def place_in_levels(points: Points, polygons: dict[str, gpd.GeoDataFrame], authority_name: dict[str, str],
                    eligible: np.ndarray | None = None) -> pd.DataFrame:
    """The areas each point lies in at every one of ``LEVELS`` (``<level>``, ``<level>_name`` and
    ``<level>_m`` for the LSOAs and wards, ``oa11``/``oa21`` and ``oa_m``), and the atlas's authority (the 2011
    LSOA's; the 2021 LSOA's where no 2011 LSOA holds the point) with its name. Output Areas are looked for
    only in the authorities that have them."""
    out = pd.DataFrame(index=pd.RangeIndex(len(points)))
    for level in ("lsoa11", "lsoa21", "ward22"):
        got = place_points(points, polygons[level], eligible=eligible)
        out[level] = got.codes
        out[f"{level}_name"] = pd.Series(got.codes).map(polygons[level]["name"]).to_numpy()
        out[f"{level}_m"] = got.metres
    authority = pd.Series(out["lsoa11"]).map(polygons["lsoa11"]["authority"])
    authority = authority.fillna(pd.Series(out["lsoa21"]).map(polygons["lsoa21"]["authority"]))
    out["authority"] = authority.to_numpy()
    out["authority_name"] = authority.map(authority_name).to_numpy()
    oa_m = np.full(len(out), np.nan)
    for level in ("oa11", "oa21"):
        held = pd.Index(polygons[level]["authority"].unique().astype(object))
        got = place_points(points, polygons[level], eligible=held.get_indexer(authority.to_numpy(dtype=object)) >= 0)
        out[level] = got.codes
        oa_m = np.where(np.isnan(oa_m), got.metres, oa_m)
    out["oa_m"] = oa_m
    for column in ("lsoa11", "lsoa11_name", "lsoa21", "lsoa21_name", "oa11", "oa21", "ward22", "ward22_name",
                   "authority", "authority_name"):
        out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def postcode_districts(index: pd.DataFrame) -> pd.DataFrame:
    """Each postcode district (outward code) of England and Wales with live postcodes: how many, their box
    (west, south, east, north) and the atlas authority most of them lie in (with how many authorities)."""
    live = index[(index["status"] == "live") & index["authority"].notna()]
    live = live.assign(lon=live["lon_e6"].astype("float64") / 1e6, lat=live["lat_e6"].astype("float64") / 1e6)
    outward = live["pc7"].str[:4].str.rstrip()
    grouped = live.assign(outward=outward.to_numpy()).groupby("outward")
    out = grouped.agg(postcodes=("pc7", "size"), west=("lon", "min"), south=("lat", "min"), east=("lon", "max"),
                      north=("lat", "max"), authorities=("authority", "nunique"))
    main = live.assign(outward=outward.to_numpy()).groupby(["outward", "authority"]).size().reset_index(name="n")
    main = main.sort_values(["outward", "n", "authority"], ascending=[True, False, True]).drop_duplicates("outward")
    out["authority"] = main.set_index("outward")["authority"].reindex(out.index)
    out["authority_name"] = live.drop_duplicates("authority").set_index("authority")["authority_name"].reindex(
        out["authority"]).to_numpy()
    return out.reset_index().round({"west": 5, "south": 5, "east": 5, "north": 5})


# -- the gazetteer -----------------------------------------------------------------------------------------

#: OS Open Names' LOCAL_TYPE -> what a result calls it, in the order results of equal match are listed.
PLACE_TYPES = {"City": "city", "Town": "town", "Suburban Area": "suburb", "Village": "village",
               "Hamlet": "hamlet", "Other Settlement": "settlement"}
NAME_COLUMNS = ["ID", "NAME1", "NAME1_LANG", "NAME2", "NAME2_LANG", "LOCAL_TYPE", "GEOMETRY_X", "GEOMETRY_Y",
                "MBR_XMIN", "MBR_YMIN", "MBR_XMAX", "MBR_YMAX", "POSTCODE_DISTRICT", "DISTRICT_BOROUGH",
                "COUNTY_UNITARY", "REGION", "COUNTRY", "SOURCE_TILE"]


def read_settlements(raw: RawFiles) -> pd.DataFrame:
    """The gazetteer's settlements as the file has them (``NAME_COLUMNS``), coordinates as numbers."""
    frame = readers.read_csv(raw(F_NAMES), F_NAMES)
    readers.require_columns(frame, NAME_COLUMNS, F_NAMES)
    unknown = sorted(set(frame["LOCAL_TYPE"]) - set(PLACE_TYPES))
    if unknown:
        raise SourceError(F_NAMES, f"unknown LOCAL_TYPE values {unknown[:3]}")
    if frame["ID"].duplicated().any():
        raise SourceError(F_NAMES, "an ID is listed twice")
    numbers = readers.to_numbers(frame, ["GEOMETRY_X", "GEOMETRY_Y", "MBR_XMIN", "MBR_YMIN", "MBR_XMAX", "MBR_YMAX"],
                                 F_NAMES)
    if numbers.isna().any().any():
        raise SourceError(F_NAMES, "a settlement has no coordinates")
    frame = frame.assign(**{c: numbers[c] for c in numbers.columns})
    if (frame["NAME1"].str.strip() == "").any():
        raise SourceError(F_NAMES, "a settlement has no NAME1")
    return frame


def _county_words(county: str) -> str:
    """"Powys - Powys" -> "Powys"; "Sir Ynys Mon - Isle of Anglesey" -> "Isle of Anglesey (Sir Ynys Mon)"."""
    if " - " in county:
        welsh, english = (p.strip() for p in county.split(" - ", 1))
        return english if welsh == english else f"{english} ({welsh})"
    return county.strip()


def settlement_index(settlements: pd.DataFrame, polygons: dict[str, gpd.GeoDataFrame],
                     authority_name: dict[str, str]) -> pd.DataFrame:
    """One row per settlement: ``code`` (OS id), ``name``, ``name_lang``, ``other_name`` (the Welsh or English
    name beside it), ``type`` (PLACE_TYPES' words), ``where`` ("Richmondshire, North Yorkshire"), its point
    and box in WGS84, and the atlas's areas its point lies in (``place_in_levels``: nearest within NEAREST_M;
    a point in none, on an island the generalised boundaries drop, keeps None)."""
    east = settlements["GEOMETRY_X"].to_numpy(dtype="float64")
    north = settlements["GEOMETRY_Y"].to_numpy(dtype="float64")
    west, south = _TO_WGS84.transform(settlements["MBR_XMIN"].to_numpy(), settlements["MBR_YMIN"].to_numpy())
    east_, north_ = _TO_WGS84.transform(settlements["MBR_XMAX"].to_numpy(), settlements["MBR_YMAX"].to_numpy())
    points = Points(east, north)
    areas = place_in_levels(points, polygons, authority_name)
    district = settlements["DISTRICT_BOROUGH"].str.strip()
    county = settlements["COUNTY_UNITARY"].str.strip().map(_county_words)
    where = np.where((district != "") & (district != county) & (county != ""), district + ", " + county,
                     np.where(county != "", county, district))
    lang = settlements["NAME1_LANG"].str.strip()
    out = pd.DataFrame({
        "code": settlements["ID"].to_numpy(), "name": settlements["NAME1"].str.strip().to_numpy(),
        "name_lang": lang.replace("", None).to_numpy(),
        "other_name": settlements["NAME2"].str.strip().replace("", None).to_numpy(),
        "other_lang": settlements["NAME2_LANG"].str.strip().replace("", None).to_numpy(),
        "type": settlements["LOCAL_TYPE"].map(PLACE_TYPES).to_numpy(), "where": where,
        "region": settlements["REGION"].str.strip().to_numpy(), "tile": settlements["SOURCE_TILE"].to_numpy(),
        "lon": np.round(points.lon, 6), "lat": np.round(points.lat, 6), "west": np.round(west, 5),
        "south": np.round(south, 5), "east": np.round(east_, 5), "north": np.round(north_, 5)})
    for column in ("lsoa11", "lsoa21", "oa11", "oa21", "ward22", "ward22_name", "authority", "authority_name"):
        out[column] = areas[column].to_numpy()
    return out


def read_missing_tiles(raw: RawFiles) -> list[str]:
    """The gazetteer's absent tiles ("SJ88"), from MISSING_TILES.txt ("SJ88.csv" a line)."""
    text = raw(F_MISSING_TILES).read_text(encoding="utf-8")
    tiles = re.findall(r"^\s*([A-Z]{2}\d\d)\.csv\s*$", text, re.M)
    if not tiles:
        raise SourceError(F_MISSING_TILES, "names no tile (lines like 'SJ88.csv')")
    return tiles


_LETTERS = "ABCDEFGHJKLMNOPQRSTUVWXYZ"  # the grid's letters (no I)


def tile_box(tile: str) -> tuple[float, float, float, float]:
    """An OS Open Names tile ("SJ88": the 20 km square whose south-west 10 km square is SJ 8 8) as
    (west, south, east, north) in British National Grid metres."""
    first, second = _LETTERS.index(tile[0]), _LETTERS.index(tile[1])
    # The National Grid's letters: the first names a 500 km square, the second a 100 km square inside it.
    e100 = ((first - 2) % 5) * 5 + second % 5
    n100 = (19 - (first // 5) * 5) - second // 5
    west = e100 * 100_000 + int(tile[2]) * 10_000
    south = n100 * 100_000 + int(tile[3]) * 10_000
    return (float(west), float(south), float(west + 20_000), float(south + 20_000))


def gazetteer_gaps(tiles: list[str], lads: gpd.GeoDataFrame, names: dict[str, str]) -> dict:
    """Where the gazetteer has no places: each absent tile's box (WGS84) and, for every district of England
    and Wales that one touches, the share of its area inside absent tiles (``lads``: LAD21CD + geometry)."""
    boxes = [shapely.box(*tile_box(t)) for t in tiles]
    missing = shapely.union_all(boxes)
    districts = lads.to_crs(geometry.BNG)
    areas = shapely.area(np.asarray(districts.geometry.values))
    shares = shapely.area(shapely.intersection(np.asarray(districts.geometry.values), missing)) / areas
    rows = [{"code": code, "name": names.get(code, code), "share": round(float(share), 3)}
            for code, share in zip(districts["LAD21CD"], shares, strict=True) if share > 0.001]
    rows.sort(key=lambda r: (-r["share"], r["code"]))
    touched = set(shapely.STRtree(np.asarray(districts.geometry.values)).query(boxes, predicate="intersects")[0])
    out_tiles = []
    for i, (tile, box) in enumerate(zip(tiles, boxes, strict=True)):
        if i not in touched:
            continue  # a Scottish tile
        west, south = _TO_WGS84.transform(box.bounds[0], box.bounds[1])
        east, north = _TO_WGS84.transform(box.bounds[2], box.bounds[3])
        out_tiles.append({"tile": tile, "box": [round(west, 4), round(south, 4), round(east, 4), round(north, 4)]})
    return {"tiles": out_tiles, "absent_tiles": len(tiles), "districts": rows}


def postcode_areas(index: pd.DataFrame) -> dict[str, list[str]]:
    """Each postcode area (the outward code's letters: "B", "TD") -> the countries its live postcodes are in
    ("England", "Scotland"...), so a search can tell a Scottish area, or one that does not exist."""
    live = index[index["status"] == "live"]
    area = live["pc7"].str.extract(r"^([A-Z]{1,2})", expand=False)
    pairs = pd.DataFrame({"area": area.to_numpy(), "country": live["country"].map(COUNTRIES).to_numpy()})
    return {a: sorted(set(g["country"])) for a, g in pairs.drop_duplicates().groupby("area")}
