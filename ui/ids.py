"""Every component id of the UI, defined once: the explorer, the compare view, the share tools and /embed.

The ten controls carry the names of their URL query keys, so ``?variable=...`` sets the component whose
id is ``variable``; ``CONTROLS`` lists them in the order they appear in a URL.

The browser's scripts (assets/*.js) get these same ids from ``javascript()``, served at ``/_atlas/ids.js``
(see app.py) and read as ``window.atlas.ids``: no id is spelled twice.
"""

from __future__ import annotations

import hashlib
import json

__all__ = [
    "AREAS", "AREA_CARD", "AREA_CARD_ASK", "ATTRIBUTION", "AUTHORITY", "AUTHORITY_LIST", "AUTHORITY_OPENED",
    "BREAKS", "BREAKS_ROW", "CATEGORY_NOTE", "CLASSIFICATION_ROWS", "GROUP_GAPS_ASK",
    "COMPARE", "CONTROLS", "CONTROLS_PANEL", "CONTROLS_TOGGLE", "EMBED", "GROUP", "HELP", "K", "K_ROW", "LAYER",
    "LEGEND", "LEGEND_CLOSE", "LEGEND_PANEL", "LEGEND_STRIP", "LEVEL", "LEVEL_ROW", "MAP", "MAP_BOUNDS", "MESSAGE",
    "NAV", "NEAR_ME", "OPACITY", "OUTLINE", "PALETTE", "PALETTE_ROW", "PAYLOAD", "PLACE_RESULTS", "PLACE_SEARCH",
    "PLACE_STATUS", "POINTS", "REF_DISTRICTS", "REF_WARDS", "REVERSE", "SCHEME", "SCHEME_ROW", "SCOPE", "SCOPE_ROW",
    "SELECTED", "SHARE", "SKIP_LINK", "STATE", "TABLE", "TITLE", "URL", "URL_WRITTEN", "VARIABLE", "javascript",
    "javascript_version",
]

# -- the explorer ---------------------------------------------------------------------------------------

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
SCHEME_ROW = "scheme-row"
K_ROW = "k-row"
PALETTE_ROW = "palette-row"
#: The controls that classify and colour a numeric variable, hidden for a categorical one (the reverse
#: checkbox is its own row).
CLASSIFICATION_ROWS: tuple[str, ...] = (SCHEME_ROW, K_ROW, PALETTE_ROW, REVERSE)
CATEGORY_NOTE = "category-note"  # shown in their place: why there are no classification controls
#: The Area list's whole option list, given to the dropdown only when it is first focused or pressed
#: (AUTHORITY_OPENED, set by assets/atlas.js): Dash 4's dropdown indexes every substring of every option
#: for its search as soon as it is drawn, which for the ~400 places was a quarter of a phone's first load.
AUTHORITY_LIST = "authority-list"
AUTHORITY_OPENED = "authority-opened"

URL = "url"
NAV = "view-nav"  # the address's query string at a first load or back/forward: the view it names
STATE = "view-state"  # the view as last rendered (normalised), with its canonical query string
URL_WRITTEN = "view-url-written"  # orders atlas.write_url after the view (its output is never set)
GROUP = "variable-group"  # the Table control: which table's variables the Variable list shows
#: The Table list's value, passed on to its "Not here" callback only when that line is chosen (assets/atlas.js
#: ``gaps_ask``): a first load and every table switch asked the server for nothing.
GROUP_GAPS_ASK = "variable-group-gaps-ask"
PAYLOAD = "view-payload"  # what a switch sends: classes, labels, colours (atlas.view.paint)
AREAS = "view-areas"  # codes and names of the areas on the map, sent once per authority and level
SELECTED = "selected-area"

# Finding a place: the search box (a combobox over GET /api/search), its results, "Near me", its status line.
PLACE_SEARCH = "place-search"
PLACE_RESULTS = "place-results"
NEAR_ME = "near-me"
PLACE_STATUS = "place-status"
# The phone layout: the button that opens the controls, the controls' panel, the legend's fold.
CONTROLS_TOGGLE = "controls-toggle"
CONTROLS_PANEL = "controls-panel"
SKIP_LINK = "skip-to-map"

MAP = "map"
#: The map's bounds after each move, written by assets/atlas.js: the export links follow them. Not the map's own
#: ``bounds`` prop (dash-leaflet's trackViewport), which re-rendered the whole map component after every move.
MAP_BOUNDS = "map-bounds"
LAYER = "areas-layer"
OUTLINE = "outline-layer"
#: The reference layer (layers/reference.py, assets/reference.js): districts' and wards' boundaries.
REF_DISTRICTS = "ref-districts"
REF_WARDS = "ref-wards"
TITLE = "view-title"
#: The card of the selected area under the map: the place's exposure to the pollutant shown, the nearest
#: monitoring sites with distances (callbacks/points.py).
AREA_CARD = "area-card"
#: The selected area, passed on to the card's callback only when there is one or the card is shown
#: (assets/points.js ``card_ask``): a first load asks the server for no empty card.
AREA_CARD_ASK = "area-card-ask"
MESSAGE = "message"
HELP = "view-help"
LEGEND = "legend"
#: The legend's panel, its compact strip over the map on a phone (the classes' colours; opens the panel as a
#: sheet) and the sheet's close button.
LEGEND_PANEL = "legend-panel"
LEGEND_STRIP = "legend-strip"
LEGEND_CLOSE = "legend-close"
TABLE = "area-table"
ATTRIBUTION = "data-attribution"


class POINTS:  # noqa: N801
    """The point layer (monitoring sites, published points): its controls are named by their URL keys."""

    DATASET = "points"
    MEASURE = "measure"
    DAY = "day"  # a slider over the dataset's days (its value is the day's position; the address has the date)
    CONTROLS = (DATASET, MEASURE, DAY)
    MEASURE_ROW = "measure-row"
    DAY_ROW = "day-row"
    DAY_TEXT = "day-text"  # the chosen day in words, beside the slider
    DAY_PREV = "day-previous"
    DAY_NEXT = "day-next"
    LAYER = "points-layer"
    PANE = "points-pane"
    PAINT = "points-paint"  # what the layer draws: one class character per site, colours, radii, legend
    #: The address's view, passed on to the layer's callback only when it names a point layer or one is drawn
    #: (assets/points.js ``ask``): a first load without points makes no request for none.
    ASK = "points-ask"
    STATE = "points-state"  # the layer's canonical state and address keys, for the address and the card
    SELECTED = "site-selected"  # {"dataset", "site"}: the site whose card is open
    LEGEND = "points-legend"
    NOTE = "points-note"  # the layer's as-of time and messages
    CARD = "site-card"
    CARD_CLOSE = "site-card-close"


class COMPARE:  # noqa: N801 - a namespace of ids, spelled like the other constants
    """The compare view (``view=compare``): the two controls are named by their URL keys."""

    VIEW = "view"
    VARIABLE_B = "variable_b"
    SECTION = "compare"
    PARTS = "compare-parts"  # the layout of the view's body, created only when the compare view opens
    BODY = "compare-body"  # where it is put
    MESSAGE = "compare-message"
    PAYLOAD_B = "compare-payload-b"
    RELATION = "compare-relation"
    STATE = "compare-state"
    SELECTED = "compare-selected"  # the area whose profile is open (clicked on a compare map)
    HIGHLIGHT = "compare-highlight"  # codes highlighted on the maps and the scatter
    SEARCH = "compare-search"  # what asks for the compare view, passed on by compare.gate only when it is needed
    PINS = "compare-pins"  # the pinned areas, as the profile's Pin buttons set them
    GRAPH = "compare-graph"  # the scatter plot (dcc.Graph), created only when the compare view opens
    HOVERED = "compare-hovered"  # orders the scatter's hover callback (its output is never set)
    MAP_A, MAP_B, MAP_BV = "compare-map-a", "compare-map-b", "compare-map-bv"
    LAYER_A, LAYER_B, LAYER_BV = "compare-layer-a", "compare-layer-b", "compare-layer-bv"
    LEGEND_A, LEGEND_B, LEGEND_BV = "compare-legend-a", "compare-legend-b", "compare-legend-bv"
    TITLE_A, TITLE_B = "compare-title-a", "compare-title-b"
    SCATTER = "compare-scatter"
    STATS = "compare-stats"
    TOPIC = "compare-topic"
    PICKS = "compare-picks"
    PROFILE = "compare-profile"
    DOWNLOAD_BUTTON = "compare-download-button"
    DOWNLOAD = "compare-download"
    MAPS = {"a": MAP_A, "b": MAP_B, "bv": MAP_BV}
    LAYERS = {"a": LAYER_A, "b": LAYER_B, "bv": LAYER_BV}
    LEGENDS = {"a": LEGEND_A, "b": LEGEND_B, "bv": LEGEND_BV}
    TITLES = {"a": TITLE_A, "b": TITLE_B}


class SHARE:  # noqa: N801
    """The explorer's Export, Download data and Embed controls."""

    TOOLS = "share-tools"
    EXPORT_LIST = "export-links"
    DATA_LIST = "data-links"
    EXPORT_PNG = "export-png"
    EXPORT_PNG_PRINT = "export-png-print"
    EXPORT_SVG = "export-svg"
    EXPORT_PDF = "export-pdf"
    DATA_CSV = "data-csv"
    DATA_GEOJSON = "data-geojson"
    DATA_GPKG = "data-gpkg"
    DATA_PARQUET = "data-parquet"
    DATAPACK = "data-datapack"
    DATAPACK_ITEM = "data-datapack-item"
    EMBED_BUTTON = "embed-button"
    DIALOG_BOX = "embed-dialog-box"  # where the dialog is put when the tools are first approached
    PARTS = "share-parts"  # the menus' links and the dialog, until then (ui/share.py)
    OPENED = "share-opened"  # set by assets/embed.js when the tools are first focused or pressed
    DIALOG = "embed-dialog"
    DIALOG_TITLE = "embed-dialog-title"
    DIALOG_CONTROLS = "embed-controls"
    DIALOG_WIDTH = "embed-width"
    DIALOG_HEIGHT = "embed-height"
    DIALOG_SNIPPET = "embed-snippet"
    DIALOG_PROBLEM = "embed-problem"
    DIALOG_PREVIEW = "embed-preview"
    DIALOG_COPY = "embed-copy"
    DIALOG_COPIED = "embed-copied"
    DIALOG_CLOSE = "embed-close"


class EMBED:  # noqa: N801
    """The /embed page's own parts."""

    ROOT = "embed-root"
    NOTICE = "embed-notice"  # messages about the embed keys (the explorer's message box is rewritten by render)
    LEGEND_BOX = "embed-legend"
    OPEN_LINK = "embed-open-link"


def _namespace(cls: type) -> dict[str, str]:
    return {k: v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str)}


def as_dict() -> dict:
    """Every id by name, grouped as here, for the browser's scripts; and the few values the scripts must spell as
    the server does (the address's point keys, the Table list's "Not here" line), so none is copied there."""
    top = {k: v for k, v in globals().items() if k.isupper() and isinstance(v, str)}
    top["CONTROLS"] = list(CONTROLS)
    from atlas import mapview, viewstate  # noqa: PLC0415
    from ui.builder import IDS as BUILDER  # noqa: PLC0415 - that module owns its ids and imports this one's package

    top["GAPS_OPTION"] = mapview.GAPS_OPTION
    top["POINT_KEYS"] = list(viewstate.POINT_KEYS)

    return {**top, "COMPARE": _namespace(COMPARE), "SHARE": _namespace(SHARE), "EMBED": _namespace(EMBED),
            "POINTS": _namespace(POINTS), "BUILDER": _namespace(BUILDER)}


def javascript() -> str:
    """``window.atlas.ids``: the ids above for assets/*.js, which spell none of them."""
    body = json.dumps(as_dict(), sort_keys=True, separators=(",", ":"))
    return "window.atlas = Object.assign({}, window.atlas, {ids: " + body + "});\n"


def javascript_version() -> str:
    """A fingerprint of ``javascript()``, so its URL may be cached for a year."""
    return hashlib.sha256(javascript().encode()).hexdigest()[:12]
