"""Built indicators (issue 22 part 4): values checked against the publishers' raw tables (the CDRC Camden pack's
KS105EW at Output Areas, Nomis's TS054 for every LSOA 2021 of England and Wales), printed once by the rule of
published shares, and the same code accepted by the API, the view, compare and the explorer, with a clear
message for every bad definition (hostile ones from Hypothesis)."""

from __future__ import annotations

import csv
import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import quote, urlencode

import dash
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atlas import builder, catalogue, compare, extracts, mapview, view
from atlas import viewstate as state
from callbacks import builder as builder_callbacks
from callbacks import explorer
from web import api

CAMDEN = "E09000007"
KS105EW_OA = Path("census2011/cdrc_census_pack_camden_E09000007/tables/KS105EW_oa11.csv")
TS054_LSOA = Path("national/census2021_lsoa21/census2021-ts054-lsoa.csv")
ALONE = "b~ks105ew~2~~Older people living alone"  # KS105EW0002 / KS105EW0001
ALONE_OF_SINGLES = "b~ks105ew~2~2-3~Older people of one person households"  # 0002 / (0002 + 0003)


@pytest.fixture()
def s(atlas_env: Path) -> catalogue.Catalogue:
    return catalogue.of_request()


@pytest.fixture()
def client(atlas_env: Path):
    return api.standalone().test_client()


@pytest.fixture()
def client_app(atlas_env: Path):
    import app

    return app.server.test_client()


def _csv(path: Path, key: str) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return {row[key]: row for row in csv.DictReader(handle)}


def _printed(share: Decimal) -> str:
    """One decimal, half away from zero (shares are never negative), from the exact ratio."""
    return f"{share.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)}%"


def test_camden_output_areas_are_the_publishers_counts(s: catalogue.Catalogue, raw_dir: Path) -> None:
    raw = _csv(raw_dir / KS105EW_OA, "GeographyCode")
    for code, num, den in ((ALONE, ["KS105EW0002"], ["KS105EW0001"]),
                           (ALONE_OF_SINGLES, ["KS105EW0002"], ["KS105EW0002", "KS105EW0003"])):
        df = s.values(CAMDEN, "oa11", code)
        assert len(df) == len(raw) == 749
        for area, value in zip(df["code"], df["value"], strict=True):
            n = sum(int(raw[area][c]) for c in num)
            d = sum(int(raw[area][c]) for c in den)
            if d == 0:
                assert value != value  # no households: no share, never 0 %
            else:
                assert value == pytest.approx(n / d * 100, rel=1e-12, abs=1e-12)
    # The one-cell share is the publisher's own percentage column (KS105EW0017 = 0002 of 0001).
    df = s.values(CAMDEN, "oa11", ALONE)
    for area, value in zip(df["code"], df["value"], strict=True):
        assert value == pytest.approx(float(raw[area]["KS105EW0017"]), abs=1e-9)


def test_printed_once_half_away_and_ranked_at_full_precision(s: catalogue.Catalogue, raw_dir: Path) -> None:
    raw = _csv(raw_dir / KS105EW_OA, "GeographyCode")
    shown = view.build(s, state.ViewState(authority=CAMDEN, level="oa11", variable=ALONE_OF_SINGLES))
    details = shown.details()
    df = s.values(CAMDEN, "oa11", ALONE_OF_SINGLES)
    exact = {}
    for area in df["code"]:
        d = int(raw[area]["KS105EW0002"]) + int(raw[area]["KS105EW0003"])
        exact[area] = Decimal(int(raw[area]["KS105EW0002"]) * 100) / Decimal(d) if d else None
    for area, text in zip(df["code"], details["text"], strict=True):
        if exact[area] is not None:
            assert text == _printed(exact[area]), area
    # Ranks: 1 = highest exact share; equal exact shares share a rank, whatever their printed figure.
    ranked = sorted((v, a) for a, v in exact.items() if v is not None)
    rank = dict(zip(df["code"], df["rank"], strict=True))
    for (v1, a1), (v2, a2) in zip(ranked, ranked[1:], strict=False):
        assert (rank[a1] > rank[a2]) if v1 < v2 else (rank[a1] == rank[a2])


def test_every_lsoa_of_england_and_wales_is_the_nomis_table(s: catalogue.Catalogue, raw_dir: Path) -> None:
    # Owned outright as a share of owned homes (a part over its subtotal): cells 3 over 2 of TS054.
    table = s.built_tables()["ts054"]
    labels = {n: c["label"] for n, c in enumerate(table.cells, 1)}
    assert labels[2].startswith("Owned (") and labels[3].startswith("Owned: Owns outright")
    code = "b~ts054~3~2~Owned outright of owned homes"
    raw = _csv(raw_dir / TS054_LSOA, "geography code")
    df = s.values("all", "lsoa21", code)
    assert len(df) == len(raw) > 35_000
    for area, value, rank_n in zip(df["code"], df["value"], df["rank_national"], strict=True):
        row = raw[area]
        n, d = int(row["Tenure of household: Owned: Owns outright"]), int(row["Tenure of household: Owned"])
        assert value == pytest.approx(n / d * 100, rel=1e-12) if d else value != value
        assert rank_n is not None or d == 0
    assert s.variable(code)["national_levels"] == ["lsoa21"]


def test_the_definition_is_in_the_notes_and_every_download(s: catalogue.Catalogue, client) -> None:
    row = s.variable(ALONE_OF_SINGLES)
    assert row["built"]["numerator_labels"] == ["One person household: Aged 65 and over"]
    assert row["built"]["denominator_labels"] == ["One person household: Aged 65 and over",
                                                  "One person household: Other"]
    assert "KS105EW0002" in row["cells"] and "KS105EW0003" in row["cells"]
    shown = view.build(s, state.ViewState(authority=CAMDEN, level="oa11", variable=ALONE_OF_SINGLES))
    notes = " ".join(shown.legend()["notes"]) if hasattr(shown, "legend") else ""
    body = client.get("/api/view.json?" + urlencode({"authority": CAMDEN, "level": "oa11",
                                                    "variable": ALONE_OF_SINGLES})).get_json()
    notes = " ".join(body["notes"]) + notes
    assert "One person household: Other" in notes and "KS105EW" in notes
    base = f"/api/values/{CAMDEN}/oa11/{quote(ALONE_OF_SINGLES)}"
    meta = client.get(base + ".csv-metadata.json")
    assert meta.status_code == 200
    text = meta.get_data(as_text=True)
    assert "One person household: Other" in text and "open-government-licence" in text
    csv_body = client.get(base + ".csv")
    assert csv_body.status_code == 200 and csv_body.get_data(as_text=True).startswith("code,")
    geo = client.get(base + ".geojson").get_json()
    assert "KS105EW0003" in json.dumps(geo["variable"])
    assert client.get(base + ".gpkg").status_code == 200
    assert client.get(f"/api/variables/{quote(ALONE_OF_SINGLES)}").get_json()["built"]["table"] == "ks105ew"


def test_tables_and_cells_are_listed(client) -> None:
    here = client.get(f"/api/builder?authority={CAMDEN}&level=oa11").get_json()
    assert "ks105ew" in {t["table"] for t in here["tables"]}
    wales = client.get("/api/builder?authority=all&level=lsoa21").get_json()
    assert "ts054" in {t["table"] for t in wales["tables"]} and "ks105ew" not in {t["table"] for t in wales["tables"]}
    cells = client.get("/api/builder/ks105ew").get_json()
    assert cells["cells"][1] == {"cell": 2, "id": "ks105ew0002", "label": "One person household: Aged 65 and over",
                                 "publisher_cell": "KS105EW0002", "total": 1}
    assert cells["totals"] == [{"cell": 1, "id": "ks105ew0001", "label": "All categories: Household composition"}]
    assert client.get("/api/builder/nope").status_code == 404
    assert client.get("/api/builder?authority=E09000007").status_code == 400
    assert client.get("/api/builder?authority=E09000007&level=zz").status_code == 404


@pytest.mark.parametrize(("code", "words"), [
    ("b~ks105ew~~~Name", "numerator is empty"),
    ("b~ks105ew~2~~", "no name"),
    ("b~ks105ew~2~~" + "x" * 61, "at most 60"),
    ("b~ks105ew~2~~<b>bold</b>", "characters it may not"),
    ("b~ks105ew~2~~One, two", "characters it may not"),
    ("b~ks105ew~2~~two  spaces", "two spaces"),
    ("b~ks105ew~99~~Name", "no numerator cell 99"),
    ("b~ks105ew~2-2~~Name", "listed twice"),
    ("b~ks105ew~0~~Name", "no cell 0"),
    ("b~ks105ew~2,3~~Name", "not cell numbers"),
    ("b~nope~1~~Name", "no census table 'nope'"),
    ("b~KS105EW~1~~Name", "not a table id"),
    ("b~ks105ew~2", "four parts"),
    ("b~qs211ew~" + "-".join(map(str, range(100, 139))) + "~~Many cells" + " x" * 20, "more than an address holds"),
    ("b~ts054~2-3~~Owned twice", "its part"),
    ("b~ts054~3~4~Outright of mortgaged", "not within the denominator"),
    ("b~ts054~1~2-3~Name", "its part"),
])
def test_bad_definitions_are_refused_naming_what_is_wrong(s: catalogue.Catalogue, client, code: str,
                                                          words: str) -> None:
    with pytest.raises(extracts.NotFound) as caught:
        s.variable(code)
    assert words in caught.value.message
    # The view's JSON takes any text (a "/" in a path segment is no route at all: Flask's own 404).
    response = client.get("/api/view.json?" + urlencode({"authority": CAMDEN, "level": "oa11", "variable": code}))
    body = response.get_json()
    if len(code) > state.MAX_VALUE:  # the address refuses it whole first, saying so
        assert response.status_code == 400 and "too long" in body["error"], body
    else:
        assert response.status_code == 404 and words in body["error"], body
    if "/" not in code:
        response = client.get(f"/api/values/{CAMDEN}/lsoa11/{quote(code, safe='')}.json")
        body = response.get_json()
        assert response.status_code == 400 and words in body["error"], body


def test_a_code_fits_in_an_address() -> None:
    assert builder.MAX_CODE == state.MAX_VALUE


def test_cells_of_two_universes_are_refused() -> None:
    rows = [{"id": "t1", "dataset": "t", "unit": "count", "method": "published", "cell": "T1", "label": "All people"},
            {"id": "t2", "dataset": "t", "unit": "count", "method": "published", "cell": "T2", "label": "Children"},
            {"id": "t3", "dataset": "t", "unit": "count", "method": "published", "cell": "T3", "label": "All homes"},
            {"id": "t4", "dataset": "t", "unit": "count", "method": "published", "cell": "T4", "label": "Flats"},
            {"id": "t2_pct", "dataset": "t", "unit": "percentage", "cell": "T2", "denominator": "t1", "label": "%"},
            {"id": "t4_pct", "dataset": "t", "unit": "percentage", "cell": "T4", "denominator": "t3", "label": "%"}]
    table = builder.tables(rows)["t"]
    assert table.universe == ("t1", "t1", "t3", "t3")  # each cell's total
    with pytest.raises(builder.BuiltError, match="different universes"):
        builder.row(table, "b~t~2~3~x", builder.parse("b~t~2~3~x"))
    with pytest.raises(builder.BuiltError, match="different universes"):
        builder.row(table, "b~t~2-4~~x", builder.parse("b~t~2-4~~x"))
    assert builder.row(table, "b~t~4~~Flats", builder.parse("b~t~4~~Flats"))["built"]["denominator"] == ["t3"]


_CODE_ALPHABET = st.sampled_from(list("b~-0123456789 ks105ewts054_'(),+%<>\"\\/\x00é;.&="))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tail=st.one_of(
    st.text(_CODE_ALPHABET, max_size=60),
    st.builds(lambda t, n, d, name: f"{t}~{n}~{d}~{name}",
              st.sampled_from(["ks105ew", "ts054", "ks102ew", "qs211ew", "x", ""]),
              st.text(st.sampled_from(list("0123456789-")), max_size=12),
              st.text(st.sampled_from(list("0123456789-")), max_size=12),
              st.text(max_size=70))))
def test_hostile_definitions_get_an_answer_never_a_crash(s: catalogue.Catalogue, client, tail: str) -> None:
    code = "b~" + tail
    try:
        row = s.variable(code)
    except extracts.NotFound as exc:
        assert exc.message and exc.status in (400, 404)
    else:
        assert row["unit"] == "percentage" and row["built"]["numerator"]
    response = client.get(f"/api/values/{CAMDEN}/oa11/{quote(code, safe='')}.json")
    assert response.status_code in (200, 400, 404), response.get_data(as_text=True)[:300]
    assert response.status_code != 404 or "/" in code or "no data" in response.get_json()["error"]
    if response.status_code == 200:
        values = [r["value"] for r in response.get_json()["rows"] if r["value"] is not None]
        assert all(0 <= v <= 100 for v in values)
    resolved = state.resolve({"authority": CAMDEN, "level": "oa11", "variable": code}, s,
                             lambda a, lv: mapview.available_variables(s, a, lv))
    assert resolved.state.variable == code or resolved.messages


def test_the_address_compare_and_the_explorer_take_it(s: catalogue.Catalogue) -> None:
    raw = {"authority": CAMDEN, "level": "oa11", "variable": ALONE}
    available = lambda a, lv: mapview.available_variables(s, a, lv)  # noqa: E731
    resolved = state.resolve(raw, s, available)
    assert resolved.state.variable == ALONE and not resolved.messages
    assert state.resolve({"authority": CAMDEN, "variable": ALONE}, s, available).state.level == "lsoa11"
    back = state.parse_query(state.to_query(resolved.state))[0]
    assert back["variable"] == ALONE
    # Where its table has no data: the place's default, saying why.
    elsewhere = state.resolve({"authority": "E08000009", "level": "lsoa11", "variable": ALONE}, s, available)
    assert elsewhere.state.variable != ALONE and "Older people living alone" in " ".join(elsewhere.messages)
    bad = state.resolve({"authority": CAMDEN, "level": "oa11", "variable": "b~ks105ew~99~~X"}, s, available)
    assert "no numerator cell 99" in " ".join(bad.messages)
    # Compare: a built indicator as variable B, and as A against a published B.
    base = state.resolve({"authority": CAMDEN, "level": "oa11", "variable": "ks102ew0018"}, s, available).state
    ids = mapview.available_variables(s, CAMDEN, "oa11")
    cmp, messages = compare.resolve_compare({"view": "compare", "variable_b": ALONE}, base, s, ids, [])
    assert cmp.variable_b == ALONE and not messages
    cmp, messages = compare.resolve_compare({"view": "compare", "variable_b": "b~ks105ew~2~~<x>"}, base, s, ids, [])
    assert cmp.variable_b != "b~ks105ew~2~~<x>" and "characters it may not" in messages[0]
    # The explorer, opened by a link holding one.
    r = explorer.render_view("?" + urlencode(raw), None, s)
    assert r.state.variable == ALONE and not r.messages and r.title.startswith("Older people living alone")
    assert r.variable_options == [{"label": "Older people living alone", "value": ALONE}]


def test_the_form_makes_the_code_and_maps_it(s: catalogue.Catalogue) -> None:
    stored = {"state": state.ViewState(authority=CAMDEN, level="oa11", variable="ks102ew0018").as_dict()}
    options, value, *_, listed = builder_callbacks.tables(stored, None)
    assert {"label": "KS105EW Household composition (ks105ew)", "value": "ks105ew"} in options and value is None
    assert builder_callbacks.tables(stored, None, listed) == (dash.no_update,) * 6  # same place: nothing sent
    num, den, total, *_ = builder_callbacks.cells("ks105ew", [], [])
    assert num[1] == {"label": "2. One person household: Aged 65 and over", "value": 2} and num == den
    assert total == "The table's total: All categories: Household composition."
    nav, status = builder_callbacks.build(1, "ks105ew", [2], [2, 3], "Older people of one person households", stored)
    query = state.parse_query(nav["search"])[0]
    assert nav["push"] is True and query["variable"] == ALONE_OF_SINGLES and query["authority"] == CAMDEN
    assert status.startswith("Mapped Older people of one person households")
    for args, words in (((None, [2], [], "x"), "choose a census table"), (("ks105ew", [], [], "x"), "tick at least"),
                        (("ks105ew", [2], [], " "), "give the indicator a name"),
                        (("ks105ew", [2], [], "a<b"), "characters it may not"),
                        (("ts054", [3], [], "Outright"), "no data for this place")):
        _, status = builder_callbacks.build(1, *args, stored)
        assert status.startswith("Not mapped") and words in status, status
    # A map showing a built indicator fills the form with its definition.
    shown = {"state": {**stored["state"], "variable": ALONE_OF_SINGLES}}
    _, table, name, numerator, denominator, _ = builder_callbacks.tables(shown, None, listed)
    assert (table, name, numerator, denominator) == ("ks105ew", "Older people of one person households", [2], [2, 3])


def test_a_profile_sums_its_cells_over_areas_of_two_districts(s: catalogue.Catalogue, raw_dir: Path) -> None:
    # A set of LSOAs across Trafford and Manchester: summed counts over summed denominators, from TS054 itself.
    from atlas import profile

    code = "b~ts054~3~2~Owned outright of owned homes"
    raw = _csv(raw_dir / TS054_LSOA, "geography code")
    trafford = list(s.values("E08000009", "lsoa21", code)["code"][:20])
    manchester = list(s.values("E08000003", "lsoa21", code)["code"][:20])
    codes = tuple(sorted(trafford + manchester))
    subject = profile.Subject(code="test", name="Two districts", kind="saved", level="lsoa21", codes=codes,
                              authorities=("E08000003", "E08000009"))
    got = profile.values_for(s, subject, (code, "ts054_owned_pct"))
    n = sum(int(raw[c]["Tenure of household: Owned: Owns outright"]) for c in codes)
    d = sum(int(raw[c]["Tenure of household: Owned"]) for c in codes)
    assert got[0] == pytest.approx(n / d * 100, rel=1e-12)
    mean_of_shares = sum(int(raw[c]["Tenure of household: Owned: Owns outright"])
                         / int(raw[c]["Tenure of household: Owned"]) for c in codes) / len(codes) * 100
    assert abs(got[0] - mean_of_shares) > 1e-6  # not an average of the areas' shares
    rule = profile.aggregate([s.variable(code)], pd.DataFrame(columns=["code"]))[code]["rule"]
    assert rule == "share"


def test_areas_like_mine_take_a_built_indicator(client_app) -> None:
    code = "b~ts054~3~2~Owned outright of owned homes"
    response = client_app.get("/api/similar/lsoa21/E01006238.json?n=3&variables=" + quote(f"{code},ts054_owned_pct"))
    body = response.get_json()
    assert response.status_code == 200 and body["indicators"][0]["label"] == "Owned outright of owned homes"


def test_the_variable_lists_keep_a_built_indicator(s: catalogue.Catalogue) -> None:
    from callbacks import compare as compare_callbacks

    options = compare_callbacks._b_options(s, {"authority": CAMDEN, "level": "oa11"}, ALONE)
    assert options[-1] == {"label": "Older people living alone (built)", "value": ALONE}
    assert "ks105ew0002_pct" in {o["value"] for o in options}  # beside its table's own variables
    group = mapview.group_key(s.variable(ALONE))
    listed = mapview.with_built_option(s, mapview.variable_options(s, CAMDEN, "oa11", group=group), ALONE, CAMDEN,
                                       "oa11")
    assert listed[-1]["value"] == ALONE and len(listed) > 2
    assert mapview.with_built_option(s, [{"label": "x", "value": "x"}], ALONE, "E08000009", "lsoa11") == [
        {"label": "x", "value": "x"}]  # no data there: not offered
