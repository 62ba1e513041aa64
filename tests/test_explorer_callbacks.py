"""The explorer's server callback, called directly: valid and invalid URLs, values checked against the
publisher's own CSV, and the size of what a switch sends."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from dash import no_update

from atlas import classify, palettes
from atlas import mapview as view
from atlas import store as store_module
from atlas import viewstate as state
from callbacks import explorer
from ui import ids

CAMDEN = "E09000007"
KS102EW_LSOA = Path("census2011/nomis_ks102ew_lsoa11_ew/bulk.csv")
OUT = {name: i for i, name in enumerate(
    [*ids.CONTROLS, "level_options", "level_row", "variable_options", "scope_options", "scope_row",
     "breaks_row", "payload", "areas", "viewport", "outline", "state", "message", "title", "attribution",
     "selected"])}


@pytest.fixture()
def s(atlas_env: Path) -> store_module.Store:
    return store_module.get_store()


def _out(result: tuple, name: str):
    return result[OUT[name]]


def _raw_rows(raw_dir: Path) -> dict[str, dict[str, str]]:
    with open(raw_dir / KS102EW_LSOA, newline="", encoding="utf-8-sig") as handle:
        return {row["geography code"]: row for row in csv.DictReader(handle)}


def test_first_load_is_the_national_view(s: store_module.Store) -> None:
    out = explorer.render("", None)
    assert len(out) == len(OUT)
    assert _out(out, "authority") == "all" and _out(out, "level") == "lad"
    payload = _out(out, "payload")
    assert payload["all"] is True and payload["n"] == 374
    assert payload["url"] == f"/api/areas/all/lad.pbf?v={s.build_id}"
    areas = _out(out, "areas")
    assert len(areas["codes"]) == 374 == len(areas["names"])
    # Scotland and Northern Ireland: districts without small-area data are marked.
    nodata = {areas["codes"][i] for i in areas["nodata"]}
    assert len(nodata) == 374 - 331
    assert all(code[0] in "SN" for code in nodata)
    assert _out(out, "message") is None
    assert "Open Government Licence" in _out(out, "attribution")
    assert _out(out, "viewport")["transition"] == "fitBounds"


def test_camden_lsoa_values_match_the_publisher_csv(s: store_module.Store, raw_dir: Path) -> None:
    out = explorer.render(f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0018", None)
    payload, areas = _out(out, "payload"), _out(out, "areas")
    rows = _raw_rows(raw_dir)
    assert areas["key"] == payload["key"] == f"{CAMDEN}/lsoa11"
    assert len(payload["v"]) == len(areas["codes"]) == 133
    for code, value in zip(areas["codes"], payload["v"], strict=True):
        assert value == pytest.approx(float(rows[code]["Age: Mean Age; measures: Value"]))
    # A percentage: Age 65 to 74 over all usual residents, rounded as the payload says.
    out = explorer.render(f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct", None)
    payload = _out(out, "payload")
    for code, value in zip(areas["codes"], payload["v"], strict=True):
        row = rows[code]
        expected = 100 * int(row["Age: Age 65 to 74; measures: Value"]) / int(
            row["Age: All usual residents; measures: Value"])
        # The extract keeps 4 decimals and the payload rounds again, so one unit of the last place may differ.
        assert value == pytest.approx(expected, abs=1.5 * 10 ** -payload["dp"])
    # National ranks: Camden's oldest LSOA by share of 65-74s, ranked among every LSOA in England and Wales.
    old, everyone = "Age: Age 65 to 74; measures: Value", "Age: All usual residents; measures: Value"
    all_pct = {c: 100 * int(r[old]) / int(r[everyone]) for c, r in rows.items()}
    top = int(np.argmax(payload["v"]))
    code = areas["codes"][top]
    assert payload["rn"][top] == 1 + sum(v > all_pct[code] + 1e-9 for v in all_pct.values())
    assert payload["nn"] == len(all_pct)


def test_classes_agree_with_classify_and_palette(s: store_module.Store) -> None:
    out = explorer.render(f"?authority={CAMDEN}&level=oa11&variable=ks102ew0014_pct&scheme=fisher_jenks&k=6"
                          "&palette=PuOr&reverse=1", None)
    p = _out(out, "payload")
    values = np.array([np.nan if v is None else v for v in p["v"]])
    expected = classify.classify(values, "fisher_jenks", 6)
    assert p["b"] == expected.breaks and p["k"] == expected.k == 6
    assert p["c"] == palettes.colours("PuOr", 6, reverse=True)
    counts = np.bincount(classify.class_index(values, p["b"]), minlength=6)
    assert counts.tolist() == expected.counts and sum(counts) == 749


def test_national_scope_uses_every_area_for_breaks(s: store_module.Store) -> None:
    local = _out(explorer.render(f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0018", None), "payload")
    national = _out(explorer.render(f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0018&scope=national",
                                    None), "payload")
    assert national["scope"] == "national" and national["v"] == local["v"]
    reference = np.round(s.national_values("lsoa11", "ks102ew0018"), national["dp"])
    breaks = classify.classify(reference, "quantiles", 5).breaks
    assert national["b"][:-1] == breaks[:-1]
    assert national["b"] != local["b"]


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
def test_bad_urls_give_a_message_and_a_whole_view(s: store_module.Store, search: str, words: str | None) -> None:
    out = explorer.render(search, None)
    payload = _out(out, "payload")
    assert payload["v"] and payload["b"] and len(payload["c"]) == payload["k"]
    if words:
        text = " ".join(p.children for p in _out(out, "message"))
        assert words in text
    json.dumps(payload)  # plain JSON: no NaN, no numpy


def test_custom_breaks_above_nine_classes_fall_back(s: store_module.Store) -> None:
    # Nine typed breaks below the maximum make ten classes once the top class is added: refused.
    out = explorer.render("?authority=E09000007&level=lsoa11&variable=ks102ew0018&scheme=custom"
                          "&breaks=30,31,32,33,34,35,36,37,38", None)
    assert _out(out, "payload")["scheme"] == "quantiles"
    assert any("cannot be used" in p.children for p in _out(out, "message"))
    out = explorer.render("?authority=E09000007&level=lsoa11&variable=ks102ew0018&scheme=custom&breaks=35,40,50",
                          None)
    assert _out(out, "payload")["b"] == [35.0, 40.0, 50.0]
    assert _out(out, "breaks_row") == {}


def test_a_switch_sends_only_what_changed(s: store_module.Store) -> None:
    first = explorer.render(f"?authority={CAMDEN}&level=oa11&variable=ks102ew0018", None)
    previous = _out(first, "state")
    switch = explorer.render(f"?authority={CAMDEN}&level=oa11&variable=ks102ew0014_pct&k=7", previous)
    for name in ("variable_options", "areas", "viewport", "outline", "level_options", "authority", "level",
                 "palette", "scope_row"):
        assert _out(switch, name) is no_update, name
    assert _out(switch, "variable") == "ks102ew0014_pct" and _out(switch, "k") == 7
    assert _out(switch, "payload")["k"] == 7
    # The budget: at most 16 bytes per area for everything the switch sends.
    body = json.dumps([v for v in switch if v is not no_update], default=lambda o: o.to_plotly_json())
    assert len(body.encode()) <= 16 * 749, len(body)
    assert len(gzip.compress(body.encode())) < len(body) / 2


def test_controls_are_set_when_the_url_was_refused_or_history_moves(s: store_module.Store) -> None:
    first = explorer.render(f"?authority={CAMDEN}&level=lsoa11&k=5", None)
    previous = _out(first, "state")
    # The user picked a k the URL check refuses: the control must be put back to the value shown.
    out = explorer.render(f"?authority={CAMDEN}&level=lsoa11&k=12", previous)
    assert _out(out, "k") == 5
    # Back to an older view: every control that differs is set.
    out = explorer.render(f"?authority={CAMDEN}&level=lsoa11&k=4&palette=Reds&reverse=1", previous)
    assert (_out(out, "k"), _out(out, "palette"), _out(out, "reverse")) == (4, "Reds", ["1"])
    assert _out(out, "scheme") is no_update


def test_an_opacity_change_sends_no_payload(s: store_module.Store) -> None:
    first = explorer.render(f"?authority={CAMDEN}&level=oa11", None)
    out = explorer.render(f"?authority={CAMDEN}&level=oa11&opacity=0.5", _out(first, "state"))
    assert _out(out, "payload") is no_update
    assert _out(out, "opacity") == 0.5 and _out(out, "state")["state"]["opacity"] == 0.5


def test_fewer_classes_than_asked_are_explained(s: store_module.Store) -> None:
    # The City of London has 6 LSOAs: 9 quantile classes cannot be made from 6 values.
    out = explorer.render("?authority=E09000001&variable=ks102ew0018&k=9", None)
    p = _out(out, "payload")
    assert p["kr"] == 9 and p["k"] == 6 and len(p["c"]) == 6
    assert "9 classes asked, 6 given" in p["note"]


def test_changing_authority_resets_selection_and_sends_names(s: store_module.Store) -> None:
    first = explorer.render(f"?authority={CAMDEN}&level=lsoa11", None)
    out = explorer.render("?authority=E06000002", _out(first, "state"))
    assert _out(out, "level") == "lsoa11"
    assert _out(out, "selected") is None
    assert _out(out, "areas")["key"] == "E06000002/lsoa11"
    outline = _out(out, "outline")["features"][0]["geometry"]
    assert outline["type"] in ("LineString", "MultiLineString")
    # Middlesbrough has ward boundaries but no ward data (no election in 2021-22): only its LSOAs are offered.
    assert [o["value"] for o in _out(out, "level_options")] == ["lsoa11"]
    assert _out(out, "level_row") == {"display": "none"}
    camden = explorer.render(f"?authority={CAMDEN}", _out(out, "state"))
    assert [o["value"] for o in _out(camden, "level_options")] == ["lsoa11", "oa11", "lsoa21", "ward22"]
    assert _out(camden, "level_row") == {}


def test_state_store_holds_the_canonical_query(s: store_module.Store) -> None:
    out = explorer.render("?authority=e09000007&k=4", None)
    stored = _out(out, "state")
    assert stored["search"] == state.to_query(state.ViewState(authority=CAMDEN, level="lsoa11",
                                                              variable="ks102ew0018", k=4))


def test_variable_options_are_grouped_and_complete(s: store_module.Store) -> None:
    options = view.variable_options(s, CAMDEN, "oa11")
    ids_here = [o["value"] for o in options if not o.get("disabled")]
    assert sorted(ids_here) == sorted(view.available_variables(s, CAMDEN, "oa11"))
    headers = [o for o in options if o.get("disabled")]
    assert headers and all(o["value"].startswith("group:") for o in headers)
    assert len(ids_here) > 4000


def test_decimals_and_rounding() -> None:
    assert view.decimals_for(np.array([1.0, 2.0, np.nan])) == 0
    assert view.decimals_for(np.array([7.9618, 39.181])) == 3
    assert view.decimals_for(np.array([0.123456])) == 4
    assert view.decimals_for(np.array([12345.678])) == 0
    assert view.round_values(np.array([1.0, np.nan, 2.5]), 1) == [1, None, 2.5]
