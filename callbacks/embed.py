"""Callbacks of the explorer's share tools (the Embed dialog's snippet, the Export and Download links)
and of the /embed page (its "open in the atlas" link, its legend folded on a tiny frame).

The layouts are in ui/share.py and ui/embed.py; the clientside functions in assets/embed.js.
"""

from __future__ import annotations

from typing import Any

import dash
import flask
from dash import ClientsideFunction, Input, Output, State

from atlas import access, registry
from ui import ids
from ui.ids import EMBED as E
from ui.ids import SHARE as S
from ui.share import public_origin, snippet_for

__all__ = ["write_snippet"]


@dash.callback(
    Output(S.DIALOG_SNIPPET, "value"), Output(S.DIALOG_PREVIEW, "href"), Output(S.DIALOG_PROBLEM, "children"),
    # The dialog's fields are optional: it is created when the tools are first approached (ui/share.py), and
    # the button's press may in principle reach Dash first.
    Input(S.EMBED_BUTTON, "n_clicks"), Input(S.DIALOG_CONTROLS, "value", allow_optional=True),
    Input(S.DIALOG_WIDTH, "value", allow_optional=True), Input(S.DIALOG_HEIGHT, "value", allow_optional=True),
    State(ids.STATE, "data"), State(ids.TITLE, "children"), State(ids.POINTS.STATE, "data"),
    prevent_initial_call=True,
)
@access.declares("site.view")
def write_snippet(_: int | None, shown: list[str] | None, width: Any, height: Any, canonical: dict | None,
                  title: Any, points: Any = None) -> tuple[str, str, str]:
    """The dialog's snippet for the view on screen when it was opened (or an option changed), with the
    point layer drawn over it (``points``: its state, whose ``keys`` are its part of the address).

    The snippet's address is ATLAS_PUBLIC_URL, or this request's only when its Host is allowed (ui/share.py)."""
    # Values come from the browser and may be anything: keep only the types the dialog sends.
    if not isinstance(shown, list) or not all(isinstance(s, str) for s in shown):
        shown = []
    width = width if isinstance(width, (str, int)) and not isinstance(width, bool) else None
    height = height if isinstance(height, (str, int)) and not isinstance(height, bool) else None
    if not isinstance(canonical, dict):
        canonical = None
    keys = points.get("keys") if isinstance(points, dict) else None
    if canonical and isinstance(canonical.get("search"), str) and isinstance(keys, str) and keys:
        canonical = {**canonical, "search": canonical["search"] + ("&" if canonical["search"] else "?") + keys}
    refusal = registry.embed_refusal(canonical.get("search", "") if canonical else "")
    if refusal:  # dataset.embed: only public data is ever embeddable
        return "", "", refusal
    origin = public_origin(flask.request.host_url, flask.request.host)
    return snippet_for(origin, canonical, shown, width, height, title)


# Export and download links follow the view and the map's bounds (assets/embed.js), once the share tools were
# first approached (``OPENED``): the links and the dialog are created then (ui/share.py). The links are set with
# ``set_props``, as they do not exist before; the output named here is never set: it keeps the callback to
# the explorer's page.
dash.clientside_callback(
    ClientsideFunction("atlas_embed", "links"),
    Output(S.TOOLS, "className"),
    Input(ids.STATE, "data"), Input(ids.MAP_BOUNDS, "data"), Input(S.OPENED, "data"), State(S.PARTS, "data"),
    prevent_initial_call=True,
)

# The embed page: its "open in the atlas" link follows the view; a tiny frame starts with the legend folded.
dash.clientside_callback(
    ClientsideFunction("atlas_embed", "open_link"),
    Output(E.OPEN_LINK, "href"),
    Input(ids.STATE, "data"),
    prevent_initial_call=True,
)

dash.clientside_callback(
    ClientsideFunction("atlas_embed", "fold_legend"),
    Output(E.LEGEND_BOX, "open"),
    Input(E.LEGEND_BOX, "className"),
)
