"""The explorer: ``/`` (the view's keys are in the query string; callbacks/explorer.py draws it)."""

from __future__ import annotations

from typing import Any

import dash
from dash.development.base_component import Component

from ui import explorer
from ui.routing import keep_page_on_query_change, search_of

dash.register_page(__name__, path="/", name="Explorer", title="Neighbourhood Atlas")


def layout(**query: Any) -> Component:
    keep_page_on_query_change()
    return explorer.layout(search_of(query))
