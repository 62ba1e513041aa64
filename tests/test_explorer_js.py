"""assets/atlas.js under node: the browser paints exactly what the server decided.

Each area's fill is its class's colour from the paint, the hover card's value, ranks and class label are the
server's (/api/view.json), the legend prints the server's labels and counts, and nothing is ranked or
classified again in the browser (a publisher's rank is shown as published).
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from atlas import catalogue
from callbacks import explorer
from ui import ids

ROOT = Path(__file__).resolve().parent.parent
NODE_SCRIPT = r"""
global.window = global;
global.document = { addEventListener: function () {}, getElementById: function () { return null; } };
global.CustomEvent = function (type, init) { this.type = type; this.detail = init && init.detail; };
global.dispatchEvent = function () {};
global.addEventListener = function () {};
window.dash_clientside = { no_update: { none: true }, callback_context: { triggered: [] } };
var input = JSON.parse(require("fs").readFileSync(0, "utf8"));
window.atlas = { ids: input.ids };
global.fetch = function () {  // the details the server would answer
  return Promise.resolve({ ok: true, json: function () { return Promise.resolve(input.details); } });
};
require(process.argv[1] + "/assets/atlas.js");
var p = input.payload, areas = input.areas;
var h = { p: p, o: 0.8, s: null, nd: null };
var before = window.atlas.hoverHtml({ properties: { id: 0, code: areas.codes[0], name: areas.names[0] } }, h);
window.atlas.loadDetails(p).then(function () {
  var tips = (input.tipIds || [0, 1, 2]).map(function (i) {
    return window.atlas.hoverHtml({ properties: { id: i, code: areas.codes[i], name: areas.names[i] } }, h);
  });
  var fills = areas.codes.map(function (code, i) {
    return window.atlas.styleFor({ properties: { id: i, code: code } }, h).fillColor;
  });
  var table = window.atlas.tableHtml(p, areas, input.selected || null, { col: "rank", dir: "asc" }, 0,
                                     !!input.selected).html;
  var decoded = (input.alphabet || "").split("").map(function (ch) { return window.atlas.classAt(ch, 0); });
  process.stdout.write(JSON.stringify({
    before: before, tips: tips, fills: fills, legend: window.atlas.legendHtml(p.legend), table: table,
    decoded: decoded,
  }));
});
"""


@pytest.fixture()
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("node is not installed, so assets/atlas.js cannot be run (it is on every machine here)")
    return path


def _run(node: str, search: str, **extra) -> tuple[dict, dict, dict, dict]:
    import app as app_module

    s = catalogue.build()
    r = explorer.render_view(search, None, s)
    client = app_module.server.test_client()
    # A categorical paint names no details: it carries everything its hover card and table show.
    details = client.get(r.payload["details"]).get_json() if r.payload["details"] else None
    view = client.get("/api/view.json" + r.canonical["search"]).get_json()
    done = subprocess.run([node, "-e", NODE_SCRIPT, str(ROOT)], capture_output=True, text=True, timeout=60,
                          input=json.dumps({"payload": r.payload, "areas": r.areas, "details": details,
                                            "ids": ids.as_dict(), **extra}), check=True)
    return json.loads(done.stdout), r.payload, details, view


@pytest.mark.parametrize("search", ["?authority=E09000007&level=oa11&variable=ks102ew0014_pct&k=6",
                                    "?authority=E08000025&level=lsoa11&variable=ks102ew0008_pct&scheme=fisher_jenks"])
def test_the_browser_paints_the_servers_classes_values_and_ranks(atlas_env: Path, node: str, search: str) -> None:
    got, payload, details, view = _run(node, search)
    colours = {c["class"]: c["colour"] for c in view["classes"]}
    assert got["fills"] == [colours.get(a["class"], "#ffffff") for a in view["areas"]]
    assert "Loading its figures" in got["before"]  # before the details arrive: the class, not a made-up value
    for i, tip in enumerate(got["tips"]):
        area = view["areas"][i]
        assert area["text"] in tip and area["code"] in tip
        assert f"Rank {area['rank']:,} of {details['ranked']:,} areas in {view['place']}" in tip
        if area["rank_national"] is None:  # Camden's census pack at output areas covers Camden only
            assert "across" not in tip
        else:
            assert f"Rank {area['rank_national']:,} of 34,753 across England and Wales" in tip
        assert view["classes"][area["class"]]["label"] in tip
    for c in view["classes"]:
        assert c["label"] in got["legend"] and f"{c['count']:,} area" in got["legend"]
    # The table, sorted by the server's ranks: rank 1 first.
    first_row = got["table"].split("<tbody>")[1].split("</tr>")[0]
    top = [a for a in view["areas"] if a["rank"] == 1]
    assert any(a["code"] in first_row and a["text"] in first_row for a in top)


def test_a_publishers_rank_is_shown_as_published(atlas_env: Path, node: str) -> None:
    got, payload, details, view = _run(node, "?authority=E08000025&level=lsoa11&variable=imd2019_imd_rank")
    assert payload["ranked"] is False and details["rank"] is None and details["rn"] is None
    for i, tip in enumerate(got["tips"]):
        assert view["areas"][i]["text"] in tip
        assert "As published; not ranked again" in tip and "Rank " not in tip
    assert "not ranked again" in got["legend"]


def test_the_paint_alphabet_is_decoded_in_one_place(atlas_env: Path, node: str) -> None:
    """atlas.view.CLASS_ALPHABET's characters decode to their positions (62 classes); "-" is no data."""
    from atlas import view as atlas_view

    got, *_ = _run(node, "?authority=E09000007&level=oa11&variable=ks102ew0014_pct",
                   alphabet=atlas_view.CLASS_ALPHABET + "-")
    assert got["decoded"] == [*range(atlas_view.MAX_CLASSES), -1]


def test_a_categorical_map_is_painted_by_category(atlas_env: Path, node: str) -> None:
    """Liverpool's OAC groups: 23 classes, so the paint uses letters; every area takes its category's
    colour, the hover card names the category (label and code) at once, with nothing to fetch, the legend
    lists the categories with counts and no histogram, and the table has a Category column, no ranks."""
    got, payload, details, view = _run(node, "?authority=E08000012&level=oa11&variable=oac11_group",
                                       tipIds=list(range(40)))
    assert details is None and payload["details"] is None and payload["categorical"] is True
    assert len(view["classes"]) > 10 and any(ch.isalpha() for ch in payload["cls"])
    colours = {c["class"]: c["colour"] for c in view["classes"]}
    assert got["fills"] == [colours.get(a["class"], "#ffffff") for a in view["areas"]]
    assert "Loading" not in got["before"]
    for i, tip in enumerate(got["tips"]):
        area = view["areas"][i]
        assert area["code"] in tip and html.escape(area["text"]) in tip  # "Students Around Campus (2a)"
        assert f"({area['value']})" in area["text"]
        assert "Rank" not in tip and "Class " not in tip
    for c in view["classes"]:
        assert html.escape(c["label"]) in got["legend"] and f"{c['count']:,} area" in got["legend"]
    assert "class=\"histogram\"" not in got["legend"], got["legend"][-400:]
    assert "not classed or ranked" in got["legend"]
    head = got["table"].split("</thead>")[0]
    assert "Category" in head and "Rank" not in head and "Value" not in head
    body = got["table"].split("<tbody>")[1]
    assert html.escape(view["classes"][0]["label"]) in body  # sorted by category, the catalogue's order


def test_an_estimate_is_said_in_the_hover_card_and_the_table(atlas_env: Path, node: str) -> None:
    """Birmingham's change in owner occupation: the two 2011 LSOAs merged in 2021 (E01009198 and E01033647)
    are estimates, said in their hover cards and beside their value in the table; the others are not."""
    s = catalogue.build()
    codes = s.values("E08000025", "lsoa11", "chg_tenure_owned_pp")["code"].tolist()
    merged = [codes.index("E01009198"), codes.index("E01033647")]
    got, payload, details, view = _run(node, "?authority=E08000025&level=lsoa11&variable=chg_tenure_owned_pp",
                                       tipIds=[*merged, 0, 1], selected="E01009198")
    assert details["est"] == merged and "merged" in details["estNote"]
    for tip in got["tips"][:2]:
        assert "Estimate:" in tip
    for tip in got["tips"][2:]:
        assert "Estimate:" not in tip
    row = next(r for r in got["table"].split("</tr>") if "E01009198" in r)
    assert "(estimate)" in row
    assert [a["code"] for a in view["areas"] if a["estimated"]] == ["E01009198", "E01033647"]


def test_carried_figures_are_said_in_the_hover_card_the_table_and_the_legend(atlas_env: Path, node: str) -> None:
    """IoD 2025 on Birmingham's 2011 LSOAs: a split LSOA whose parts differ prints their range ("deciles 1 and 3"),
    is left unfilled and says why in its hover card and beside its value in the table; a merged one carries its
    2021 area's decile and says so; the legend names the split areas apart from no data."""
    s = catalogue.build()
    frame = s.values("E08000025", "lsoa11", "imd2025_imd_decile")
    codes = frame["code"].tolist()
    split = next(i for i, (c, v) in enumerate(zip(frame["carried"], frame["value"], strict=True))
                 if c == "split" and v != v)
    merged = next(i for i, c in enumerate(frame["carried"]) if c == "merged")
    plain = next(i for i, c in enumerate(frame["carried"]) if c == "unchanged")
    got, payload, details, view = _run(node, "?authority=E08000025&level=lsoa11&variable=imd2025_imd_decile",
                                       tipIds=[split, merged, plain], selected=codes[split])
    area = view["areas"][split]
    assert area["text"] == f"deciles {int(area['low'])} and {int(area['high'])}" and area["class"] == -1
    assert got["fills"][split] == "#ffffff"
    assert area["text"] in got["tips"][0] and "Split in 2021 into" in got["tips"][0]
    assert "Merged in 2021 with" in got["tips"][1] and view["areas"][merged]["text"] in got["tips"][1]
    assert "Split in 2021" not in got["tips"][2] and "Merged in 2021" not in got["tips"][2]
    row = next(r for r in got["table"].split("</tr>") if codes[split] in r)
    assert area["text"] in row and "(split)" in row
    assert "No single decile: split in 2021" in got["legend"] and "carried from the 2021 LSOAs" in got["legend"]
    assert f"{view['legend']['ranges']['count']:,} area" in got["legend"]


def test_the_not_here_line_is_named_alike_in_python_and_javascript() -> None:
    """``gaps_ask`` (assets/atlas.js) passes the Table list's "Not here" line on to list_gaps by its value."""
    from atlas import mapview

    # the browser reads the server's value (window.atlas.ids), never a copy of it
    assert ids.as_dict()["GAPS_OPTION"] == mapview.GAPS_OPTION
    assert mapview.GAPS_OPTION not in (ROOT / "assets" / "atlas.js").read_text()
    assert explorer.list_gaps(None, {"state": {"variable": "x"}}) == (explorer.no_update, explorer.no_update)
