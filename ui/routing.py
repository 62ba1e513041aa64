"""What the pages share about Dash's router.

Dash's page router re-renders the whole page whenever the address's query string changes, but in this
atlas the query string *is* the view, and the explorer's own callbacks redraw it in place from the same
address (the map, its geometry and the controls stay). So a page's layout is built when the path changes
(a first load, a link to another page) and the router is told not to rebuild it when only the query
string changed.
"""

from __future__ import annotations

import dash
from dash.exceptions import PreventUpdate

__all__ = ["keep_page_on_query_change"]

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
