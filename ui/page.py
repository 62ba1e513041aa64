"""The page Dash serves around its app: what it loads before the renderer, and what is painted before it.

- **No @babel/polyfill.** Dash puts Babel's polyfill (core-js 2 and regenerator-runtime, 90 KB) before React
  on every page, for browsers that lack ES2015. Evaluating it took 0.9-1.0 s of a phone's main thread under
  Lighthouse's mobile preset (a quarter of the page's script time), and no browser this atlas runs in needs
  it: the map draws in Web Workers with OffscreenCanvas (2023 and later). The one thing Dash's renderer still
  calls, the global ``regeneratorRuntime`` of Babel's old async transform, comes from
  assets/vendor/regenerator.js (npm's regenerator-runtime, bundled by ``npm run build`` in js/).
- **The explorer's title bar is in the page's HTML**, not in Dash's layout: the skip link, the atlas's name and
  the button that opens the controls on a phone. Painted with the HTML, before any script runs (the first
  paint of the explorer was otherwise its search box's placeholder, 4 s into a phone's load), and never
  re-rendered by React. The embeddable map (``/embed``) has no title bar.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import flask
from dash import _dash_renderer

from ui import ids

__all__ = ["POLYFILL", "drop_polyfill", "masthead", "with_masthead"]

POLYFILL = "polyfill@"
#: Pages whose HTML carries the title bar (the explorer's paths).
MASTHEAD_PATHS = ("/",)


def drop_polyfill() -> None:
    """Remove the polyfill from the scripts Dash writes into every page (its list of React's dependencies,
    read each time a page is served; React, ReactDOM and prop-types stay)."""
    for dependency in _dash_renderer._js_dist_dependencies:  # Dash offers no setting for it
        for key in ("external_url", "relative_package_path"):
            for mode, paths in dependency.get(key, {}).items():
                dependency[key][mode] = [p for p in paths if POLYFILL not in p]


def masthead() -> str:
    """The explorer's title bar as HTML: the skip link (the first Tab stop), the name, one line saying what
    it is (with the link to make your own area: ui/areas.py), and the phone's "Map controls" button
    (assets/places.js opens the controls)."""
    return (
        f'<div class="atlas atlas-head"><a class="skip-link" id="{ids.SKIP_LINK}" href="#{ids.MAP}">Skip to the '
        f'map</a><header class="masthead"><h1>Neighbourhood Atlas</h1><p>Census and deprivation figures for '
        f'the neighbourhoods of England and Wales. <a href="/areas/new" id="make-area-link">Make your own area</a>'
        f'</p><button type="button" class="controls-toggle" '
        f'id="{ids.CONTROLS_TOGGLE}" aria-expanded="false" aria-controls="{html.escape(ids.CONTROLS_PANEL)}">'
        f'Map controls</button></header></div>')


def with_masthead(interpolate: Callable[..., str]) -> Callable[..., str]:
    """Dash's ``interpolate_index`` with the explorer's title bar written before the app's entry point."""

    def interpolate_index(**kwargs: str) -> str:
        if flask.has_request_context() and flask.request.path in MASTHEAD_PATHS:
            kwargs["app_entry"] = masthead() + kwargs["app_entry"]
        return interpolate(**kwargs)

    return interpolate_index
