"""Point datasets: monitoring sites (and, published, any table of points) as a layer of the map, with their readings.

A point dataset is a table of sites (each a place with coordinates: ``store.point_sites``) and one of readings
(site, measure, time, value: ``store.point_readings``). Everything the map, the site card and the API show of
one is decided here, as atlas/view.py decides an area view's:

- **The layer's paint** (``paint``): one class character per site (``view.CLASS_ALPHABET``, ``-`` where the site
  has no reading of the measure at that time), each class's colour and marker radius, the legend, and the
  printed reading of every site. A measure with ``thresholds`` (a concentration) is classed at them (the WHO
  2021 guideline and interim targets, the UK's limit or target), lightest to darkest (YlOrRd) and smallest to
  largest; an index (the LAQN's Daily Air Quality Index, 1 to 10) by its value, in Defra's colours. The classes
  are fixed per measure, so a marker's colour means the same on every day. Readings are printed once, from the
  full-precision value, at the measure's precision (atlas/printing.py). The geometry (``geojson``) is fetched
  once by URL; a switch of day or measure sends only the paint.
- **A site** (``site``): what it is, what it measures, every reading, each measure's guideline and limit lines,
  and the 2020 lockdown comparison (``lockdown``): the mean of its daily readings before the first lockdown
  (1 February to 22 March) and during it (23 March to 31 May), and the change.
- **The datastore's preview** (``preview``): counts, the first points as a table, and their coordinates.
- **Nearest sites** (``nearest``, ``near_area``): great-circle distances from a point or an area's
  representative point (a site inside the area is 0 km away and said to be in it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from atlas import classify, palettes, printing
from atlas.view import CLASS_ALPHABET
from atlas.viewstate import POINT_KEYS

__all__ = ["KEYS", "PREVIEW_ROWS", "PointError", "PointState", "class_at", "geojson", "lockdown", "near_area",
           "nearest", "options", "paint", "preview", "resolve", "site", "site_figure", "to_query"]

#: The address's keys of the point layer: the dataset, its measure, the day (or time) shown, the open site.
KEYS: tuple[str, ...] = POINT_KEYS
#: Markers: the smallest class's radius, and how much each class above it adds (pixels).
RADIUS, RADIUS_STEP = 5, 2
#: Above this many sites the paint carries no printed reading per site (the card fetches a site's own).
TEXT_MAX = 5000
EARTH_KM = 6371.0088  # the mean Earth radius (IUGG)
_SITE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")


class PointError(LookupError):
    """A point dataset, measure, time or site that does not exist (the message names it and what does)."""


@dataclass(frozen=True)
class PointState:
    """The point layer's part of the view: ``dataset`` "" when no points are shown."""

    dataset: str = ""
    measure: str = ""
    time: str = ""
    site: str = ""


def _measures(meta: dict) -> list[dict]:
    return list(meta.get("measures") or [])


def measure_of(meta: dict, measure: str) -> dict:
    for m in _measures(meta):
        if m["id"] == measure:
            return m
    raise PointError(f"{meta['id']} has no measure {measure!r}; it has {', '.join(m['id'] for m in _measures(meta))}")


def resolve(raw: dict[str, str], store: Any) -> tuple[PointState, list[str]]:
    """The point layer the address asks for (``points``, ``measure``, ``day``, ``site``), falling back field by
    field with a message for each value refused. No ``points`` key: no layer."""
    messages: list[str] = []
    dataset = (raw.get("points") or "").strip()
    if not dataset:
        return PointState(), messages
    known = {d["id"]: d for d in store.point_datasets()}
    if dataset not in known:
        messages.append(f"There is no point dataset {dataset[:40]!r}; the points shown can be "
                        f"{', '.join(known) or 'none'}. No points are shown.")
        return PointState(), messages
    meta = known[dataset]
    ids = [m["id"] for m in _measures(meta)]
    measure = (raw.get("measure") or "").strip().lower()
    if measure not in ids:
        if measure:
            messages.append(f"{meta['title']} has no measure {measure[:40]!r}; it has {', '.join(ids)}. Showing "
                            f"{ids[0]}.")
        measure = ids[0]
    times = store.point_times(dataset)
    time = (raw.get("day") or "").strip()
    if time not in times:
        if time:
            messages.append(f"{meta['title']} has no readings on {time[:40]!r}; it runs from {times[0]} to "
                            f"{times[-1]}. Showing {times[-1] if meta.get('kind') == 'snapshot' else times[0]}.")
        time = times[0] if meta.get("kind") != "snapshot" else times[-1]
    site_code = (raw.get("site") or "").strip()
    if site_code:
        sites = set(store.point_sites(dataset)["site"])
        if site_code not in sites:
            messages.append(f"{meta['title']} has no site {site_code[:20]!r}; no site is open.")
            site_code = ""
    return PointState(dataset, measure, time, site_code), messages


def to_query(ps: PointState, with_time: bool = True) -> str:
    """The point layer's keys for the address ("" when no points are shown); a snapshot's one time is left out
    (``with_time`` False)."""
    if not ps.dataset:
        return ""
    params = [("points", ps.dataset), ("measure", ps.measure)] + ([("day", ps.time)] if with_time else [])
    if ps.site:
        params.append(("site", ps.site))
    return urlencode(params)


# -- the layer's paint ---------------------------------------------------------------------------------------------

def _site_values(store: Any, meta: dict, measure: str, time: str, sites: pd.DataFrame
                 ) -> tuple[np.ndarray, list[str | None]]:
    """Each site's reading of ``measure`` at ``time`` (NaN where none), and its band where the data gives one.
    The LAQN's "highest" is the highest index of the site's pollutants at that time."""
    if measure == "highest":
        frames = [store.point_readings(meta["id"], m["id"], time) for m in _measures(meta) if m["id"] != "highest"]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["site", "value", "band"])
        frame = frame[frame["value"].notna()].sort_values("value").drop_duplicates("site", keep="last")
    else:
        frame = store.point_readings(meta["id"], measure, time)
    by_site = frame.set_index("site")
    values = by_site["value"].reindex(sites["site"]).to_numpy(dtype="float64")
    bands = by_site["band"].reindex(sites["site"]).tolist() if "band" in by_site else [None] * len(sites)
    return values, [b if isinstance(b, str) else None for b in bands]


def _threshold_classes(m: dict) -> tuple[list[float], list[str], list[str]]:
    """Upper bounds (the last open: inf), labels and colours of a concentration measure's fixed classes."""
    items = m.get("thresholds") or []
    decimals, unit = int(m.get("decimals", 1)), m.get("unit") or ""
    bounds = [float(t["value"]) for t in items] + [math.inf]
    labels, previous = [], None
    for i, upper in enumerate(bounds):
        if math.isinf(upper):
            labels.append(f"over {printing.format_value(previous, decimals, unit)}")
        elif previous is None:
            labels.append(f"up to {printing.format_value(upper, decimals, unit)}: {items[i]['label']}")
        else:
            labels.append(f"{printing.format_number(previous + 10 ** -decimals, decimals)} – "
                          f"{printing.format_value(upper, decimals, unit)}: {items[i]['label']}")
        previous = upper
    colours = palettes.colours("YlOrRd", max(3, len(bounds)))[-len(bounds):]
    return bounds, labels, colours


def _index_classes(m: dict) -> tuple[list[float], list[str], list[str]]:
    bounds, labels, colours = [], [], []
    for band in m.get("bands") or []:
        for j, value in enumerate(range(int(band["low"]), int(band["high"]) + 1)):
            bounds.append(float(value))
            labels.append(f"{value} ({band['label']})")
            colours.append(band["colours"][j])
    return bounds, labels, colours


#: A published point dataset's indicator: classes at its quintiles (computed on the values shown).
VALUE_CLASSES = 5


def _value_classes(m: dict, printed: np.ndarray) -> tuple[list[float], list[str], list[str]]:
    """A published indicator's classes (the quintiles of its printed values, atlas/classify.py), or one class
    for a table of points without indicators."""
    finite = printed[np.isfinite(printed)]
    if m.get("scale") == "presence" or finite.size == 0:
        return [math.inf], ["a point"], [palettes.colours("Blues", 3)[-1]]
    result = classify.classify(finite, "quantiles", VALUE_CLASSES)
    decimals, unit = int(m.get("decimals", 2)), m.get("unit") or ""
    bounds = [float(b) for b in result.breaks]
    bounds[-1] = math.inf
    labels, lower = [], float(finite.min())
    for upper in result.breaks:
        low, high = printing.format_value(lower, decimals, unit), printing.format_value(upper, decimals, unit)
        labels.append(f"{low} – {high}")
        lower = float(upper)
    colours = palettes.colours("YlGnBu", len(bounds))
    return bounds, labels, colours


def class_at(cls: str, i: int) -> int:
    """Site ``i``'s class in a paint's class characters (-1: no reading)."""
    return CLASS_ALPHABET.find(cls[i]) if 0 <= i < len(cls) else -1


def _text(value: float, m: dict) -> str | None:
    if not math.isfinite(value):
        return None
    if m.get("scale") == "index":
        band = next((b["label"] for b in m.get("bands") or [] if b["low"] <= value <= b["high"]), "")
        return f"{printing.format_number(value, 0)} ({band})"
    return printing.format_value(value, int(m.get("decimals", 1)), m.get("unit") or "")


def paint(store: Any, ps: PointState, url: str) -> dict:
    """What the point layer draws for ``ps`` (a resolved state with a dataset): see the module. ``url`` is the
    sites' GeoJSON address the browser draws them from (its features in site order)."""
    meta = store.point_dataset(ps.dataset)
    m = measure_of(meta, ps.measure)
    sites = store.point_sites(ps.dataset)
    values, _bands = _site_values(store, meta, ps.measure, ps.time, sites)
    decimals = int(m.get("decimals", 1))
    printed = printing.round_half_away(values, decimals)
    if m.get("scale") == "index":
        bounds, labels, colours = _index_classes(m)
    elif m.get("scale") in ("value", "presence"):
        bounds, labels, colours = _value_classes(m, printed)
    else:
        bounds, labels, colours = _threshold_classes(m)
    classes = np.full(len(sites), -1, dtype=int)
    ok = np.isfinite(printed)
    classes[ok] = np.searchsorted(np.asarray(bounds), printed[ok], side="left")  # each class holds its upper bound
    counts = np.bincount(classes[ok], minlength=len(bounds))
    when = ps.time if meta.get("kind") == "series" else f"as of {ps.time}"
    rows = [{"label": label, "colour": colour, "count": int(n), "radius": RADIUS + RADIUS_STEP * i}
            for i, (label, colour, n) in enumerate(zip(labels, colours, counts, strict=True))]
    if m.get("scale") == "index":
        rows = [r for r in rows if r["count"]] or rows[:1]  # the index's ten values: those present
    notes = [meta["note"]] if meta.get("note") else []
    if m.get("thresholds"):
        notes.insert(0, f"Classes at the {m['thresholds'][0]['basis']} thresholds; readings are {m['period']}s.")
    out = {
        "key": ps.dataset, "url": url, "n": int(len(sites)), "measure": ps.measure, "time": ps.time,
        "cls": "".join(CLASS_ALPHABET[c] if c >= 0 else "-" for c in classes),
        "c": colours, "r": [RADIUS + RADIUS_STEP * i for i in range(len(bounds))], "labels": labels,
        "label": m["label"], "unit": m.get("unit") or "",
        "legend": {"title": f"{m['label']}, {when}", "rows": rows, "missing": int((~ok).sum()), "notes": notes,
                   "source": meta.get("source"), "sites": int(len(sites))},
        "asOf": f"{meta['title']}: {when}",
    }
    if len(sites) <= TEXT_MAX:
        out["text"] = [_text(v, m) for v in printed]
    return out


# -- one site --------------------------------------------------------------------------------------------------------

def _check_site(code: str) -> str:
    if not isinstance(code, str) or not code or len(code) > 40 or not set(code) <= _SITE:
        raise PointError(f"{str(code)[:40]!r} is not a site code")
    return code


def lockdown(series: pd.DataFrame, periods: dict | None, decimals: int, unit: str) -> dict | None:
    """The mean of a site's readings (``series``: time, value) in each period of ``periods`` ({"before": [from,
    to], "during": [from, to]}, dates inclusive) and the change during - before (µg/m³ and %), printed once;
    None without periods or readings in both."""
    if not periods or series.empty:
        return None
    out: dict[str, Any] = {}
    for name, (start, end) in periods.items():
        part = series[(series["time"] >= start) & (series["time"] <= end) & series["value"].notna()]
        mean = float(part["value"].mean()) if len(part) else math.nan
        out[name] = {"from": start, "to": end, "days": int(len(part)), "mean": None if math.isnan(mean) else mean,
                     "text": printing.format_value(mean, decimals, unit) if len(part) else "no data"}
    before, during = out.get("before", {}).get("mean"), out.get("during", {}).get("mean")
    if before is None or during is None:
        return out
    change = during - before
    out["change"] = change
    out["change_text"] = printing.format_value(change, decimals, unit)
    out["change_pct"] = change / before * 100 if before else None
    out["change_pct_text"] = (printing.format_number(out["change_pct"], 1) + "%") if before else "no data"
    return out


def site(store: Any, dataset: str, code: str) -> dict:
    """One site: what it is (name, type, network, district, coordinates), and per measure it reports its
    readings (time, value, band), its mean over the whole period, the lines its chart draws (guideline,
    limits) and the lockdown comparison. Raises PointError / NotFound."""
    _check_site(code)
    meta = store.point_dataset(dataset)
    sites = store.point_sites(dataset)
    found = sites[sites["site"] == code]
    if found.empty:
        raise PointError(f"{meta['title']} has no site {code!r}")
    row = {k: _plain(v) for k, v in found.iloc[0].to_dict().items()}
    series = store.point_series(dataset, code)
    measures = []
    for m in _measures(meta):
        if m["id"] == "highest" or m["id"] not in row["measures"]:
            continue
        part = series[series["measure"] == m["id"]]
        decimals, unit = int(m.get("decimals", 1)), m.get("unit") or ""
        values = part["value"].to_numpy(dtype="float64")
        finite = values[np.isfinite(values)]
        mean = float(finite.mean()) if finite.size else math.nan
        measures.append({
            "id": m["id"], "label": m["label"], "unit": unit, "decimals": decimals, "period": m.get("period"),
            "readings": [{"time": str(t), "value": None if not math.isfinite(v) else float(v),
                          "text": _text(printing.round_half_away(v, decimals), m) if math.isfinite(v) else "no data",
                          **({"band": b} if isinstance(b, str) else {})}
                         for t, v, b in zip(part["time"], values, part["band"], strict=True)],
            "mean": None if math.isnan(mean) else mean,
            "mean_text": printing.format_value(mean, decimals, unit) if finite.size else "no data",
            "lines": m.get("lines") or m.get("thresholds") or [],
            "lockdown": lockdown(part[["time", "value"]], meta.get("lockdown"), decimals, unit)
            if m.get("scale") != "index" else None,
        })
    return {"dataset": dataset, "title": meta["title"], "as_of": meta.get("as_of"), "kind": meta.get("kind"),
            "source": meta.get("source"), "licence": meta.get("licence"), "note": meta.get("note"),
            **{k: row.get(k) for k in ("site", "name", "type", "network", "lon", "lat", "authority",
                                       "authority_name", "lsoa11", "lsoa21", "place")},
            "measures": measures}


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# -- nearest sites -----------------------------------------------------------------------------------------------------

def _km(lat: float, lon: float, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Great-circle distances (haversine) from one point to many, in km."""
    p1, p2 = math.radians(lat), np.radians(lats)
    dp, dl = p2 - p1, np.radians(lons - lon)
    a = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def nearest(store: Any, lat: float, lon: float, n: int = 3, datasets: list[str] | None = None,
            inside: Any = None) -> list[dict]:
    """The ``n`` sites nearest to (lat, lon) in each monitoring dataset (or those named), nearest first, with
    their distance in km (printed to 0.1 km). ``inside``: a polygon whose sites are 0 km away ("in this area")."""
    out = []
    for meta in store.point_datasets():
        if datasets is not None and meta["id"] not in datasets:
            continue
        if datasets is None and not meta.get("monitoring"):
            continue
        sites = store.point_sites(meta["id"])
        km = _km(lat, lon, sites["lat"].to_numpy(dtype="float64"), sites["lon"].to_numpy(dtype="float64"))
        within = np.zeros(len(sites), dtype=bool)
        if inside is not None and len(sites):
            import shapely  # noqa: PLC0415

            within = shapely.contains_xy(inside, sites["lon"].to_numpy(), sites["lat"].to_numpy())
            km = np.where(within, 0.0, km)
        order = np.argsort(km, kind="stable")[:n]
        out.append({"dataset": meta["id"], "title": meta["title"], "sites": [
            {"site": str(sites["site"].iat[i]), "name": str(sites["name"].iat[i]), "type": str(sites["type"].iat[i]),
             "km": float(km[i]), "km_text": "in this area" if within[i] else
             f"{printing.format_number(float(km[i]), 1)} km", "inside": bool(within[i]),
             "lon": float(sites["lon"].iat[i]), "lat": float(sites["lat"].iat[i])} for i in order]})
    return out


def near_area(store: Any, level: str, code: str, n: int = 3, datasets: list[str] | None = None) -> dict:
    """The sites nearest to an area (from its representative point: inside the polygon), each monitoring
    dataset's ``n`` nearest, and how many sites lie inside the area. Raises PointError for an unknown area."""
    shape = store.area_shape(level, code)
    if shape is None:
        raise PointError(f"there is no area {code!r} at level {level!r}")
    polygon, name, authority = shape
    point = polygon.representative_point()
    found = nearest(store, point.y, point.x, n, datasets, inside=polygon)
    return {"level": level, "code": code, "name": name, "authority": authority,
            "point": [round(point.x, 5), round(point.y, 5)], "datasets": found}


def geojson(store: Any, dataset: str, authority: str | None = None) -> dict:
    """The sites as a GeoJSON FeatureCollection in site order (the paint's order), each feature's ``i`` its
    position; with ``authority``, only the sites in that place (``i`` still the position among all)."""
    meta = store.point_dataset(dataset)
    every = store.point_sites(dataset)
    sites = every if authority is None else store.point_sites(dataset, authority)
    position = pd.Series(np.arange(len(every)), index=every["site"].to_numpy())
    # Column by column (20,000 published points in well under a second), each value a plain JSON type.
    keys = ("site", "name", "type", "network", "authority", "authority_name", "lsoa11", "lsoa21", "place")
    columns = {k: [_plain(v) for v in sites[k].astype(object).where(sites[k].notna(), None).tolist()]
               if k in sites else [None] * len(sites) for k in keys}
    lons = [round(v, 5) for v in sites["lon"].to_numpy(dtype="float64").tolist()]  # Python's round, as before
    lats = [round(v, 5) for v in sites["lat"].to_numpy(dtype="float64").tolist()]
    where = position.reindex(sites["site"].to_numpy()).to_numpy().tolist()
    measures = [list(m) if m is not None else [] for m in sites["measures"]]
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [lons[j], lats[j]]},
                 "properties": {**{k: columns[k][j] for k in keys}, "measures": measures[j], "i": where[j]}}
                for j in range(len(sites))]
    return {"type": "FeatureCollection", "name": dataset, "title": meta["title"], "as_of": meta.get("as_of"),
            "source": meta.get("source"), "licence": meta.get("licence"),
            "measures": [{k: m.get(k) for k in ("id", "label", "unit", "period")} for m in _measures(meta)],
            "features": features}


def options(store: Any) -> list[dict]:
    """The point datasets for the map's Points list: {"label": title, "value": id}."""
    return [{"label": row["title"], "value": row["id"]} for row in store.point_datasets()]


#: The chart's colours: the readings, the guideline (green), the limits and targets (red, orange), the lockdown.
_CHART = {"series": "#225ea8", "guideline": "#1a9850", "limit": "#d73027", "target": "#f46d43",
          "lockdown": "rgba(120,120,120,0.15)", "day": "#444444"}


def site_figure(detail: dict, measure: str, time: str | None = None, lockdown_dates: dict | None = None) -> dict:
    """A Plotly figure (as a dict) of one site's readings of ``measure``: the series, a dashed line at each
    guideline and limit (labelled with its averaging period), the first lockdown shaded, and the day shown."""
    m = next((x for x in detail["measures"] if x["id"] == measure), None)
    if m is None:
        return {"data": [], "layout": {"title": {"text": "No readings of this measure here"}}}
    xs = [r["time"] for r in m["readings"]]
    ys = [r["value"] for r in m["readings"]]
    texts = [r["text"] for r in m["readings"]]
    shapes, annotations = [], []
    for line in m["lines"]:
        colour = _CHART.get(line.get("kind"), _CHART["target"])
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": line["value"], "y1": line["value"],
                       "line": {"color": colour, "width": 1.5, "dash": "dash"}})
        annotations.append({"xref": "paper", "x": 1, "xanchor": "right", "y": line["value"], "yanchor": "bottom",
                            "showarrow": False, "font": {"size": 10, "color": colour},
                            "text": f"{line['label']} ({printing.format_value(line['value'], m['decimals'], m['unit'])}"
                                    f", {line.get('basis', '')})"})
    if lockdown_dates and lockdown_dates.get("during") and len(xs) > 1:
        start, end = lockdown_dates["during"]
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": start, "x1": end, "y0": 0, "y1": 1,
                       "fillcolor": _CHART["lockdown"], "line": {"width": 0}, "layer": "below"})
        annotations.append({"xref": "x", "yref": "paper", "x": start, "y": 1, "xanchor": "left", "yanchor": "top",
                            "showarrow": False, "text": "First lockdown", "font": {"size": 10}})
    if time and len(xs) > 1:
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": time, "x1": time, "y0": 0, "y1": 1,
                       "line": {"color": _CHART["day"], "width": 1}})
    mode = "lines" if len(xs) > 1 else "markers"
    top = max([v for v in ys if v is not None] + [line["value"] for line in m["lines"]] + [1])
    return {
        "data": [{"type": "scatter", "mode": mode, "x": xs, "y": ys, "text": texts, "name": m["label"],
                  "hovertemplate": "%{x}: %{text}<extra></extra>", "line": {"color": _CHART["series"], "width": 1.5},
                  "marker": {"color": _CHART["series"], "size": 8}}],
        "layout": {"margin": {"l": 48, "r": 12, "t": 36, "b": 40}, "height": 300, "showlegend": False,
                   "title": {"text": f"{m['label']}, {m.get('period') or ''}", "font": {"size": 13}},
                   "yaxis": {"title": {"text": m["unit"]}, "rangemode": "tozero", "range": [0, top * 1.12]},
                   "xaxis": {"type": "date" if len(xs) > 1 else "category"},
                   "shapes": shapes, "annotations": annotations, "paper_bgcolor": "#ffffff",
                   "plot_bgcolor": "#ffffff"},
    }


# -- the datastore's preview of a point dataset ------------------------------------------------------------------

#: How many points the datastore's preview tables list.
PREVIEW_ROWS = 10


def preview(store: Any, dataset: str, authority: str | None = None, n: int = PREVIEW_ROWS) -> dict:
    """What the datastore pages show of a point dataset (in ``authority``'s districts when given): how many
    points there are (``count``; ``total`` in the whole dataset), in how many districts (``districts``: name ->
    count, most first), the first ``n`` points by code as a table (``columns``, ``rows`` of printed cells: code,
    name, type, district, latitude and longitude, and each measure's reading at the dataset's time for a
    snapshot, or the measures a series site reports), and the points' coordinates for a preview map
    (``lon``, ``lat``, ``authorities``). Raises NotFound for a dataset the requester may not see."""
    meta = store.point_dataset(dataset)
    everywhere = store.point_sites(dataset)
    sites = store.point_sites(dataset, authority) if authority else everywhere
    named = sites["authority_name"].where(sites["authority_name"].notna(), "outside England and Wales")
    districts = {str(k): int(v) for k, v in named.value_counts().sort_index().sort_values(
        ascending=False, kind="stable").items()}
    head = sites.head(n)
    measures = [m for m in _measures(meta) if m["id"] != "highest"]
    snapshot = meta.get("kind") == "snapshot"
    columns = ["Code", "Name", "Type", "District", "Latitude, longitude"]
    cells: list[list[str]] = [[str(r["site"]), str(r["name"]), str(r.get("type") or ""),
                               str(r["authority_name"]) if isinstance(r["authority_name"], str) else "outside",
                               f"{r['lat']:.5f}, {r['lon']:.5f}"] for r in head.to_dict("records")]
    if snapshot:
        time = store.point_times(dataset)[-1]
        for m in measures:
            columns.append(f"{m['label']}" + (f" ({m['unit']})" if m.get("unit") else ""))
            values, _ = _site_values(store, meta, m["id"], time, head)
            for row, v in zip(cells, values, strict=True):
                row.append(_text(printing.round_half_away(v, int(m.get("decimals", 1))), m) or "no reading"
                           if math.isfinite(v) else "no reading")
    else:
        labels = {m["id"]: m["label"] for m in measures}
        columns.append("Measures")
        for row, ms in zip(cells, head["measures"], strict=True):
            row.append(", ".join(labels.get(x, x) for x in ms))
    return {"dataset": dataset, "title": meta["title"], "kind": meta.get("kind"), "as_of": meta.get("as_of"),
            "count": len(sites), "total": len(everywhere), "districts": districts, "columns": columns,
            "rows": cells, "shown": len(cells), "lon": sites["lon"].to_numpy("float64"),
            "lat": sites["lat"].to_numpy("float64"),
            "authorities": sorted({a for a in sites["authority"] if isinstance(a, str)})}
