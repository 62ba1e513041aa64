"""Air quality: the LAEI's modelled NO2 and PM2.5 by LSOA, population-weighted exposure, and the monitoring sites
(AURN daily means, the LAQN index) as a point layer, each checked against the publishers' raw files read here
independently (csv and json), never against the build's own output."""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import shapely

from atlas import air as atlas_air
from atlas import catalogue, extracts, points, viewstate
from pipeline import air
from pipeline.readers import RawFiles, SourceError

LAEI = "later/air_quality/laei_modelled_london_lsoa_jamesdamillington"
AURN = "later/air_quality/aurn_daily_feb-aug2020_gampelt"
LAQN = "later/air_quality/laqn_hourly_index_london_2019-09-26/hourly.json"
TS001 = "national/census2021_lsoa21/census2021-ts001-lsoa.csv"
BOROUGHS = {"E09000007": "Camden", "E09000030": "Tower Hamlets", "E09000033": "Westminster",
            "E09000008": "Croydon"}
PM25_LIMITS = [5.0, 10.0, 15.0, 20.0]
NO2_LIMITS = [10.0, 20.0, 30.0, 40.0]


def _half_away(x: float, decimals: int) -> float:
    # The publishers' rounding, done here without the app's code: halves away from zero.
    from decimal import ROUND_HALF_UP, Decimal  # noqa: PLC0415

    return float(Decimal(repr(x)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


def _laei(raw_dir: Path, level: str, year: str, pollutant: str) -> dict[str, dict[str, float]]:
    key = {"no2": "NO2", "pm25": "PM25"}[pollutant]
    with open(raw_dir / LAEI / f"{level}-{year}-{key}.csv", newline="", encoding="utf-8") as handle:
        return {row[f"{level.upper()}CD"]: {s: float(row[f"{key}-{year}-{s}"]) for s in ("mean", "max")}
                for row in csv.DictReader(handle)}


def _aurn(raw_dir: Path, pollutant: str) -> dict[tuple[str, str], float]:
    name = {"no2": "NO2", "o3": "O3", "pm25": "PM"}[pollutant]
    with open(raw_dir / AURN / f"AURN_{name}_01022020_31082020.csv", newline="", encoding="utf-8") as handle:
        return {(row["SCODE"], row["tstamp"]): float(row["Poll_Value"]) for row in csv.DictReader(handle)}


def _aurn_sites(raw_dir: Path) -> dict[str, tuple[float, float, str]]:
    out = {}
    for name in ("NO2", "O3", "PM"):
        with open(raw_dir / AURN / f"AURN_{name}_01022020_31082020.csv", newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                out[row["SCODE"]] = (float(row["U"]), float(row["V"]), row["SFNAME"])
    return out


def _laqn_sites(raw_dir: Path) -> list[dict]:
    doc = json.loads((raw_dir / LAQN).read_text(encoding="utf-8"))
    out = []
    for la in doc["HourlyAirQualityIndex"]["LocalAuthority"]:
        sites = la.get("Site") or []
        for site in sites if isinstance(sites, list) else [sites]:
            species = site["Species"] if isinstance(site["Species"], list) else [site["Species"]]
            out.append({"code": site["@SiteCode"], "lat": float(site["@Latitude"]), "lon": float(site["@Longitude"]),
                        "species": {s["@SpeciesCode"].lower(): (int(s["@AirQualityIndex"]), s["@AirQualityBand"])
                                    for s in species}})
    return out


def _population(raw_dir: Path) -> dict[str, float]:
    with open(raw_dir / TS001, newline="", encoding="utf-8") as handle:
        return {row["geography code"]: float(row["Residence type: Total; measures: Value"])
                for row in csv.DictReader(handle)}


def _words(component) -> str:
    """All the text of a Dash component tree."""
    if component is None or isinstance(component, (int, float)):
        return "" if component is None else str(component)
    if isinstance(component, str):
        return component
    if isinstance(component, (list, tuple)):
        return " ".join(_words(c) for c in component)
    return _words(getattr(component, "children", None))


@pytest.fixture()
def client(atlas_env: Path):
    import app as app_module

    return app_module.server.test_client()


# -- LAEI by LSOA ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", ["lsoa11", "lsoa21"])
def test_laei_values_of_four_boroughs_are_the_publishers(client, raw_dir: Path, level: str) -> None:
    for pollutant in ("no2", "pm25"):
        files = {year: _laei(raw_dir, level, year, pollutant) for year in air.LAEI_YEARS}
        for authority in BOROUGHS:
            for year in air.LAEI_YEARS:
                for stat in ("mean", "max"):
                    got = client.get(f"/api/values/{authority}/{level}/laei_{pollutant}_{year}_{stat}.json").get_json()
                    assert got["count"] > 100 and got["missing"] == 0, (authority, level)
                    for row in got["rows"]:
                        assert row["value"] == pytest.approx(files[year][row["code"]][stat], abs=1e-9)
            change = client.get(f"/api/values/{authority}/{level}/laei_{pollutant}_mean_change_2013_2019.json")
            for row in change.get_json()["rows"]:
                expected = files["2019"][row["code"]]["mean"] - files["2013"][row["code"]]["mean"]
                assert row["value"] == pytest.approx(expected, abs=1e-9)


def test_laei_covers_every_london_lsoa_and_no_other(atlas_env: Path, raw_dir: Path) -> None:
    s = catalogue.of_request()
    for level in ("lsoa11", "lsoa21"):
        codes = set(_laei(raw_dir, level, "2019", "no2"))
        london = set(s.values("E12000007", level, "laei_no2_2019_mean")["code"])
        assert codes == london and len(codes) == {"lsoa11": 4835, "lsoa21": 4994}[level]
    row = s.variable("laei_pm25_2019_mean")
    assert row["unit"] == "µg/m³" and row["coverage"] == "London" and row["decimals"] == 1
    assert "Modelled, not measured" in row["note"] and "LAEI" in row["source"]
    assert [t["value"] for t in atlas_air.thresholds(row)] == PM25_LIMITS
    assert [t["value"] for t in atlas_air.thresholds(s.variable("laei_no2_2016_max"))] == NO2_LIMITS
    change = s.variable("laei_no2_mean_change_2013_2019")
    assert change["method"] == "change" and change["palette"] == "RdBu" and change["centre"] == 0
    with pytest.raises(extracts.NotFound):  # modelled for London only: Birmingham has none
        s.values("E08000025", "lsoa11", "laei_no2_2019_mean")


def test_guideline_and_limits_classes_count_the_raw_values(client, raw_dir: Path) -> None:
    raw = _laei(raw_dir, "lsoa21", "2019", "no2")
    got = client.get("/api/view.json?authority=E12000007&level=lsoa21&variable=laei_no2_2019_mean&scheme=limits"
                     ).get_json()
    printed = [_half_away(v["mean"], 1) for v in raw.values()]
    bounds = [*NO2_LIMITS, max(printed)]
    expected = Counter(next(i for i, b in enumerate(bounds) if v <= b) for v in printed)
    assert [c["count"] for c in got["classes"]] == [expected.get(i, 0) for i in range(len(bounds))]
    assert [c["upper"] for c in got["classes"]][:4] == NO2_LIMITS
    notes = " ".join(got["legend"]["notes"])
    assert "WHO 2021 guideline" in notes and "UK legal limit" in notes
    # the legend's histogram marks the thresholds inside the values' range
    assert any("UK legal limit" in line["label"] for line in got["legend"]["histogram"]["lines"])


def test_exposure_against_census_2021_residents_read_here(client, raw_dir: Path) -> None:
    people = _population(raw_dir)
    means = {}
    for authority in ("E09000030", "E12000007"):
        raw = _laei(raw_dir, "lsoa21", "2019", "no2")
        codes = [c["code"] for c in client.get(f"/api/values/{authority}/lsoa21/laei_no2_2019_mean.json"
                                                ).get_json()["rows"]]
        got = client.get(f"/api/exposure/{authority}/lsoa21/laei_no2_2019_mean.json?threshold=35").get_json()
        total = sum(people[c] for c in codes)
        mean = sum(people[c] * raw[c]["mean"] for c in codes) / total
        assert got["population"]["people"] == round(total) and got["mean"] == pytest.approx(mean, rel=1e-12)
        means[authority] = mean
        by_value = {t["value"]: t for t in got["thresholds"]}
        for limit in [*NO2_LIMITS, 35.0]:
            above = [c for c in codes if _half_away(raw[c]["mean"], 1) > limit]
            assert by_value[limit]["areas"] == len(above), (authority, limit)
            assert by_value[limit]["people"] == round(sum(people[c] for c in above))
        assert by_value[35.0]["kind"] == "asked"
        assert got["words"][0].startswith("Population-weighted mean for ")
    # the view's JSON twin and its legend carry the same summary
    view = client.get("/api/view.json?authority=E09000030&level=lsoa21&variable=laei_no2_2019_mean").get_json()
    assert view["exposure"]["mean"] == pytest.approx(means["E09000030"], rel=1e-12)
    assert any(n.startswith("Population-weighted mean for Tower Hamlets") for n in view["notes"])
    # at 2011 LSOAs the residents are Census 2021's re-based onto them
    old = client.get("/api/exposure/E09000030/lsoa11/laei_pm25_2019_mean.json").get_json()
    assert old["population"]["variable"] == "ts001_lsoa11_total" and old["population"]["areas"] == 144


def test_exposure_refuses_what_it_cannot_answer(client) -> None:
    assert client.get("/api/exposure/E09000007/lsoa21/ks102ew0001.json").status_code == 404  # no thresholds
    bad = client.get("/api/exposure/E09000007/lsoa21/laei_no2_2019_mean.json?threshold=1e9x")
    assert bad.status_code == 400 and bad.get_json()["parameter"] == "threshold"
    assert client.get("/api/exposure/E09000007/lsoa21/nope.json").status_code == 404
    assert client.get("/api/exposure/E09000007/lsoa21/laei_no2_2019_mean.json?x=1").status_code == 400


def test_limits_scheme_only_for_variables_with_thresholds(client, atlas_env: Path) -> None:
    s = catalogue.of_request()
    raw, _ = viewstate.parse_query("?authority=E09000007&level=lsoa11&variable=ks102ew0018&scheme=limits")
    from atlas import mapview  # noqa: PLC0415

    resolved = viewstate.resolve(raw, s, lambda a, lv: mapview.available_variables(s, a, lv))
    assert resolved.state.scheme == "quantiles" and any("Guideline and limits" in m for m in resolved.messages)
    refused = client.get("/api/view.json?authority=E09000007&level=lsoa11&variable=ks102ew0018&scheme=limits")
    assert refused.status_code == 400 and refused.get_json()["parameter"] == "scheme"


def test_compare_pm25_against_imd_2025(atlas_env: Path) -> None:
    from callbacks import compare  # noqa: PLC0415

    search = "?authority=E12000007&level=lsoa21&variable=laei_pm25_2019_mean&view=compare&variable_b=imd2025_imd_decile"
    explorer = {"search": search.split("&view=")[0], "state": {"authority": "E12000007", "level": "lsoa21"},
                "via": "nav"}
    out = compare.render_compare({"source": "nav", "search": search}, explorer, None)
    relation, message, stats = out[5], out[7], out[11]
    assert message is None and relation["corr"]["n"] == 4994
    assert stats.startswith("Pearson r = ")


# -- monitoring sites ------------------------------------------------------------------------------------------------

DAYS = [("TH2", "no2", "2020-03-23"), ("MAN3", "o3", "2020-05-01"), ("ECCL", "pm25", "2020-02-14"),
        ("CNPR", "no2", "2020-08-31"), ("KC1", "pm25", "2020-04-10")]


def test_aurn_readings_of_sites_on_given_days(client, raw_dir: Path) -> None:
    for site, pollutant, day in DAYS:
        raw = _aurn(raw_dir, pollutant)
        got = client.get(f"/api/points/aurn2020/{site}.json").get_json()
        series = next(m for m in got["measures"] if m["id"] == pollutant)
        reading = next(r for r in series["readings"] if r["time"] == day)
        assert reading["value"] == pytest.approx(raw[(site, day)], abs=1e-9)
        assert reading["text"] == f"{_half_away(raw[(site, day)], 1):.1f} µg/m³"
        assert len(series["readings"]) == 213
        # the layer's class for that day: the WHO 24-hour thresholds, each class holding its upper bound
        layer = client.get(f"/api/points/aurn2020.geojson?measure={pollutant}&day={day}").get_json()
        feature = next(f for f in layer["features"] if f["properties"]["site"] == site)
        bounds = [t["value"] for t in air.DAILY_THRESHOLDS[pollutant]]
        printed = _half_away(raw[(site, day)], 1)
        k = next((i for i, b in enumerate(bounds) if printed <= b), len(bounds))
        assert feature["properties"]["text"] == reading["text"]
        assert feature["properties"]["class"].startswith(("up to", "over", f"{bounds[k - 1] + 0.1:.1f}"))
        label = air.DAILY_THRESHOLDS[pollutant][k]["label"] if k < len(bounds) else None
        assert label is None or label in feature["properties"]["class"]


def test_lockdown_before_and_during_from_the_raw_days(client, raw_dir: Path) -> None:
    for site, pollutant in (("TH2", "no2"), ("HORS", "no2"), ("KC1", "pm25"), ("MAN3", "o3")):
        raw = _aurn(raw_dir, pollutant)
        before = [v for (s, d), v in raw.items() if s == site and "2020-02-01" <= d <= "2020-03-22"]
        during = [v for (s, d), v in raw.items() if s == site and "2020-03-23" <= d <= "2020-05-31"]
        assert len(before) == 51 and len(during) == 70
        got = next(m for m in client.get(f"/api/points/aurn2020/{site}.json").get_json()["measures"]
                   if m["id"] == pollutant)["lockdown"]
        assert got["before"]["mean"] == pytest.approx(sum(before) / 51, rel=1e-12)
        assert got["during"]["mean"] == pytest.approx(sum(during) / 70, rel=1e-12)
        change = sum(during) / 70 - sum(before) / 51
        assert got["change"] == pytest.approx(change, rel=1e-9)
        assert got["change_pct"] == pytest.approx(change / (sum(before) / 51) * 100, rel=1e-9)


def test_laqn_snapshot_bands_and_highest_index(client, raw_dir: Path) -> None:
    sites = _laqn_sites(raw_dir)
    layer = client.get("/api/points/laqn2019.geojson?measure=highest").get_json()
    assert len(layer["features"]) == len(sites) == 105
    by_code = {f["properties"]["site"]: f["properties"] for f in layer["features"]}
    counts: Counter = Counter()
    for site in sites:
        readings = [(i, b) for i, b in site["species"].values() if i > 0]
        got = by_code[site["code"]]
        if not readings:
            assert got["text"] is None
            counts["none"] += 1
            continue
        index, band = max(readings)
        assert got["text"] == f"{index} ({band})"
        counts[index] += 1
    assert counts == Counter({1: 71, 2: 22, "none": 12})
    # each species as the feed gave it, "No data" as no reading
    for site in sites[:20]:
        got = client.get(f"/api/points/laqn2019/{site['code']}.json").get_json()
        for m in got["measures"]:
            index, band = site["species"][m["id"]]
            reading = m["readings"][0]
            assert reading["time"] == "2019-09-26 11:00:00"
            assert (reading["value"], reading.get("band")) == ((None, None) if index == 0 else (index, band))
    listed = client.get("/api/points").get_json()["datasets"]
    laqn = next(d for d in listed if d["id"] == "laqn2019")
    assert laqn["as_of"] == "2019-09-26 11:00:00" and {b["label"] for b in laqn["measures"][0]["bands"]} == {
        "Low", "Moderate", "High", "Very High"}


def test_sites_are_placed_in_the_published_polygons(client, raw_dir: Path) -> None:
    """Each AURN and LAQN site's LSOA of 2011, checked by a point-in-polygon of our own on the polygons the API
    publishes for its district."""
    layer = client.get("/api/points/aurn2020.geojson").get_json()["features"]
    layer += client.get("/api/points/laqn2019.geojson").get_json()["features"]
    raw = _aurn_sites(raw_dir)
    checked = 0
    for feature in layer:
        p = feature["properties"]
        lon, lat = feature["geometry"]["coordinates"]
        if p["site"] in raw and p.get("network") == "AURN":
            assert (round(raw[p["site"]][0], 5), round(raw[p["site"]][1], 5)) == (lon, lat)
        if not p["lsoa11"]:
            assert not p["authority"] or p["authority"][0] in "SN"  # outside England and Wales
            continue
        polygons = client.get(f"/api/areas/{p['authority']}/lsoa11.geojson").get_json()["features"]
        point = shapely.Point(lon, lat)
        holding = sorted(f["properties"]["code"] for f in polygons
                         if shapely.geometry.shape(f["geometry"]).covers(point))
        assert holding and holding[0] == p["lsoa11"], p["site"]
        checked += 1
    assert checked >= 77 + 100
    th2 = next(f["properties"] for f in layer
               if f["properties"]["site"] == "TH2" and f["properties"]["network"] == "AURN")
    assert th2["authority"] == "E09000030"
    # the sites over a place: Tower Hamlets' own
    here = client.get("/api/points/laqn2019.geojson?authority=E09000030").get_json()["features"]
    assert {f["properties"]["site"] for f in here} == {"TH2", "TH4"}


def test_nearest_sites_to_an_area(client, raw_dir: Path) -> None:
    got = client.get("/api/points/near/lsoa21/E01000001.json?n=3").get_json()
    laqn = next(d for d in got["datasets"] if d["dataset"] == "laqn2019")
    assert laqn["sites"][0]["site"] == "CT4" and laqn["sites"][0]["km_text"] == "in this area"
    aurn = next(d for d in got["datasets"] if d["dataset"] == "aurn2020")
    lon, lat = got["point"]
    raw = _aurn_sites(raw_dir)

    def km(site: str) -> float:  # haversine, written here
        x, y, _ = raw[site]
        p1, p2 = math.radians(lat), math.radians(y)
        a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(x - lon) / 2) ** 2
        return 2 * 6371.0088 * math.asin(math.sqrt(a))

    nearest = sorted(raw, key=km)[:3]
    assert [x["site"] for x in aurn["sites"]] == nearest
    assert aurn["sites"][0]["km"] == pytest.approx(km(nearest[0]), abs=0.01)  # the point is rounded to 5 dp
    assert client.get("/api/points/near/lsoa21/E01999999.json").status_code == 404
    assert client.get("/api/points/near/lsoa21/E01000001.json?n=0").status_code == 400


def test_point_routes_refuse_with_the_valid_choices(client) -> None:
    assert client.get("/api/points/nope.geojson").get_json()["valid"] == ["aurn2020", "laqn2019"]
    assert client.get("/api/points/aurn2020.geojson?measure=so2").get_json()["parameter"] == "measure"
    assert client.get("/api/points/aurn2020.geojson?day=2020-09-01").get_json()["parameter"] == "day"
    assert client.get("/api/points/aurn2020/NOPE.json").status_code == 404
    assert client.get("/api/points/aurn2020/<script>.json").status_code == 404
    assert client.get("/api/points/aurn2020.csv").status_code == 404
    listed = client.get("/api").get_json()["routes"]
    assert {"/api/points", "/api/points/<dataset>.geojson", "/api/points/<dataset>/<site>.json"} <= {
        r["rule"] for r in listed}


# -- the explorer's callbacks, called directly ----------------------------------------------------------------------

def test_point_layer_paint_and_the_address(atlas_env: Path, raw_dir: Path) -> None:
    from callbacks import points as cb  # noqa: PLC0415

    s = catalogue.of_request()
    out = cb.render_points_view(s, {"points": "aurn2020", "measure": "pm25", "day": "2020-04-10"}, s.build_id)
    paint = out["paint"]
    sites = list(s.point_sites("aurn2020")["site"])
    raw = _aurn(raw_dir, "pm25")
    for i, code in enumerate(sites):
        value = raw.get((code, "2020-04-10"))
        assert (paint["text"][i] is None) == (value is None)
        assert (paint["cls"][i] == "-") == (value is None)
    assert paint["url"] == f"/api/points/aurn2020.geojson?v={s.build_id}" and len(paint["cls"]) == len(sites)
    assert sum(r["count"] for r in paint["legend"]["rows"]) + paint["legend"]["missing"] == len(sites)
    assert points.to_query(out["state"]) == "points=aurn2020&measure=pm25&day=2020-04-10"
    # the address's refusals say what was wrong and fall back
    state, messages = points.resolve({"points": "aurn2020", "measure": "nope", "day": "1999-01-01", "site": "XX"}, s)
    assert state == points.PointState("aurn2020", "no2", "2020-02-01", "") and len(messages) == 3
    none, said = points.resolve({"points": "<b>"}, s)
    assert none.dataset == "" and "no point dataset" in said[0]


def test_site_card_and_area_card(atlas_env: Path) -> None:
    from callbacks import points as cb  # noqa: PLC0415
    s = catalogue.of_request()
    card = cb.site_card_children(s, "aurn2020", "TH2", "no2", "2020-03-23")
    words = _words(card)
    assert "Tower Hamlets Roadside (TH2)" in words and "Urban Traffic" in words and "Tower Hamlets" in words
    assert "First lockdown: 23 Mar - 31 May" in words
    graph = card[-2].children[0]
    assert graph.figure["data"][0]["x"][0] == "2020-02-01" and len(graph.figure["data"][0]["y"]) == 213
    labels = [a["text"] for a in graph.figure["layout"]["annotations"]]
    assert any("WHO 2021 24-hour guideline" in t for t in labels) and any("UK legal limit" in t for t in labels)
    st = {"authority": "E09000030", "level": "lsoa21", "variable": "laei_no2_2019_mean"}
    code = s.point_sites("aurn2020").set_index("site").at["TH2", "lsoa21"]
    area = _words(cb.area_card_children(s, st, code))
    assert "Tower Hamlets Roadside (TH2)" in area and "in this area" in area
    assert "above the WHO 2021 guideline" in area and "residents" in area
    assert "Population-weighted mean for Tower Hamlets" in area
    assert cb.area_card({"selected": "<x>"}, {"state": {"authority": 1}}) == ([], True)
    assert cb.area_card({"selected": code}, {"state": st})[1] is False
    assert cb.area_card(None, {"state": st}) == ([], True)
    assert cb.site_card({"dataset": "aurn2020", "site": "NOPE"}, None)[1] is False  # says it is not there


# -- the pipeline's reading is strict --------------------------------------------------------------------------------

def _copy(raw_dir: Path, tmp_path: Path, relative: str) -> Path:
    target = tmp_path / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(raw_dir / relative, target)
    return target


def test_laei_reader_refuses_a_broken_file(raw_dir: Path, tmp_path: Path) -> None:
    london = {"lsoa11": np.array(sorted(_laei(raw_dir, "lsoa11", "2013", "no2")))}
    import pandas as pd  # noqa: PLC0415

    codes = {k: pd.Index(v) for k, v in london.items()}
    for year in air.LAEI_YEARS:
        for key in ("NO2", "PM25"):
            _copy(raw_dir, tmp_path, f"{LAEI}/lsoa11-{year}-{key}.csv")
    raw = RawFiles(tmp_path)
    path = tmp_path / LAEI / "lsoa11-2016-PM25.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], *lines[2:]]) + "\n")  # a London LSOA missing
    with pytest.raises(SourceError, match="rows"):
        air.laei_datasets(raw, codes)
    path.write_text("\n".join([lines[0], lines[1].replace(",", ",-", 1), *lines[2:]]) + "\n")
    with pytest.raises(SourceError, match="negative"):
        air.laei_datasets(raw, codes)
    path.write_text("\n".join([lines[0].replace("PM25-2016-max", "PM25-2019-max"), *lines[1:]]) + "\n")
    with pytest.raises(SourceError, match="unexpected header"):
        air.laei_datasets(raw, codes)


def test_laqn_reader_handles_its_quirks_and_refuses_a_wrong_band(raw_dir: Path) -> None:
    doc = json.loads((raw_dir / LAQN).read_text(encoding="utf-8"))
    found = air.laqn_points(doc, "hourly.json")
    assert len(found.sites) == 105 and found.readings["value"].isna().sum() == 43  # 'No data' is no reading
    site = doc["HourlyAirQualityIndex"]["LocalAuthority"][0]["Site"][1]
    species = site["Species"][0] if isinstance(site["Species"], list) else site["Species"]
    species["@AirQualityBand"] = "High"  # index 1 is Low
    with pytest.raises(SourceError, match="does not match band"):
        air.laqn_points(doc, "hourly.json")
    with pytest.raises(SourceError, match="not an LAQN"):
        air.laqn_points({"nothing": []}, "hourly.json")


def test_monitoring_sites_in_the_datapack(client, raw_dir: Path, tmp_path: Path) -> None:
    import io  # noqa: PLC0415
    import zipfile  # noqa: PLC0415

    from atlas import datapack  # noqa: PLC0415

    raw = {s["code"]: s for s in _laqn_sites(raw_dir)}
    target = tmp_path / "pack.zip"
    summary = datapack.build_zip(catalogue.of_request(), "E09000007", target)
    with zipfile.ZipFile(target) as zf:
        sites = json.loads(zf.read("points/laqn2019.geojson"))
        readings = list(csv.DictReader(io.StringIO(zf.read("points/laqn2019_readings.csv").decode("utf-8"))))
        assert "points/aurn2020.geojson" not in zf.namelist()  # no AURN site lies in Camden
    placed = {f["properties"]["site"]: f["geometry"]["coordinates"] for f in sites["features"]}
    assert summary["points"] == {"laqn2019": len(placed)} and len(placed) >= 3
    for code, (lon, lat) in placed.items():  # Camden's sites, where the LAQN puts them
        assert (lon, lat) == pytest.approx((raw[code]["lon"], raw[code]["lat"]), abs=1e-9)
    # each index reading as the LAQN gave it; "No data" (index 0) kept as an empty value
    for row in readings:
        index, band = raw[row["site"]]["species"][row["measure"]]
        assert (row["value"], row["band"]) == ((str(index), band) if index else ("", ""))
