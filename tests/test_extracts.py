"""The extracts reader and the request's catalogue (atlas/extracts.py, atlas/catalogue.py) against the real
extracts, checked against the publishers' raw files read here independently."""

from __future__ import annotations

import bisect
import csv
import json
import math
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geobuf
import pandas as pd
import pyarrow.parquet as pq
import pytest

from atlas import catalogue, extracts

KS102 = "census2011/nomis_ks102ew_lsoa11_ew/bulk.csv"
IMD_FILE_1 = "deprivation/imd2019_england/csv_from_xlsx/File_1_-_IMD2019_Index_of_Multiple_Deprivation.csv"
WIMD_RANKS = ("deprivation/wimd2019_wales/"
              "welsh-index-multiple-deprivation-2019-index-and-domain-ranks-by-small-area.csv")
# Small and large, English and Welsh; none of them changed code or boundary between 2011 and 2021.
AUTHORITIES = ["E09000001", "E07000194", "E08000025", "W06000015"]
INJECTIONS = [
    "E07000194' OR '1'='1",
    "E07000194'; DROP TABLE x; --",
    'ks102ew0001" FROM read_parquet(\'/etc/passwd\') --',
    "lsoa11/../../etc/passwd",
    "*",
    "",
    "ks102ew0001 ",
    "KS102EW0001",
    "É" * 300,
]


@pytest.fixture(scope="module")
def s(data_dir: Path) -> catalogue.Catalogue:
    return catalogue.build(data_dir=data_dir)


@pytest.fixture(scope="module")
def ks102(raw_dir: Path) -> dict[str, dict[str, float | None]]:
    """KS102EW from the Nomis bulk file: LSOA code -> {ks102ew0001: ..., ...}, cells in the header's order."""
    with open(raw_dir / KS102, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        cells = [i for i, h in enumerate(header) if h.startswith("Age: ")]
        assert header[cells[0]] == "Age: All usual residents; measures: Value"
        out = {}
        for row in reader:
            out[row[header.index("geography code")]] = {
                f"ks102ew{n:04d}": (float(row[i]) if row[i] != "" else None) for n, i in enumerate(cells, 1)}
    return out


@pytest.fixture(scope="module")
def imd(raw_dir: Path) -> dict[str, tuple[int, int]]:
    with open(raw_dir / IMD_FILE_1, newline="", encoding="utf-8") as f:
        return {r["LSOA code (2011)"]: (int(r["Index of Multiple Deprivation (IMD) Rank"]),
                                        int(r["Index of Multiple Deprivation (IMD) Decile"]))
                for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def wimd(raw_dir: Path) -> dict[str, int]:
    with open(raw_dir / WIMD_RANKS, newline="", encoding="utf-8-sig") as f:
        return {r["LSOA code"]: int(r["WIMD 2019 "]) for r in csv.DictReader(f)}


def boundary_codes(raw_dir: Path, authority: str) -> set[str]:
    path = raw_dir / "boundaries/lsoa11_by_lad" / f"{authority}.json"
    features = json.loads(path.read_text())["features"]
    return {f["properties"]["LSOA11CD"] for f in features}


def expected_ranks(values: list[float | None]) -> list[int | None]:
    """1 + how many values are strictly higher: ties share the best rank; missing stays missing."""
    present = [v for v in values if v is not None]
    return [None if v is None else 1 + sum(1 for w in present if w > v) for v in values]


def higher(ordered: list[float], value: float) -> int:
    """How many of the ascending ``ordered`` values are strictly greater than ``value``."""
    return len(ordered) - bisect.bisect_right(ordered, value)


def rows(df) -> list[dict]:
    out = []
    for r in df.to_dict("records"):
        out.append({k: (None if (v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)))
                        else v) for k, v in r.items()})
    return out


# -- values against the raw files ------------------------------------------------------------------------

@pytest.mark.parametrize("authority", AUTHORITIES)
@pytest.mark.parametrize("variable", ["ks102ew0001", "ks102ew0002", "ks102ew0017", "ks102ew0019"])
def test_ks102ew_values_are_the_nomis_bulk_figures(s, raw_dir, ks102, authority, variable):
    got = rows(s.values(authority, "lsoa11", variable))
    assert {r["code"] for r in got} == boundary_codes(raw_dir, authority)
    assert [r["code"] for r in got] == sorted(r["code"] for r in got)
    for r in got:
        assert r["value"] == ks102[r["code"]][variable], r["code"]


@pytest.mark.parametrize("authority", AUTHORITIES)
def test_percentages_recomputed_from_the_counts(s, ks102, authority):
    for r in rows(s.values(authority, "lsoa11", "ks102ew0005_pct")):
        raw = ks102[r["code"]]
        assert r["value"] == pytest.approx(raw["ks102ew0005"] / raw["ks102ew0001"] * 100, abs=1e-3)


@pytest.mark.parametrize("authority", AUTHORITIES)
@pytest.mark.parametrize("variable", ["ks102ew0006", "ks102ew0018", "ks102ew0011_pct"])
def test_rank_within_authority_recomputed(s, authority, variable):
    got = rows(s.values(authority, "lsoa11", variable))
    assert [r["rank"] for r in got] == expected_ranks([r["value"] for r in got])
    assert min(r["rank"] for r in got) == 1


def test_ties_share_the_best_rank(s):
    # Birmingham's 639 LSOAs have many equal counts of 15-year-olds: the case that needs "ties share".
    got = rows(s.values("E08000025", "lsoa11", "ks102ew0006"))
    values = [r["value"] for r in got]
    tied = {v for v in values if values.count(v) > 1}
    assert tied
    for v in tied:
        assert len({r["rank"] for r in got if r["value"] == v}) == 1


@pytest.mark.parametrize("authority", ["E09000001", "E07000194", "E08000025", "E08000012"])
def test_imd_ranks_and_deciles_exactly_as_published(s, imd, authority):
    ranks = rows(s.values(authority, "lsoa11", "imd2019_imd_rank"))
    deciles = rows(s.values(authority, "lsoa11", "imd2019_imd_decile"))
    assert [r["code"] for r in ranks] == [r["code"] for r in deciles]
    all_ranks = sorted(r for r, _ in imd.values())
    all_deciles = sorted(d for _, d in imd.values())
    for r, d in zip(ranks, deciles, strict=True):
        assert (r["value"], d["value"]) == imd[r["code"]]
        # The publisher's own rank and decile (among all 32,844 English LSOAs) are the values, and are
        # never ranked again: a rank of a rank read as "rank 31,591" beside "IMD rank 1,254".
        assert r["rank"] is None and r["rank_national"] is None
        assert d["rank"] is None and d["rank_national"] is None
    assert len(all_ranks) == len(all_deciles) == 32844
    assert sorted(s.national_values("lsoa11", "imd2019_imd_rank").astype(int).tolist()) == all_ranks


def test_wimd_ranks_exactly_as_published_and_ranked_within_wales_only(s, wimd):
    got = rows(s.values("W06000015", "lsoa11", "wimd2019_wimd_rank"))
    assert len(got) == 214
    welsh = sorted(wimd.values())
    for r in got:
        assert r["value"] == wimd[r["code"]]
        assert r["rank"] is None and r["rank_national"] is None  # the publisher's rank, as published
    assert sorted(s.national_values("lsoa11", "wimd2019_wimd_rank").astype(int).tolist()) == welsh
    assert s.variable("wimd2019_wimd_rank")["national_levels"] == ["lsoa11"]


def test_indices_of_two_nations_are_never_mixed(s):
    with pytest.raises(extracts.NotFound) as err:
        s.values("E07000194", "lsoa11", "wimd2019_wimd_rank")
    assert err.value.what == "variable"
    assert "W06000015/lsoa11" in err.value.valid
    assert all(v.startswith("W") for v in err.value.valid)
    assert "available for" in str(err.value)
    with pytest.raises(extracts.NotFound):
        s.values("W06000015", "lsoa11", "imd2019_imd_rank")
    assert len(s.national_values("lsoa11", "imd2019_imd_rank")) == 32844
    assert sorted(s.national_values("lsoa11", "wimd2019_wimd_rank")) == list(range(1, 1910))


def test_rank_national_only_where_the_variable_is_national(s):
    local = [v for v in s.variables(authority="E09000007", level="oa11") if not v["national"]]
    assert local, "the Camden census pack should give non-national variables at OA level"
    got = rows(s.values("E09000007", "oa11", local[0]["id"]))
    assert len(got) == 749
    assert all(r["rank_national"] is None for r in got)
    assert any(r["rank"] is not None for r in got)
    gla = rows(s.values("E09000007", "lsoa11", "gla2011_usualres"))
    assert all(r["rank_national"] is None for r in gla)


def test_national_overview_has_every_authority_of_england_and_wales(s, ks102):
    got = rows(s.values(extracts.ALL, "lad", "ks102ew0001"))
    assert len(got) == len(s.authorities())
    ew = [r for r in got if r["code"][0] in "EW"]
    assert ew and all(r["value"] is not None for r in ew)
    others = [r for r in got if r["code"][0] in "SN"]
    assert others and all(r["value"] is None and r["rank"] is None for r in others)
    assert sum(r["value"] for r in ew) == sum(v["ks102ew0001"] for v in ks102.values())
    lichfield = next(r for r in got if r["code"] == "E07000194")
    assert lichfield["value"] == sum(ks102[r["code"]]["ks102ew0001"]
                                     for r in rows(s.values("E07000194", "lsoa11", "ks102ew0001")))
    assert [r["rank"] for r in got] == expected_ranks([r["value"] for r in got])
    assert all(r["rank"] == r["rank_national"] for r in got)


def test_national_ranks_are_the_nomis_figures_ranked_and_kept_within_their_bytes(data_dir, ks102, monkeypatch):
    """rank_national at LSOA level is 1 + how many of England and Wales's 34,753 LSOAs have a higher count
    (Nomis's own figures); what a reader keeps of them is bounded by bytes (1.8 MB a variable at LSOA level), and
    ranks dropped and read again are the same."""
    fresh = catalogue.build(data_dir=data_dir)
    monkeypatch.setattr(fresh.extracts, "_national", extracts.Bounded(8 * 1024 * 1024, extracts._nbytes))
    variables = [f"ks102ew{n:04d}" for n in (2, 6, 11, 14, 18, 3, 8, 12, 2)]
    for variable in variables:
        ordered = sorted(v[variable] for v in ks102.values() if v[variable] is not None)
        for authority in ("E09000007", "W06000015"):
            for r in rows(fresh.values(authority, "lsoa11", variable)):
                assert r["rank_national"] == 1 + higher(ordered, ks102[r["code"]][variable]), (variable, r["code"])
        assert 0 < fresh.extracts._national._used <= 8 * 1024 * 1024
    assert len(fresh.extracts._national._items) < len(set(variables))


def test_national_values_are_every_value_at_the_level(s, ks102):
    values = s.national_values("lsoa11", "ks102ew0001")
    assert len(values) == len(ks102) == 34753
    assert sorted(values) == sorted(v["ks102ew0001"] for v in ks102.values())
    values[:] = -1  # the caller's copy: the store's cache is untouched
    assert s.national_values("lsoa11", "ks102ew0001").min() > 0


def test_every_variable_answers_where_the_catalogue_says_it_has_data(s):
    # Every catalogue row, at each of its levels, for one authority it covers: the column exists in that
    # level's file and holds values. Catches any disagreement between catalogue, coverage and files.
    # Every variable's column is read from each of its levels' files (schemas read here with pyarrow);
    # values() itself is asked once per dataset and level, to keep the test quick.
    schemas: dict[Path, set[str]] = {}
    asked = set()
    for variable in s.variables():
        places = dict(reversed(p.split("/")) for p in s._available(variable))  # level -> an authority
        assert set(places) == set(variable["levels"]), variable["id"]
        for level, place in places.items():
            path = s.build_dir / "values" / level / f"{variable['dataset']}.parquet"
            if path not in schemas:
                schemas[path] = set(pq.read_schema(path).names)
            assert variable["id"] in schemas[path], (variable["id"], path)
            if (variable["dataset"], level) not in asked:
                asked.add((variable["dataset"], level))
                got = s.values(place, level, variable["id"])
                held = got["category"] if variable["kind"] == "categorical" else got["value"]
                assert held.notna().any(), (variable["id"], place, level)
    assert len(asked) >= len({v["dataset"] for v in s.variables()})


def test_callers_may_modify_what_they_are_given(s):
    first = s.values("E09000001", "lsoa11", "ks102ew0002")
    first.loc[0, "name"] = "changed"
    first.loc[0, "code"] = "changed"
    first.loc[0, "rank_national"] = -1
    again = s.values("E09000001", "lsoa11", "ks102ew0002")
    assert "changed" not in set(again["name"]) | set(again["code"]) and -1 not in set(again["rank_national"])


def test_values_rows_line_up_with_the_geometry(s):
    for authority, level in [("E09000007", "oa11"), ("E08000009", "lsoa21"), (extracts.ALL, "lad")]:
        variable = s.variables(authority=authority, level=level)[0]["id"]
        codes = list(s.values(authority, level, variable)["code"])
        assert codes == [f["properties"]["code"] for f in s.area_geojson(authority, level)["features"]]


# -- catalogue and authorities ---------------------------------------------------------------------------

def test_authorities_list_levels_vintages_and_counts(s):
    by_code = {a["code"]: a for a in s.authorities()}
    json.dumps(list(by_code.values()))  # plain types only
    assert {"code", "name", "nation", "region", "levels", "bbox"} <= set(by_code["E07000194"])
    assert by_code["E07000194"]["levels"] == [{"level": "lsoa11", "vintage": "2011", "areas": 58},
                                              {"level": "oa11", "vintage": "2011", "areas": 325},
                                              {"level": "lsoa21", "vintage": "2021", "areas": 62},
                                              {"level": "ward22", "vintage": "2022", "areas": 22}]
    trafford = {d["level"]: d for d in by_code["E08000009"]["levels"]}
    assert (trafford["lsoa21"]["areas"], trafford["oa21"]["areas"]) == (139, 738)
    assert trafford["lsoa21"]["vintage"] == "2021"
    assert sum(d["areas"] for a in by_code.values() for d in a["levels"] if d["level"] == "lsoa11") == 34753
    assert s.authority("all")["levels"][0]["level"] == "lad"


def test_variables_filters(s):
    camden_oa = {v["id"] for v in s.variables(authority="E09000007", level="oa11")}
    assert camden_oa and "imd2019_imd_rank" not in camden_oa
    assert "imd2019_imd_rank" in {v["id"] for v in s.variables(authority="E09000007", level="lsoa11")}
    assert {v["id"] for v in s.variables(authority="all")} == {v["id"] for v in s.variables(level="lad")}
    assert "ks102ew0019" in {v["id"] for v in s.variables(q="Median AGE")}
    deprivation = s.variables(topic="Deprivation")
    assert deprivation and all(v["topic"] == "Deprivation" for v in deprivation)
    json.dumps(s.variables())
    with pytest.raises(extracts.NotFound) as err:
        s.variables(topic="Nope")
    assert "Deprivation" in err.value.valid


# -- bad input -------------------------------------------------------------------------------------------

def test_unknown_names_list_valid_choices(s):
    with pytest.raises(extracts.NotFound) as err:
        s.values("E99999999", "lsoa11", "ks102ew0001")
    assert (err.value.what, err.value.value) == ("authority", "E99999999")
    assert "E07000194" in err.value.valid and extracts.ALL in err.value.valid
    with pytest.raises(extracts.NotFound) as err:
        s.values("E07000194", "msoa11", "ks102ew0001")
    assert err.value.what == "level" and "lsoa11" in err.value.valid
    with pytest.raises(extracts.NotFound) as err:
        s.values("E07000194", "lsoa11", "nope")
    assert err.value.what == "variable" and "ks102ew0001" in err.value.valid
    with pytest.raises(extracts.NotFound) as err:
        s.values("E09000001", "oa11", "ks102ew0001")  # City of London has no Output Areas here
    assert err.value.valid == ["lsoa11", "lsoa21", "ward22"]
    with pytest.raises(extracts.NotFound) as err:
        s.values("E12000007", "oa21", "ks102ew0001")  # London: no Output Areas of 2021 here
    assert err.value.valid == ["lsoa11", "oa11", "lsoa21", "ward22"]
    with pytest.raises(extracts.NotFound) as err:
        s.values(extracts.ALL, "lad", "ks102ew0019")  # median age: not derivable for districts
    assert "available for" in str(err.value)
    with pytest.raises(extracts.NotFound):
        s.variable("nope")
    with pytest.raises(extracts.NotFound):
        s.area_geojson("E08000025", "oa21")  # Birmingham has no Output Areas of 2021


@pytest.mark.parametrize("bad", INJECTIONS)
def test_injection_looking_input_is_rejected_before_any_sql(s, bad):
    for call in (lambda: s.values(bad, "lsoa11", "ks102ew0001"),
                 lambda: s.values("E07000194", bad, "ks102ew0001"),
                 lambda: s.values("E07000194", "lsoa11", bad),
                 lambda: s.area_pbf(bad, "lsoa11"),
                 lambda: s.national_values(bad, "ks102ew0001"),
                 lambda: s.variables(authority=bad)):
        with pytest.raises(extracts.NotFound):
            call()
    # ... and the store still answers.
    assert len(s.values("E07000194", "lsoa11", "ks102ew0001")) == 58


# -- geometry --------------------------------------------------------------------------------------------

def _coordinates(geometry: dict):
    stack = [geometry["coordinates"]]
    while stack:
        item = stack.pop()
        if isinstance(item[0], (int, float)):
            yield item
        else:
            stack.extend(item)


@pytest.mark.parametrize("authority,level,count", [("E07000194", "lsoa11", 58), ("E07000194", "oa11", 325),
                                                   ("E08000009", "oa21", 738), (extracts.ALL, "lad", 374)])
def test_geometry_geojson_and_geobuf_agree(s, authority, level, count):
    collection = s.area_geojson(authority, level)
    features = collection["features"]
    assert len(features) == count
    codes = [f["properties"]["code"] for f in features]
    assert codes == sorted(codes)
    assert all(set(f["properties"]) == {"code", "name"} and f["properties"]["name"] for f in features)
    assert {f["geometry"]["type"] for f in features} <= {"Polygon", "MultiPolygon"}
    for f in features[:50]:
        for x, y in _coordinates(f["geometry"]):
            assert -9 < x < 2.1 and 49 < y < 61
            assert len(repr(x).split(".")[-1]) <= extracts.PRECISION >= len(repr(y).split(".")[-1])
    for f in features:
        polygons = [f["geometry"]["coordinates"]] if f["geometry"]["type"] == "Polygon" \
            else f["geometry"]["coordinates"]
        for ring in (ring for polygon in polygons for ring in polygon):
            assert ring[0] == ring[-1] and len(ring) >= 4  # closed, as GeoJSON requires
            assert all(a != b for a, b in zip(ring, ring[1:], strict=False)), f["properties"]["code"]
    assert geobuf.decode(s.area_pbf(authority, level)) == collection
    collection["features"].clear()  # callers get their own copy
    assert len(s.area_geojson(authority, level)["features"]) == count


# -- processes and threads -------------------------------------------------------------------------------

def test_many_threads_at_once_get_their_own_right_answers(s):
    jobs = [(a, "lsoa11", v) for a in AUTHORITIES for v in ("ks102ew0001", "ks102ew0009_pct", "ks102ew0018")]
    jobs += [("E09000007", "oa11", s.variables(authority="E09000007", level="oa11")[0]["id"]),
             (extracts.ALL, "lad", "ks102ew0001")]
    expected = {job: rows(s.values(*job)) for job in jobs}
    work = jobs * 12
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda job: (job, rows(s.values(*job))), work))
        shapes = list(pool.map(lambda a: len(s.area_pbf(a, "lsoa11")), AUTHORITIES * 4))
    assert all(got == expected[job] for job, got in results)
    assert len(set(shapes)) == len(AUTHORITIES)


def test_every_thread_cursor_caches_parquet_metadata(s):
    # A session-local SET on the connection does not reach cursors; the cache must hold in each thread.
    def setting(_: int) -> tuple:
        return s.extracts._cursor().execute("SELECT current_setting('parquet_metadata_cache'), "
                                   "current_setting('enable_object_cache')").fetchone()

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert set(pool.map(setting, range(8))) == {(True, True)}


def test_a_forked_worker_opens_its_own_connection(s, monkeypatch):
    """A process whose pid is not the one that opened the connection (a gunicorn worker after the fork)
    opens a connection of its own and never touches the inherited one.

    No process is forked here: forking a process while DuckDB's threads run can hang the child (it did,
    in CI). The reader notices a fork by its pid, so a different pid is what a forked worker looks like.
    """
    before = rows(s.values("E07000194", "lsoa11", "ks102ew0001"))  # the parent's connection is open
    reader = s.extracts
    inherited = reader._con
    assert inherited is not None
    child = os.getpid() + 1_000_000
    monkeypatch.setattr(extracts.os, "getpid", lambda: child)
    assert rows(s.values("E07000194", "lsoa11", "ks102ew0001")) == before
    assert reader._con is not inherited and reader._pid == child
    monkeypatch.undo()
    assert rows(s.values("E07000194", "lsoa11", "ks102ew0001")) == before  # and back in the parent


def test_a_request_keeps_its_build_and_the_next_one_gets_the_new_build(data_dir, tmp_path, monkeypatch):
    """A new build (or one fetched from object storage) is served from the next request on; a request
    under way finishes on the build it started with, so no answer mixes two builds; a build a reader holds
    is never pruned, and once no request holds it, it can be."""
    from atlas import builds

    real = (data_dir / "current").resolve()
    for name in ("a", "b"):  # hard links: two whole builds at no cost
        shutil.copytree(real, tmp_path / "builds" / name, copy_function=os.link)
        # but build.json of its own: a reader's lock is on the file, and a hard link is the same file
        (tmp_path / "builds" / name / "build.json").unlink()
        shutil.copy(real / "build.json", tmp_path / "builds" / name / "build.json")
    (tmp_path / "current").symlink_to(Path("builds") / "a")
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    first = catalogue.build()
    before = rows(first.values("E07000194", "lsoa11", "ks102ew0001"))
    assert first.build_dir.name == "a" and catalogue.build().extracts is first.extracts
    builds.swap(tmp_path / "current", tmp_path / "builds" / "b")
    second = catalogue.build()
    assert second.build_dir.name == "b" and first.build_dir.name == "a"
    assert rows(first.values("E07000194", "lsoa11", "ks102ew0001")) == before  # the request under way
    assert builds.prune(tmp_path / "builds", 1, tmp_path / "builds" / "b") == []  # "a" is read: kept
    reader = first.extracts
    del first
    reader.close()  # what dropping the last reference does (the reader's open build.json goes with it)
    assert builds.prune(tmp_path / "builds", 1, tmp_path / "builds" / "b") == ["a"]
    assert len(second.values("E07000194", "lsoa11", "ks102ew0001")) == 58


def test_the_catalogue_follows_the_settings(atlas_env):
    got = catalogue.build()
    assert got.data_dir == atlas_env and got.extracts is catalogue.build().extracts
    assert re.fullmatch(r"\S+", got.build_id)


def test_missing_extracts_say_how_to_build_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="pipeline build"):
        catalogue.build(data_dir=tmp_path)
