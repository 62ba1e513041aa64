"""assets/atlas.js under node: what the browser derives from a payload agrees with the server.

Ranks within the authority, class counts, the hover text and the table's sort are computed in the browser
from the payload alone; here they are checked against the store's own ranks and classify's counts for a
real view (Camden's output areas).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from atlas import classify
from atlas import store as store_module
from callbacks import explorer

ROOT = Path(__file__).resolve().parent.parent
NODE_SCRIPT = r"""
global.window = global;
global.document = { addEventListener: function () {}, getElementById: function () { return null; } };
global.CustomEvent = function (type, init) { this.type = type; this.detail = init && init.detail; };
global.dispatchEvent = function () {};
window.dash_clientside = { no_update: { none: true }, callback_context: { triggered: [] } };
require(process.argv[1] + "/assets/atlas.js");
require(process.argv[1] + "/assets/classify.js");
var input = JSON.parse(require("fs").readFileSync(0, "utf8"));
var p = input.payload, areas = input.areas;
var d = window.atlas.derive(p);
var h = { p: p, o: 0.8, s: null, nd: null };
var tips = [0, 1, 2].map(function (i) {
  return window.atlas.hoverHtml({ properties: { id: i, code: areas.codes[i], name: areas.names[i] } }, h);
});
var styles = areas.codes.map(function (code, i) {
  return window.atlas.styleFor({ properties: { id: i, code: code } }, h).fillColor;
});
process.stdout.write(JSON.stringify({
  rank: Array.from(d.rank), counts: d.counts, missing: d.missing, tips: tips, styles: styles,
}));
"""


@pytest.fixture()
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed, so assets/atlas.js cannot be run")
    return path


def _run(node: str, payload: dict, areas: dict) -> dict:
    done = subprocess.run([node, "-e", NODE_SCRIPT, str(ROOT)], capture_output=True, text=True, timeout=60,
                          input=json.dumps({"payload": payload, "areas": areas}), check=True)
    return json.loads(done.stdout)


def test_browser_ranks_counts_and_colours_match_the_server(atlas_env: Path, node: str) -> None:
    out = explorer.render("?authority=E09000007&level=oa11&variable=ks102ew0014_pct&k=6&palette=Greens", None)
    payload, areas = out[16], out[17]
    got = _run(node, payload, areas)

    df = store_module.get_store().values("E09000007", "oa11", "ks102ew0014_pct")
    assert df["code"].tolist() == areas["codes"]
    # The store ranks the unrounded values; the browser ranks the payload's rounded ones, so only areas
    # whose values round together may differ: compare where the rounded values are distinct.
    values = np.array(payload["v"], dtype=float)
    distinct = np.array([np.sum(values == v) == 1 for v in values])
    store_rank = df["rank"].to_numpy(dtype="int64", na_value=0)
    assert (np.array(got["rank"])[distinct] == store_rank[distinct]).all()

    expected = classify.classify(values, payload["scheme"], 6)
    assert got["counts"] == expected.counts and got["missing"] == 0
    index = classify.class_index(values, payload["b"])
    assert got["styles"] == [payload["c"][i] for i in index]

    for i, tip in enumerate(got["tips"]):
        assert f"Rank {got['rank'][i]:,} of 749 areas in Camden" in tip
        assert areas["codes"][i] in tip
    assert all("Age 65 to 74" in tip and "%" in tip and "Class " in tip for tip in got["tips"])


def test_ties_share_the_best_rank(atlas_env: Path, node: str) -> None:
    payload = {"v": [5, 7, 7, None, 1], "b": [4, 6, 7], "lo": 1, "k": 3, "c": ["#a", "#b", "#c"], "dp": 0,
               "unit": "count", "label": "x", "url": "u", "key": "k", "n": 5, "all": False, "place": "P"}
    areas = {"key": "k", "codes": list("abcde"), "names": list("ABCDE")}
    got = _run(node, payload, areas)
    assert got["rank"] == [3, 1, 1, 0, 4]
    assert got["counts"] == [1, 1, 2] and got["missing"] == 1
    assert got["styles"][3] == "#ffffff"  # no data
