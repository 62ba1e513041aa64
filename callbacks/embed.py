"""The embed page (``/embed``) and the explorer's Export, Download data and Embed controls (issue 5).

The embed page is the explorer's own Dash app with another layout: the same component ids, so the same
callbacks draw the same map, legend and attribution from the same URL keys; controls not asked for are in
the page but hidden (``controls=variable,scheme,k``). Dash serves its index page for any path, but the
layout itself is fetched from ``/_dash-layout``, so the layout function cannot read the page's path from
the request: it reads it from the ``Referer`` of that request (the renderer's own same-origin fetch, which
carries the full page URL under the site's ``strict-origin-when-cross-origin`` policy). A request without
one gets the explorer, as it always did.

Nothing the embed page loads sets a cookie (Dash, its assets, the data API and the geometry set none;
security.py also strips any ``Set-Cookie`` from /embed).

The explorer's share tools are links whose ``href`` a clientside callback keeps in step with the view and
the map's bounds (assets/embed.js), and a native ``<dialog>`` that writes the iframe snippet (``snippet``).
"""

from __future__ import annotations

import html as html_text
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import dash
import flask
from dash import ClientsideFunction, Input, Output, State, dcc, html
from dash.development.base_component import Component

import mapview as view
import security
import settings
import store as store_module
import viewstate as state
from callbacks import ids

__all__ = [
    "CONTROL_LABELS", "DATA_FORMATS", "EMBED_KEYS", "EXPORT_LINKS", "embed_layout", "embed_search", "page_layout",
    "parse_controls", "parse_size", "share_tools", "snippet", "snippet_for", "validation_layout",
]

EMBED_PATH = security.EMBED_PATH
#: The embed page's own URL keys, beside the explorer's view keys.
EMBED_KEYS: tuple[str, ...] = ("controls", "legend")
#: Controls an embed may show, by URL key, with the words used in the Embed dialog.
CONTROL_LABELS: dict[str, str] = {
    "authority": "Area", "level": "Geography", "variable": "Variable", "scheme": "Classification method",
    "k": "Number of classes", "scope": "Breaks computed (local or national)", "palette": "Colours",
    "reverse": "Reverse colours", "opacity": "Opacity",
}
#: Shown with the control of the key (custom breaks are typed where the scheme is chosen).
_COMPANIONS = {"scheme": ("breaks",)}
#: (id, label, format, dpi) of the Export links.
EXPORT_LINKS: tuple[tuple[str, str, str, int | None], ...] = (
    ("export-png", "PNG for screens (96 dpi)", "png", 96),
    ("export-png-print", "PNG for print (300 dpi)", "png", 300),
    ("export-svg", "SVG (vector)", "svg", None),
    ("export-pdf", "PDF (A4 landscape)", "pdf", None),
)
#: (id, label, extension) of the Download data links (/api/values/...).
DATA_FORMATS: tuple[tuple[str, str, str], ...] = (
    ("data-csv", "CSV", "csv"), ("data-geojson", "GeoJSON (with boundaries)", "geojson"),
    ("data-gpkg", "GeoPackage (with boundaries)", "gpkg"), ("data-parquet", "GeoParquet (with boundaries)", "parquet"),
)

# Ids of the embed page's own parts.
ROOT = "embed-root"
NOTICE = "embed-notice"  # messages about the embed keys (the explorer's message box is rewritten by render)
LEGEND_BOX = "embed-legend"
OPEN_LINK = "embed-open-link"
# Ids of the explorer's share tools.
TOOLS = "share-tools"
DATAPACK = "data-datapack"
DATAPACK_ITEM = "data-datapack-item"
EMBED_BUTTON = "embed-button"
DIALOG = "embed-dialog"
DIALOG_CONTROLS = "embed-controls"
DIALOG_WIDTH = "embed-width"
DIALOG_HEIGHT = "embed-height"
DIALOG_SNIPPET = "embed-snippet"
DIALOG_PROBLEM = "embed-problem"
DIALOG_PREVIEW = "embed-preview"
DIALOG_COPY = "embed-copy"
DIALOG_COPIED = "embed-copied"
DIALOG_CLOSE = "embed-close"

_HIDDEN_CLASS = "embed-hidden"
_SIZE = re.compile(r"^\s*(\d{1,5})\s*(px|%)?\s*$")
WIDTH_PX = (200, 4000)
HEIGHT_PX = (150, 4000)
TINY = (420, 320)  # width, height in CSS px under which the legend starts folded


# -- reading the embed URL ------------------------------------------------------------------------------

def parse_controls(text: str | None) -> tuple[list[str], list[str]]:
    """``controls=variable,scheme,k`` -> the control keys to show, in the explorer's order, and messages
    about names not understood. ``all`` shows every control; empty or ``none`` shows none."""
    if text is None or not text.strip() or text.strip().lower() == "none":
        return [], []
    words = [w.strip().lower() for w in re.split(r"[,\s]+", text) if w.strip()]
    if "all" in words:
        return list(ids.CONTROLS), []
    unknown = [w for w in words if w not in CONTROL_LABELS]
    chosen = {w for w in words if w in CONTROL_LABELS}
    for key in list(chosen):
        chosen.update(_COMPANIONS.get(key, ()))
    messages = []
    if unknown:
        shown = ", ".join(repr(w[:30]) for w in unknown[:5])
        messages.append(f"The embed cannot show the control{'s' if len(unknown) > 1 else ''} {shown}; "
                        f"controls= takes any of {', '.join(CONTROL_LABELS)} (comma-separated), or all.")
    return [k for k in ids.CONTROLS if k in chosen], messages


def _split_query(search: str | None) -> tuple[dict[str, str], str]:
    """The embed keys of ``search`` and the rest of it (the view's keys) as a query string."""
    pairs = parse_qsl((search or "").lstrip("?"), keep_blank_values=True)
    own = {k: v for k, v in pairs if k in EMBED_KEYS}
    rest = [(k, v) for k, v in pairs if k not in EMBED_KEYS]
    return own, ("?" + urlencode(rest)) if rest else ""


def embed_search() -> str | None:
    """The query string of the /embed page this request is for, or None when it is not for /embed.

    The page itself (``GET /embed?...``) has the path; Dash's ``/_dash-layout`` fetch names the page in
    its Referer. Only a same-origin Referer counts (another site's page cannot ask for the embed layout)."""
    if not flask.has_request_context():
        return None
    request = flask.request
    if request.path.rstrip("/") == EMBED_PATH:
        return "?" + request.query_string.decode("utf-8", "replace") if request.query_string else ""
    referrer = request.referrer
    if not referrer:
        return None
    parts = urlsplit(referrer)
    if parts.path.rstrip("/") != EMBED_PATH or parts.netloc != request.host:
        return None
    return "?" + parts.query if parts.query else ""


def page_layout(explorer: Callable[[], Component]) -> Callable[[], Component]:
    """The app's layout function: the embed layout for /embed, the explorer's otherwise."""

    def layout() -> Component:
        search = embed_search()
        return explorer() if search is None else embed_layout(search)

    return layout


def validation_layout(explorer_page: Component | None) -> Component:
    """What Dash's renderer checks every callback's ids against (it does so even without debug): the
    explorer's page plus the parts only the embed page has. Without them the renderer logs "ID not found
    in layout" for the embed's callbacks on every page."""
    embed_only = html.Div([
        html.Div(id=ROOT), html.Div(id=NOTICE), html.A(id=OPEN_LINK), html.Details(id=LEGEND_BOX)])
    return html.Div([explorer_page, embed_only] if explorer_page is not None else [embed_only])


# -- the embed page -----------------------------------------------------------------------------------------

def _control_key(field: Any) -> str | None:
    """The URL key of the control a field of ``layout.controls`` holds."""
    control_id = getattr(field, "id", None)
    if control_id in ids.CONTROLS:
        return control_id
    for child in getattr(field, "children", None) or []:
        if getattr(child, "id", None) in ids.CONTROLS:
            return child.id
    return None


def _first_words(s: Any, view_query: str) -> tuple[str | None, str | None]:
    """The title and attribution of the view, written into the page itself: the map's frame then has its
    final size before the first callback answers, so its first fit to the authority is not made for a
    map that the title and the sources then shrink (Leaflet measures its container once)."""
    try:
        raw, _ = state.parse_query(view_query)
        st = state.resolve(raw, s, lambda a, lv: view.available_variables(s, a, lv)).state
        row = s.variable(st.variable)
        place = "" if st.authority == state.ALL else s.authority(st.authority)["name"]
        return view.title(st, place, row), view.attribution(row)
    except Exception:  # noqa: BLE001 - the render callback fills them in (and says what went wrong)
        return None, None


def embed_layout(search: str | None) -> Component:
    """The /embed page for the query string ``search``: the map and its legend filling the frame, the
    controls asked for by ``controls=``, the source and licence, and a link to the full explorer.

    Never blank: without extracts, or with keys it cannot use, it says so in words."""
    from callbacks.layout import controls, the_map  # the explorer's own parts (imported late: no cycle)

    own, view_query = _split_query(search)
    shown, messages = parse_controls(own.get("controls"))
    legend_pref = (own.get("legend") or "").strip().lower()
    if legend_pref not in ("", "open", "closed"):
        messages.append(f"legend={legend_pref[:30]!r} is not understood; use legend=open or legend=closed.")
        legend_pref = ""
    config = settings.load()
    try:
        s = store_module.get_store()
        authorities, build_id = s.authorities(), s.build_id
    except FileNotFoundError as exc:
        return html.Main(className="atlas-embed embed-unavailable", children=[
            html.P(f"This map is not available: the data is not on this server yet ({exc}).", role="alert"),
            html.A("Neighbourhood Atlas", href="/", target="_blank", rel="noopener"),
        ])
    title, attribution = _first_words(s, view_query)
    form = controls(authorities)
    visible, hidden = [], []
    for field in form.children:
        (visible if _control_key(field) in shown else hidden).append(field)
    form.children = visible + [html.Div(hidden, hidden=True, className=_HIDDEN_CLASS)]
    form.className = "controls embed-controls" + ("" if shown else " " + _HIDDEN_CLASS)
    if not shown:
        form.hidden = True
    return html.Div(id=ROOT, className="atlas-embed", children=[
        dcc.Location(id=ids.URL, refresh=False),
        dcc.Store(id=ids.STATE), dcc.Store(id=ids.PAYLOAD), dcc.Store(id=ids.AREAS),
        dcc.Store(id=ids.SELECTED), dcc.Store(id=ids.TABLE_SORT, data={"col": "rank", "dir": "asc"}),
        dcc.Store(id=ids.TABLE_PAGE, data={"page": 0}),
        html.Header(className="embed-head", children=[
            html.H1(title, id=ids.TITLE, className="embed-title"),
            form,
        ]),
        html.Div(className="embed-body", children=[
            html.Div(the_map(config, build_id), className="embed-mapbox"),
            # Over the map, not above it: a message must not change the map's size (see _first_words).
            html.Div(className="embed-messages", children=[
                html.Div(id=NOTICE, className="message", role="status", children=[html.P(m) for m in messages]),
                html.Div(id=ids.MESSAGE, className="message", role="status", **{"aria-live": "polite"}),
            ]),
            html.Details(id=LEGEND_BOX, open=legend_pref != "closed",
                         className="embed-legend" + ("" if legend_pref else " legend-auto"), children=[
                html.Summary("Legend"),
                html.Div(id=ids.LEGEND, className="legend"),
            ]),
        ]),
        html.Footer(className="embed-foot", children=[
            # The link first: on a tiny frame the sources scroll and the link stays in sight.
            html.A("Open in Neighbourhood Atlas", id=OPEN_LINK, href="/" + view_query, target="_blank",
                   rel="noopener", className="embed-open",
                   title="Open this map in the full Neighbourhood Atlas (new tab)"),
            html.P(attribution, id=ids.ATTRIBUTION, className="attribution"),
        ]),
        # Parts the explorer's callbacks also write to; the embed shows neither a table nor its help line.
        html.Div(hidden=True, className=_HIDDEN_CLASS, children=[
            html.P(id=ids.HELP), html.Div(id=ids.TABLE)]),
    ])


# -- the snippet ------------------------------------------------------------------------------------------

def parse_size(text: Any, limits: tuple[int, int], what: str) -> tuple[str | None, str | None]:
    """``"480"``, ``"480px"`` or ``"100%"`` -> the iframe attribute value, or None and why not."""
    raw = "" if text is None else str(text)
    match = _SIZE.match(raw)
    if not match:
        return None, f"The {what} must be a number of pixels (e.g. 480) or a percentage (e.g. 100%), not {raw!r}."
    number, unit = int(match.group(1)), match.group(2)
    if unit == "%":
        if not 1 <= number <= 100:
            return None, f"The {what} as a percentage must be from 1% to 100%, not {number}%."
        return f"{number}%", None
    low, high = limits
    if not low <= number <= high:
        return None, f"The {what} must be from {low} to {high} pixels, not {number}."
    return str(number), None


def snippet(origin: str, view_query: str, shown: list[str], width: str, height: str, title: str) -> str:
    """The ``<iframe>`` for the view ``view_query`` (the explorer's canonical query string) on the site
    ``origin``, showing the controls ``shown``; attribute values escaped."""
    pairs = parse_qsl((view_query or "").lstrip("?"), keep_blank_values=True)
    pairs = [(k, v) for k, v in pairs if k in state.KEYS]
    keys = [k for k in CONTROL_LABELS if k in shown]
    if keys:
        pairs.append(("controls", ",".join(keys)))
    src = origin.rstrip("/") + EMBED_PATH + ("?" + urlencode(pairs, safe=",") if pairs else "")
    attrs = [("src", src), ("title", title or "Map from Neighbourhood Atlas"), ("width", width),
             ("height", height), ("style", "border:0"), ("loading", "lazy")]
    return "<iframe " + " ".join(f'{k}="{html_text.escape(v, quote=True)}"' for k, v in attrs) + "></iframe>"


def snippet_for(origin: str, canonical: dict | None, shown: list[str] | None, width: Any, height: Any,
                title: Any) -> tuple[str, str, str]:
    """(snippet, preview URL, problem) for the dialog; a bad size gives an empty snippet and says why."""
    if not isinstance(canonical, dict) or not canonical.get("search"):
        return "", "", "The map has not finished loading; try again in a moment."
    w, problem_w = parse_size(width, WIDTH_PX, "width")
    h, problem_h = parse_size(height, HEIGHT_PX, "height")
    if problem_w or problem_h:
        return "", "", " ".join(p for p in (problem_w, problem_h) if p)
    text = title if isinstance(title, str) and title else "Map from Neighbourhood Atlas"
    code = snippet(origin, canonical["search"], list(shown or []), w, h, text)
    src = html_text.unescape(re.search(r'src="([^"]*)"', code).group(1))
    return code, src, ""


# -- the explorer's share tools --------------------------------------------------------------------------

def _menu(summary: str, list_id: str, items: list[Component]) -> html.Details:
    return html.Details(className="share-menu", children=[
        html.Summary(summary), html.Ul(items, className="share-links", **{"aria-label": summary}, id=list_id)])


def share_tools() -> html.Div:
    """Export, Download data and Embed, for the explorer's map column. Every link is filled in by the
    ``links`` clientside callback; until the view is drawn they point at the national view's defaults."""
    export_items = [html.Li(html.A(label, id=link_id, href="/export/map." + fmt, download="",
                                   className="share-link")) for link_id, label, fmt, _ in EXPORT_LINKS]
    data_items = [html.Li(html.A(label, id=link_id, href="#", download="", className="share-link"))
                  for link_id, label, _ in DATA_FORMATS]
    data_items.append(html.Li(id=DATAPACK_ITEM, children=html.A(
        "Whole-authority datapack (zip: every variable, every level, boundaries, README)", id=DATAPACK,
        href="#", download="", className="share-link")))
    choices = [{"label": f" {label}", "value": key} for key, label in CONTROL_LABELS.items()]
    dialog = html.Dialog(id=DIALOG, className="embed-dialog", **{"aria-labelledby": "embed-dialog-title"},
                         children=[
        html.H2("Embed this map", id="embed-dialog-title"),
        html.P("Paste this into a web page to show the current map and its legend. The map fills the frame "
               "and its source and licence are always shown.", className="help"),
        html.Fieldset(className="embed-options", children=[
            html.Legend("Controls readers can use in the embedded map"),
            dcc.Checklist(id=DIALOG_CONTROLS, options=choices, value=[], className="embed-checks"),
        ]),
        html.Div(className="embed-sizes", children=[
            html.Div(className="field", children=[
                html.Label("Width", htmlFor=DIALOG_WIDTH),
                dcc.Input(id=DIALOG_WIDTH, type="text", value="100%", debounce=True, autoComplete="off",
                          inputMode="text"),
                html.Small("pixels (e.g. 640) or a percentage of the page (100%)", className="help")]),
            html.Div(className="field", children=[
                html.Label("Height", htmlFor=DIALOG_HEIGHT),
                dcc.Input(id=DIALOG_HEIGHT, type="text", value="480", debounce=True, autoComplete="off"),
                html.Small("pixels (e.g. 480)", className="help")]),
        ]),
        html.P(id=DIALOG_PROBLEM, className="message", role="alert"),
        html.Label("Code to paste", htmlFor=DIALOG_SNIPPET),
        dcc.Textarea(id=DIALOG_SNIPPET, readOnly=True, rows=4, className="embed-snippet", value=""),
        html.Div(className="embed-actions", children=[
            html.Button("Copy code", id=DIALOG_COPY, type="button", className="share-button"),
            html.A("Preview in a new tab", id=DIALOG_PREVIEW, href="#", target="_blank", rel="noopener"),
            html.Button("Close", id=DIALOG_CLOSE, type="button", className="share-button"),
            html.Span(id=DIALOG_COPIED, className="help", role="status", **{"aria-live": "polite"}),
        ]),
    ])
    return html.Div(id=TOOLS, className="share-tools", role="group", **{"aria-label": "Export, download, embed"},
                    children=[
        _menu("Export map", "export-links", export_items),
        _menu("Download data", "data-links", data_items),
        html.Button("Embed…", id=EMBED_BUTTON, type="button", className="share-button",
                    **{"aria-haspopup": "dialog", "aria-controls": DIALOG}),
        dialog,
    ])


# -- callbacks --------------------------------------------------------------------------------------------

@dash.callback(
    Output(DIALOG_SNIPPET, "value"), Output(DIALOG_PREVIEW, "href"), Output(DIALOG_PROBLEM, "children"),
    Input(EMBED_BUTTON, "n_clicks"), Input(DIALOG_CONTROLS, "value"), Input(DIALOG_WIDTH, "value"),
    Input(DIALOG_HEIGHT, "value"),
    State(ids.STATE, "data"), State(ids.TITLE, "children"),
    prevent_initial_call=True,
)
def write_snippet(_: int | None, shown: list[str] | None, width: Any, height: Any, canonical: dict | None,
                  title: Any) -> tuple[str, str, str]:
    """The dialog's snippet for the view on screen when it was opened (or an option changed)."""
    return snippet_for(flask.request.host_url, canonical, shown, width, height, title)


# Export and download links follow the view and the map's bounds (assets/embed.js).
dash.clientside_callback(
    ClientsideFunction("atlas_embed", "links"),
    [Output(link_id, "href") for link_id, *_ in EXPORT_LINKS] +
    [Output(link_id, "href") for link_id, *_ in DATA_FORMATS] +
    [Output(DATAPACK, "href"), Output(DATAPACK_ITEM, "hidden")],
    Input(ids.STATE, "data"), Input(ids.MAP, "bounds"),
    prevent_initial_call=True,
)

# The embed page: its "open in the atlas" link follows the view; a tiny frame starts with the legend folded.
dash.clientside_callback(
    ClientsideFunction("atlas_embed", "open_link"),
    Output(OPEN_LINK, "href"),
    Input(ids.STATE, "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("atlas_embed", "fold_legend"),
    Output(LEGEND_BOX, "open"),
    Input(LEGEND_BOX, "className"),
)
