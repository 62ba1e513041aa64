"""Callbacks of the indicator builder (ui/builder.py): the tables with data at the map's place and level, a
table's cells, and "Map it", which checks the definition (atlas/builder.py, through the catalogue) and opens it on
the map through the address, or says what is wrong. When the map shows a built indicator (a link opened), the
form shows its definition."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, no_update

from atlas import access, builder, catalogue, extracts
from atlas import viewstate as state
from ui import ids
from ui.builder import IDS

__all__ = ["build", "cells", "tables"]

MAX_TEXT = 200


def _view(stored: Any) -> state.ViewState | None:
    st = stored.get("state") if isinstance(stored, dict) else None
    if not isinstance(st, dict):
        return None
    try:
        return state.ViewState(**{k: st[k] for k in state.DEFAULTS.as_dict()})
    except (KeyError, TypeError):
        return None


def table_options(s: Any, authority: str, level: str) -> list[dict]:
    """The tables with data for ``authority`` at ``level``, by publisher's code and title."""
    out = []
    for key, t in sorted(s.built_tables().items(), key=lambda kv: (kv[1].cells[0].get("table") or "", kv[0])):
        if s.has_data(t.cells[0]["id"], authority, level):
            first = t.cells[0]
            out.append({"label": f"{first.get('table') or key} {first.get('table_title') or ''} ({key})".strip(),
                        "value": key})
    return out


# The view reaches ``tables`` only once the form is wanted (``builder_ask`` in assets/atlas.js): when it
# is unfolded, or when the map shows a built indicator (a link holding one fills the form); the form itself
# is created then (ui/builder.py). Before, every view switch, the first load's included, asked the server
# for the table list of a folded form.
dash.clientside_callback(
    ClientsideFunction("atlas", "builder_ask"),
    Output(IDS.ASK, "data"),
    Input(ids.STATE, "data"), Input(IDS.OPENED, "data"), State(IDS.PARTS, "data"),
    prevent_initial_call=True,
)


@dash.callback(Output(IDS.TABLE, "options"), Output(IDS.TABLE, "value"), Output(IDS.NAME, "value"),
               Output(IDS.NUMERATOR, "value", allow_duplicate=True),
               Output(IDS.DENOMINATOR, "value", allow_duplicate=True), Output(IDS.LISTED, "data"),
               Input(IDS.ASK, "data"), State(IDS.TABLE, "value"), State(IDS.LISTED, "data"),
               prevent_initial_call=True)
@access.declares("site.view")
def tables(stored: Any, chosen: Any, listed: Any = None) -> tuple:
    """The tables here (sent when the place or level changes, not on every switch); a built indicator on the
    map fills the form with its definition."""
    st = _view(stored)
    if st is None:
        return (no_update,) * 6
    key = f"{st.authority}/{st.level}"
    built = builder.is_code(st.variable)
    if key == listed and not built:
        return (no_update,) * 6
    s = catalogue.of_request()
    try:
        options = table_options(s, st.authority, st.level) if key != listed else no_update
    except extracts.NotFound:
        return (no_update,) * 6
    if built:
        try:
            d = builder.parse(st.variable)
        except builder.BuiltError:
            d = None
        if d is not None:
            return options, d.table, d.name, list(d.numerator), list(d.denominator), key
    keep = chosen if options is no_update or any(o["value"] == chosen for o in options) else None
    return options, keep, no_update, no_update, no_update, key


@dash.callback(Output(IDS.NUMERATOR, "options"), Output(IDS.DENOMINATOR, "options"), Output(IDS.TOTAL, "children"),
               Output(IDS.NUMERATOR, "value"), Output(IDS.DENOMINATOR, "value"),
               Input(IDS.TABLE, "value"), State(IDS.NUMERATOR, "value"), State(IDS.DENOMINATOR, "value"),
               prevent_initial_call=True)  # no table at a first load: nothing to list
@access.declares("site.view")
def cells(table: Any, numerator: Any, denominator: Any) -> tuple:
    """A table's count cells to tick on both sides, and its total (the default denominator) in words."""
    s = catalogue.of_request()
    found = s.built_tables().get(table) if isinstance(table, str) else None
    if found is None:
        return [], [], "", [], []
    described = builder.describe(found)
    options = [{"label": f"{c['cell']}. {c['label']}", "value": c["cell"]} for c in described["cells"]]
    totals = "; ".join(t["label"] for t in described["totals"])
    n = len(options)

    def kept(values: Any) -> list[int]:
        return [v for v in values if isinstance(v, int) and 1 <= v <= n] if isinstance(values, list) else []
    return (options, options, f"The table's total: {totals}." if totals else "", kept(numerator), kept(denominator))


def definition_code(table: Any, numerator: Any, denominator: Any, name: Any) -> str:
    """The code the form asks for (the store checks it), or BuiltError naming a missing part."""
    if not isinstance(table, str) or not table:
        raise builder.BuiltError("choose a census table first")
    num = [v for v in numerator if isinstance(v, int)] if isinstance(numerator, list) else []
    den = [v for v in denominator if isinstance(v, int)] if isinstance(denominator, list) else []
    if not num:
        raise builder.BuiltError("tick at least one cell to count")
    text = name.strip()[:MAX_TEXT] if isinstance(name, str) else ""
    if not text:
        raise builder.BuiltError("give the indicator a name")
    return builder.encode(table[:MAX_TEXT], num, den, text)


@dash.callback(Output(ids.NAV, "data", allow_duplicate=True), Output(IDS.STATUS, "children"),
               Input(IDS.MAP, "n_clicks"), State(IDS.TABLE, "value"), State(IDS.NUMERATOR, "value"),
               State(IDS.DENOMINATOR, "value"), State(IDS.NAME, "value"), State(ids.STATE, "data"),
               prevent_initial_call=True)
@access.declares("site.view")
def build(_clicks: Any, table: Any, numerator: Any, denominator: Any, name: Any, stored: Any) -> tuple:
    """Map the definition: the address's variable becomes its code (pushed, like a control's change)."""
    st = _view(stored)
    if st is None:
        return no_update, "The map is not ready yet; try again in a moment."
    s = catalogue.of_request()
    try:
        code = definition_code(table, numerator, denominator, name)
        row = s.variable(code)
        here = s.has_data(code, st.authority, st.level)
    except builder.BuiltError as exc:
        return no_update, f"Not mapped: {exc}."
    except extracts.NotFound as exc:
        return no_update, f"Not mapped: {exc.message.split(': ', 1)[-1]}."
    if not here:
        return no_update, (f"Not mapped: {row['table']} has no data for this place at this geography; choose a "
                           "table from the list.")
    search = state.to_query(replace(st, variable=code, scheme=st.scheme if st.scheme != "custom" else "quantiles",
                                    breaks=""))
    return ({"search": search, "t": time.time(), "push": True},
            f"Mapped {row['label']}: {row['cells']}.")
