"""Never change the question behind the person's back (issue 17 §9, §10, §4), with the callbacks called
directly: a variable with no data at the level asked for is kept and shown where it exists in the place;
variable search ranks what the words name first and says how near-identical entries differ; a "not here"
message gives the true reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from atlas import catalogue, coverage, mapview
from callbacks import explorer

TOWER_HAMLETS, TRAFFORD, LONDON, BIRMINGHAM, CAMDEN = "E09000030", "E08000009", "E12000007", "E08000025", "E09000007"


@pytest.fixture(scope="module")
def s(data_dir: Path) -> catalogue.Catalogue:
    return catalogue.build(data_dir=data_dir)


@pytest.fixture(autouse=True)
def _env(atlas_env: Path) -> None:
    return None


def _first(s: catalogue.Catalogue, level: str, authority: str) -> str:
    index = s.area_index(level)
    return str(index[index["authority"] == authority]["code"].iloc[0])


def test_a_ward_found_in_search_keeps_the_variable(s: catalogue.Catalogue) -> None:
    ward = _first(s, "ward22", TOWER_HAMLETS)
    prev = {"state": {"authority": TOWER_HAMLETS, "level": "lsoa11", "variable": "ks102ew0018"}}
    r = explorer.render_view(f"?authority={TOWER_HAMLETS}&level=ward22&variable=ks102ew0018&area={ward}",
                             prev, s, "control")
    assert (r.state.level, r.state.variable) == ("lsoa11", "ks102ew0018")
    assert any("Mean age has no data at electoral wards" in m and "where it exists" in m for m in r.messages)
    box = s.area_bbox("ward22", ward)
    assert r.viewport["bounds"] == [[box[1], box[0]], [box[3], box[2]]]  # the map goes to the ward


def test_an_lsoa21_found_in_search_keeps_the_variable(s: catalogue.Catalogue) -> None:
    code = _first(s, "lsoa21", TRAFFORD)
    prev = {"state": {"authority": TRAFFORD, "level": "lsoa11", "variable": "ks102ew0014_pct"}}
    r = explorer.render_view(f"?authority={TRAFFORD}&level=lsoa21&variable=ks102ew0014_pct&area={code}",
                             prev, s, "control")
    assert (r.state.level, r.state.variable) == ("lsoa11", "ks102ew0014_pct")


def test_london_to_england_and_wales_keeps_the_change_and_its_palette(s: catalogue.Catalogue) -> None:
    prev = {"state": {"authority": LONDON, "level": "lsoa11", "variable": "chg_tenure_owned_pp", "palette": "RdBu"},
            "palette_default": "RdBu"}
    search = explorer.search_from_controls(
        {"authority": "all", "level": "lsoa11", "variable": "chg_tenure_owned_pp", "scheme": "quantiles", "k": 5,
         "palette": "RdBu", "reverse": [], "opacity": 0.8}, prev["state"], "RdBu")
    r = explorer.render_view(search, prev, s, "control")
    assert (r.state.authority, r.state.level, r.state.variable, r.state.palette) == (
        "all", "lsoa11", "chg_tenure_owned_pp", "RdBu")


def test_a_variable_of_no_level_here_keeps_the_level_and_says_what_to_pick(s: catalogue.Catalogue) -> None:
    prev = {"state": {"authority": TOWER_HAMLETS, "level": "lsoa11", "variable": "ks102ew0018"}}
    r = explorer.render_view(f"?authority={TOWER_HAMLETS}&level=lsoa11&variable=wimd2019_wimd_score&palette=YlGnBu",
                             prev, s, "control")
    assert r.state.level == "lsoa11"
    assert any("Pick a variable with data for Tower Hamlets" in m for m in r.messages)
    assert any("in Wales only" in m and "instead" in m for m in r.messages)  # what is shown, said


def test_search_ranks_what_the_words_name_first(s: catalogue.Catalogue) -> None:
    found = mapview.search_variables(s, BIRMINGHAM, "lsoa11", "IMD")
    # Every figure whose label names the IMD comes first (2019 and 2025, and the movement between them): the
    # IMD's own rank and decile among the first eight, not 27th of 50 as when ids counted as much as labels.
    top = [o["value"] for o in found[:8]]
    assert "imd2019_imd_rank" in top and "imd2019_imd_decile" in top, top
    assert all("imd" in o["label"].lower().split("(")[0] + o["label"].lower() for o in found[:8])
    irish = [o["label"] for o in mapview.search_variables(s, CAMDEN, "lsoa11", "white irish")
             if o["value"] in ("ks201ew0003_pct", "ks201ew0021")]
    assert len(irish) == 2 and any("computed here as" in t for t in irish) and any("as published" in t for t in irish)
    # A variable of another level here is choosable (the level follows); one of nowhere here is not.
    wards = mapview.search_variables(s, TOWER_HAMLETS, "lsoa11", "electorate 2022")
    assert any(o["value"] == "le2022_electorate" and not o.get("disabled") for o in wards)


def test_no_area_with_a_value_says_so_not_the_sources_reach(s: catalogue.Catalogue) -> None:
    """A relative change whose 2011 base is 0 in every area of a place (found by search over the catalogue)."""
    for row in s.variables():
        if not row["id"].endswith("_rel") or "lsoa11" not in (row.get("levels") or []):
            continue
        have = set(row.get("authorities") or [])
        missing = [a["code"] for a in s.authorities() if a["code"][:1] == "E" and a["code"] not in have
                   and any(d["level"] == "lsoa11" for d in a.get("levels") or [])]
        if missing:
            why = coverage.why_not(s, s.variable(row["id"]), missing[0], "lsoa11")
            assert "no area of" in why and "England and Wales only" not in why, why
            return
    pytest.fail("no place without a value found")


GWYNEDD = "W06000002"
RESULTS_2022 = "national/elections/results/local-elections-2022_Wards-results-Table 1.csv"


def test_every_empty_ward_says_why(s: catalogue.Catalogue, raw_dir: Path) -> None:
    """Gwynedd's wards with no row in the House of Commons Library's 2022 table (counted from the raw file)
    say so in the view (hover card and table text, legend note), and no empty ward anywhere in London's
    boroughs or Gwynedd goes without a reason."""
    import csv

    from atlas import view
    from atlas import viewstate as vs

    with open(raw_dir / RESULTS_2022, encoding="utf-8", errors="replace", newline="") as handle:
        rows = list(csv.reader(handle))
    listed = {r[5].strip() for r in rows[2:] if len(r) > 5}
    shown = view.build(s, vs.ViewState(authority=GWYNEDD, level="ward22", variable="le2022_votes_total"))
    absent = [c for c in shown.areas.codes if c not in listed]
    assert len(absent) == 27
    for code, text in zip(shown.areas.codes, shown.areas.text, strict=True):
        if code in absent:
            assert text.startswith("no data: no result: the source lists no 2022 result"), (code, text)
    assert any("27 no result: the source lists no 2022 result" in n for n in shown.notes)
    for authority in [a["code"] for a in s.authorities() if a["code"].startswith("E09")] + [GWYNEDD]:
        if "le2022_winner" not in mapview.available_variables(s, authority, "ward22"):
            continue  # no 2022 election there (the City of London)
        winner = view.build(s, vs.ViewState(authority=authority, level="ward22", variable="le2022_winner"))
        for code, cls, text in zip(winner.areas.codes, winner.areas.classes, winner.areas.text, strict=True):
            assert cls >= 0 or text.startswith("no data: "), (authority, code, text)
        if winner.areas.why:
            paint = winner.paint()["why"]
            assert len(paint["at"]) == len(winner.areas.codes) and paint["labels"]
