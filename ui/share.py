"""The explorer's Export, Download data and Embed controls, and the ``<iframe>`` snippet they write.

The links' ``href`` follow the view and the map's bounds (clientside, assets/embed.js); the snippet comes
from ``snippet_for`` through the ``write_snippet`` callback (callbacks/embed.py).
"""

from __future__ import annotations

import html as html_text
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from dash import dcc, html
from dash.development.base_component import Component
from werkzeug.sansio.utils import host_is_trusted

from atlas import settings
from atlas import viewstate as state
from ui.ids import SHARE as S
from ui.routing import validating

__all__ = [
    "CONTROL_LABELS", "DATA_FORMATS", "EMBED_POINT_KEYS", "EXPORT_LINKS", "HEIGHT_PX", "WIDTH_PX", "parse_size",
    "public_origin", "share_tools", "snippet", "snippet_for",
]

#: Controls an embed may show, by URL key, with the words used in the Embed dialog.
CONTROL_LABELS: dict[str, str] = {
    "authority": "Area", "level": "Geography", "variable": "Variable", "scheme": "Classification method",
    "k": "Number of classes", "scope": "Breaks computed (local or national)", "palette": "Colours",
    "reverse": "Reverse colours", "opacity": "Opacity",
    "points": "Points on the map (which points, their reading and day)",
}
#: The point layer's keys an embed carries (its site card is not shown there: no ``site``).
EMBED_POINT_KEYS: tuple[str, ...] = ("points", "measure", "day")
#: (id, label, format, dpi) of the Export links.
EXPORT_LINKS: tuple[tuple[str, str, str, int | None], ...] = (
    (S.EXPORT_PNG, "PNG for screens (96 dpi)", "png", 96),
    (S.EXPORT_PNG_PRINT, "PNG for print (300 dpi)", "png", 300),
    (S.EXPORT_SVG, "SVG (vector)", "svg", None),
    (S.EXPORT_PDF, "PDF (A4 landscape)", "pdf", None),
)
#: (id, label, extension) of the Download data links (/api/values/...).
DATA_FORMATS: tuple[tuple[str, str, str], ...] = (
    (S.DATA_CSV, "CSV", "csv"), (S.DATA_GEOJSON, "GeoJSON (with boundaries)", "geojson"),
    (S.DATA_GPKG, "GeoPackage (with boundaries)", "gpkg"),
    (S.DATA_PARQUET, "GeoParquet (with boundaries)", "parquet"),
)
_SIZE = re.compile(r"^\s*(\d{1,5})\s*(px|%)?\s*$")
WIDTH_PX = (200, 4000)
HEIGHT_PX = (150, 4000)


# -- the snippet ------------------------------------------------------------------------------------------

NO_ORIGIN = ("This server does not know its public address, so it cannot write code for other sites: its "
             "administrator should set ATLAS_PUBLIC_URL (or list this host in ATLAS_ALLOWED_HOSTS).")


def public_origin(host_url: str, host: str, config: settings.Settings | None = None) -> str | None:
    """The address other sites should load the embed from: ``ATLAS_PUBLIC_URL`` when set; otherwise the
    address the request came to (``host_url``), but only when its ``host`` is in ``ATLAS_ALLOWED_HOSTS``
    (a Host header is whatever the client sent: a snippet built from it could send readers anywhere).
    None when neither can be trusted."""
    config = config or settings.load()
    if config.public_url:
        return config.public_url + "/"
    if host and host_is_trusted(host, list(config.allowed_hosts)):
        return host_url
    return None

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
    """The ``<iframe>`` for the view ``view_query`` (the explorer's canonical query string, with the point
    layer's keys when it shows points) on the site ``origin``, showing the controls ``shown``; attribute values
    escaped."""
    pairs = parse_qsl((view_query or "").lstrip("?"), keep_blank_values=True)
    pairs = [(k, v) for k, v in pairs if k in state.KEYS or k in EMBED_POINT_KEYS]
    keys = [k for k in CONTROL_LABELS if k in shown]
    if keys:
        pairs.append(("controls", ",".join(keys)))
    src = origin.rstrip("/") + state.EMBED_PATH + ("?" + urlencode(pairs, safe=",") if pairs else "")
    attrs = [("src", src), ("title", title or "Map from Neighbourhood Atlas"), ("width", width),
             ("height", height), ("style", "border:0"), ("loading", "lazy")]
    return "<iframe " + " ".join(f'{k}="{html_text.escape(v, quote=True)}"' for k, v in attrs) + "></iframe>"


def snippet_for(origin: str | None, canonical: dict | None, shown: list[str] | None, width: Any, height: Any,
                title: Any) -> tuple[str, str, str]:
    """(snippet, preview URL, problem) for the dialog; a bad size gives an empty snippet and says why, and so
    does an ``origin`` of None (no trusted public address)."""
    if not isinstance(canonical, dict) or not isinstance(canonical.get("search"), str) or not canonical["search"]:
        return "", "", "The map has not finished loading; try again in a moment."
    if origin is None:
        return "", "", NO_ORIGIN
    shown = [s for s in shown if isinstance(s, str)] if isinstance(shown, list) else []
    w, problem_w = parse_size(width, WIDTH_PX, "width")
    h, problem_h = parse_size(height, HEIGHT_PX, "height")
    if problem_w or problem_h:
        return "", "", " ".join(p for p in (problem_w, problem_h) if p)
    text = title if isinstance(title, str) and title else "Map from Neighbourhood Atlas"
    code = snippet(origin, canonical["search"], list(shown or []), w, h, text)
    src = html_text.unescape(re.search(r'src="([^"]*)"', code).group(1))
    return code, src, ""


# -- the explorer's share tools --------------------------------------------------------------------------

def _menu(summary: str, list_id: str, items: list[Component] | None) -> html.Details:
    return html.Details(className="share-menu", children=[
        html.Summary(summary), html.Ul(items, className="share-links", **{"aria-label": summary}, id=list_id)])


def share_tools() -> html.Div:
    """Export, Download data and Embed, for the explorer's map column. **Created when first approached**: the
    menus' links and the Embed dialog (40 of the tools' 49 components) are not drawn with the page; their
    layouts wait in ``PARTS`` (JSON that React does not draw) and ``atlas_embed.links`` (assets/embed.js) puts
    them in place once the tools are first focused or pressed (``OPENED``), then writes the links' addresses,
    which follow the view and the map's bounds from then on. Dash's validation layout has them in place."""
    export_items = [html.Li(html.A(label, id=link_id, href="/export/map." + fmt, download="",
                                   className="share-link")) for link_id, label, fmt, _ in EXPORT_LINKS]
    data_items = [html.Li(html.A(label, id=link_id, href="#", download="", className="share-link"))
                  for link_id, label, _ in DATA_FORMATS]
    data_items.append(html.Li(id=S.DATAPACK_ITEM, children=html.A(
        "Whole-authority datapack (zip: every variable, every level, boundaries, README)", id=S.DATAPACK,
        href="#", download="", className="share-link")))
    parts = {S.EXPORT_LIST: export_items, S.DATA_LIST: data_items, S.DIALOG_BOX: _dialog()}
    inline = parts if validating() else None
    return html.Div(id=S.TOOLS, className="share-tools", role="group", **{"aria-label": "Export, download, embed"},
                    children=[
        _menu("Export map", S.EXPORT_LIST, inline and inline[S.EXPORT_LIST]),
        _menu("Download data", S.DATA_LIST, inline and inline[S.DATA_LIST]),
        html.Button("Embed…", id=S.EMBED_BUTTON, type="button", className="share-button",
                    **{"aria-haspopup": "dialog", "aria-controls": S.DIALOG}),
        html.Div(inline and inline[S.DIALOG_BOX], id=S.DIALOG_BOX, className="embed-dialog-box"),
        dcc.Store(id=S.PARTS, data=None if inline else parts), dcc.Store(id=S.OPENED, data=False),
    ])


def _dialog() -> html.Dialog:
    """The Embed dialog: which controls the embedded map offers, its size, and the code to paste."""
    choices = [{"label": f" {label}", "value": key} for key, label in CONTROL_LABELS.items()]
    return html.Dialog(id=S.DIALOG, className="embed-dialog", **{"aria-labelledby": S.DIALOG_TITLE}, children=[
        html.H2("Embed this map", id=S.DIALOG_TITLE),
        html.P("Paste this into a web page to show the current map and its legend. The map fills the frame "
               "and its source and licence are always shown.", className="help"),
        html.Fieldset(className="embed-options", children=[
            html.Legend("Controls readers can use in the embedded map"),
            dcc.Checklist(id=S.DIALOG_CONTROLS, options=choices, value=[], className="embed-checks"),
        ]),
        html.Div(className="embed-sizes", children=[
            html.Div(className="field", children=[
                html.Label("Width", htmlFor=S.DIALOG_WIDTH),
                dcc.Input(id=S.DIALOG_WIDTH, type="text", value="100%", debounce=True, autoComplete="off",
                          inputMode="text"),
                html.Small("pixels (e.g. 640) or a percentage of the page (100%)", className="help")]),
            html.Div(className="field", children=[
                html.Label("Height", htmlFor=S.DIALOG_HEIGHT),
                dcc.Input(id=S.DIALOG_HEIGHT, type="text", value="480", debounce=True, autoComplete="off"),
                html.Small("pixels (e.g. 480)", className="help")]),
        ]),
        html.P(id=S.DIALOG_PROBLEM, className="message", role="alert"),
        html.Label("Code to paste", htmlFor=S.DIALOG_SNIPPET),
        dcc.Textarea(id=S.DIALOG_SNIPPET, readOnly=True, rows=4, className="embed-snippet", value=""),
        html.Div(className="embed-actions", children=[
            html.Button("Copy code", id=S.DIALOG_COPY, type="button", className="share-button"),
            html.A("Preview in a new tab", id=S.DIALOG_PREVIEW, href="#", target="_blank", rel="noopener"),
            html.Button("Close", id=S.DIALOG_CLOSE, type="button", className="share-button"),
            html.Span(id=S.DIALOG_COPIED, className="help", role="status", **{"aria-live": "polite"}),
        ]),
    ])
