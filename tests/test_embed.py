"""The embed page's layout, the iframe snippet and the share tools, called directly (no browser).

The browser half (framing from another origin, the links following the map) is tests/test_browser_embed.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import flask
import pytest

from atlas import catalogue, export
from atlas import viewstate as state
from callbacks import embed, explorer
from ui import embed as embed_page
from ui import ids, share
from ui.ids import EMBED as E
from ui.ids import SHARE as S

ROOT = Path(__file__).resolve().parent.parent
CAMDEN = "E09000007"
VIEW = f"?authority={CAMDEN}&level=oa11&variable=ks102ew0002_pct&scheme=quantiles&k=5"


def _walk(component, hidden: bool = False, out: dict | None = None) -> dict:
    """id -> (component, whether it sits inside a hidden container)."""
    out = {} if out is None else out
    here = hidden or bool(getattr(component, "hidden", False))
    cid = getattr(component, "id", None)
    if cid is not None:
        out[cid] = (component, here)
    children = getattr(component, "children", None)
    if children is None:
        return out
    for child in children if isinstance(children, list | tuple) else [children]:
        if hasattr(child, "to_plotly_json"):
            _walk(child, here, out)
    return out


def _all_props(component, kind: str) -> list[dict]:
    """The props of every component of type ``kind`` in the tree."""
    found: list[dict] = []

    def visit(node) -> None:
        if isinstance(node, dict) and "props" in node:
            if node.get("type") == kind:
                found.append(node["props"])
            visit(node["props"].get("children"))
        elif isinstance(node, list):
            for child in node:
                visit(child)

    visit(json.loads(_texts(component)))
    return found


def _texts(component) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda c: c.to_plotly_json())


# -- controls= ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "shown"), [
    (None, []), ("", []), ("none", []),
    ("variable", ["variable"]),
    ("k,variable", ["variable", "k"]),  # in the explorer's order, whatever the order asked
    ("scheme", ["scheme", "breaks"]),  # custom breaks are typed where the scheme is chosen
    ("Variable, PALETTE  opacity", ["variable", "palette", "opacity"]),
    ("all", [*ids.CONTROLS, "points"]),  # and the point layer's controls
])
def test_parse_controls(text: str | None, shown: list[str]) -> None:
    assert embed_page.parse_controls(text) == (shown, [])


def test_parse_controls_names_what_it_cannot_show() -> None:
    shown, messages = embed_page.parse_controls("variable,colour,<script>")
    assert shown == ["variable"]
    assert len(messages) == 1
    assert "'colour'" in messages[0] and "'<script>'" in messages[0]
    assert "variable, scheme, k" in messages[0]  # says what it does take


# -- the page ----------------------------------------------------------------------------------------------

def test_embed_layout_shows_the_map_legend_attribution_and_only_the_controls_asked(atlas_env: Path) -> None:
    page = embed_page.embed_layout(VIEW + "&controls=variable,k")
    found = _walk(page)
    assert page.className == "atlas-embed"
    for part in (ids.NAV, ids.STATE, ids.PAYLOAD, ids.AREAS, ids.MAP, ids.LAYER, ids.OUTLINE, ids.LEGEND,
                 ids.TITLE, ids.ATTRIBUTION, ids.MESSAGE, E.OPEN_LINK):
        assert part in found, part
        assert not found[part][1], f"{part} is hidden"
    for control in ids.CONTROLS:  # every control is there, for the callbacks; only two are shown
        assert control in found, control
        assert found[control][1] is (control not in ("variable", "k")), control
    assert found[ids.TABLE][1] and found[ids.HELP][1]  # the callbacks' outputs, never shown
    assert "masthead" not in _texts(page) and "table-heading" not in found
    link = found[E.OPEN_LINK][0]
    assert link.href == "/" + VIEW and link.target == "_blank" and "noopener" in link.rel
    assert found[E.NOTICE][0].children == []
    assert found[E.LEGEND_BOX][0].open is True
    # Written into the page, as the render callback will write them (so the map's box never changes size).
    rendered = explorer.render_view(VIEW, None, catalogue.build())
    assert found[ids.TITLE][0].children == rendered.title and "Camden" in rendered.title
    assert found[ids.ATTRIBUTION][0].children == rendered.attribution and "Licence" in rendered.attribution


def test_embed_layout_without_controls_hides_the_form(atlas_env: Path) -> None:
    found = _walk(embed_page.embed_layout(VIEW))
    assert all(found[c][1] for c in ids.CONTROLS)


def test_embed_layout_with_bad_keys_says_so(atlas_env: Path) -> None:
    found = _walk(embed_page.embed_layout(VIEW + "&controls=variable,colours&legend=sideways"))
    words = " ".join(p.children for p in found[E.NOTICE][0].children)
    assert "'colours'" in words and "legend=open or legend=closed" in words
    assert not found[ids.VARIABLE][1]  # what could be used still is


def test_embed_layout_legend_closed(atlas_env: Path) -> None:
    box = _walk(embed_page.embed_layout(VIEW + "&legend=closed"))[E.LEGEND_BOX][0]
    assert box.open is False and "legend-auto" not in box.className


def test_embed_keys_raise_no_message_in_the_view(atlas_env: Path) -> None:
    """The render callback reads the same URL: controls= and legend= are the embed's, not unknown keys."""
    s = catalogue.build()
    plain = explorer.render_view(VIEW, None, s)
    embedded = explorer.render_view(VIEW + "&controls=variable,scheme&legend=closed", None, s)
    assert embedded.messages == plain.messages == []
    assert embedded.state == plain.state
    assert embedded.canonical["search"] == state.to_query(plain.state)  # export links use this: no embed keys


def test_embed_with_a_bad_view_renders_the_fallback_with_a_message(atlas_env: Path) -> None:
    r = explorer.render_view("?authority=E09999999&variable=nonsense&controls=variable", None,
                             catalogue.build())
    assert r.state.authority == "all"
    assert any("E09999999" in m for m in r.messages)
    assert r.payload and r.payload["cls"]  # a map, not a blank frame


def test_embed_without_extracts_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    page = embed_page.embed_layout(VIEW)
    assert "not available" in _texts(page)


# -- which layout a request gets -----------------------------------------------------------------------------

def _route(client, path: str, search: str, changed: list[str]):
    """Ask Dash's page router (as the renderer does) for the page at ``path`` + ``search``."""
    router = next(d for d in client.get("/_dash-dependencies").json if "_pages_content" in d["output"])
    body = {"output": router["output"],
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "changedPropIds": [f"_pages_location.{p}" for p in changed], "state": []}
    return client.post("/_dash-update-component", json=body)


def test_the_router_serves_each_page_its_layout_and_keeps_it_on_a_query_change(atlas_env: Path) -> None:
    import app as app_module

    client = app_module.server.test_client()
    framed = _route(client, "/embed", VIEW + "&controls=variable", ["pathname", "search"])
    assert framed.status_code == 200
    assert framed.json["response"]["_pages_content"]["children"]["props"]["className"] == "atlas-embed"
    plain = _route(client, "/", VIEW, ["pathname", "search"])
    assert plain.json["response"]["_pages_content"]["children"]["props"]["className"] == "atlas"
    # The view is in the query string and redrawn in place: a change of it alone keeps the page.
    assert _route(client, "/", VIEW + "&k=7", ["search"]).status_code == 204
    layout = client.get("/_dash-layout")  # the same for every page: no header decides it
    assert "Vary" not in layout.headers or "Referer" not in layout.headers["Vary"]
    page = client.get(f"/embed{VIEW}")
    assert page.status_code == 200 and b"DashRenderer" in page.data
    assert "Set-Cookie" not in page.headers
    assert "frame-ancestors 'self' *" in page.headers["Content-Security-Policy"]


# -- the snippet --------------------------------------------------------------------------------------------

def test_snippet_for_a_view() -> None:
    search = state.to_query(state.ViewState(authority=CAMDEN, level="oa11", variable="ks102ew0002_pct"))
    code = share.snippet("https://atlas.example/", search, ["k", "variable"], "100%", "480",
                         "Age 0 to 4 (%): Camden, output areas (2011)")
    assert code == (
        '<iframe src="https://atlas.example/embed?authority=E09000007&amp;level=oa11&amp;variable=ks102ew0002_pct'
        '&amp;scheme=quantiles&amp;k=5&amp;scope=local&amp;palette=YlGnBu&amp;reverse=0&amp;opacity=0.8'
        '&amp;controls=variable,k" title="Age 0 to 4 (%): Camden, output areas (2011)" width="100%" height="480" '
        'style="border:0" loading="lazy"></iframe>')


def test_snippet_escapes_and_keeps_only_view_keys() -> None:
    code = share.snippet("http://a.example", '?authority=all&view=compare&breaks=1,2"><script>', [], "640", "400",
                         'A "quoted" <title>')
    assert "<script>" not in code and "view=compare" not in code and "controls" not in code
    assert 'title="A &quot;quoted&quot; &lt;title&gt;"' in code
    assert "breaks=1,2%22%3E%3Cscript%3E" in code


@pytest.mark.parametrize(("text", "value", "problem"), [
    ("480", "480", None), (" 640px ", "640", None), ("100%", "100%", None), (480, "480", None),
    ("120", None, "from 200 to 4000 pixels"), ("150%", None, "from 1% to 100%"), ("big", None, "a number of pixels"),
    ("", None, "a number of pixels"), (None, None, "a number of pixels"),
])
def test_parse_size(text, value, problem) -> None:
    got, why = share.parse_size(text, share.WIDTH_PX, "width")
    assert got == value
    assert (why is None) if problem is None else (problem in why)


def test_snippet_for_the_dialog() -> None:
    canonical = {"state": {}, "search": "?authority=all&level=lad&variable=ks102ew0018"}
    code, preview, problem = share.snippet_for("http://127.0.0.1:8050/", canonical, ["variable"], "100%", "480",
                                               "Mean age")
    assert problem == ""
    assert preview == "http://127.0.0.1:8050/embed?authority=all&level=lad&variable=ks102ew0018&controls=variable"
    assert f'src="{preview.replace("&", "&amp;")}"' in code
    code, preview, problem = share.snippet_for("http://h/", canonical, [], "wide", "10", "Mean age")
    assert code == preview == ""
    assert "width must be" in problem and "height must be" in problem
    assert "not finished loading" in share.snippet_for("http://h/", None, [], "100%", "480", "")[2]


def _snippet_at(base_url: str, headers: dict | None = None, **args) -> tuple[str, str, str]:
    canonical = {"state": {}, "search": "?authority=all&level=lad&variable=ks102ew0018"}
    call = {"shown": ["palette"], "width": "600", "height": "400", "canonical": canonical, "title": "Mean age",
            **args}
    with flask.Flask(__name__).test_request_context("/_dash-update-component", base_url=base_url,
                                                    headers=headers or {}):
        return embed.write_snippet(1, call["shown"], call["width"], call["height"], call["canonical"],
                                   call["title"])


def test_write_snippet_uses_the_public_url_whatever_the_host(monkeypatch) -> None:
    monkeypatch.setenv("ATLAS_PUBLIC_URL", "https://atlas.example.gov.uk/")
    code, preview, problem = _snippet_at("http://evil.example", {"X-Forwarded-Host": "evil.example"})
    assert preview.startswith("https://atlas.example.gov.uk/embed?authority=all&")
    assert preview.endswith("controls=palette") and "evil" not in code
    assert 'width="600" height="400"' in code and problem == ""


def test_write_snippet_trusts_only_allowed_hosts_without_a_public_url(monkeypatch) -> None:
    monkeypatch.delenv("ATLAS_PUBLIC_URL", raising=False)
    code, preview, problem = _snippet_at("http://127.0.0.1:8050")  # the default allow-list: this machine
    assert preview.startswith("http://127.0.0.1:8050/embed?authority=all&") and problem == ""
    code, preview, problem = _snippet_at("https://evil.example")  # a Host header the client chose
    assert code == preview == "" and "ATLAS_PUBLIC_URL" in problem
    monkeypatch.setenv("ATLAS_ALLOWED_HOSTS", ".example.gov.uk")
    code, preview, problem = _snippet_at("https://maps.example.gov.uk")
    assert preview.startswith("https://maps.example.gov.uk/embed?") and problem == ""
    assert _snippet_at("https://example.gov.uk.evil.example")[2] == share.NO_ORIGIN


@pytest.mark.parametrize("args", [
    {"shown": 5}, {"shown": [1, None]}, {"shown": {"a": 1}}, {"canonical": 7}, {"canonical": {"search": 3}},
    {"canonical": {"search": ["?a"]}}, {"width": {"x": 1}}, {"height": [480]}, {"title": {"t": 1}}, {"width": True},
])
def test_write_snippet_takes_any_input_without_raising(args) -> None:
    code, preview, problem = _snippet_at("http://localhost:8050", **args)
    assert isinstance(code, str) and isinstance(preview, str) and isinstance(problem, str)
    assert code or problem


# -- the explorer's share tools --------------------------------------------------------------------------

def test_share_tools_are_labelled() -> None:
    tools = share.share_tools()
    found = _walk(tools)
    for link_id, label, *_ in share.EXPORT_LINKS + share.DATA_FORMATS:
        assert found[link_id][0].children == label
    dialog = found[S.DIALOG][0]
    assert dialog.to_plotly_json()["props"]["aria-labelledby"] == "embed-dialog-title"
    labels = {p.get("htmlFor") for p in _all_props(tools, "Label")}
    assert {S.DIALOG_WIDTH, S.DIALOG_HEIGHT, S.DIALOG_SNIPPET} <= labels
    assert found[S.EMBED_BUTTON][0].to_plotly_json()["props"]["aria-haspopup"] == "dialog"


def test_explorer_page_has_the_share_tools(atlas_env: Path) -> None:
    from ui.explorer import layout

    found = _walk(layout())
    assert S.TOOLS in found and S.DIALOG in found and ids.MAP in found


# -- assets/embed.js agrees with export.url -----------------------------------------------------------------

NODE_SCRIPT = r"""
global.window = global;
global.document = { addEventListener: function () {}, getElementById: function () { return null; } };
window.dash_clientside = { no_update: { none: true } };
require(process.argv[1] + "/assets/embed.js");
var input = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(input.map(function (c) {
  return window.atlas.embed.links(c.stored, c.bounds);
})));
"""


def test_embed_js_links_agree_with_export_url() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    st = state.ViewState(authority=CAMDEN, level="oa11", variable="ks102ew0002_pct", k=6, reverse=True)
    national = state.ViewState(variable="ks102ew0018")
    bounds = [[51.512345678, -0.21341234], [51.5789, -0.1051]]
    cases = [
        {"stored": {"state": st.as_dict(), "search": state.to_query(st)}, "bounds": bounds},
        {"stored": {"state": national.as_dict(), "search": state.to_query(national)},
         "bounds": [[30.0, -40.0], [70.0, 30.0]]},  # zoomed out past Great Britain: cut to what exports draw
        {"stored": {"state": st.as_dict(), "search": state.to_query(st)}, "bounds": None},
    ]
    done = subprocess.run([node, "-e", NODE_SCRIPT, str(ROOT)], capture_output=True, text=True, timeout=60,
                          input=json.dumps(cases), check=True)
    got = json.loads(done.stdout)
    box = (-0.21341234, 51.512345678, -0.1051, 51.5789)
    assert got[0][:4] == [export.url(st, "png", box, 96), export.url(st, "png", box, 300),
                          export.url(st, "svg", box), export.url(st, "pdf", box)]
    assert got[0][4:] == [f"/api/values/{CAMDEN}/oa11/ks102ew0002_pct.{ext}"
                          for ext in ("csv", "geojson", "gpkg", "parquet")] + [f"/datapack/{CAMDEN}.zip", False]
    assert got[1][0] == export.url(national, "png", (-10, 48, 4, 62), 96)
    assert got[1][-2:] == ["#", True]  # no datapack for the national view
    assert got[2][2] == export.url(st, "svg")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_POINT_KEYS = st.one_of(
    st.text(max_size=80),
    st.lists(st.tuples(st.sampled_from(["points", "measure", "day", "site", "variable", "controls", "x"]),
                       st.one_of(st.text(max_size=20), st.from_regex(r"\Ads[0-9]{1,14}(_[a-z]{1,5})?\Z"))),
             max_size=5).map(lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)),
    st.none(), st.integers(), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))


@settings(max_examples=150, deadline=None)
@given(keys=_POINT_KEYS)
def test_hostile_point_keys_never_break_the_snippet(keys: object) -> None:
    """The point layer's state comes from the browser: whatever its ``keys``, the snippet is made or refused
    with words, its address holds only the view's and the point layer's keys (never ``site``), and a point
    dataset of the City Datastore that is not public (here: none is) is never offered."""
    from urllib.parse import parse_qsl, urlparse  # noqa: PLC0415

    from atlas import registry  # noqa: PLC0415

    canonical = {"state": {}, "search": "?authority=all&level=lad&variable=ks102ew0018"}
    with flask.Flask(__name__).test_request_context("/_dash-update-component", base_url="http://127.0.0.1:8050"):
        code, preview, problem = embed.write_snippet(1, ["points"], "600", "400", canonical, "t",
                                                     {"keys": keys} if not isinstance(keys, dict) else keys)
    if not code:
        assert problem
        return
    allowed = set(state.KEYS) | set(share.EMBED_POINT_KEYS) | {"controls"}
    pairs = parse_qsl(urlparse(preview).query, keep_blank_values=True)
    assert {k for k, _ in pairs} <= allowed and "site" not in {k for k, _ in pairs}
    assert registry.embed_refusal(urlparse(preview).query) is None
