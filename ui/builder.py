"""The indicator builder in the explorer's controls (callbacks in callbacks/builder.py): choose a census table,
tick the cells to count and, optionally, the cells to count them out of (else the table's total), name it, and
map it. What it makes is a code (atlas/builder.py) put in the address's ``variable``, so the map, compare, the
downloads and a copied link treat it like any published variable.
"""

from __future__ import annotations

from dash import dcc, html

from atlas import builder
from ui.routing import validating

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
    OPENED = "builder-opened"  # set by assets/atlas.js when the form is first unfolded
    ASK = "builder-ask"  # the view, passed on to the tables' callback only once the form is wanted
    BODY = "builder-body"  # where the form is put when first wanted
    PARTS = "builder-parts"  # the form's layout until then


def _cells(legend: str, control_id: str, help_text: str) -> html.Fieldset:
    return html.Fieldset(className="builder-cells", children=[
        html.Legend(legend),
        html.Small(help_text, className="help", id=f"{control_id}-help"),
        html.Div(className="builder-list", children=dcc.Checklist(
            id=control_id, options=[], value=[], labelClassName="builder-cell",
            inputStyle={"marginRight": "0.4em"})),
    ])


def _form() -> list:
    return [
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
    ]


def panel() -> html.Details:
    """Folded under the map's controls until opened (most visits never build one). **Created when opened**, like
    the compare view's maps (ui/compare.py): the form's 22 components travel in ``PARTS`` (JSON that React does
    not draw) and ``builder_ask`` (assets/atlas.js) puts them in ``BODY`` when the form is unfolded or the map
    shows a built indicator, before the tables' callback runs. Dash's validation layout has them in place."""
    form = _form()
    inline = validating()
    return html.Details(id=IDS.PANEL, className="builder", children=[
        html.Summary("Build an indicator"),
        html.Div(form if inline else None, id=IDS.BODY),
        dcc.Store(id=IDS.PARTS, data=None if inline else form),
        dcc.Store(id=IDS.LISTED), dcc.Store(id=IDS.OPENED, data=False), dcc.Store(id=IDS.ASK),
    ])
