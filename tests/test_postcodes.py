"""Every postcode and place name, checked against the publishers' raw files read independently here: Code-Point
Open's CSVs out of their archive (tarfile, csv), the NSPL (csv), OS Open Names (csv), and the published LSOA
polygons (json; the GLA's shapefile read by pyogrio) tested by a point-in-polygon written here (ray casting on
the rings in British National Grid metres, no GEOS), never by the pipeline's own code."""

from __future__ import annotations

import csv
import glob
import io
import json
import random
import re
import tarfile
from pathlib import Path

import numpy as np
import pyogrio
import pyproj
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas import extracts, search
from web import api

CODEPOINT = "later/postcodes/codepoint_open_2025_4/codepo_gb_2025.4.0_csv.tar.xz"
NSPL = "later/postcodes/nspl_nov2021_WC_area/NSPL_NOV_2021_UK_WC.csv"
TRAFFORD = "later/postcodes/trafford_E08000009_onspd_trafforddatalab/onspd_may2022_lsoa11/trafford_postcodes.csv"
NAMES = "later/places/os_open_names_2021_settlements_EW_partial/os_open_names_2021_populated_places_EW_partial.csv"
LOOKUP = "lookups/Lower_Layer_Super_Output_Area_(2011)_to_Ward_(2019)_Lookup_in_England_and_Wales.csv"
EXACT = "later/lookups/Exact_LSOA11_to_LSOA21_to_LAD22_EW.csv"
GLA = "boundaries/london_lsoa11_gla/LSOA_2011_London_gen_MHW.shp"
PER_AREA = 20  # postcodes sampled from every postcode area of England and Wales
TO_BNG = pyproj.Transformer.from_crs(4326, 27700, always_xy=True)


@pytest.fixture(scope="module")
def s(data_dir: Path) -> extracts.Extracts:
    return extracts.Extracts.open(data_dir)


@pytest.fixture(scope="module")
def codepoint(raw_dir: Path) -> dict[str, list[str]]:
    """Every Code-Point row by its postcode, as the CSVs give it (no header: PC, PQ, EA, NO, CY, ..., DC, WC)."""
    rows: dict[str, list[str]] = {}
    with tarfile.open(raw_dir / CODEPOINT, "r:xz") as archive:
        for member in archive:
            if member.isfile() and "/Data/CSV/" in member.name:
                text = io.TextIOWrapper(archive.extractfile(member), encoding="utf-8")
                for row in csv.reader(text):
                    rows[row[0]] = row
    return rows


def _compact(postcode: str) -> str:
    return postcode.replace(" ", "").upper()


# -- an independent point-in-polygon: ray casting on the published rings, in grid metres ----------------------

class Rings:
    """Polygons as lists of rings (numpy arrays of British National Grid metres) with their boxes."""

    def __init__(self) -> None:
        self.codes: list[str] = []
        self.rings: list[list[np.ndarray]] = []
        self.boxes: list[tuple[float, float, float, float]] = []

    def add(self, code: str, rings: list[np.ndarray]) -> None:
        every = np.vstack(rings)
        self.codes.append(code)
        self.rings.append(rings)
        self.boxes.append((every[:, 0].min(), every[:, 1].min(), every[:, 0].max(), every[:, 1].max()))

    def add_geojson(self, code: str, geometry: dict) -> None:
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        rings = []
        for polygon in polygons:
            for ring in polygon:
                xy = np.asarray(ring, dtype="float64")[:, :2]
                x, y = TO_BNG.transform(xy[:, 0], xy[:, 1])
                rings.append(np.column_stack([x, y]))
        self.add(code, rings)

    def freeze(self) -> None:
        self.box = np.asarray(self.boxes)

    def holding(self, x: float, y: float) -> list[str]:
        """Every polygon whose rings a ray from (x, y) crosses an odd number of times (even-odd rule)."""
        b = self.box
        out = []
        for i in np.flatnonzero((b[:, 0] <= x) & (x <= b[:, 2]) & (b[:, 1] <= y) & (y <= b[:, 3])):
            crossings = 0
            for ring in self.rings[i]:
                x0, y0 = ring[:-1, 0], ring[:-1, 1]
                x1, y1 = ring[1:, 0], ring[1:, 1]
                straddle = (y0 > y) != (y1 > y)
                with np.errstate(divide="ignore", invalid="ignore"):
                    at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
                crossings += int(np.count_nonzero(straddle & (x < at)))
            if crossings % 2:
                out.append(self.codes[i])
        return out


@pytest.fixture(scope="module")
def lsoa11_rings(raw_dir: Path) -> Rings:
    """LSOA 2011 as the map has them: UK-GeoJSON's per-district files, London from the GLA's file."""
    out = Rings()
    gla = pyogrio.read_dataframe(raw_dir / GLA)  # British National Grid already
    london = set(gla["LSOA11CD"])
    for code, geom in zip(gla["LSOA11CD"], gla.geometry, strict=True):
        parts = shapely.get_parts(geom)
        out.add(code, [np.asarray(ring.coords)[:, :2] for p in parts for ring in (p.exterior, *p.interiors)])
    for path in sorted(glob.glob(str(raw_dir / "boundaries/lsoa11_by_lad/*.json"))):
        with open(path, encoding="utf-8") as f:
            for feature in json.load(f)["features"]:
                code = feature["properties"]["LSOA11CD"]
                if code not in london:
                    out.add_geojson(code, feature["geometry"])
    out.freeze()
    return out


@pytest.fixture(scope="module")
def lsoa21_rings(raw_dir: Path) -> Rings:
    out = Rings()
    seen = set()
    for path in sorted(glob.glob(str(raw_dir / "later/boundaries/lsoa21_all_by_lad_drkane/*.geojson"))):
        with open(path, encoding="utf-8") as f:
            for feature in json.load(f)["features"]:
                code = feature["properties"]["LSOA21CD"]
                if code not in seen:  # three pairs of files hold the same LSOAs under two district codes
                    seen.add(code)
                    out.add_geojson(code, feature["geometry"])
    out.freeze()
    return out


@pytest.fixture(scope="module")
def sample(codepoint) -> list[list[str]]:
    """Up to PER_AREA positioned postcodes of England and Wales from every postcode area."""
    by_area: dict[str, list[list[str]]] = {}
    for pc, row in codepoint.items():
        if row[4] in ("E92000001", "W92000004") and row[1] != "90":
            by_area.setdefault(re.match(r"[A-Z]+", pc).group(0), []).append(row)
    rng = random.Random(19)
    return [row for area in sorted(by_area) for row in rng.sample(by_area[area], min(PER_AREA, len(by_area[area])))]


def _typed(pc: str, rng: random.Random) -> str:
    """The postcode as a person might type it: any spacing, any case."""
    compact = _compact(pc)
    outward, inward = compact[:-3], compact[-3:]
    text = rng.choice([outward + inward, outward + " " + inward, outward + "  " + inward, " " + outward + " " + inward])
    return text.lower() if rng.random() < 0.5 else text


def test_postcodes_from_every_area_lie_in_the_lsoa_whose_published_polygon_holds_them(s, sample, lsoa11_rings,
                                                                                        lsoa21_rings):
    areas = {re.match(r"[A-Z]+", row[0]).group(0) for row in sample}
    assert len(sample) >= 2000 and len(areas) >= 100, (len(sample), len(areas))  # 104 areas of England and Wales
    rng = random.Random(23)
    outside = 0
    for row in sample:
        x, y = float(row[2]), float(row[3])
        found = search.search(s, _typed(row[0], rng))["results"]
        assert len(found) == 1 and found[0]["kind"] == "postcode", row[0]
        got = found[0]
        assert got["code"] == _compact(row[0])[:-3] + " " + _compact(row[0])[-3:]
        for level, rings in (("lsoa", lsoa11_rings), ("lsoa21", lsoa21_rings)):
            holding = rings.holding(x, y)
            if holding:
                # A point on a shared edge is in both polygons: the lowest code (none among 2,000 here, but allowed)
                assert got[level]["code"] == min(holding), (row[0], level, holding, got[level])
            else:
                # Off the generalised coast or river bank: placed in the nearest area, and said so.
                outside += 1
                assert "nearest area" in got["placed"], row[0]
        assert got["status"] == "live" and got["source"].startswith("OS Code-Point Open")
    assert outside <= 5


def test_postcode_points_are_code_points_own(s, sample):
    to_wgs84 = pyproj.Transformer.from_crs(27700, 4326, always_xy=True)
    for row in sample[::25]:
        got = search.search(s, row[0])["results"][0]
        lon, lat = to_wgs84.transform(float(row[2]), float(row[3]))
        assert got["point"] == pytest.approx([lon, lat], abs=2e-6)


def test_the_onss_own_lsoa_of_trafford_postcodes_agrees(s, raw_dir):
    """Trafford's ONSPD (May 2022) gives ONS's own LSOA of each postcode: the point-in-polygon agrees for
    99% or more of those still live (ONS places by the full-resolution boundaries; SOURCES.md: 11,095 of
    11,127). The file keeps terminated postcodes without saying so (about 45% of its rows are not live now)."""
    with open(raw_dir / TRAFFORD, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[::20]
    same = found = 0
    for r in rows:
        results = search.search(s, r["postcode"])["results"]
        if results:
            found += 1
            same += results[0]["lsoa"]["code"] == r["lsoa_code"]
    assert found >= len(rows) * 0.5 and same / found >= 0.99, (found, same)


def test_reorganised_districts_keep_the_atlas_authority_and_name_the_council_now(s, codepoint, raw_dir):
    with open(raw_dir / LOOKUP, newline="", encoding="utf-8-sig") as f:
        lad19 = {r["LSOA11CD"]: r["LAD19CD"] for r in csv.DictReader(f)}
    new = {"E06000063": "Cumberland", "E06000064": "Westmorland and Furness", "E06000065": "North Yorkshire",
           "E06000066": "Somerset"}
    rng = random.Random(29)
    for code, name in new.items():
        rows = [r for r in codepoint.values() if r[8] == code and r[1] != "90"]
        for row in rng.sample(rows, 15):
            got = search.search(s, row[0])["results"][0]
            # The atlas's authority is the 2021 district of the LSOA the point lies in (never the new council,
            # whose areas and figures the atlas does not have), and the council of today is named beside it.
            assert got["authority"] == lad19[got["lsoa"]["code"]] and got["authority"] not in new, row[0]
            assert got["district_now"] == {"code": code, "name": name}
    harrogate = search.search(s, "HG1 1AA")["results"][0]
    assert (harrogate["authority"], harrogate["authority_name"]) == ("E07000165", "Harrogate")


def test_scottish_northern_irish_unknown_and_malformed_postcodes_are_answered(s, codepoint):
    scottish = next(r for r in codepoint.values() if r[4] == "S92000003" and r[1] != "90")
    out = search.search(s, scottish[0])
    assert out["results"] == [] and "in Scotland" in out["note"] and "not covered" in out["note"]
    for text, words in (("BT1 1AA", "Northern Ireland"), ("JE2 3AB", "Jersey"), ("QQ1 1AA", "no postcode area QQ"),
                        ("B15 9ZZ", "is not in OS Code-Point Open")):
        out = search.search(s, text)
        assert out["results"] == [] and words in out["note"], (text, out["note"])
    # the start of a postcode: its district and its first postcodes, never a note of absence
    start = search.search(s, "b15 2")
    assert start["results"] and all(r["code"].startswith("B15 2") for r in start["results"])
    district = search.search(s, "B15")["results"][0]
    assert (district["kind"], district["code"], district["authority"]) == ("postcode_district", "B15", "E08000025")


def test_terminated_postcodes_of_the_wc_directory_are_found_with_their_date(s, raw_dir):
    with open(raw_dir / NSPL, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["doterm"].strip() and r["osgrdind"].strip() != "9"]
    for r in random.Random(31).sample(rows, 30):
        out = search.search(s, r["pcds"].lower().replace(" ", ""))
        got = out["results"][0]
        when = f"{r['doterm'][:4]}-{r['doterm'][4:]}"
        assert (got["status"], got["terminated"]) == ("terminated", when), r["pcds"]
        assert "terminated" in got["what"] and "terminated" in out["note"]
    wc1a = search.search(s, "WC1A 1AA")
    assert "June 1998" in wc1a["note"] and wc1a["results"][0]["authority"] == "E09000007"


def test_postcode_route_gives_the_explorer_view_with_a_pin(atlas_env):
    client = api.standalone().test_client()
    body = client.get("/api/search?q=m154ab").get_json()
    first = body["results"][0]
    assert first["url"].startswith("/?authority=E08000009&level=lsoa21&area=E01034001&pin=53.4")
    assert {"lsoa", "lsoa21", "ward", "point", "areas", "status"} <= set(first)
    scot = client.get("/api/search?q=EH1+1YZ").get_json()
    assert scot["results"] == [] and scot["note"]


# -- places by name --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def names(raw_dir: Path) -> list[dict]:
    with open(raw_dir / NAMES, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_welsh_and_english_names_find_the_same_place(s, names):
    langs = ("cym", "eng")
    pairs = [r for r in names if r["NAME2"] and r["NAME1_LANG"] in langs and r["NAME2_LANG"] in langs]
    assert len(pairs) > 150
    for r in random.Random(37).sample(pairs, 40):
        # per kind 50: several places share a name ("Newchurch"); the list is cut at 5 of a kind
        by_one = search.search(s, r["NAME1"], limit=50, per_kind=50)["results"]
        by_other = search.search(s, r["NAME2"], limit=50, per_kind=50)["results"]
        for found, name, other in ((by_one, r["NAME1"], r["NAME2"]), (by_other, r["NAME2"], r["NAME1"])):
            mine = [x for x in found if x["kind"] == "place" and x["code"] == r["ID"]]
            assert mine, (name, [x["label"] for x in found])
            assert mine[0]["name"] == name and mine[0]["other_name"] == other
    # where it is, typed after the name, picks one of several of that name
    newchurch = search.search(s, "Newchurch Powys")["results"][0]
    assert (newchurch["name"], newchurch["where"]) == ("Newchurch", "Powys")
    hay = search.search(s, "Hay-on-Wye")["results"][0]
    gelli = search.search(s, "y gelli gandryll")["results"][0]
    assert hay["code"] == gelli["code"] and (hay["what"], hay["where"]) == ("town", "Powys")
    assert search.search(s, "Caerdydd")["results"][0]["code"] == "W06000015"  # a district's name in Welsh


def test_a_place_says_what_and_where_and_lies_in_its_lsoa(s, names, lsoa11_rings):
    rng = random.Random(41)
    with_district = [r for r in names if r["DISTRICT_BOROUGH"] and r["COUNTY_UNITARY"]
                     and " - " not in r["COUNTY_UNITARY"] and r["DISTRICT_BOROUGH"] != r["COUNTY_UNITARY"]]
    unique = {}
    for r in names:
        unique.setdefault(search.normalise(r["NAME1"]), []).append(r)
    for r in rng.sample([r for r in with_district if len(unique[search.normalise(r["NAME1"])]) == 1], 60):
        got = [x for x in search.search(s, r["NAME1"])["results"] if x["kind"] == "place" and x["code"] == r["ID"]]
        assert got, r["NAME1"]
        kind = {"Suburban Area": "suburb", "Other Settlement": "settlement"}.get(r["LOCAL_TYPE"],
                                                                                r["LOCAL_TYPE"].lower())
        assert (got[0]["what"], got[0]["where"]) == (kind, f"{r['DISTRICT_BOROUGH']}, {r['COUNTY_UNITARY']}")
        holding = lsoa11_rings.holding(float(r["GEOMETRY_X"]), float(r["GEOMETRY_Y"]))
        if holding:
            assert got[0]["areas"]["lsoa11"] == min(holding), r["NAME1"]
    richmond = search.search(s, "Richmond")["results"][0]
    assert (richmond["kind"], richmond["what"]) == ("place", "town")
    assert richmond["where"] == "Richmondshire, North Yorkshire"


def test_ranking_a_whole_word_town_beats_a_ward_and_no_fuzzy_fragment(s):
    # A town called exactly what was typed comes before wards of that name.
    found = search.search(s, "Richmond")["results"]
    kinds = [r["kind"] for r in found]
    assert kinds[0] == "place" and kinds.index("place") < kinds.index("ward")
    # A name whose places the gazetteer lacks (Hebden Bridge is in an absent tile): never "Bridge" or "Ridge"
    # elsewhere; the answer says why.
    out = search.search(s, "Hebden Bridge")
    assert not any(r["name"] in ("Bridge", "Ridge") for r in out["results"])
    assert "densest 20 km squares" in out["note"]
    # a close spelling of a whole name still finds it
    assert search.search(s, "Edgbastn")["results"][0]["code"] == "E05011134"
    assert search.search(s, "Richmnd")["results"][0]["code"] == richmond_code(s)
    # exact beats starts beats within, whatever the kind
    first = search.search(s, "Hayle")["results"][0]
    assert (first["name"], first["what"]) == ("Hayle", "town")


def richmond_code(s) -> str:
    return search.search(s, "Richmond")["results"][0]["code"]


def test_no_result_is_highlighted_by_the_search_and_notes_are_plain_text(s):
    for text in ("Edgbaston", "Hebden Bridge", "AB10 1AB"):
        out = search.search(s, text)
        assert out["note"] is None or "<" not in out["note"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(max_size=120), st.from_regex(r"[A-Za-z]{1,2}[0-9][0-9A-Za-z]? ?[0-9][A-Za-z]{2}",
                                                             fullmatch=True)))
def test_any_postcode_like_text_gives_a_bounded_answer(s, text):
    out = search.search(s, text)
    assert len(out["results"]) <= 10
    assert all(r["kind"] in search.KIND_WORDS for r in out["results"])
    parts = search.postcode_parts(text)
    if parts:
        assert len(out["results"]) <= 1 and (out["results"] or out["note"])
