"""Make your own area: ``/areas/new`` (ui/areas.py)."""

from __future__ import annotations

from typing import Any

import dash
from dash.development.base_component import Component

from ui import areas

dash.register_page(__name__, path="/areas/new", name="Make your own area",
                   title="Make your own area – Neighbourhood Atlas")


def layout(level: Any = None, codes: Any = None, **_: Any) -> Component:
    return areas.page(level, codes)
