"""Area profiles and areas like mine, over HTTP: ``/api/profile/<place>.<json|csv>`` (with the CSV's CSVW
metadata and the printable PDF) and ``/api/similar/<level>/<code>.json``. Routes parse the URL and ask
atlas/profile.py and atlas/similar.py; errors are JSON naming what was wrong (web/errors.py)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from typing import Any

import flask

from atlas import access, catalogue, csvsafe, describe, extracts
from atlas import profile as atlas_profile
from atlas import similar as atlas_similar
from web import errors

__all__ = ["ROUTES", "blueprint", "init_app", "saved_resolver"]

blueprint = flask.Blueprint("profile", __name__)

PROFILE_FORMATS = ("json", "csv", "csv-metadata.json", "pdf")
ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/profile/<place>.json",
     "Every indicator for a place as a whole, aggregated by the rule its unit allows (counts summed; shares "
     "re-derived from summed counts and denominators; averages weighted by their base; deciles, ranks, medians "
     "and classifications as distributions, never averaged), beside the containing authorities, region and "
     "nation. <place>: a district, region, Wales, combined authority, partnership area, `all`, a saved area's "
     "code or one LSOA, output area or ward; ?level= for a place with several levels."),
    ("/api/profile/<place>.csv", "The same profile, one row per figure; its W3C CSVW metadata at "
     "<place>.csv-metadata.json."),
    ("/api/profile/<place>.pdf", "The profile as a printable PDF report with the map, drawn on the server."),
    ("/api/similar/<level>/<code>.json",
     "The areas at <level> most like area <code> (or a saved area taken as a whole) across England and Wales: "
     "indicators standardised, nearest by Euclidean distance (scikit-learn). ?n= (1-100, default 10), "
     "?variables=a,b,c (default: age, tenure, qualifications, occupation and deprivation at lsoa11). Each "
     "area found names the indicators that make it alike and those that set it apart."),
)

#: How a saved area's code becomes a profile's subject (set by web/areas.py when it is registered).
_resolvers: list[Callable[[catalogue.Catalogue, str], atlas_profile.Subject | None]] = []


def saved_resolver(fn: Callable[[catalogue.Catalogue, str], atlas_profile.Subject | None]) -> None:
    """Register how saved areas' codes are resolved (for the requester, by their access)."""
    if fn not in _resolvers:
        _resolvers.append(fn)


class BadQuery(ValueError):
    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(message)


def _only(names: tuple[str, ...]) -> None:
    for key in flask.request.args:
        if key not in names:
            raise BadQuery(key, f"unknown parameter {key[:40]!r}; this route reads {', '.join(names) or 'none'}")


def subject(s: catalogue.Catalogue, place: str, level: str | None) -> atlas_profile.Subject:
    """The subject a URL names (a saved area first, then a built-in place or an area). Raises NotFound."""
    def saved(code: str) -> atlas_profile.Subject | None:
        for fn in _resolvers:
            found = fn(s, code)
            if found is not None:
                return found
        return None
    return atlas_profile.subject_for(s, place, level, saved=saved)


def _split(filename: str) -> tuple[str, str]:
    for fmt in sorted(PROFILE_FORMATS, key=len, reverse=True):
        if filename.endswith("." + fmt):
            return filename[: -len(fmt) - 1], fmt
    raise extracts.NotFound("format", filename.rpartition(".")[2], list(PROFILE_FORMATS))


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _json(payload: Any, status: int = 200) -> flask.Response:
    body = json.dumps(_clean(payload), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return flask.Response(body, status=status, mimetype="application/json")


def _private(response: flask.Response) -> flask.Response:
    # A profile may hold published datasets only some may read, and a saved area is its owner's.
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def _csvw(result: dict, url: str) -> dict:
    header, _ = atlas_profile.profile_csv_rows(result)
    texts = {
        "topic": ("Topic", "string", "The topic the figure belongs to."),
        "variable": ("Variable", "string", "The variable's id in the catalogue (/api/variables/<id>)."),
        "label": ("Label", "string", "What the figure is."),
        "unit": ("Unit", "string", "The figure's unit, as the catalogue gives it."),
        "rule": ("Aggregation rule", "string", "sum: counts summed; share: summed numerator / summed denominator "
                 "x 100; weighted: average weighted by its base; ratio: summed numerator / summed denominator; "
                 "deciles, categories: areas counted in each; distribution: not aggregable."),
        "value": ("Value for the place", "number", "At full precision; empty where not aggregable."),
        "printed": ("Printed value", "string", "The value as printed, rounded once, halves away from zero."),
        "numerator": ("Summed numerator", "number", "A share's or ratio's summed numerator (a weighted mean's "
                      "weighted sum)."),
        "denominator": ("Summed denominator", "number", "A share's or ratio's summed denominator (a weighted "
                        "mean's summed base)."),
        "areas": ("Areas with a figure", "integer", "How many of the place's areas have the figure."),
        "missing": ("Areas without", "integer", "How many of the place's areas have no figure."),
        "distribution": ("Distribution", "string", "JSON: counts per decile or class, or the lowest, quartiles, "
                         "median and highest across the areas for a figure that is not aggregable."),
        "note": ("Note", "string", "Why a figure is not aggregated, or what it is weighted by."),
    }
    names = {c["code"]: c["name"] for c in result["comparators"]}
    columns = []
    for name in header:
        if name in texts:
            title, typ, text = texts[name]
        else:
            code, _, what = name.rpartition("_")
            title = f"{names.get(code, code)}: {what}"
            typ = "number"
            text = (f"The same figure for {names.get(code, code)} ({code})" if what == "value" else
                    f"The place's value minus {names.get(code, code)}'s ({code})")
        columns.append({"name": name, "title": title, "type": typ, "description": text})
    return describe.csvw_table(url, f"Profile of {result['name']} ({result['place']}), {result['level']}",
                               f"Every indicator for {result['name']} as a whole ({result['areas']} areas at level "
                               f"{result['level']}), aggregated by its unit's rule, beside "
                               + (", ".join(c["name"] for c in result["comparators"]) or "no comparator") + ".",
                               columns, primary_key="variable")


@access.declares("site.view")
def profile_route(filename: str) -> flask.Response:
    place, fmt = _split(filename)
    _only(("level",))
    s = catalogue.of_request()
    level = (flask.request.args.get("level") or "").strip() or None
    subj = subject(s, place, level)
    if fmt == "pdf":
        from atlas import report  # noqa: PLC0415 - fpdf2 and matplotlib only when a report is asked for

        response = flask.Response(report.pdf(s, subj), mimetype="application/pdf")
        response.headers["Content-Disposition"] = f'inline; filename="profile_{place}_{subj.level}.pdf"'
        return _private(response)
    result = atlas_profile.profile(s, subj)
    if fmt == "json":
        return _private(_json(result))
    if fmt == "csv-metadata.json":
        url = flask.url_for("profile.profile", filename=f"{place}.csv", _external=True)
        response = _json(_csvw(result, url))
        response.mimetype = "application/csvm+json"
        return _private(response)
    header, rows = atlas_profile.profile_csv_rows(result)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csvsafe.cell(v) if isinstance(v, str) else ("" if v is None else v) for v in row])
    response = flask.Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="profile_{place}_{subj.level}.csv"'
    metadata = flask.url_for("profile.profile", filename=f"{place}.csv-metadata.json")
    response.headers["Link"] = f'<{metadata}>; rel="describedby"; type="application/csvm+json"'
    return _private(response)


@access.declares("site.view")
def similar_route(level: str, filename: str) -> flask.Response:
    code, dot, fmt = filename.rpartition(".")
    if not dot or fmt != "json":
        raise extracts.NotFound("format", fmt if dot else "", ["json"])
    _only(("n", "variables"))
    text = flask.request.args.get("n", "10").strip()
    if not text.isdigit() or not 1 <= int(text) <= atlas_similar.MAX_N:
        raise BadQuery("n", f"n must be a whole number from 1 to {atlas_similar.MAX_N}, not {text[:20]!r}")
    given = flask.request.args.get("variables")
    variables = tuple(v.strip() for v in given.split(",") if v.strip()) if given is not None else None
    if given is not None and not variables:
        raise BadQuery("variables", "variables is empty: name one or more variables, separated by commas")
    s = catalogue.of_request()
    chosen = variables or atlas_similar.DEFAULTS.get(level, ())
    saved = None
    for fn in _resolvers:
        saved = fn(s, code)
        if saved is not None:
            break
    if saved is not None:
        if saved.level != level:
            raise extracts.NotFound("level", level, [saved.level],
                                 f"{saved.name} ({code}) is made of areas at level {saved.level!r}, not {level!r}")
        atlas_similar.model(s, level, tuple(chosen))  # validates the level and variables first
        target = atlas_profile.values_for(s, saved, tuple(chosen))
        result = atlas_similar.similar(s, level, target, code, int(text), variables,
                                       exclude=frozenset(saved.codes))
        result["name"] = saved.name
    else:
        result = atlas_similar.similar(s, level, None, code, int(text), variables)
    return _private(_json(result))


@blueprint.errorhandler(BadQuery)
def _bad_query(exc: BadQuery) -> flask.Response:
    return errors.json_error(400, str(exc), parameter=exc.parameter)


blueprint.add_url_rule("/api/profile/<filename>", "profile", profile_route, methods=["GET"])
blueprint.add_url_rule("/api/similar/<level>/<filename>", "similar", similar_route, methods=["GET"])
errors.register(blueprint)


def init_app(server: flask.Flask) -> None:
    """Register the profile (and similar-areas) routes on ``server``."""
    errors.init_app(server)
    server.register_blueprint(blueprint)
    server.extensions.setdefault("atlas_routes", []).extend(ROUTES)
