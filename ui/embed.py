"""The /embed page: one map and its legend filling whatever frame it is put in, the controls asked for by
``controls=``, the source and licence, and a link to the full explorer (registered in ui/pages/embed.py).

The same component ids as the explorer, so the explorer's callbacks draw it from the same URL keys;
controls not asked for are in the page but hidden. Nothing the embed page loads sets a cookie.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

from dash import dcc, html
from dash.development.base_component import Component

from atlas import catalogue, points, registry, settings
from atlas import mapview as view
from atlas import viewstate as state
from ui import ids
from ui.explorer import controls, stores, the_map
from ui.ids import EMBED as E
from ui.share import CONTROL_LABELS

__all__ = ["EMBED_KEYS", "POINTS_CONTROL", "TINY", "embed_layout", "parse_controls"]

#: The embed page's own URL keys, beside the explorer's view keys.
EMBED_KEYS: tuple[str, ...] = state.EMBED_KEYS
#: Shown with the control of the key (custom breaks are typed where the scheme is chosen).
_COMPANIONS = {"scheme": ("breaks",)}
_HIDDEN_CLASS = "embed-hidden"
#: The ``controls=`` word of the point layer's controls (its dataset, reading and day: one fieldset).
POINTS_CONTROL = "points"
TINY = (420, 320)  # width, height in CSS px under which the legend starts folded


def parse_controls(text: str | None) -> tuple[list[str], list[str]]:
    """``controls=variable,scheme,k`` -> the control keys to show, in the explorer's order, and messages
    about names not understood. ``all`` shows every control; empty or ``none`` shows none."""
    if text is None or not text.strip() or text.strip().lower() == "none":
        return [], []
    words = [w.strip().lower() for w in re.split(r"[,\s]+", text) if w.strip()]
    if "all" in words:
        return [*ids.CONTROLS, POINTS_CONTROL], []
    unknown = [w for w in words if w not in CONTROL_LABELS]
    chosen = {w for w in words if w in CONTROL_LABELS}
    for key in list(chosen):
        chosen.update(_COMPANIONS.get(key, ()))
    messages = []
    if unknown:
        shown = ", ".join(repr(w[:30]) for w in unknown[:5])
        messages.append(f"The embed cannot show the control{'s' if len(unknown) > 1 else ''} {shown}; "
                        f"controls= takes any of {', '.join(CONTROL_LABELS)} (comma-separated), or all.")
    return [k for k in (*ids.CONTROLS, POINTS_CONTROL) if k in chosen], messages


def _split_query(search: str | None) -> tuple[dict[str, str], str]:
    """The embed keys of ``search`` and the rest of it (the view's keys) as a query string."""
    pairs = parse_qsl((search or "").lstrip("?"), keep_blank_values=True)
    own = {k: v for k, v in pairs if k in EMBED_KEYS}
    rest = [(k, v) for k, v in pairs if k not in EMBED_KEYS]
    return own, ("?" + urlencode(rest)) if rest else ""


def _control_key(field: Any) -> str | None:
    """The URL key of the control a field of ``layout.controls`` holds (the Table list goes with the
    Variable list it fills)."""
    if "points-controls" in (getattr(field, "className", None) or ""):
        return POINTS_CONTROL
    found = [getattr(field, "id", None)] + [getattr(child, "id", None)
                                             for child in getattr(field, "children", None) or []]
    for control_id in found:
        if control_id == ids.GROUP:
            return ids.VARIABLE
        if control_id == ids.CATEGORY_NOTE:  # said in place of the classification controls
            return ids.SCHEME
        if control_id in ids.CONTROLS:
            return control_id
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
        return view.title(st, place, row), view.attribution(row, s.authority(st.authority), st.level)
    except Exception:  # noqa: BLE001 - the render callback fills them in (and says what went wrong)
        return None, None


def embed_layout(search: str | None) -> Component:
    """The /embed page for the query string ``search``: the map and its legend filling the frame, the
    controls asked for by ``controls=``, the source and licence, and a link to the full explorer.

    Never blank: without extracts, or with keys it cannot use, it says so in words."""

    own, view_query = _split_query(search)
    shown, messages = parse_controls(own.get("controls"))
    legend_pref = (own.get("legend") or "").strip().lower()
    if legend_pref not in ("", "open", "closed"):
        messages.append(f"legend={legend_pref[:30]!r} is not understood; use legend=open or legend=closed.")
        legend_pref = ""
    config = settings.load()
    try:
        s = catalogue.of_request()
        # The layout is fetched by a request under /embed: anonymous (web/auth.py), so the point datasets
        # listed are the public ones, the only ones an embed may show.
        authorities, build_id, point_options = s.authorities(), s.build_id, points.options(s)
    except FileNotFoundError as exc:
        return html.Main(className="atlas-embed embed-unavailable", children=[
            html.P(f"This map is not available: the data is not on this server yet ({exc}).", role="alert"),
            html.A("Neighbourhood Atlas", href="/", target="_blank", rel="noopener"),
        ])
    refusal = registry.embed_refusal(view_query)  # dataset.embed: only public data, never a blank map
    if refusal is not None:
        return html.Main(className="atlas-embed embed-unavailable", children=[
            html.P(refusal, role="alert"), html.A("Neighbourhood Atlas", href="/", target="_blank", rel="noopener")])
    title, attribution = _first_words(s, view_query)
    form = controls(authorities, point_options=point_options)
    visible, hidden = [], []
    for field in form.children:
        (visible if _control_key(field) in shown else hidden).append(field)
    form.children = visible + [html.Div(hidden, hidden=True, className=_HIDDEN_CLASS)]
    form.className = "controls embed-controls" + ("" if shown else " " + _HIDDEN_CLASS)
    if not shown:
        form.hidden = True
    return html.Div(id=E.ROOT, className="atlas-embed", children=[
        *stores(view_query),
        dcc.Store(id=ids.COMPARE.STATE),  # no compare view here: its keys stay out of the embed's address
        html.Header(className="embed-head", children=[
            html.H1(title, id=ids.TITLE, className="embed-title"),
            form,
        ]),
        html.Div(className="embed-body", children=[
            html.Div(the_map(config, build_id), className="embed-mapbox"),
            # Over the map, not above it: a message must not change the map's size (see _first_words).
            html.Div(className="embed-messages", children=[
                html.Div(id=E.NOTICE, className="message", role="status", children=[html.P(m) for m in messages]),
                html.Div(id=ids.MESSAGE, className="message", role="status", **{"aria-live": "polite"}),
            ]),
            html.Details(id=E.LEGEND_BOX, open=legend_pref != "closed",
                         className="embed-legend" + ("" if legend_pref else " legend-auto"), children=[
                html.Summary("Legend"),
                html.Div(id=ids.LEGEND, className="legend"),
                # The point layer's legend (its classes, as-of time, source), shown when the address has points=.
                html.Div(id=ids.POINTS.LEGEND, className="legend points-legend", hidden=True),
            ]),
        ]),
        html.Footer(className="embed-foot", children=[
            # The link first: on a tiny frame the sources scroll and the link stays in sight.
            html.A("Open in Neighbourhood Atlas", id=E.OPEN_LINK, href="/" + view_query, target="_blank",
                   rel="noopener", className="embed-open",
                   title="Open this map in the full Neighbourhood Atlas (new tab)"),
            html.P(attribution, id=ids.ATTRIBUTION, className="attribution"),
        ]),
        # Parts the explorer's callbacks also write to; the embed shows neither a table nor its help line, nor
        # the area and site cards (an embedded map of points draws its markers and their legend only).
        html.Div(hidden=True, className=_HIDDEN_CLASS, children=[
            html.P(id=ids.HELP), html.Div(id=ids.TABLE), html.Section(id=ids.AREA_CARD),
            html.Section(id=ids.POINTS.CARD)]),
    ])
