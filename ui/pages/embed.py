"""The embeddable map: ``/embed`` (its own keys ``controls`` and ``legend`` beside the view's)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash
from dash.development.base_component import Component

from atlas import viewstate
from ui import embed
from ui.routing import keep_page_on_query_change

dash.register_page(__name__, path=viewstate.EMBED_PATH, name="Embedded map",
                   title="Map from Neighbourhood Atlas")


def layout(**query: Any) -> Component:
    keep_page_on_query_change()
    # Dash gives a repeated key as a list; the atlas takes the last value, as viewstate.parse_query does.
    pairs = [(k, v[-1] if isinstance(v, list) else v) for k, v in query.items() if isinstance(v, (str, list)) and v]
    return embed.embed_layout("?" + urlencode(pairs) if pairs else "")
