"""The build's tables as a reader holds them (atlas/extracts.py ``CatalogueRows``, ``Coverage``): the catalogue of
variables held as columns of codes and made into rows on demand, where each variable has data, and the LSOA
lookup's counts, checked against the build's Parquet files read here independently with pyarrow."""

from __future__ import annotations

import json
import math
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas import catalogue, extracts
from atlas.extracts import ALL, NATIONAL_LEVEL, NotFound

CAMDEN, BIRMINGHAM, CARDIFF, LONDON = "E09000007", "E08000025", "W06000015", "E12000007"
#: The fields ``variables(q=...)`` searches, as its docstring lists them.
SEARCHED = ("id", "label", "table", "table_title", "cell", "topic", "description")


@pytest.fixture(scope="module")
def s(data_dir: Path) -> catalogue.Catalogue:
    return catalogue.build(data_dir=data_dir)


@pytest.fixture(scope="module")
def raw(data_dir: Path) -> list[dict]:
    """catalogue.parquet as pyarrow reads it, a dict per row in the file's column order, by id."""
    rows = pq.read_table(data_dir / "current" / "catalogue.parquet").to_pylist()
    return sorted(rows, key=lambda r: r["id"])


@pytest.fixture(scope="module")
def held(data_dir: Path) -> set[tuple[str, str, str]]:
    """coverage.parquet: (dataset, level, district) where a dataset's values file has rows."""
    table = pq.read_table(data_dir / "current" / "coverage.parquet").to_pylist()
    return {(r["dataset"], r["level"], r["authority"]) for r in table}


@pytest.fixture(scope="module")
def regions(data_dir: Path) -> dict[str, list[str]]:
    return {r["code"]: r["authorities"] for r in pq.read_table(data_dir / "current" / "places.parquet").to_pylist()}


def expected_row(row: dict) -> dict:
    """A catalogue row as a variable's metadata is documented: plain Python, NaN as None, categories parsed into
    {code, label, colour} with colours in lower case."""
    out = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
    if out.get("categories"):
        out["categories"] = [{"code": str(c["code"]), "label": str(c.get("label") or c["code"]),
                              "colour": str(c["colour"]).lower() if c.get("colour") else None}
                             for c in json.loads(out["categories"])]
    else:
        out["categories"] = None
    return out


def has_data(row: dict, authority: str, level: str, held: set, regions: dict) -> bool:
    """Whether a variable has values for a district, a region or ``all`` at a level, from the two files."""
    if level not in (row["levels"] or []):
        return False
    if authority == ALL:
        return any(d == row["dataset"] and lv == level for d, lv, _ in held)
    if authority in regions:
        return any(has_data(row, a, level, held, regions) for a in regions[authority])
    return (row["dataset"], level, authority) in held and authority in (row["authorities"] or [])


def test_every_row_read_on_demand_is_its_parquet_row(s, raw):
    reader = s.extracts
    assert list(reader.rows) == [r["id"] for r in raw]
    assert len(reader.rows) == len(raw) > 5000
    listed = {r["id"]: r for r in reader.rows.values()}
    for row in raw:
        want = expected_row(row)
        got = reader.rows[row["id"]]
        assert got == want, row["id"]
        assert list(got) == list(row), "keys in the file's column order"
        assert listed[row["id"]] == want
        variable = s.variable(row["id"])
        assert dict(variable) == want and variable.key == reader.build_id


def test_rows_are_fresh_copies_for_callers(s):
    first = s.variables(authority=CAMDEN, level="lsoa11")[0]
    first["label"] = "changed by a caller"
    first["added"] = 1
    again = s.variables(authority=CAMDEN, level="lsoa11")[0]
    assert again["label"] != "changed by a caller" and "added" not in again
    variable = s.variable(again["id"])
    variable["label"] = "changed"
    assert s.variable(again["id"])["label"] == again["label"]


@pytest.mark.parametrize("bad", ["nope", "", "KS102EW0001", "ks102ew0001 ", "ks102ew0001\x00", "É" * 300,
                                 "ks102ew0001' OR '1'='1"])
def test_an_unknown_id_is_a_clear_not_found(s, bad):
    reader = s.extracts
    assert bad not in reader.rows and reader.rows.position(bad) is None
    with pytest.raises(KeyError):
        reader.rows[bad]
    with pytest.raises(NotFound) as caught:
        s.variable(bad)
    assert caught.value.status == 404 and caught.value.what == "variable"
    assert "ks102ew0001" in caught.value.valid and str(caught.value).startswith(f"unknown variable {bad!r}")


@pytest.mark.parametrize(("authority", "level"), [
    (CAMDEN, "lsoa11"), (CAMDEN, "oa11"), (CAMDEN, "lsoa21"), (BIRMINGHAM, "lsoa11"), (CARDIFF, "lsoa11"),
    (LONDON, "lsoa11"), (ALL, NATIONAL_LEVEL), (ALL, "lsoa11"), (ALL, "lsoa21")])
def test_variables_with_data_are_those_the_files_say(s, raw, held, regions, authority, level):
    want = [r["id"] for r in raw if has_data(r, authority, level, held, regions)]
    got = [r["id"] for r in s.variables(authority=authority, level=level)]
    assert got == want and want
    for r in raw[::41]:
        assert s.has_data(r["id"], authority, level) == (r["id"] in set(want))


def test_variables_of_a_district_at_any_level(s, raw, held, regions):
    levels = [lv for lv in s.levels if lv != NATIONAL_LEVEL]
    want = [r["id"] for r in raw if any(has_data(r, CAMDEN, lv, held, regions) for lv in levels)]
    assert [r["id"] for r in s.variables(authority=CAMDEN)] == want


def test_variables_by_level_topic_and_words(s, raw):
    assert [r["id"] for r in s.variables(level="oa21")] == [r["id"] for r in raw if "oa21" in (r["levels"] or [])]
    topic = raw[len(raw) // 2]["topic"]
    assert [r["id"] for r in s.variables(topic=topic)] == [r["id"] for r in raw if r["topic"] == topic]
    for q in ("age", "Older PEOPLE", "ks102ew00", "  deprivation   income  ", "zzzz nothing"):
        words = q.lower().split()
        want = [r["id"] for r in raw if all(w in " ".join(str(r[k] or "") for k in SEARCHED).lower() for w in words)]
        assert [r["id"] for r in s.variables(q=q)] == want


def test_where_a_variable_has_data(s, raw, held, regions):
    for r in raw[::97]:
        districts = sorted({a for d, lv, a in held if d == r["dataset"] and lv != NATIONAL_LEVEL})
        want = [(a, lv) for lv in sorted({lv for d, lv, _ in held if d == r["dataset"]})
                for a in districts if lv != NATIONAL_LEVEL and has_data(r, a, lv, held, regions)]
        if has_data(r, ALL, NATIONAL_LEVEL, held, regions):
            want.insert(0, (ALL, NATIONAL_LEVEL))
        assert s.places(r["id"]) == want, r["id"]


def test_lsoa_lookup_counts_are_the_lookups(s, data_dir):
    rows = pq.read_table(data_dir / "current" / "lookups" / "lsoa11_lsoa21.parquet").to_pylist()
    for authority in (CAMDEN, BIRMINGHAM, CARDIFF):
        mine = [r for r in rows if r["authority"] == authority]
        want = {kind: sum(r["change"] == kind for r in mine) for kind in extracts.CHANGE_KINDS}
        want.update(estimated=sum(bool(r["estimated"]) for r in mine), areas=len(mine))
        assert s.rebasing(authority) == want
        estimated = {r["code"] for r in mine if r["estimated"]}
        row = next(r for r in s.variables(authority=authority, level="lsoa11") if r.get("method") == "apportioned")
        assert s.estimates(row, authority, "lsoa11") == estimated
    assert s.rebasing(ALL)["areas"] == len(rows)


def test_threads_reading_the_catalogue_agree(s, raw):
    """Eight threads reading rows (more than the cache keeps, so rows are made and dropped while others read)
    and listings at once get what one thread gets."""
    ids = [r["id"] for r in raw]
    want = {r["id"]: expected_row(r) for r in raw}
    listing = [r["id"] for r in s.variables(authority=BIRMINGHAM, level="lsoa11")]
    searched = [r["id"] for r in s.variables(q="older")]

    def work(seed: int) -> bool:
        rng = random.Random(seed)
        for _ in range(300):
            id_ = rng.choice(ids)
            if s.extracts.rows[id_] != want[id_] or dict(s.variable(id_)) != want[id_]:
                return False
        return ([r["id"] for r in s.variables(authority=BIRMINGHAM, level="lsoa11")] == listing
                and [r["id"] for r in s.variables(q="older")] == searched)

    assert extracts.ROWS_CACHED < len(ids)
    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(16)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(min_size=1, max_size=30))
def test_hostile_searches_match_a_plain_scan(s, raw, q):
    words = q.lower().split()
    want = [r["id"] for r in raw if all(w in " ".join(str(r[k] or "") for k in SEARCHED).lower() for w in words)]
    assert [r["id"] for r in s.variables(q=q)] == want


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(id_=st.text(max_size=40))
def test_hostile_ids_are_not_found(s, id_):
    if id_ in s.extracts.rows:
        assert s.variable(id_).id == id_
        return
    with pytest.raises(NotFound):
        s.variable(id_)


def test_answers_kept_for_many_places_stay_within_their_bytes(s):
    """Listings kept per place (1-7 MB each) are bounded by bytes across scopes: a worker that has shown every
    district does not keep a listing for each, and what was dropped is made again, the same."""
    from atlas import mapview  # noqa: PLC0415

    districts = [a["code"] for a in s.authorities() if a["levels"]][:60]
    first = mapview.available_variables(s, districts[0], "lsoa11")
    for code in districts:
        mapview.available_variables(s, code, "lsoa11")
        s.datasets_at(code, "lsoa11")
    assert catalogue._memo._used <= catalogue.MEMO_BYTES
    assert len(catalogue._memo._items) < 2 * len(districts)
    assert mapview.available_variables(s, districts[0], "lsoa11") == first
    assert first == [r["id"] for r in s.variables(authority=districts[0], level="lsoa11")]


def test_a_new_registry_generation_drops_what_was_kept_for_the_older_ones(s, monkeypatch) -> None:
    """After a publish (a new registry generation) no request asks for an older generation's answers again: they
    are dropped when the first scope of the new one is made, not left to fill the memo's bytes (issue 20, item 4).
    The same build in another data folder keeps its own; the answers come out the same."""
    from atlas import access, profile, registry

    memo = extracts.Bounded(catalogue.MEMO_BYTES, catalogue._footprint)
    figures = extracts.Bounded(profile.FIGURES_BYTES, profile._footprint)
    monkeypatch.setattr(catalogue, "_memo", memo)
    monkeypatch.setattr(profile, "_cache", figures)
    monkeypatch.setattr(catalogue, "_newest", {})
    reader = s.extracts

    def at(generation: int) -> catalogue.Catalogue:
        return catalogue.Catalogue(access.ANONYMOUS, registry.Snapshot(generation=generation), reader)

    old = at(1001)
    listed = old.memo("test listing", CAMDEN, compute=lambda: tuple(old.variables(authority=CAMDEN)))
    first = profile.profile(old, profile.subject_for(old, CAMDEN))
    # the same build and generation in a different data folder: left alone
    elsewhere = ((old.scope.ident[0], "/another/folder", *old.scope.ident[2:]), "test listing")
    memo.get(elsewhere, lambda: ("kept",))
    assert len(memo._items) >= 2 and len(figures._items) >= 2
    new = at(1002)  # the next generation's first scope
    assert [k for k in memo._items if k[0][2] == 1001 and k[0][1] == str(reader.data_dir)] == []
    assert elsewhere in memo._items
    assert new.memo("test listing", CAMDEN, compute=lambda: tuple(new.variables(authority=CAMDEN))) == listed
    again = profile.profile(new, profile.subject_for(new, CAMDEN))
    assert [k for k in figures._items if k[-1][2] == 1001] == []  # the older figures went when new ones came
    assert again == first
    # a request still holding the older snapshot finds nothing kept, and computes its answer again
    assert catalogue.is_stale(old.scope.ident) and not catalogue.is_stale(new.scope.ident)
