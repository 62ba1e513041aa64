"""The embeddable map: ``/embed`` (its own keys ``controls`` and ``legend`` beside the view's)."""

from __future__ import annotations

from typing import Any

import dash
from dash.development.base_component import Component

from atlas import viewstate
from ui import embed
from ui.routing import keep_page_on_query_change, search_of

dash.register_page(__name__, path=viewstate.EMBED_PATH, name="Embedded map",
                   title="Map from Neighbourhood Atlas")


def layout(**query: Any) -> Component:
    keep_page_on_query_change()
    return embed.embed_layout(search_of(query))
