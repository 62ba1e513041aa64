"""The explorer's smaller parts: the cache of classified results, the layer registry, the page layout."""

from __future__ import annotations

from pathlib import Path

import dash
import dash_leaflet as dl
import flask
import pytest

import layers
from atlas import cache, settings
from ui import ids
from ui.explorer import layout


def _server(tmp_path: Path, kind: str) -> flask.Flask:
    server = flask.Flask(__name__)
    config = settings.load({"ATLAS_CACHE_TYPE": kind, "ATLAS_CACHE_DIR": str(tmp_path / "cache")})
    cache.init_cache(server, config)
    return server


@pytest.mark.parametrize("kind", ["SimpleCache", "FileSystemCache"])
def test_cached_computes_once_and_returns_copies(tmp_path: Path, kind: str) -> None:
    server = _server(tmp_path, kind)
    calls = []

    def compute() -> dict:
        calls.append(1)
        return {"v": [1, 2, 3]}

    with server.app_context():
        key = cache.make_key("payload", "build-1", "E09000007", "oa11", "ks102ew0018", "quantiles", 5, "", "local")
        first = cache.cached(key, compute)
        first["v"].append(99)  # a caller changing its result must not change the next caller's
        second = cache.cached(key, compute)
    assert calls == [1]
    assert second == {"v": [1, 2, 3]}


def test_file_cache_is_shared_between_processes_by_key(tmp_path: Path) -> None:
    # Two servers stand for two gunicorn workers: same folder, keys made from values only.
    a, b = _server(tmp_path, "FileSystemCache"), _server(tmp_path, "FileSystemCache")
    key = cache.make_key("outline", "build-1", "E09000007", "oa11")
    with a.app_context():
        cache.cached(key, lambda: {"from": "a"})
    with b.app_context():
        assert cache.cached(key, lambda: {"from": "b"}) == {"from": "a"}


def test_cached_without_an_app_just_computes() -> None:
    assert cache.cached("k", lambda: 41 + 1) == 42


def test_make_key_is_stable() -> None:
    assert cache.make_key("a", 1, None, 2.5) == "a\x1f1\x1f\x1f2.5"


def test_layers_registry_and_basemap_switch() -> None:
    off = layers.build_layers(layers.MapContext(build_id="b1"))
    # no tiles by default; the reference layer's boundaries are two panes (wards, districts); the points one
    assert [type(c).__name__ for c in off] == ["GeoJSON", "Pane", "Pane", "Pane", "Pane"]
    areas = off[0]
    assert areas.id == ids.LAYER and areas.format == "geobuf"
    assert areas.style == {"variable": "atlas.style"}  # a function in assets/atlas.js, by name
    on = layers.build_layers(layers.MapContext(build_id="b1", tiles_url="https://tiles.example/{z}/{x}/{y}.png",
                                               tiles_attribution="© Example"))
    assert isinstance(on[0], dl.TileLayer) and on[0].attribution == "© Example"
    assert [layer.NAME for layer in layers.LAYERS] == ["basemap", "areas", "reference", "outline", "points"]
    # The points are in the same map, above the outline, clustered, drawn by assets/points.js's functions.
    points = off[-1].children
    assert points.id == ids.POINTS.LAYER and points.cluster is True
    assert points.pointToLayer == {"variable": "atlas.points.marker"} and off[-1].style["zIndex"] > 450


def test_layout_labels_every_control(atlas_env: Path) -> None:
    page = layout()
    found = {}

    def walk(component) -> None:
        if hasattr(component, "to_plotly_json"):
            props = component.to_plotly_json()["props"]
            found.setdefault(type(component).__name__, []).append(props)
            children = props.get("children")
            for child in children if isinstance(children, (list, tuple)) else [children]:
                walk(child)

    walk(page)
    labelled = {p.get("htmlFor") for p in found.get("Label", [])}
    for control in ids.CONTROLS:
        if control != ids.REVERSE:  # a checkbox whose option text is its label
            assert control in labelled, control
    assert any(p.get("preferCanvas") for p in found["MapContainer"])


def test_without_extracts_the_page_and_the_callback_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from callbacks import explorer

    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    page = layout()
    assert "not available" in str(page.to_plotly_json())
    out = explorer.render({"search": "?authority=E09000007"}, *([None] * len(ids.CONTROLS)), None)
    message = [v for v in out if isinstance(v, list) and v and hasattr(v[0], "children")]
    assert message and "not available on this server yet" in message[0][0].children


def test_compare_body_is_created_only_when_the_view_opens(atlas_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page carries the compare view's stores, and its body (maps, lists, scatter's box, profile) as a
    layout in a store, not drawn (assets/compare.js builds it when the view is first asked for); Dash's
    validation layout has it in place."""
    import ui.compare

    C = ids.COMPARE
    lazy = {C.VARIABLE_B, C.TOPIC, C.PICKS, *C.MAPS.values(), *C.LAYERS.values(), *C.LEGENDS.values(),
            *C.TITLES.values(), C.SCATTER, C.STATS, C.PROFILE, C.DOWNLOAD_BUTTON, C.DOWNLOAD}
    stores = {C.PAYLOAD_B, C.RELATION, C.STATE, C.SELECTED, C.HIGHLIGHT, C.SEARCH, C.PINS, C.HOVERED, C.PARTS}
    monkeypatch.setattr(ui.compare, "validating", lambda: False)  # as for a page (inside the router's callback)
    found = _walk(layout(), {})
    drawn = {p.get("id") for props in found.values() for p in props}
    assert drawn.isdisjoint(lazy) and stores | {C.SECTION, C.BODY, C.VIEW, C.MESSAGE, ids.MAP} <= drawn
    assert all(not p.get("children") for p in found["Div"] if p.get("id") == C.BODY)
    parts = next(p["data"] for p in found["Store"] if p["id"] == C.PARTS)
    assert set(parts) == {C.BODY}
    assert {p.get("id") for props in _walk(ui.compare.html.Div(parts[C.BODY]), {}).values() for p in props} >= lazy

    monkeypatch.setattr(ui.compare, "validating", lambda: True)
    found = _walk(layout(), {})
    assert lazy <= {p.get("id") for props in found.values() for p in props}
    assert next(p["data"] for p in found["Store"] if p["id"] == C.PARTS) is None


def test_share_tools_and_make_an_area_form_are_created_when_approached(atlas_env: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The share tools' links and Embed dialog travel in a store (assets/embed.js creates them when the tools
    are first focused or pressed), and "Make an area"'s form comes with the mode's first opening
    (callbacks/areas.py make_mode); the buttons that open them are drawn. Dash's validation layout has all."""
    import ui.areas
    import ui.share
    from ui.areas import MAKE

    S = ids.SHARE
    links = {i for i, *_ in ui.share.EXPORT_LINKS + ui.share.DATA_FORMATS} | {S.DATAPACK, S.DATAPACK_ITEM}
    lazy = links | {S.DIALOG, S.DIALOG_CONTROLS, S.DIALOG_WIDTH, S.DIALOG_HEIGHT, S.DIALOG_SNIPPET,
                    MAKE.STATUS, MAKE.CLEAR, MAKE.SAVE, MAKE.NAME, MAKE.PROFILE}
    for module in (ui.share, ui.areas):
        monkeypatch.setattr(module, "validating", lambda: False)
    found = _walk(layout(), {})
    drawn = {p.get("id") for props in found.values() for p in props}
    assert drawn.isdisjoint(lazy)
    assert {S.TOOLS, S.EXPORT_LIST, S.DATA_LIST, S.EMBED_BUTTON, S.DIALOG_BOX, S.PARTS, S.OPENED, MAKE.TOGGLE,
            MAKE.PANEL, MAKE.BODY, MAKE.SELECTED, MAKE.EVENT} <= drawn
    parts = next(p["data"] for p in found["Store"] if p["id"] == S.PARTS)
    assert set(parts) == {S.EXPORT_LIST, S.DATA_LIST, S.DIALOG_BOX}
    made = ui.share.html.Div([*parts[S.EXPORT_LIST], *parts[S.DATA_LIST], parts[S.DIALOG_BOX]])
    inside = {p.get("id") for props in _walk(made, {}).values() for p in props}
    assert links | {S.DIALOG, S.DIALOG_SNIPPET} <= inside

    for module in (ui.share, ui.areas):
        monkeypatch.setattr(module, "validating", lambda: True)
    found = _walk(layout(), {})
    assert lazy <= {p.get("id") for props in found.values() for p in props}
    assert next(p["data"] for p in found["Store"] if p["id"] == S.PARTS) is None


def _walk(component, found: dict) -> dict:
    if hasattr(component, "to_plotly_json"):
        props = component.to_plotly_json()["props"]
        found.setdefault(type(component).__name__, []).append(props)
        children = props.get("children")
        for child in children if isinstance(children, (list, tuple)) else [children]:
            _walk(child, found)
    return found


def test_builder_form_is_created_only_when_wanted(atlas_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The indicator builder's form travels in a store (assets/atlas.js ``builder_ask`` creates it when the form
    is unfolded or the map shows a built indicator); Dash's validation layout has it in place."""
    import ui.builder
    from ui.builder import IDS

    form_ids = {IDS.TABLE, IDS.NUMERATOR, IDS.DENOMINATOR, IDS.NAME, IDS.MAP, IDS.STATUS, IDS.TOTAL}
    monkeypatch.setattr(ui.builder, "validating", lambda: False)
    found = _walk(layout(), {})
    drawn = {p.get("id") for props in found.values() for p in props}
    assert drawn.isdisjoint(form_ids) and {IDS.PANEL, IDS.BODY, IDS.PARTS, IDS.ASK} <= drawn
    parts = next(p["data"] for p in found["Store"] if p["id"] == IDS.PARTS)
    assert form_ids <= {p.get("id") for props in _walk(ui.builder.html.Div(parts), {}).values() for p in props}

    monkeypatch.setattr(ui.builder, "validating", lambda: True)
    found = _walk(layout(), {})
    assert form_ids <= {p.get("id") for props in found.values() for p in props}
    assert next(p["data"] for p in found["Store"] if p["id"] == IDS.PARTS) is None


@pytest.mark.parametrize(("search", "value"), [("", "all"), ("?authority=E09000007&level=oa11", "E09000007"),
                                                ("?authority=<script>", "all"), ("?authority=E12000007", "E12000007"),
                                                ("?authority=S12000005", "all")])
def test_area_list_is_given_its_value_alone_until_opened(atlas_env: Path, search: str, value: str) -> None:
    """The Area list is drawn empty, the whole list waiting in a store until it is first focused (Dash 4
    indexes every option); the first render sends its value with that value's option alone, together."""
    from atlas import catalogue, mapview
    from callbacks import explorer

    found = _walk(layout(search), {})
    area = next(p for p in found["Dropdown"] if p["id"] == ids.AUTHORITY)
    every = next(p["data"] for p in found["Store"] if p["id"] == ids.AUTHORITY_LIST)
    s = catalogue.of_request()
    assert every == mapview.authority_options(s.authorities(), mapview.larger_places(s)) and len(every) > 300
    assert area["options"] == [] and area.get("value") is None
    out = explorer.render({"search": search}, *([None] * len(ids.CONTROLS)), None)
    at = explorer._OUTPUTS.index(next(o for o in explorer._OUTPUTS if o.component_id == ids.AUTHORITY
                                      and o.component_property == "options"))
    assert out[0] == value and out[at] == [o for o in every if o["value"] == value] and len(out[at]) == 1
    # A later render (a control's change, back or forward) leaves the list as it is: area_options follows.
    again = explorer.render({"search": search}, *([None] * len(ids.CONTROLS)), {"state": out[at - 5]["state"]})
    assert again[at] is dash.no_update


def test_no_server_callback_runs_for_a_folded_builder() -> None:
    """The builder's tables are asked for through its gate (``builder_ask``), not on every view: no server
    callback of the builder has the view itself as an input, and none runs at a first load."""
    from dash._callback import GLOBAL_CALLBACK_LIST

    import app  # registers the callbacks
    from ui.builder import IDS

    # Dash moves the registered callbacks from its global list to the app's at the app's first request (another
    # test in this process may have made it): read both.
    every = [*app.app._callback_list, *GLOBAL_CALLBACK_LIST]

    def outputs(cb: dict) -> set[str]:
        return {part.strip(".").split(".")[0] for part in cb["output"].split("..") if part.strip(".")}

    form = {IDS.TABLE, IDS.NUMERATOR, IDS.DENOMINATOR, IDS.TOTAL, IDS.STATUS}
    server = [cb for cb in every if not cb["clientside_function"] and outputs(cb) & form]
    assert len(server) == 3  # tables, cells, build
    for cb in server:
        assert ids.STATE not in {i["id"] for i in cb["inputs"]}, cb["output"]
        assert cb["prevent_initial_call"], cb["output"]
