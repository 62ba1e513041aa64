"""The explorer's server callbacks, called directly: valid and invalid addresses, the controls' own
path, values checked against the publisher's own CSV, and the size of what a switch sends."""

from __future__ import annotations

import csv
import gzip
import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from dash import no_update

from atlas import catalogue, mapview, palettes
from atlas import viewstate as state
from callbacks import explorer
from ui import ids

CAMDEN = "E09000007"
KS102EW_LSOA = Path("census2011/nomis_ks102ew_lsoa11_ew/bulk.csv")
OUT = {name: i for i, name in enumerate(
    [*ids.CONTROLS, "level_options", "level_row", "group_options", "group", "variable_options", "scope_options",
     "scope_row", "breaks_row", "payload", "areas", "viewport", "outline", "state", "message", "title",
     "attribution", "selected", "authority_options", *[f"{row}:style" for row in ids.CLASSIFICATION_ROWS],
     "category_note_hidden",
     "category_note"])}


@pytest.fixture()
def s(atlas_env: Path) -> catalogue.Catalogue:
    return catalogue.build()


def render(search: str | None, previous: dict | None) -> tuple:
    """The callback as the address calls it (a first load, back or forward)."""
    return explorer.render({"search": search}, *([None] * len(ids.CONTROLS)), previous)


def _out(result: tuple, name: str):
    return result[OUT[name]]


def _raw_rows(raw_dir: Path) -> dict[str, dict[str, str]]:
    with open(raw_dir / KS102EW_LSOA, newline="", encoding="utf-8-sig") as handle:
        return {row["geography code"]: row for row in csv.DictReader(handle)}


def test_first_load_is_the_national_view(s: catalogue.Catalogue) -> None:
    out = render("", None)
    assert len(out) == len(OUT) == len(explorer._OUTPUTS)
    assert _out(out, "authority") == "all" and _out(out, "level") == "lad"
    payload = _out(out, "payload")
    assert payload["all"] is True and payload["n"] == 374 == len(payload["cls"])
    assert payload["url"] == f"/api/areas/all/lad.pbf?v={s.build_id}"
    areas = _out(out, "areas")
    assert len(areas["codes"]) == 374 == len(areas["names"])
    # Scotland and Northern Ireland: districts without small-area data are marked, and drawn as no data.
    nodata = {areas["codes"][i] for i in areas["nodata"]}
    assert len(nodata) == 374 - 331
    assert all(code[0] in "SN" for code in nodata)
    assert all(payload["cls"][i] == "-" for i in areas["nodata"])
    assert _out(out, "message") is None
    assert "Open Government Licence" in _out(out, "attribution")
    assert _out(out, "viewport")["transition"] == "fitBounds"
    assert _out(out, "state")["via"] == "nav"


def test_camden_values_and_ranks_match_the_publisher_csv(s: catalogue.Catalogue, raw_dir: Path) -> None:
    """The printed values and ranks the hover card and table show (the view's details) against Nomis'
    KS102EW file, read here independently."""
    rows = _raw_rows(raw_dir)
    out = render(f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct", None)
    payload, areas = _out(out, "payload"), _out(out, "areas")
    assert areas["key"] == payload["key"] == f"{CAMDEN}/lsoa11" and len(areas["codes"]) == 133
    details = json.loads(_get(payload["details"]))
    old, everyone = "Age: Age 65 to 74; measures: Value", "Age: All usual residents; measures: Value"
    # The extracts keep full precision, and ranks are of those values: exact fractions here.
    pct = {c: Fraction(100 * int(r[old]), int(r[everyone])) for c, r in rows.items()}
    here = [pct[c] for c in areas["codes"]]
    for i, code in enumerate(areas["codes"]):
        tenths = math.floor(pct[code] * 10 + Fraction(1, 2))  # 1 decimal place, halves away from zero
        assert details["text"][i] == f"{tenths // 10}.{tenths % 10}%"
        assert details["rank"][i] == 1 + sum(v > pct[code] for v in here)  # ties share the best rank
        assert details["rn"][i] == 1 + sum(v > pct[code] for v in pct.values())
    assert payload["national"] == {"count": len(pct), "coverage": "England and Wales"}


def _get(url: str) -> bytes:
    import app as app_module

    response = app_module.server.test_client().get(url)
    assert response.status_code == 200, response.data[:300]
    return response.data


def test_paint_is_the_view_and_its_colours(s: catalogue.Catalogue) -> None:
    search = f"?authority={CAMDEN}&level=oa11&variable=ks102ew0014_pct&scheme=fisher_jenks&k=6&palette=PuOr&reverse=1"
    p = _out(render(search, None), "payload")
    view = json.loads(_get("/api/view.json" + search))
    assert p["c"] == palettes.colours("PuOr", 6, reverse=True) == [c["colour"] for c in view["classes"]]
    assert p["classLabels"] == [c["label"] for c in view["classes"]]
    assert [int(c) if c != "-" else -1 for c in p["cls"]] == [a["class"] for a in view["areas"]]
    counts = [p["cls"].count(str(i)) for i in range(p["k"])]
    assert counts == [r["count"] for r in p["legend"]["rows"]] and sum(counts) == 749


def test_national_scope_uses_every_area_for_breaks(s: catalogue.Catalogue) -> None:
    local = _out(render(f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0018", None), "payload")
    national = _out(render(f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0018&scope=national", None),
                    "payload")
    assert "breaks across England and Wales" in national["legend"]["method"]
    assert national["classLabels"] != local["classLabels"] and national["cls"] != local["cls"]


@pytest.mark.parametrize(("search", "words"), [
    ("?authority=NOWHERE", "no local authority"),
    ("?authority=N09000001", "no small-area data"),
    ("?variable=zzz", "no variable"),
    ("?scheme=zzz", "scheme"),
    ("?k=99", "from 3 to 9"),
    ("?authority=E09000007&scheme=custom&breaks=1,,2", "empty"),
    ("?authority=E09000007&scheme=custom&breaks=" + ",".join(str(i) for i in range(20)), "at most 9"),
    ("?opacity=-1&reverse=2", "Opacity"),
    ("?%zz%&&=", None),
])
def test_bad_urls_give_a_message_and_a_whole_view(s: catalogue.Catalogue, search: str, words: str | None) -> None:
    out = render(search, None)
    payload = _out(out, "payload")
    assert payload["cls"] and payload["k"] and len(payload["c"]) == payload["k"]
    if words:
        text = " ".join(p.children for p in _out(out, "message"))
        assert words in text
    json.dumps(payload)  # plain JSON: no NaN, no numpy


@pytest.mark.parametrize("nav", [None, 7, ["?k=3"], {"search": {"x": 1}}, {"search": "?" + "k=4&" * 5000}])
def test_a_forged_address_is_a_view_not_a_crash(s: catalogue.Catalogue, nav) -> None:
    out = explorer.render(nav, *([None] * len(ids.CONTROLS)), {"state": 3})
    assert _out(out, "payload")["cls"]


def test_custom_breaks_above_nine_classes_fall_back(s: catalogue.Catalogue) -> None:
    # Nine typed breaks below the maximum make ten classes once the top class is added: refused.
    out = render("?authority=E09000007&level=lsoa11&variable=ks102ew0018&scheme=custom"
                 "&breaks=30,31,32,33,34,35,36,37,38", None)
    assert "Quantiles" in _out(out, "payload")["legend"]["method"]
    assert any("cannot be used" in p.children for p in _out(out, "message"))
    out = render("?authority=E09000007&level=lsoa11&variable=ks102ew0018&scheme=custom&breaks=35,40,50", None)
    labels = _out(out, "payload")["classLabels"]
    assert labels[1:] == ["35.1 – 40.0", "40.1 – 50.0"] and labels[0].endswith("– 35.0")
    assert _out(out, "breaks_row") == {}


def test_a_switch_sends_only_what_changed(s: catalogue.Catalogue) -> None:
    first = render(f"?authority={CAMDEN}&level=oa11&variable=ks102ew0018", None)
    previous = _out(first, "state")
    switch = render(f"?authority={CAMDEN}&level=oa11&variable=ks102ew0014_pct&k=7", previous)
    for name in ("areas", "viewport", "outline", "level_options", "group_options", "authority", "level",
                 "palette", "scope_row"):
        assert _out(switch, name) is no_update, name
    assert _out(switch, "variable") == "ks102ew0014_pct" and _out(switch, "k") == 7
    assert _out(switch, "payload")["k"] == 7
    assert _out(switch, "variable_options") is no_update  # the same table: its list is on the page already
    # The budget: at most 4 bytes per area for everything the switch sends (one class digit per area).
    body = json.dumps([v for v in switch if v is not no_update], default=lambda o: o.to_plotly_json())
    assert len(body.encode()) <= 4 * 749 + 4000, len(body)
    assert len(gzip.compress(body.encode())) < len(body) / 2
    # The next switch of classes only: not even the variable list.
    again = render(f"?authority={CAMDEN}&level=oa11&variable=ks102ew0014_pct&k=5", _out(switch, "state"))
    assert _out(again, "variable_options") is no_update and _out(again, "group") is no_update


def test_the_controls_ask_directly_and_the_address_follows(s: catalogue.Catalogue) -> None:
    first = render(f"?authority={CAMDEN}&level=oa11&variable=ks102ew0018", None)
    previous = _out(first, "state")
    controls = {**previous["state"], "reverse": [], "k": 7, "variable": "ks102ew0014_pct"}
    search = explorer.search_from_controls(controls, previous["state"])
    r = explorer.render_view(search, previous, s, via="control")
    assert r.state.k == 7 and r.state.variable == "ks102ew0014_pct"
    assert r.canonical["via"] == "control" and r.canonical["search"] == state.to_query(r.state)
    # A new authority opens at its own first level with local breaks, whatever the other controls hold.
    moved = explorer.search_from_controls({**controls, "authority": "E08000025", "scope": "national"},
                                          previous["state"])
    assert "level=" not in moved and "scope=" not in moved
    # Forged control values (lists, dicts, huge text) are treated as absent, never as a crash.
    odd = explorer.search_from_controls({"authority": {"a": 1}, "k": [1, 2], "breaks": "9" * 10_000,
                                         "scheme": "custom", "reverse": "yes"}, previous["state"])
    assert explorer.render_view(odd, previous, s, via="control").state.authority == "all"


def test_controls_are_set_when_the_url_was_refused_or_history_moves(s: catalogue.Catalogue) -> None:
    first = render(f"?authority={CAMDEN}&level=lsoa11&k=5", None)
    previous = _out(first, "state")
    # The user picked a k the check refuses: the control must be put back to the value shown.
    out = render(f"?authority={CAMDEN}&level=lsoa11&k=12", previous)
    assert _out(out, "k") == 5
    # Back to an older view: every control that differs is set.
    out = render(f"?authority={CAMDEN}&level=lsoa11&k=4&palette=Reds&reverse=1", previous)
    assert (_out(out, "k"), _out(out, "palette"), _out(out, "reverse")) == (4, "Reds", ["1"])
    assert _out(out, "scheme") is no_update


def test_an_opacity_change_sends_no_payload(s: catalogue.Catalogue) -> None:
    first = render(f"?authority={CAMDEN}&level=oa11", None)
    out = render(f"?authority={CAMDEN}&level=oa11&opacity=0.5", _out(first, "state"))
    assert _out(out, "payload") is no_update
    assert _out(out, "opacity") == 0.5 and _out(out, "state")["state"]["opacity"] == 0.5


def test_fewer_classes_than_asked_are_explained(s: catalogue.Catalogue) -> None:
    # The City of London has 6 LSOAs: 9 quantile classes cannot be made from 6 values.
    p = _out(render("?authority=E09000001&variable=ks102ew0018&k=9", None), "payload")
    assert p["k"] == 6 and len(p["c"]) == 6
    assert "6 classes (9 asked for)" in p["legend"]["method"]
    assert any("9 classes asked, 6 given" in n for n in p["legend"]["notes"])


def test_changing_authority_resets_selection_and_sends_names(s: catalogue.Catalogue) -> None:
    first = render(f"?authority={CAMDEN}&level=lsoa11", None)
    out = render("?authority=E06000002", _out(first, "state"))
    # an English district with no level and no variable opens on today's index, on the LSOAs it is published for
    assert _out(out, "level") == "lsoa21" and _out(out, "variable") == "imd2025_imd_decile"
    assert _out(out, "selected") is None
    assert _out(out, "areas")["key"] == "E06000002/lsoa21"
    outline = _out(out, "outline")["features"][0]["geometry"]
    assert outline["type"] in ("LineString", "MultiLineString")
    # Middlesbrough has ward boundaries but no ward data (no election in 2021-22): only its LSOAs are offered.
    assert [o["value"] for o in _out(out, "level_options")] == ["lsoa11", "lsoa21"]
    assert _out(out, "level_row") == {}
    camden = render(f"?authority={CAMDEN}", _out(out, "state"))
    assert [o["value"] for o in _out(camden, "level_options")] == ["lsoa11", "oa11", "lsoa21", "ward22"]
    assert _out(camden, "level_row") == {}


def test_state_store_holds_the_canonical_query(s: catalogue.Catalogue) -> None:
    out = render("?authority=e09000007&k=4", None)
    stored = _out(out, "state")
    assert stored["search"] == state.to_query(state.ViewState(authority=CAMDEN, level="lsoa21",
                                                              variable="imd2025_imd_decile", k=4))
    assert stored["variable_default"] is True


def test_option_lists_stay_short_and_complete(s: catalogue.Catalogue) -> None:
    """Camden's output areas have 4,496 variables: the Table list names each table once (under its topic)
    and the Variable list holds one table's variables; together they reach every variable."""
    groups = mapview.group_options(s, CAMDEN, "oa11")
    # The folded "Not here" line (choosing it lists what exists elsewhere) is not a table.
    tables = [o for o in groups if not o.get("disabled") and o["value"] != mapview.GAPS_OPTION]
    assert len(groups) < 150 and all(o["value"].startswith(("topic:", "gap:")) for o in groups if o.get("disabled"))
    reached = []
    for option in tables:
        variables = mapview.variable_options(s, CAMDEN, "oa11", group=option["value"])
        assert 0 < len(variables) <= 600
        assert f"({len(variables)})" in option["label"]
        reached += [o["value"] for o in variables]
    assert sorted(reached) == sorted(mapview.available_variables(s, CAMDEN, "oa11"))
    assert len(reached) > 4000
    out = render(f"?authority={CAMDEN}&level=oa11&variable=qs211ew0002", None)
    assert _out(out, "group") == "Identity|QS211EW"
    assert "qs211ew0002" in {o["value"] for o in _out(out, "variable_options")}


def test_typed_words_search_every_variable_here(s: catalogue.Catalogue) -> None:
    found = mapview.search_variables(s, CAMDEN, "oa11", "65 to 74 %")
    assert any(o["value"] == "ks102ew0014_pct" for o in found) and len(found) <= 50
    assert all("(" in o["label"] for o in found)  # each says its table
    assert mapview.search_variables(s, CAMDEN, "oa11", "") == []
    assert mapview.search_variables(s, CAMDEN, "oa11", "zzzz qqqq") == []
