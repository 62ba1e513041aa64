"""The indicator builder in the explorer's controls (callbacks in callbacks/builder.py): choose a census table,
tick the cells to count and, optionally, the cells to count them out of (else the table's total), name it, and
map it. What it makes is a code (atlas/builder.py) put in the address's ``variable``, so the map, compare, the
downloads and a copied link treat it like any published variable.
"""

from __future__ import annotations

from dash import dcc, html

from atlas import builder

__all__ = ["IDS", "panel"]


class IDS:
    """The builder's component ids (this module owns them)."""

    PANEL = "builder-panel"
    TABLE = "builder-table"
    NUMERATOR = "builder-numerator"
    DENOMINATOR = "builder-denominator"
    TOTAL = "builder-total"  # the default denominator, in words
    NAME = "builder-name"
    MAP = "builder-map"
    STATUS = "builder-status"
    LISTED = "builder-listed"  # the place and level whose tables the list holds (sent again only on a change)


def _cells(legend: str, control_id: str, help_text: str) -> html.Fieldset:
    return html.Fieldset(className="builder-cells", children=[
        html.Legend(legend),
        html.Small(help_text, className="help", id=f"{control_id}-help"),
        html.Div(className="builder-list", children=dcc.Checklist(
            id=control_id, options=[], value=[], labelClassName="builder-cell",
            inputStyle={"marginRight": "0.4em"})),
    ])


def panel() -> html.Details:
    """Folded under the map's controls until opened (most visits never build one)."""
    return html.Details(id=IDS.PANEL, className="builder", children=[
        html.Summary("Build an indicator"),
        html.P("A share of some counts of one census table, over the table's total or other counts of the same "
               "table; mapped, compared and downloaded like any variable, and kept in the address.",
               className="help"),
        html.Div(className="field", children=[
            html.Label("Census table", htmlFor=IDS.TABLE, id=f"{IDS.TABLE}-label"),
            dcc.Dropdown(id=IDS.TABLE, options=[], clearable=True, searchable=True, maxHeight=320,
                         placeholder="Type a table's name or code"),
        ]),
        _cells("Count (numerator)", IDS.NUMERATOR, "Tick the cells to count; at least one."),
        _cells("Out of (denominator)", IDS.DENOMINATOR, "Leave empty to divide by the table's total."),
        html.P(id=IDS.TOTAL, className="help"),
        html.Div(className="field", children=[
            html.Label("Name", htmlFor=IDS.NAME, id=f"{IDS.NAME}-label"),
            dcc.Input(id=IDS.NAME, type="text", maxLength=builder.MAX_NAME, autoComplete="off",
                      placeholder="e.g. Older people living alone"),
            html.Small(f"Up to {builder.MAX_NAME} letters, digits, spaces and ' ( ) + - %.", className="help"),
        ]),
        html.Button("Map it", id=IDS.MAP, type="button", className="builder-map"),
        html.P(id=IDS.STATUS, className="builder-status", role="status", **{"aria-live": "polite"}),
        dcc.Store(id=IDS.LISTED),
    ])
