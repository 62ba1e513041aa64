"""Plotly's canonical Dash choropleth, for bench_switch.py to measure beside the atlas in the same run.

    python bench/canonical_choropleth.py PORT AUTHORITY LEVEL VARIABLE [VARIABLE ...]

The pattern of Plotly's documentation ("Choropleth maps in Python", Dash example): a dropdown of variables
and a callback that returns a new ``px.choropleth_map`` figure (GeoJSON and values in every answer), the
same areas (the atlas's display geometry) and the same published values, no basemap tiles (``white-bg``).
Serves until killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    import dash
    import plotly.express as px
    from dash import Input, Output, dcc, html
    from werkzeug.serving import make_server

    from atlas import catalogue

    port, authority, level, *variables = sys.argv[1:]
    s = catalogue.build()
    geojson = s.area_geojson(authority, level)
    for feature in geojson["features"]:
        feature["id"] = feature["properties"]["code"]
    frames = {v: s.values(authority, level, v) for v in variables}

    app = dash.Dash(__name__)
    app.layout = html.Div([
        dcc.Dropdown(id="variable", options=[{"label": s.variable(v)["label"], "value": v} for v in variables],
                     value=variables[0], clearable=False),
        dcc.Graph(id="map", style={"height": "68vh"}),
    ])

    @app.callback(Output("map", "figure"), Input("variable", "value"))
    def draw(variable: str):
        df = frames[variable]
        fig = px.choropleth_map(df, geojson=geojson, locations="code", color="value", map_style="white-bg",
                                center={"lat": 51.54, "lon": -0.16}, zoom=11, opacity=0.8)
        fig.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0})
        return fig

    make_server("127.0.0.1", int(port), app.server, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
