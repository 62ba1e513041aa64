"""The data API's point datasets and air-quality routes (listed in web/api.py's ROUTES, one table).

Routes parse the URL, ask atlas/points.py and atlas/air.py (which know nothing of Flask) and answer JSON or
GeoJSON; unknown names are 404 with the valid choices, bad values 400 naming the parameter.
"""

from __future__ import annotations

import hashlib
import re

import flask

from atlas import access, air, catalogue, points
from web import api, errors

__all__ = ["ROUTES", "blueprint", "init_app"]

blueprint = flask.Blueprint("points", __name__)

_THRESHOLD = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6})?")


def _dataset_summary(row: dict) -> dict:
    """A point dataset as ``GET /api/points`` lists it, with its links."""
    out = {k: row.get(k) for k in ("id", "title", "description", "kind", "as_of", "start", "end", "sites",
                                   "note", "source", "licence", "monitoring")}
    out["measures"] = [{k: m.get(k) for k in ("id", "label", "unit", "period", "thresholds", "bands")}
                       for m in row.get("measures") or []]
    out["lockdown"] = row.get("lockdown")
    out["links"] = {"geojson": flask.url_for("points.point_file", filename=f"{row['id']}.geojson"),
                    "site": flask.url_for("points.point_site", dataset=row["id"], filename="<site>.json")}
    return out


@access.declares("site.view")
def point_datasets() -> flask.Response:
    api.only(())
    s = catalogue.of_request()
    rows = [_dataset_summary(row) for row in s.point_datasets()]
    return api.cacheable(api.json_response({"build": s.build_id, "count": len(rows), "datasets": rows}),
                         f"{s.build_id}:points", s.build_id)


@access.declares("site.view")
def point_file(filename: str) -> flask.Response:
    dataset, _fmt = api.split(filename, ("geojson",))
    api.only(("authority", "measure", "day", "v"))
    s = catalogue.of_request()
    authority = api.param("authority")
    body = points.geojson(s, dataset, authority)
    measure, day = api.param("measure"), api.param("day")
    if measure or day:
        # The readings of one measure on one day (or the snapshot's time) as each feature's ``value``, printed
        # once (``text``): what the map's markers show.
        meta = s.point_dataset(dataset)
        ids = [m["id"] for m in meta.get("measures") or []]
        if measure is not None and measure not in ids:
            raise api.BadQuery("measure", f"measure must be one of {', '.join(ids)}")
        times = s.point_times(dataset)
        if day is not None and day not in times:
            raise api.BadQuery("day", f"day must be a time with readings, from {times[0]} to {times[-1]}")
        state, _ = points.resolve({"points": dataset, "measure": measure or "", "day": day or ""}, s)
        paint = points.paint(s, state, "")
        texts = paint.get("text")
        for feature in body["features"]:
            i = feature["properties"]["i"]
            feature["properties"].update(measure=state.measure, time=state.time,
                                         text=texts[i] if texts else None,
                                         **{"class": paint["labels"][points.class_at(paint["cls"], i)]
                                            if points.class_at(paint["cls"], i) >= 0 else None})
        body["measure"], body["time"] = state.measure, state.time
    response = api.json_response(body)
    response.mimetype = "application/geo+json"
    link = api.licence_link(body)
    if link:
        response.headers["Link"] = link
    digest = hashlib.sha256(flask.request.query_string).hexdigest()[:16]
    return api.cacheable(response, f"{s.build_id}:points:{dataset}:{digest}", s.build_id)


@access.declares("site.view")
def point_site(dataset: str, filename: str) -> flask.Response:
    code, _fmt = api.split(filename, ("json",))
    api.only(())
    s = catalogue.of_request()
    body = points.site(s, dataset, code)
    return api.cacheable(api.json_response({"build": s.build_id, **body}),
                         f"{s.build_id}:points:{dataset}:site:{code}", s.build_id)


@access.declares("site.view")
def point_near(level: str, filename: str) -> flask.Response:
    code, _fmt = api.split(filename, ("json",))
    api.only(("n",))
    n = api.param("n") or "3"
    if not re.fullmatch(r"[0-9]{1,2}", n) or not 1 <= int(n) <= 20:
        raise api.BadQuery("n", "n must be a whole number from 1 to 20")
    s = catalogue.of_request()
    body = points.near_area(s, level, code, int(n))
    return api.cacheable(api.json_response({"build": s.build_id, **body}),
                         f"{s.build_id}:near:{level}:{code}:{n}", s.build_id)


@access.declares("site.view")
def exposure(authority: str, level: str, filename: str) -> flask.Response:
    variable, _fmt = api.split(filename, ("json",))
    api.only(("threshold",))
    extra: tuple[float, ...] = ()
    given = api.param("threshold")
    if given is not None:
        if not _THRESHOLD.fullmatch(given):
            raise api.BadQuery("threshold", "threshold must be a number (µg/m³ for an air pollutant), e.g. 12.5")
        extra = (float(given),)
    s = catalogue.of_request()
    try:
        summary = air.exposure(s, authority, level, variable, extra)
    except air.ExposureError as exc:
        return errors.json_error(404, f"no exposure for {variable} at {level}: {exc}", [])
    place = s.authority(authority)
    body = {"build": s.build_id, "authority": {"code": place["code"], "name": place["name"]}, **summary,
            "words": air.exposure_lines(summary, place["name"]),
            "rule": ("Residents of an area count as above a threshold when the area's printed value (the value the "
                     "map classes) is above it; the mean is weighted by residents, from full-precision values.")}
    body.pop("decimals", None)
    tag = f"{s.data_version(variable)}:exposure:{s.place_key(authority)}:{level}:{variable}:{given or ''}"
    return api.cacheable(api.json_response(body), tag, s.build_id)


ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/points",
     "The point datasets (monitoring sites with their readings; published tables of points) the requester may "
     "see: each one's measures (unit, period, the guideline and limit thresholds or the index's bands), its "
     "dates, as-of time, source and licence, and links."),
    ("/api/points/<dataset>.geojson",
     "A point dataset's sites as GeoJSON (WGS84): each feature's site code, name, type, network, district, LSOAs "
     "of 2011 and 2021 and the measures it reports; the collection's as_of, source and licence. ?authority= keeps "
     "the sites in a district or place; ?measure= and ?day= add each site's reading (value printed once, and its "
     "class)."),
    ("/api/points/<dataset>/<site>.json",
     "One site's time series: for each measure every reading (time, value, printed text, band), the period's "
     "mean, the guideline and limit lines, and (AURN 2020) the lockdown comparison: mean before (1 Feb - 22 Mar) "
     "and during (23 Mar - 31 May) the first lockdown, and the change. A published point's series covers every "
     "version of its dataset (each version's as-of date a time; a later version of the same date supersedes it)."),
    ("/api/points/near/<level>/<area>.json",
     "The monitoring sites nearest to an area (from a point inside it), each dataset's ?n= (1-20, default 3) "
     "nearest with distances in km; a site inside the area is 0 km away ('in this area')."),
    ("/api/exposure/<authority>/<level>/<variable>.json",
     "Population-weighted exposure of a place's residents to a variable with thresholds (the LAEI's NO2 and "
     "PM2.5): the residents' mean, and for each threshold (WHO guideline, interim targets, UK legal limit; "
     "?threshold= adds one) the people and areas above it and their share."),
)

_VIEWS = {"point_datasets": ("/api/points", point_datasets),
          "point_file": ("/api/points/<filename>", point_file),
          "point_site": ("/api/points/<dataset>/<filename>", point_site),
          "point_near": ("/api/points/near/<level>/<filename>", point_near),
          "exposure": ("/api/exposure/<authority>/<level>/<filename>", exposure)}
for _endpoint, (_rule, _view) in _VIEWS.items():
    blueprint.add_url_rule(_rule, _endpoint, _view, methods=["GET"])


@blueprint.errorhandler(points.PointError)
def _unknown_point(exc: points.PointError) -> flask.Response:
    return errors.json_error(404, str(exc), [])


@blueprint.errorhandler(api.BadQuery)
def _bad_query(exc: api.BadQuery) -> flask.Response:
    return errors.json_error(400, str(exc), parameter=exc.parameter)


@blueprint.errorhandler(api.BadFormat)
def _bad_format(exc: api.BadFormat) -> flask.Response:
    return errors.json_error(404, str(exc), exc.valid, what="format", value=exc.value)


errors.register(blueprint, "/api")


def init_app(server: flask.Flask) -> None:
    """Register the point and exposure routes on ``server`` (after web.api), listed by GET /api."""
    server.register_blueprint(blueprint)
    server.extensions.setdefault("atlas_routes", []).extend(ROUTES)
