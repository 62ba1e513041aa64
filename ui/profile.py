"""The profile page, ``/profile/<place>`` (registered in ui/pages/profile.py): a place's headline figures
aggregated by their rules (atlas/profile.py) beside its authorities, region and nation, with the difference and
a small bar chart each, grouped by topic; a map of its areas and of the areas most like it (atlas/similar.py);
links to the whole profile as JSON and CSV (with CSVW), and the printable PDF.
"""

from __future__ import annotations

from urllib.parse import quote

import dash_leaflet as dl
from dash import html
from dash.development.base_component import Component

from atlas import access, areas, catalogue, extracts, similar
from atlas import profile as atlas_profile
from atlas import view as atlas_view

__all__ = ["MAP_ID", "page"]

MAP_ID = "profile-map"
SIMILAR_N = 10
#: Bar colours of the small charts: the place, then each comparator (as in the PDF).
BARS = ("#2166ac", "#92c5de", "#d1e5f0", "#f4a582")


def _geometry(s: catalogue.Catalogue, subject: atlas_profile.Subject, codes: set[str], sources: list[str],
              kind: str) -> list[dict]:
    out = []
    for source in sources:
        for feature in s.area_geojson(source, subject.level)["features"]:
            if feature["properties"]["code"] in codes:
                feature["properties"]["kind"] = kind
                out.append(feature)
    return out


def _bars(values: list[float | None], unit: str) -> Component:
    present = [v for v in values if v is not None and v >= 0]
    top = 100.0 if unit == "percentage" else max(present or [1.0])
    return html.Div(className="profile-bars", **{"aria-hidden": "true"}, children=[
        html.Div(className="profile-bar", style={"width": f"{max(0.0, min(100.0, 100 * v / top)):.1f}%"
                                                  if v is not None and top > 0 else "0%",
                                                  "background": BARS[i % len(BARS)]})
        for i, v in enumerate(values)])


def _difference(row_unit: str, fig: dict, entry: dict | None) -> str:
    if entry is None or entry.get("difference") is None:
        return ""
    d = entry["difference"]
    decimals = 1 if row_unit == "percentage" else 0 if row_unit in ("count", "sum") else 2
    text = atlas_view.format_number(abs(d), decimals)
    sign = "+" if d > 0 else atlas_view.MINUS if d < 0 else ""
    return sign + text + (" points" if row_unit == "percentage" else "")


def _table(group: dict, comps: list[dict], name: str) -> Component | None:
    figures = [f for f in group["figures"] if atlas_profile.headline(f)]
    if not figures:
        return None
    nation = comps[-1] if comps else None
    head = html.Tr([html.Th("Figure", scope="col"), html.Th(name, scope="col"),
                    *[html.Th(c["name"], scope="col") for c in comps],
                    html.Th(f"Difference from {nation['name']}" if nation else "Difference", scope="col"),
                    html.Th("Chart", scope="col")])
    rows = []
    for f in figures:
        by = {e["code"]: e for e in f["comparators"]}
        if f["rule"] == "deciles":
            counts = (f.get("distribution") or {}).get("counts") or {}
            text = ", ".join(f"decile {k}: {v}" for k, v in counts.items() if v) or "no areas"
            rows.append(html.Tr([html.Th(f["label"], scope="row"),
                                 html.Td(f"Areas in each decile (1 = most deprived 10%): {text}",
                                         colSpan=len(comps) + 3)]))
            continue
        values = [f["value"], *[by.get(c["code"], {}).get("value") for c in comps]]
        rows.append(html.Tr([
            html.Th(f["label"], scope="row"), html.Td(f["printed"], className="num"),
            *[html.Td(by[c["code"]]["printed"] if c["code"] in by else "", className="num") for c in comps],
            html.Td(_difference((f.get("unit") or "").lower(), f, by.get(nation["code"]) if nation else None),
                    className="num"),
            html.Td(_bars(values, (f.get("unit") or "").lower()))]))
    return html.Details(className="profile-topic", open=True, children=[
        html.Summary(group["topic"]),
        html.Table(className="profile-table", children=[html.Thead(head), html.Tbody(rows)])])


def _similar(s: catalogue.Catalogue, subject: atlas_profile.Subject) -> dict | None:
    if subject.level not in similar.DEFAULTS or subject.kind not in ("area", "saved"):
        return None
    if subject.kind == "area":
        return similar.similar(s, subject.level, None, subject.code, SIMILAR_N)
    variables = similar.DEFAULTS[subject.level]
    target = atlas_profile.values_for(s, subject, variables)
    return similar.similar(s, subject.level, target, subject.code, SIMILAR_N, exclude=frozenset(subject.codes))


def _similar_list(found: dict, subject: atlas_profile.Subject) -> Component:
    items = []
    for a in found["similar"]:
        alike = ", ".join(f"{x['label']} ({x['printed']} here, {x['mine_printed']} in {subject.name})"
                          for x in a["alike"][:2])
        apart = ", ".join(f"{x['label']} ({x['printed']} against {x['mine_printed']})" for x in a["different"][:2])
        items.append(html.Li([html.A(a["name"], href=f"/profile/{quote(a['code'])}"),
                              html.Span(f" (distance {a['distance']:.2f})"),
                              html.Div(f"Alike in: {alike}.", className="profile-alike"),
                              html.Div(f"Set apart by: {apart}.", className="profile-apart")]))
    return html.Section(className="profile-similar", children=[
        html.H2("Areas like this"),
        html.P(f"The {len(items)} areas of England and Wales most like {subject.name} on "
               f"{len(found['indicators'])} indicators (age, tenure, qualifications, occupation, household "
               "deprivation), each standardised over every area; outlined in orange on the map. "
               "See docs/profile.md for the method."),
        html.Ol(items)])


def page(place: str | None, level: str | None = None) -> Component:
    """The profile page of ``place`` (a district, place, area or saved area), or a message naming what was
    wrong."""
    if not place:
        return html.Main(className="profile-page", children=[html.H1("Area profile"),
                                                              html.P("Name a place: /profile/<code>.")])
    try:
        s = catalogue.of_request()
        subject = atlas_profile.subject_for(s, place, level,
                                            saved=lambda code: areas.subject(s, code, access.current()))
        result = atlas_profile.profile(s, subject)
    except extracts.NotFound as exc:
        return html.Main(className="profile-page", children=[
            html.H1("Area profile"), html.P(exc.message, role="alert"), html.A("Back to the map", href="/")])
    except FileNotFoundError as exc:
        return html.Main(className="profile-page", children=[
            html.H1("Area profile"), html.P(f"The data is not available on this server yet: {exc}.", role="alert")])
    comps = result["comparators"]
    found = _similar(s, subject)
    sources = [subject.place] if subject.place is not None and subject.kind != "saved" else list(subject.authorities)
    features: list[dict] = []
    if len(subject.codes) <= extracts.CACHED_AREAS_MAX:
        features = _geometry(s, subject, set(subject.codes), sources, "place")
    alike: list[dict] = []
    if found:
        codes = {a["code"] for a in found["similar"]}
        districts = sorted(set(atlas_profile.area_authorities(s, subject.level, codes).values()))
        alike = _geometry(s, subject, codes, districts, "similar")
    query = f"?level={subject.level}" if subject.place is not None else ""
    links = [("Whole profile (JSON)", f"/api/profile/{place}.json{query}"),
             ("CSV", f"/api/profile/{place}.csv{query}"),
             ("CSVW metadata", f"/api/profile/{place}.csv-metadata.json{query}"),
             ("Printable report (PDF)", f"/api/profile/{place}.pdf{query}")]
    if found:
        links.append(("Areas like this (JSON)", f"/api/similar/{subject.level}/{place}.json"))
    if subject.kind in ("authority", "saved", "area", "partnership", "combined_authority", "region"):
        where = subject.authorities[0] if subject.kind == "area" else place
        selected = f"&area={quote(place)}" if subject.kind == "area" else ""
        links.append(("Open on the map", f"/?authority={quote(where)}&level={subject.level}{selected}"))
    links.append(("Make your own area", "/areas/new"))
    tables = [t for t in (_table(g, comps, result["name"]) for g in result["topics"]) if t is not None]
    return html.Main(className="profile-page", children=[
        html.A("Back to the map", href="/", className="profile-back"),
        html.H1(f"Profile of {result['name']}"),
        html.P(f"{result['areas']:,} area{'s' if result['areas'] != 1 else ''} at level {subject.level}, in "
               f"{', '.join(result['authorities'][:6])}{' ...' if len(result['authorities']) > 6 else ''}; beside "
               + (", ".join(c["name"] for c in comps) or "no larger place") + ".", className="profile-meta"),
        html.P("Counts are summed; shares are re-derived from the summed counts over the summed denominator, never "
               "averaged; averages are weighted by their base; deciles are counted; ranks, scores and medians "
               "cannot be aggregated and are in the whole profile as distributions.", className="profile-rules"),
        html.Nav(html.Ul([html.Li(html.A(text, href=href)) for text, href in links]), **{"aria-label": "Downloads"}),
        html.Div(className="profile-map-box", children=[dl.MapContainer(
            id=MAP_ID, className="profile-map", center=[52.6, -2.0], zoom=6, keyboard=True, trackViewport=False,
            attributionControl=False, style={"height": "100%", "width": "100%"},
            bounds=_bounds(features + alike),
            children=[dl.GeoJSON(id="profile-areas", data={"type": "FeatureCollection", "features": features},
                                 style={"color": "#2166ac", "weight": 1, "fillOpacity": 0.45}),
                      dl.GeoJSON(id="profile-similar", data={"type": "FeatureCollection", "features": alike},
                                 style={"color": "#d95f02", "weight": 3, "fillOpacity": 0.1})])]),
        html.Div(className="profile-key", children=[
            html.Span([html.Span(className="swatch", style={"background": c}), name])
            for c, name in zip(BARS, [result["name"], *[c["name"] for c in comps]], strict=False)]),
        *tables,
        _similar_list(found, subject) if found else None,
    ])


def _bounds(features: list[dict]) -> list[list[float]] | None:
    import shapely  # noqa: PLC0415
    import shapely.geometry  # noqa: PLC0415

    if not features:
        return None
    boxes = [shapely.geometry.shape(f["geometry"]).bounds for f in features]
    return [[min(b[1] for b in boxes), min(b[0] for b in boxes)], [max(b[3] for b in boxes), max(b[2] for b in boxes)]]
