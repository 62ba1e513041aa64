"""Area profiles (issue 22): every figure of a set of areas aggregated by its unit's rule, checked against the
publishers' raw files: counts summed, shares from summed counts over the summed denominator (never an average
of percentages), the mean age weighted by residents, deciles counted from the IoD file, medians and ranks
refused as aggregates and shown as distributions; the same for a district, beside its region and England."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from atlas import catalogue, extracts, profile

KS102 = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
IMD_FILE_1 = "deprivation/imd2019_england/csv_from_xlsx/File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv"
ISLINGTON, HACKNEY = "E09000019", "E09000012"


def _ks102(raw_dir: Path) -> dict[str, dict[str, str]]:
    with open(raw_dir / KS102, newline="", encoding="utf-8") as handle:
        return {row["geography code"]: row for row in csv.DictReader(handle)}


def _imd(raw_dir: Path) -> dict[str, dict[str, str]]:
    with open(raw_dir / IMD_FILE_1, newline="", encoding="utf-8-sig") as handle:
        return {row["LSOA code (2011)"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def imd_rows(raw_dir: Path) -> dict[str, dict[str, str]]:
    return _imd(raw_dir)


@pytest.fixture(scope="module")
def ks102_rows(raw_dir: Path) -> dict[str, dict[str, str]]:
    return _ks102(raw_dir)


def _two_boroughs(imd_rows: dict) -> list[str]:
    """Twenty LSOAs of Islington and twenty of Hackney (neighbours), from the IoD file's own district codes."""
    isl = sorted(c for c, r in imd_rows.items() if r["Local Authority District code (2019)"] == ISLINGTON)[:20]
    hac = sorted(c for c, r in imd_rows.items() if r["Local Authority District code (2019)"] == HACKNEY)[:20]
    return isl + hac


def _figures(result: dict) -> dict[str, dict]:
    return {f["id"]: f for group in result["topics"] for f in group["figures"]}


def _custom(codes: list[str]) -> profile.Subject:
    return profile.Subject(code="test", name="Two boroughs", kind="saved", level="lsoa11", codes=tuple(codes),
                           authorities=(HACKNEY, ISLINGTON))


def test_a_place_across_two_boroughs_is_aggregated_by_each_units_rule(atlas_env: Path, ks102_rows: dict,
                                                                      imd_rows: dict) -> None:
    codes = _two_boroughs(imd_rows)
    s = catalogue.of_request()
    result = profile.profile(s, _custom(codes), comparators=False)
    got = _figures(result)
    raw = [ks102_rows[c] for c in codes]
    total = sum(int(r["Age: All usual residents; measures: Value"]) for r in raw)
    young = [int(r["Age: Age 0 to 4; measures: Value"]) for r in raw]
    everyone = [int(r["Age: All usual residents; measures: Value"]) for r in raw]
    # counts: summed
    assert got["ks102ew0001"]["rule"] == "sum" and got["ks102ew0001"]["value"] == total
    assert got["ks102ew0002"]["value"] == sum(young)
    # a share: the summed count over the summed denominator, not the mean of the areas' shares
    share = got["ks102ew0002_pct"]
    assert share["rule"] == "share"
    assert share["numerator"] == sum(young) and share["denominator"] == total
    assert share["value"] == pytest.approx(sum(young) / total * 100, rel=1e-12)
    averaged = float(np.mean([y / t * 100 for y, t in zip(young, everyone, strict=True)]))
    assert abs(averaged - sum(young) / total * 100) > 1e-3  # the two differ here, so the test can tell them apart
    assert share["value"] != pytest.approx(averaged, rel=1e-9)
    # the mean age, weighted by residents
    mean_age = [float(r["Age: Mean Age; measures: Value"]) for r in raw]
    assert got["ks102ew0018"]["rule"] == "weighted"
    assert got["ks102ew0018"]["value"] == pytest.approx(
        sum(m * t for m, t in zip(mean_age, everyone, strict=True)) / total, rel=1e-12)
    # the median age cannot be aggregated: refused, and shown as the areas' distribution
    median = got["ks102ew0019"]
    assert median["aggregable"] is False and median["value"] is None and "not aggregable" in median["note"]
    medians = [float(r["Age: Median Age; measures: Value"]) for r in raw]
    assert median["distribution"]["median"] == pytest.approx(float(np.median(medians)))
    assert median["distribution"]["min"] == min(medians) and median["distribution"]["max"] == max(medians)
    # IMD deciles counted from the IoD file; ranks refused
    decile = got["imd2019_imd_decile"]
    assert decile["rule"] == "deciles" and decile["value"] is None
    expected = {str(k): sum(1 for c in codes if int(imd_rows[c]["Index of Multiple Deprivation (IMD) Decile"]) == k)
                for k in range(1, 11)}
    assert decile["distribution"]["counts"] == expected
    rank = got["imd2019_imd_rank"]
    assert rank["aggregable"] is False and rank["value"] is None
    ranks = [int(imd_rows[c]["Index of Multiple Deprivation (IMD) Rank"]) for c in codes]
    assert rank["distribution"]["median"] == pytest.approx(float(np.median(ranks)))
    # a change between censuses in percentage points is published per area: refused, never averaged
    change = got["chg_tenure_owned_pp"]
    assert change["rule"] == "distribution" and change["value"] is None and change["aggregable"] is False
    assert result["areas"] == 40


def test_the_aggregation_rules_on_a_small_frame() -> None:
    import pandas as pd

    rows = [{"id": "t1", "unit": "count"}, {"id": "t2", "unit": "count"},
            {"id": "t2_pct", "unit": "percentage", "denominator": "t1"},
            {"id": "v_share", "unit": "percentage", "denominator": "t1"},
            {"id": "r", "unit": "rank"}, {"id": "d", "unit": "decile"},
            {"id": "c", "unit": "category", "kind": "categorical"}]
    frame = pd.DataFrame({"t1": [100, 300, np.nan], "t2": [10, 90, 5], "t2_pct": [10.0, 30.0, np.nan],
                          "v_share": [50.0, 10.0, 20.0], "r": [5, 1, 9], "d": [1, 1, 10], "c": ["a", "b", "a"]})
    got = profile.aggregate(rows, frame)
    assert got["t1"]["value"] == 400 and got["t1"]["missing"] == 1
    assert got["t2_pct"]["value"] == pytest.approx(100 / 400 * 100)  # the mean of 10% and 30% would be 20%
    assert got["v_share"]["value"] == pytest.approx((50 + 30) / 400 * 100)  # counts recovered from shares
    assert got["r"]["value"] is None and got["r"]["distribution"]["median"] == 5
    assert got["d"]["distribution"]["counts"]["1"] == 2 and got["d"]["distribution"]["counts"]["10"] == 1
    assert got["c"]["distribution"]["counts"] == {"a": 2, "b": 1}


def test_a_district_beside_its_region_and_england(atlas_env: Path, ks102_rows: dict, imd_rows: dict) -> None:
    s = catalogue.of_request()
    subject = profile.subject_for(s, ISLINGTON)
    assert subject.level == "lsoa11" and subject.kind == "authority"
    result = profile.profile(s, subject)
    assert [(c["kind"], c["code"]) for c in result["comparators"]] == [("region", "E12000007"),
                                                                        ("nation", "E92000001")]
    share = _figures(result)["ks102ew0002_pct"]
    mine = [c for c, r in imd_rows.items() if r["Local Authority District code (2019)"] == ISLINGTON]
    assert len(mine) == result["areas"]

    def raw_share(codes: list[str]) -> float:
        young = sum(int(ks102_rows[c]["Age: Age 0 to 4; measures: Value"]) for c in codes)
        return young / sum(int(ks102_rows[c]["Age: All usual residents; measures: Value"]) for c in codes) * 100

    assert share["value"] == pytest.approx(raw_share(mine), rel=1e-12)
    england = [c for c in ks102_rows if c.startswith("E")]
    by = {e["code"]: e for e in share["comparators"]}
    assert by["E92000001"]["value"] == pytest.approx(raw_share(england), rel=1e-12)
    assert by["E92000001"]["difference"] == pytest.approx(raw_share(mine) - raw_share(england), rel=1e-9)
    london = [c for c, r in imd_rows.items() if r["Local Authority District code (2019)"].startswith("E09")]
    assert by["E12000007"]["value"] == pytest.approx(raw_share(london), rel=1e-12)


def test_a_single_area_and_the_api(atlas_env: Path) -> None:
    import app

    client = app.server.test_client()
    got = client.get("/api/profile/E01002704.json")
    assert got.status_code == 200, got.get_data(as_text=True)[:300]
    body = got.get_json()
    assert body["kind"] == "area" and body["codes"] == ["E01002704"] and body["level"] == "lsoa11"
    assert [c["kind"] for c in body["comparators"]] == ["authority", "region", "nation"]
    one = _figures(body)["ks102ew0002_pct"]
    assert one["printed"].endswith("%") and len(one["comparators"]) == 3
    # the CSV and its CSVW metadata agree on the columns
    text = client.get("/api/profile/E01002704.csv").get_data(as_text=True)
    header = next(csv.reader(io.StringIO(text)))
    meta = client.get("/api/profile/E01002704.csv-metadata.json")
    assert meta.mimetype == "application/csvm+json"
    assert [c["name"] for c in meta.get_json()["tableSchema"]["columns"]] == header
    assert "E09000019_value" in header
    # bad input: a clear 4xx naming what was wrong
    unknown = client.get("/api/profile/E0100270X.json")
    assert unknown.status_code == 404 and "unknown place" in unknown.get_json()["error"]
    assert client.get("/api/profile/E09000019.json?level=oa99").status_code == 404
    bad = client.get("/api/profile/E09000019.json?colour=red")
    assert bad.status_code == 400 and bad.get_json()["parameter"] == "colour"
    assert client.get("/api/profile/E09000019.xlsx").status_code == 404



def test_grouped_statistics_equal_each_group_computed_alone() -> None:
    """The pipeline computes every comparator in one grouped pass; each group's figures must be those of its
    areas taken alone (the per-request computation), whatever the mix of missing figures."""
    import pandas as pd

    from atlas import aggregation

    rng = np.random.default_rng(22)
    n = 60
    rows = [{"id": "t1", "unit": "count"}, {"id": "t2", "unit": "count"},
            {"id": "t2_pct", "unit": "percentage", "denominator": "t1"},
            {"id": "v_share", "unit": "percentage", "denominator": "t1"},
            {"id": "ks102ew0018", "unit": "years"}, {"id": "ks102ew0001", "unit": "count"},
            {"id": "r", "unit": "rank"}, {"id": "d", "unit": "decile"},
            {"id": "c", "unit": "category", "kind": "categorical"}]
    t1 = rng.integers(50, 500, n).astype(float)
    t2 = np.floor(t1 * rng.random(n))
    frame = pd.DataFrame({"t1": t1, "t2": t2, "t2_pct": t2 / t1 * 100, "v_share": rng.random(n) * 100,
                          "ks102ew0018": rng.random(n) * 60, "ks102ew0001": t1, "r": rng.permutation(n) + 1.0,
                          "d": rng.integers(1, 11, n).astype(float), "c": rng.choice(["a", "b", "c"], n)})
    for column in ("t1", "t2_pct", "v_share", "ks102ew0018", "r", "d"):
        frame.loc[rng.random(n) < 0.15, column] = np.nan
    frame.loc[rng.random(n) < 0.15, "c"] = None
    groups = rng.choice(["G1", "G2", "G3"], n)
    stats = aggregation.group_stats(rows, frame, groups)
    by_id = {r["id"]: r for r in rows}
    for group in ("G1", "G2", "G3"):
        alone = profile.aggregate(rows, frame[groups == group])
        mine = stats[stats["group"] == group]
        assert set(mine["variable"]) == set(alone)
        for rec in mine.to_dict("records"):
            got, want = aggregation.figure(by_id[rec["variable"]], rec), alone[rec["variable"]]
            assert got.keys() == want.keys()
            for key, value in want.items():
                if isinstance(value, float):
                    assert got[key] == pytest.approx(value, rel=1e-12), (group, rec["variable"], key)
                else:
                    assert got[key] == value, (group, rec["variable"], key)
    # the shares are re-derived from the group's counts, never averaged
    g1 = (groups == "G1") & frame["t1"].notna() & frame["t2_pct"].notna()
    share = aggregation.figure(by_id["t2_pct"], stats[(stats["group"] == "G1") & (stats["variable"] == "t2_pct")]
                               .to_dict("records")[0])
    assert share["value"] == pytest.approx(frame["t2"][g1].sum() / frame["t1"][g1].sum() * 100, rel=1e-12)


def test_the_built_comparators_equal_the_figures_read_from_the_values(atlas_env: Path) -> None:
    """A district's figures from the pipeline's extract (profiles/<level>.parquet) are those computed from its
    values per request: the same figures, the same rules, the same order."""
    s = catalogue.of_request()
    assert (s.build_dir / "profiles" / "lsoa11.parquet").exists()
    subject = profile.subject_for(s, ISLINGTON, "lsoa11")
    built = profile._precomputed(s, ISLINGTON, "lsoa11")
    assert built is not None
    figures, rows, n = built
    live, live_rows = profile._aggregates(s, subject)
    assert n == len(subject.codes) and list(figures) == list(live) and rows.keys() == live_rows.keys()
    for vid, want in live.items():
        got = figures[vid]
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-12), (vid, key)
            else:
                assert got[key] == value, (vid, key)


def test_figures_kept_for_many_places_stay_within_their_bytes(atlas_env: Path, ks102_rows: dict, imd_rows: dict,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The subjects' and comparators' figures kept (about 0.3-1.7 MB a place) are bounded by bytes, not by count:
    a worker that has shown many profiles keeps a few, and a profile whose figures were dropped is made again,
    the same (checked against Nomis's KS102EW)."""
    small = extracts.Bounded(3 * 1024 * 1024, profile._footprint)
    monkeypatch.setattr(profile, "_cache", small)
    s = catalogue.of_request()
    first = profile.profile(s, profile.subject_for(s, ISLINGTON))
    districts = sorted({r["Local Authority District code (2019)"] for r in imd_rows.values()})[:12]
    for code in districts:
        profile.profile(s, profile.subject_for(s, code))
    assert 0 < small._used <= 3 * 1024 * 1024
    assert len(small._items) < 2 * len(districts)
    again = profile.profile(s, profile.subject_for(s, ISLINGTON))
    assert again == first
    mine = [c for c, r in imd_rows.items() if r["Local Authority District code (2019)"] == ISLINGTON]
    young = sum(int(ks102_rows[c]["Age: Age 0 to 4; measures: Value"]) for c in mine)
    every = sum(int(ks102_rows[c]["Age: All usual residents; measures: Value"]) for c in mine)
    assert _figures(again)["ks102ew0002_pct"]["value"] == pytest.approx(young / every * 100, rel=1e-12)
