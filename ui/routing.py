"""What the pages share about Dash's router.

Dash's page router re-renders the whole page whenever the address's query string changes, but in this
atlas the query string *is* the view, and the explorer's own callbacks redraw it in place from the same
address (the map, its geometry and the controls stay). So a page's layout is built when the path changes
(a first load, a link to another page) and the router is told not to rebuild it when only the query
string changed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
from dash.exceptions import PreventUpdate

__all__ = ["keep_page_on_query_change", "search_of", "validating"]

_PATHNAME = "_pages_location.pathname"


def keep_page_on_query_change() -> None:
    """Raise PreventUpdate when the router was called for a query-string change alone.

    Outside a callback (Dash builds its validation layout by calling each page's layout once) this does
    nothing.
    """
    try:
        triggered = dash.callback_context.triggered_prop_ids
    except Exception:  # noqa: BLE001 - no callback context: not the router's call
        return
    if triggered and _PATHNAME not in triggered:
        raise PreventUpdate


def search_of(query: dict[str, Any]) -> str:
    """The query string of the keyword arguments Dash gives a page's layout (a repeated key arrives as a
    list: the atlas takes the last value, as viewstate.parse_query does)."""
    pairs = [(k, v[-1] if isinstance(v, list) else v) for k, v in query.items()
             if isinstance(k, str) and (isinstance(v, str) or (isinstance(v, list) and v and isinstance(v[-1], str)))]
    return "?" + urlencode(pairs) if pairs else ""


def validating() -> bool:
    """Whether the layout is being built for Dash's validation layout (outside any callback), not for a
    page: parts created later by callbacks (the compare view's dcc.Graph) are listed only then, so the
    renderer knows their ids without the page ever loading them."""
    try:
        dash.callback_context.triggered_prop_ids  # noqa: B018 - raises outside a callback
    except Exception:  # noqa: BLE001
        return True
    return False
