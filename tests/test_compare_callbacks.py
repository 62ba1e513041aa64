"""The compare view's server callbacks called directly (no browser): what they return for a URL."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from dash import no_update

from atlas import catalogue
from callbacks import compare

CAMDEN = "E09000007"
SEARCH = (f"?authority={CAMDEN}&level=lsoa11&variable=ks102ew0014_pct&view=compare&variable_b=imd2019_imd_rank"
          "&areas=E01000842")


EXPLORER = {"search": SEARCH.split("&view=")[0], "state": {"authority": CAMDEN, "level": "lsoa11"}, "via": "nav"}


def render(search: str, previous: dict | None = None) -> tuple:
    """render_compare as the page calls it after a first load at the address ``search``."""
    explorer = {**EXPLORER, "search": search.split("&view=")[0]}
    return compare.render_compare({"source": "nav", "search": search}, explorer, previous)


def _text(component) -> str:
    """All the text of a Dash component tree."""
    if component is None or isinstance(component, (int, float)):
        return "" if component is None else str(component)
    if isinstance(component, str):
        return component
    if isinstance(component, (list, tuple)):
        return " ".join(_text(c) for c in component)
    return _text(getattr(component, "children", None))


def test_render_compare_shows_the_section_and_sends_both_parts(atlas_env: Path) -> None:
    style, view, b, b_options, payload_b, relation, cstate, message, title_a, title_b, graph, stats = render(SEARCH)
    assert style == {} and view == "compare" and b == "imd2019_imd_rank" and message is None
    assert payload_b["var"] == "imd2019_imd_rank" and len(payload_b["cls"]) == 133
    assert relation["corr"]["n"] == 133
    assert title_b == "B: Index of Multiple Deprivation (IMD) rank, IoD 2019 (1 is most deprived)"
    assert len(relation["cls"]) == 133 and sum(relation["counts"]) + relation["missing"] == 133
    assert cstate["areas"] == ["E01000842"] and cstate["keys"].startswith("?view=compare&variable_b=")
    assert "imd2019_imd_rank" in {o["value"] for o in b_options}
    # The scatter plot arrives as a dcc.Graph (plotly.js loads only when it is drawn), one point per area.
    assert graph.id == "compare-graph" and len(graph.figure["data"][0]["customdata"]) == 133
    assert stats.startswith("Pearson r = ")


def test_render_compare_in_the_explore_view_sends_nothing(atlas_env: Path) -> None:
    out = render(f"?authority={CAMDEN}&variable=ks102ew0018")
    assert out[0] == {"display": "none"} and out[1] == "explore"
    assert out[4] is no_update and out[5] is no_update and out[10] is no_update  # no payload, relation, graph


def test_render_compare_says_what_was_wrong(atlas_env: Path) -> None:
    out = render(SEARCH.replace("imd2019_imd_rank", "ks102ew0014_pct") + ",E0")
    text = _text(out[7])
    assert "same as variable A" in text and "no area 'E0'" in text


def test_profile_for_clicked_and_pinned_areas(atlas_env: Path) -> None:
    cstate = render(SEARCH)[6]
    table = compare.render_profile("E01000850", cstate, None, None)
    text = _text(table)
    assert text.index("E01000850") < text.index("E01000842")  # the clicked area first, then the pinned
    assert "(clicked)" in text and "(pinned)" in text and "Higher is better" in text
    assert "Median in Camden" in text and "England and Wales" in text
    empty = compare.render_profile(None, {**cstate, "areas": []}, None, None)
    assert "Click an area" in _text(empty)


def test_download_profile_is_the_table_as_csv(atlas_env: Path) -> None:
    cstate = render(SEARCH)[6]
    got = compare.download_profile(1, "E01000850", cstate, "Deprivation", None)
    assert got["filename"] == f"profile-{CAMDEN}-lsoa11-E01000850-E01000842.csv" and got["type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(got["content"])))
    assert rows[1][3] == "Camden 026A" and rows[1][5] == "Camden 011A"  # the areas' names
    deprivation = {v["id"] for v in catalogue.build().variables(topic="Deprivation")}
    assert all(r[0] in deprivation for r in rows[2:]) and len(rows) - 2 == 25  # Deprivation, capped


@pytest.mark.parametrize("cstate", [None, {"view": "explore", "search": None}])
def test_profile_not_drawn_outside_the_compare_view(atlas_env: Path, cstate) -> None:
    assert compare.render_profile("E01000850", cstate, None, None) is no_update


@pytest.mark.parametrize("trigger", [None, "x", {"source": "control", "view": ["compare"], "pins": {"a": 1}},
                                     {"source": "nav", "search": {"x": 1}}, {"source": "view"}])
def test_forged_triggers_are_refused_or_fall_back(atlas_env: Path, trigger) -> None:
    out = compare.render_compare(trigger, EXPLORER, {"view": 3})
    assert len(out) == 12  # a whole answer (or nothing), never an exception


def test_a_compare_control_keeps_the_explorers_view(atlas_env: Path) -> None:
    cstate = render(SEARCH)[6]
    out = compare.render_compare({"source": "control", "view": "compare", "variable_b": "ks102ew0018",
                                  "pins": ["E01000842", "E01000850"]}, EXPLORER, cstate)
    assert out[2] == "ks102ew0018" and out[6]["areas"] == ["E01000842", "E01000850"]
    assert out[6]["via"] == "control" and "variable_b=ks102ew0018" in out[6]["keys"]
