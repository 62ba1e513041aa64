"""Categorical variables, change variables, estimates and coverage, as the app serves them (issue 9).

Checked against the publishers' raw files read here independently: the rural-urban classification and the
Output Area Classification (codes and labels exact), the 2022 ward results (the winner recomputed from the
votes, including the ward code the source uses twice), and the ONS LSOA 2011 -> 2021 lookup (which areas
are estimates). Legends (labels, counts, colours), exports (the legend's rows read back from the SVG's
text), downloads in every format, the centred classes of change variables and the coverage messages.
"""

from __future__ import annotations

import colorsys
import csv
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from pathlib import Path

import geopandas
import pandas as pd
import pyarrow.parquet as pq
import pytest

from atlas import catalogue, mapview, palettes
from atlas import view as atlas_view
from atlas import viewstate as state
from callbacks import explorer

LEEDS, BIRMINGHAM, LIVERPOOL, CARDIFF = "E08000035", "E08000025", "E08000012", "W06000015"
RICHMOND, TOWER_HAMLETS = "E09000027", "E09000030"
RUC = ("national/classifications/Rural_Urban_Classification_(2011)_of_Lower_Layer_Super_Output_Areas_in_England_"
       "and_Wales.csv")
OAC = "national/classifications/2011oacclustersandnamescsvv3.zip"
RESULTS_2022 = "national/elections/results/local-elections-2022_Wards-results-Table 1.csv"
EXACT = "later/lookups/Exact_LSOA11_to_LSOA21_to_LAD22_EW.csv"
#: ColorBrewer's Set2, as published on colorbrewer2.org (qualitative, 8 classes).
SET2 = ["#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854", "#ffd92f", "#e5c494", "#b3b3b3"]


@pytest.fixture()
def client(atlas_env: Path):
    import app as app_module

    return app_module.server.test_client()


@pytest.fixture()
def s(atlas_env: Path) -> catalogue.Catalogue:
    return catalogue.build()


@pytest.fixture(scope="module")
def ruc(raw_dir: Path) -> dict[str, tuple[str, str]]:
    with open(raw_dir / RUC, newline="", encoding="utf-8-sig") as handle:
        return {r["LSOA11CD"]: (r["RUC11CD"], r["RUC11"]) for r in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def oac(raw_dir: Path) -> dict[str, dict[str, str]]:
    with zipfile.ZipFile(raw_dir / OAC) as archive:
        text = archive.read("2011 OAC Clusters and Names Excel v3.csv").decode("utf-8")
    return {r["Output Area Code"]: r for r in csv.DictReader(io.StringIO(text))}


@pytest.fixture(scope="module")
def lookup(raw_dir: Path) -> list[dict[str, str]]:
    with open(raw_dir / EXACT, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _view(s, authority: str, level: str, variable: str, **keys) -> atlas_view.View:
    """The view an address naming these keys opens (the palette only when given: each variable has its own
    default)."""
    raw, _ = state.parse_query(state.to_query(state.ViewState(authority=authority, level=level, variable=variable,
                                                              **keys)))
    if "palette" not in keys:
        del raw["palette"]
    resolved = state.resolve(raw, s, lambda a, lv: mapview.available_variables(s, a, lv))
    assert resolved.state.variable == variable, resolved.messages
    return atlas_view.build(s, resolved.state)


def _svg_texts(response) -> list[str]:
    root = ET.fromstring(response.data)
    return ["".join(el.itertext()) for el in root.iter() if el.tag.endswith("text")]


# -- codes exact against the raw files ------------------------------------------------------------------------

def test_rural_urban_codes_and_labels_are_the_publishers(client, ruc) -> None:
    body = client.get(f"/api/values/{LEEDS}/lsoa11/ruc11.json").get_json()
    assert body["variable"]["kind"] == "categorical" and body["ranked"] is False
    assert len(body["rows"]) == 482
    for row in body["rows"]:
        code, label = ruc[row["code"]]
        assert (row["value"], row["label"]) == (code, label)
        assert row["rank"] is None and row["rank_national"] is None
    csv_rows = list(csv.DictReader(io.StringIO(client.get(f"/api/values/{LEEDS}/lsoa11/ruc11.csv").data.decode())))
    assert list(csv_rows[0]) == ["code", "name", "full_name", "value", "label", "rank", "rank_national"]
    assert [(r["value"], r["label"]) for r in csv_rows] == [ruc[r["code"]] for r in csv_rows]


def test_output_area_classification_codes_and_labels_are_the_publishers(client, oac) -> None:
    for variable, code_key, name_key in (("oac11_supergroup", "Supergroup Code", "Supergroup Name"),
                                         ("oac11_group", "Group Code", "Group Name")):
        rows = client.get(f"/api/values/{LIVERPOOL}/oa11/{variable}.json").get_json()["rows"]
        assert len(rows) == 1584
        for row in rows:
            raw = oac[row["code"]]
            assert raw["Local Authority Code"] == LIVERPOOL
            assert (row["value"], row["label"]) == (raw[code_key], raw[name_key])


def _winners(raw_dir: Path) -> dict[tuple[str, str], str | None]:
    """The party with the most votes in each ward row of the 2022 results, by (ward code, ward name), from the
    raw table (None on a tie, or where a lost cell reading TRUE could change it)."""
    with open(raw_dir / RESULTS_2022, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = [h.strip() for h in rows[1]]
    parties = header[header.index("Turnout (%)") + 1:header.index("Total votes")]
    out = {}
    for r in rows[2:]:
        row = {h: v.strip() for h, v in zip(header, r, strict=True) if h}
        votes = {p: float(row[p].replace(",", "")) for p in parties
                 if row[p] not in ("", "-", "TRUE") and float(row[p].replace(",", "")) > 0}
        if any(row[p] == "TRUE" for p in parties) or not votes:
            continue
        best = max(votes.values())
        leaders = [p for p, v in votes.items() if v == best]
        out[(row["Ward code"], row["Ward name"])] = leaders[0] if len(leaders) == 1 else None
    return out


def test_election_winners_recomputed_from_the_votes_including_the_reused_codes(client, s, raw_dir) -> None:
    winners = _winners(raw_dir)
    rows = {r["code"]: r for r in client.get(f"/api/values/{BIRMINGHAM}/ward22/le2022_winner.json")
            .get_json()["rows"]}
    checked = 0
    for (code, _), party in winners.items():
        if code in rows:
            assert rows[code]["value"] == party, code
            checked += 1
    assert checked == 63  # every Birmingham ward but the 6 whose row has a cell reading TRUE (a lost number)
    assert rows["E05011119"]["label"] == "Labour"
    # E05013778 is the source's code of both Hampton and Hampton Wick: each ward has its own row's winner.
    richmond = {r["code"]: r for r in client.get(f"/api/values/{RICHMOND}/ward22/le2022_winner.json")
                .get_json()["rows"]}
    assert richmond["E05013778"]["value"] == winners[("E05013778", "Hampton")] == "LD"
    assert richmond["E05013780"]["value"] == winners[("E05013778", "Hampton Wick")] == "LD"
    # E05009317, Bethnal Green East and West in the source: which is which cannot be told, so no winner.
    hamlets = {r["code"]: r for r in client.get(f"/api/values/{TOWER_HAMLETS}/ward22/le2022_winner.json")
               .get_json()["rows"]}
    assert hamlets["E05009317"]["value"] is None and hamlets["E05009317"]["label"] is None
    shown = _view(s, TOWER_HAMLETS, "ward22", "le2022_winner")
    at = shown.areas.codes.index("E05009317")
    assert shown.areas.classes[at] == -1 and shown.missing >= 1
    # and says why (issue 17 §7): the source's reused code, which no single ward's name matches
    assert shown.areas.text[at] == ("no data: no result: the source uses this ward's code for two rows and no "
                                    "single ward's name matches")


# -- legends: labels, counts, colours ---------------------------------------------------------------------------

def test_rural_urban_legend_lists_the_categories_present_with_counts_and_colours(s, ruc) -> None:
    shown = _view(s, LEEDS, "lsoa11", "ruc11", scheme="fisher_jenks", k=7, palette="Reds")
    codes = [ruc[c][0] for c in shown.areas.codes]
    counts = Counter(codes)
    order = ["A1", "B1", "C1", "C2", "D1", "D2", "E1", "E2"]  # the publisher's order
    present = [c for c in order if counts[c]]
    assert [c.code for c in shown.classes] == present == ["A1", "C1", "D1", "E1"]
    assert [c.label for c in shown.classes] == [f"{dict(ruc.values())[c]} ({c})" for c in present]
    assert [c.count for c in shown.classes] == [counts[c] for c in present]
    # No publisher colours: Set2 by the category's place in the classification, the same in every authority.
    assert [c.colour for c in shown.classes] == [SET2[order.index(c)] for c in present]
    # Classification settings do not apply: no scheme, breaks or histogram, nothing ranked.
    assert shown.scheme == atlas_view.CATEGORY_SCHEME and shown.histogram is None and shown.ranked is False
    legend = shown.legend()
    assert legend["title"] == "Rural-urban classification (2011)"
    assert legend["method"] == "4 categories present of the 8 of the classification, in its order"
    assert [r["label"] for r in legend["rows"]] == [c.label for c in shown.classes]
    paint = shown.paint()
    assert paint["cls"] == "".join(atlas_view.CLASS_ALPHABET[present.index(c)] for c in codes)
    assert paint["columns"] == [["name", "Area"], ["class", "Category"]]


def test_party_colours_come_from_the_catalogue(s) -> None:
    shown = _view(s, BIRMINGHAM, "ward22", "le2022_winner")
    conventional = {c["code"]: c["colour"] for c in s.variable("le2022_winner")["categories"] if c["colour"]}
    assert {c.code: c.colour for c in shown.classes} == {c.code: conventional[c.code] for c in shown.classes}
    assert dict((c.code, c.colour) for c in shown.classes)["LAB"] == "#e4003b"
    assert sum(c.count for c in shown.classes) + shown.missing == 69


def test_oac_groups_take_shades_of_their_supergroups_colour(s, oac) -> None:
    supergroups = _view(s, LIVERPOOL, "oa11", "oac11_supergroup")
    groups = _view(s, LIVERPOOL, "oa11", "oac11_group")
    assert {c.code: c.colour for c in supergroups.classes} == {c.code: SET2[int(c.code) - 1]
                                                                for c in supergroups.classes}
    counts = Counter(oac[c]["Group Code"] for c in groups.areas.codes)
    assert {c.code: c.count for c in groups.classes} == dict(counts)
    assert len(groups.classes) == 23 and len({c.colour for c in groups.classes}) == 23
    for c in groups.classes:
        parent = colorsys.rgb_to_hls(*[int(SET2[int(c.code[0]) - 1][i:i + 2], 16) / 255 for i in (1, 3, 5)])
        own = colorsys.rgb_to_hls(*[int(c.colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])
        assert abs(own[0] - parent[0]) < 0.02 or parent[2] < 0.05, c.code  # the same hue (greys have none)
    # 23 classes: the paint needs letters beyond the ten digits.
    assert set(groups.paint()["cls"]) - set("0123456789-")


def test_more_categories_than_a_scheme_holds_fall_back_as_documented() -> None:
    categories = [{"code": f"P{i}", "label": f"Party {i}", "colour": None} for i in range(20)]
    categories[0]["colour"] = "#e4003b"
    colours, note = atlas_view.category_colours(categories, ["P0", "P3", "P7", "P12"])
    # Nineteen without a colour and no hierarchy: only those present are coloured, in order, from Set2 (up to
    # 8 present; Set3 up to 12).
    assert colours == {"P0": "#e4003b", "P3": SET2[0], "P7": SET2[1], "P12": SET2[2]}
    assert "present here" in note
    many, _ = atlas_view.category_colours([{"code": f"C{i}", "label": "", "colour": None} for i in range(30)],
                                          [f"C{i}" for i in range(30)])
    assert len(set(many.values())) == 30  # beyond Set3's 12: evenly spaced hues, all different


# -- the explorer: controls hidden, a message when the address set them ---------------------------------------

def test_the_explorer_hides_the_classification_controls_for_categories(s) -> None:
    r = explorer.render_view(f"?authority={LEEDS}&level=lsoa11&variable=ruc11&scheme=fisher_jenks&k=7", None, s)
    assert r.categorical and r.payload["details"] is None and r.payload["categorical"]
    assert any("scheme, k do not apply to a categorical variable" in m for m in r.messages)
    assert r.state.scheme == "fisher_jenks" and r.state.k == 7  # kept for the next numeric variable
    out = explorer.render({"search": f"?authority={LEEDS}&level=lsoa11&variable=ruc11"}, *([None] * 10), None)
    rows = out[-2 - len(explorer.ids.CLASSIFICATION_ROWS):-2]
    assert rows == tuple({"display": "none"} for _ in rows) and out[-2] is False and "category" in out[-1]
    assert not any("apply" in p.children for p in out[explorer._MESSAGE_AT] or [])
    numeric = explorer.render({"search": f"?authority={LEEDS}&level=lsoa11&variable=ks102ew0018"},
                              *([None] * 10), out[explorer._MESSAGE_AT - 1])
    assert numeric[-2] is True and all(row == {} for row in numeric[-2 - len(rows):-2])


def test_a_change_variable_gets_its_diverging_palette_unless_one_was_chosen(s) -> None:
    first = explorer.render_view(f"?authority={BIRMINGHAM}&level=lsoa11&variable=ks102ew0018", None, s)
    assert first.state.palette == palettes.DEFAULT_PALETTE
    controls = {**first.state.as_dict(), "variable": "chg_tenure_owned_pp", "reverse": []}
    search = explorer.search_from_controls(controls, first.canonical["state"], first.canonical["palette_default"])
    assert state.parse_query(search)[0].get("palette") is None  # the shown palette was the default: dropped
    changed = explorer.render_view(search, first.canonical, s, "control")
    assert changed.state.palette == "RdBu"
    chosen = {**controls, "palette": "Greens"}
    search = explorer.search_from_controls(chosen, first.canonical["state"], first.canonical["palette_default"])
    assert explorer.render_view(search, first.canonical, s, "control").state.palette == "Greens"


# -- change variables: classes centred on zero ----------------------------------------------------------------

@pytest.mark.parametrize("scheme", ["quantiles", "equal_interval", "fisher_jenks", "std_mean"])
@pytest.mark.parametrize(("authority", "variable"), [(BIRMINGHAM, "chg_tenure_owned_pp"),
                                                     (LEEDS, "chg_heating_none_rel"),
                                                     (CARDIFF, "chg_accommodation_flats_pp")])
def test_change_classes_are_centred_on_zero(s, scheme, authority, variable) -> None:
    shown = _view(s, authority, "lsoa11", variable, scheme=scheme)
    assert shown.state.palette == "RdBu" and s.variable(variable)["centre"] == 0
    values = [v for v in shown.areas.values if v is not None]
    assert min(values) < 0 < max(values)
    assert 0.0 in shown.breaks  # a break at the centre
    below = [c for c in shown.classes if c.upper <= 0]
    above = [c for c in shown.classes if c.upper > 0]
    for value, cls in zip(shown.areas.values, shown.areas.classes, strict=True):
        if value is not None:
            assert (value <= 0) == (shown.classes[cls].upper <= 0)
    side = max(len(below), len(above))
    full = palettes.colours("RdBu", max(3, 2 * side))
    if side == 1:
        full = [full[0], full[2]]
    reds, blues = full[:len(full) // 2], full[len(full) // 2:]
    # Falls in red, lightest next to 0; rises in blue, lightest next to 0.
    assert [c.colour for c in below] == reds[len(reds) - len(below):]
    assert [c.colour for c in above] == blues[:len(above)]
    assert any("at or below 0.0" in n for n in shown.notes)


# -- estimates: the re-based figures of merged LSOAs ----------------------------------------------------------

def test_estimate_flags_are_the_lookups_merged_lsoas(client, s, lookup) -> None:
    here = [r for r in lookup if r["LAD22CD"] == BIRMINGHAM]
    merged = sorted({r["LSOA11CD"] for r in here if r["CHGIND"] in ("M", "X")})
    # Worked by hand from the lookup: Birmingham 058D and 058E became one 2021 LSOA, Birmingham 058G.
    assert merged == ["E01009198", "E01033647"]
    assert {r["LSOA21CD"] for r in here if r["LSOA11CD"] in merged} == {"E01034935"}
    kinds = Counter({"U": "unchanged", "S": "split", "M": "merged", "X": "complex"}[r["CHGIND"]]
                    for r in {r["LSOA11CD"]: r for r in here}.values())
    assert client.get(f"/api/authorities/{BIRMINGHAM}").get_json()["lsoa11_lsoa21"] == {
        "unchanged": kinds["unchanged"], "split": kinds["split"], "merged": kinds["merged"], "complex": 0,
        "estimated": 2, "areas": 639}
    for variable in ("ts054_lsoa11_owned_pct", "chg_tenure_owned_pp"):
        body = client.get(f"/api/values/{BIRMINGHAM}/lsoa11/{variable}.json").get_json()
        assert sorted(r["code"] for r in body["rows"] if r["estimated"]) == merged
        assert body["estimates"]["count"] == 2 and body["estimates"]["lsoa11_lsoa21"]["merged"] == 2
        text = client.get(f"/api/values/{BIRMINGHAM}/lsoa11/{variable}.csv").data.decode()
        flags = {r["code"]: r["estimated"] for r in csv.DictReader(io.StringIO(text))}
        assert {c for c, f in flags.items() if f == "true"} == set(merged) and set(flags.values()) == {"true", "false"}
        twin = client.get(f"/api/view.json?authority={BIRMINGHAM}&level=lsoa11&variable={variable}").get_json()
        assert sorted(a["code"] for a in twin["areas"] if a["estimated"]) == merged
        assert twin["estimates"]["count"] == 2
    # A figure that is not re-based carries no flag at all.
    plain = client.get(f"/api/values/{BIRMINGHAM}/lsoa11/ks402ew0002_pct.json").get_json()
    assert "estimated" not in plain["rows"][0] and "estimates" not in plain
    geo = client.get(f"/api/values/{BIRMINGHAM}/lsoa11/chg_tenure_owned_pp.geojson").get_json()
    assert sorted(f["properties"]["code"] for f in geo["features"] if f["properties"]["estimated"]) == merged


def test_the_exports_legend_counts_the_estimates(client) -> None:
    response = client.get(f"/export/map.svg?authority={BIRMINGHAM}&level=lsoa11&variable=chg_tenure_owned_pp")
    assert response.status_code == 200
    text = " ".join(_svg_texts(response))
    assert "2 of these 639 areas' figures are estimates" in text
    assert "616 are unchanged since 2011, 21 split" in text


# -- exports and downloads with categories ---------------------------------------------------------------------

def test_the_export_legend_lists_the_categories_with_their_counts(client, s, oac) -> None:
    response = client.get(f"/export/map.svg?authority={LIVERPOOL}&level=oa11&variable=oac11_group")
    assert response.status_code == 200
    texts = _svg_texts(response)
    counts = Counter((r["Group Code"], r["Group Name"]) for r in oac.values()
                     if r["Local Authority Code"] == LIVERPOOL)
    codes = [c["code"] for c in s.variable("oac11_group")["categories"]]
    expected = sorted(counts, key=lambda c: codes.index(c[0]))
    rows = [t for t in texts if t.endswith(")") and any(t == f"{name} ({code})" for code, name in counts)]
    assert rows == [f"{name} ({code})" for code, name in expected]
    numbers = [t for t in texts if t.endswith((" areas", " area")) and "·" not in t]  # not the subtitle
    assert numbers == [f"{counts[c]:,} area{'s' if counts[c] != 1 else ''}" for c in expected]
    assert "Categories: the publisher's codes and labels." in texts
    png = client.get(f"/export/map.png?authority={LIVERPOOL}&level=oa11&variable=oac11_group")
    assert png.status_code == 200 and png.mimetype == "image/png"


def test_downloads_carry_the_code_and_label_in_every_format(client, tmp_path, ruc) -> None:
    base = f"/api/values/{LEEDS}/lsoa11/ruc11"
    geo = client.get(base + ".geojson").get_json()
    assert geo["variable"]["kind"] == "categorical" and geo["variable"]["categories"][0]["code"] == "A1"
    for f in geo["features"]:
        assert (f["properties"]["value"], f["properties"]["label"]) == ruc[f["properties"]["code"]]
    (tmp_path / "v.gpkg").write_bytes(client.get(base + ".gpkg").data)
    gpkg = geopandas.read_file(tmp_path / "v.gpkg", engine="pyogrio")
    parquet = pd.read_parquet(io.BytesIO(client.get(base + ".parquet").data))
    for frame in (gpkg, parquet):
        assert list(frame.columns[:5]) == ["code", "name", "full_name", "value", "label"]
        assert [(v, lab) for v, lab in zip(frame["value"], frame["label"], strict=True)] == \
            [ruc[c] for c in frame["code"]]
    meta = json.loads(pq.read_metadata(io.BytesIO(client.get(base + ".parquet").data)).metadata[b"atlas"])
    assert meta["kind"] == "categorical" and len(meta["categories"]) == 8


def test_the_datapack_keeps_codes_as_text_with_their_labels(client, ruc) -> None:
    import zipfile as zf

    pack = zf.ZipFile(io.BytesIO(client.get(f"/datapack/{CARDIFF}.zip").data))
    frame = pd.read_parquet(io.BytesIO(pack.read("lsoa11/values_ruc11.parquet")))
    assert [(c, lab) for c, lab in zip(frame["ruc11"], frame["ruc11_label"], strict=True)] == \
        [ruc[c] for c in frame["code"]]
    definitions = {r["id"]: r for r in csv.DictReader(io.StringIO(pack.read("variables.csv").decode()))}
    assert definitions["ruc11"]["kind"] == "categorical"
    assert definitions["ruc11"]["categories"].startswith("A1=Urban major conurbation; B1=")
    lookup = list(csv.DictReader(io.StringIO(pack.read("lsoa11/lsoa11_lsoa21.csv").decode())))
    assert {r["change"] for r in lookup} <= {"unchanged", "split", "merged", "complex"}


# -- compare with a categorical variable ----------------------------------------------------------------------

def test_compare_says_plainly_there_is_no_correlation_for_categories(s) -> None:
    from callbacks import compare as compare_callbacks

    search = f"?authority={LEEDS}&level=lsoa11&variable=ruc11&view=compare&variable_b=ks102ew0018"
    r = compare_callbacks.render_compare_view(search, None, s, "nav")
    rel = r["relation"]
    assert rel["corr"] is None and rel["none"] and "A (Rural-urban classification (2011)) is a classification" \
        in rel["none"]
    assert set(rel["cls"]) == {"-"} and r["graph"] == {"none": rel["none"]} and r["stats"] == rel["none"]
    assert r["payload_b"]["details"]  # B is numeric: its figures are fetched as ever
    from atlas import compare as cv

    rows = cv.profile(s, state.ViewState(authority=LEEDS, level="lsoa11", variable="ruc11"),
                      ["E01011264"], ["ruc11", "ks102ew0018"])
    assert rows[0]["categorical"] and rows[0]["areas"][0]["text"] == "Urban major conurbation (A1)"
    assert rows[0]["mode"].startswith("most common: Urban major conurbation (A1) (")
    assert "Urban major conurbation (A1)" in cv.profile_csv(rows, {"E01011264": "Leeds 011A"}, "Leeds")


# -- coverage: what exists elsewhere, and why not here --------------------------------------------------------

@pytest.mark.parametrize(("authority", "level", "variable", "words"), [
    (BIRMINGHAM, "lsoa11", "oac11_group", ["in areas with OA polygons only", "Liverpool", "at output areas (2011)"]),
    (BIRMINGHAM, "lsoa11", "le2022_winner", ["for this authority at electoral wards (December 2022) only"]),
    (BIRMINGHAM, "lsoa11", "ks101ew0001", ["in Camden only"]),
    (BIRMINGHAM, "lsoa11", "wimd2019_wimd_rank", ["in Wales only"]),
    (CARDIFF, "lsoa11", "imd2019_imd_rank", ["in England only"]),
    (LEEDS, "lsoa11", "c21_general_health_very_good_health", ["in Trafford only", "output areas (2021)"]),
])
def test_a_variable_with_no_data_here_says_where_it_exists_and_why(s, client, authority, level, variable,
                                                                   words) -> None:
    raw, _ = state.parse_query(f"?authority={authority}&level={level}&variable={variable}")
    resolved = state.resolve(raw, s, lambda a, lv: mapview.available_variables(s, a, lv))
    assert resolved.state.variable != variable
    (message,) = resolved.messages
    assert "has no data for" in message and "it exists" in message and "showing" in message
    for w in words:
        assert w in message, message
    error = client.get(f"/api/values/{authority}/{level}/{variable}.json").get_json()
    assert error["status"] == 404 and all(w in error["error"] for w in words)


def test_the_table_list_says_what_exists_elsewhere_in_a_few_lines(s) -> None:
    folded = mapview.group_options(s, BIRMINGHAM, "lsoa11")
    assert not any(o["value"].startswith("gap:") for o in folded) and folded[-1]["value"] == mapview.GAPS_OPTION
    options = mapview.group_options(s, BIRMINGHAM, "lsoa11", expanded=True)
    gaps = [o for o in options if o["value"].startswith("gap:")]
    assert gaps and all(o["disabled"] for o in gaps) and len(gaps) < 30
    labels = [o["label"] for o in gaps]
    assert any("in Camden only" in t for t in labels) and any("in Wales only" in t for t in labels)
    assert any("at electoral wards (December 2022) only" in t for t in labels)
    # A topic with nothing here is listed, marked, with why.
    at = next(i for i, o in enumerate(options) if o["label"] == "Elections (not here)")
    assert options[at + 1]["value"].startswith("gap:Elections")
    # Every table elsewhere is counted once: here plus not here is the whole catalogue's tables.
    here = {mapview.group_key(s.variable(v)) for v in mapview.available_variables(s, BIRMINGHAM, "lsoa11")}
    elsewhere = sum(int(o["label"].split("Not here: ")[1].split(" table")[0]) for o in gaps)
    assert len(here) + elsewhere == len({mapview.group_key(r) for r in s.variables()})
    found = mapview.search_variables(s, BIRMINGHAM, "lsoa11", "supergroup")
    assert found and found[0]["disabled"] and "in areas with OA polygons only" in found[0]["label"]
    tables = sum(int(o["label"].split("Not here: ")[1].split(" table")[0]) for o in gaps)
    assert f"Not here: {tables:,} more tables" in folded[-1]["label"]


def test_the_catalogue_says_coverage_vintage_method_and_cells(client) -> None:
    entry = client.get("/api/variables/ts054_lsoa11_owned_pct").get_json()
    assert entry["method"] == "apportioned" and entry["coverage"] == "England and Wales"
    assert entry["vintage"] and "TS054" in entry["cells"]
    assert entry["where"] == {"levels": ["lsoa11"], "authorities": 331, "reach": "in England and Wales only"}
    oac = client.get("/api/variables/oac11_group").get_json()
    assert oac["kind"] == "categorical" and oac["method"] == "published" and len(oac["categories"]) == 26
    assert oac["where"]["authorities"] == 7 and "Liverpool" in oac["where"]["reach"]
    listed = client.get(f"/api/variables?authority={BIRMINGHAM}&level=lsoa11&q=change").get_json()["variables"]
    assert listed and {"where", "method", "cells", "coverage", "vintage", "kind"} <= set(listed[0])
    assert {v["method"] for v in listed} >= {"change"}


def test_the_embed_shows_the_category_line_with_its_classification_controls(s) -> None:
    """An embed showing the scheme control has, among its visible controls, the line saying why they hide for
    a categorical map (the same render callback hides the classification rows there as in the explorer);
    the controls it does not show stay in its hidden part."""
    from ui import embed, ids

    page = embed.embed_layout(f"?authority={LEEDS}&level=lsoa11&variable=ruc11&controls=scheme")
    found = []

    def walk(node, hidden=False):
        hidden = hidden or bool(getattr(node, "hidden", False) and getattr(node, "id", None) != ids.CATEGORY_NOTE)
        if getattr(node, "id", None) in (ids.CATEGORY_NOTE, ids.SCHEME_ROW, ids.K_ROW):
            found.append((node.id, hidden))
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list) else [children] if children is not None else []:
            walk(child, hidden)

    walk(page)
    shown = {i: not h for i, h in found}
    assert shown == {ids.CATEGORY_NOTE: True, ids.SCHEME_ROW: True, ids.K_ROW: False}
