"""Every component id of the explorer, in one place.

The ten controls carry the names of their URL query keys (issue 3 §6), so ``?variable=...`` sets the
component whose id is ``variable``; ``CONTROLS`` lists them in the order they appear in a URL.
"""

from __future__ import annotations

__all__ = [
    "AREAS", "ATTRIBUTION", "AUTHORITY", "BREAKS", "BREAKS_ROW", "CONTROLS", "HELP", "K", "LAYER", "LEGEND",
    "LEVEL", "LEVEL_ROW", "MAP", "MESSAGE", "OPACITY", "OUTLINE", "PALETTE", "PAYLOAD", "REVERSE", "SCHEME",
    "SCOPE", "SCOPE_ROW", "SELECTED", "STATE", "TABLE", "TABLE_PAGE", "TABLE_SORT", "TITLE", "URL", "VARIABLE",
]

# Controls: id == URL query key.
AUTHORITY = "authority"
LEVEL = "level"
VARIABLE = "variable"
SCHEME = "scheme"
K = "k"
BREAKS = "breaks"
SCOPE = "scope"
PALETTE = "palette"
REVERSE = "reverse"
OPACITY = "opacity"
CONTROLS: tuple[str, ...] = (AUTHORITY, LEVEL, VARIABLE, SCHEME, K, BREAKS, SCOPE, PALETTE, REVERSE, OPACITY)

# Wrappers shown or hidden with the control they hold.
LEVEL_ROW = "level-row"
SCOPE_ROW = "scope-row"
BREAKS_ROW = "breaks-row"

URL = "url"
STATE = "view-state"  # the view as last rendered from the URL (normalised), for the URL writer to compare with
PAYLOAD = "view-payload"  # what a switch sends: values, breaks, colours ... (see mapview.py)
AREAS = "view-areas"  # codes and names of the areas on the map, sent once per authority and level
SELECTED = "selected-area"
TABLE_SORT = "table-sort"
TABLE_PAGE = "table-page"

MAP = "map"
LAYER = "areas-layer"
OUTLINE = "outline-layer"
TITLE = "view-title"
MESSAGE = "message"
HELP = "view-help"
LEGEND = "legend"
TABLE = "area-table"
ATTRIBUTION = "data-attribution"
