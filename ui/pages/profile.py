"""The area profile: ``/profile/<place>`` (ui/profile.py)."""

from __future__ import annotations

from typing import Any

import dash
from dash.development.base_component import Component

from ui import profile
from ui.routing import validating

dash.register_page(__name__, path_template="/profile/<place>", name="Area profile",
                   title=lambda place=None, **_: f"Profile of {place} – Neighbourhood Atlas" if place
                   else "Area profile – Neighbourhood Atlas")


def layout(place: str | None = None, level: str | None = None, **_: Any) -> Component:
    if validating():
        return profile.page(None)  # Dash's validation layout: no place, no data read
    return profile.page(place, level if isinstance(level, str) and level else None)
