"""The datastore: server-rendered pages (readable without JavaScript), its DCAT documents and Atom feeds, and
the browser's publishing flow. Every list, count and document is what the requester may see (atlas/datasets.py
and atlas/registry.py ask ``access.allowed``); a dataset they may not see answers 404 like one that never
existed.

Routes (``ROUTES`` below is the table ``GET /api`` lists):
- ``/datastore``: the registry: search every dataset (the build's tables and councils' published datasets)
  with facets (topic, publisher, level, licence, access, updated), and every authority, searchable by name,
  with its counts of datasets and variables;
- ``/datastore/<authority>`` (code or name slug): every dataset held for it, by topic, with description,
  source, licence, vintage, levels, coverage, last built, and links: the map, each download (CSV, GeoJSON,
  GeoPackage, Parquet) and the datapack; ``/datastore/<authority>/<level>/<dataset>.<format>`` downloads;
- ``/datastore/datasets/<key>``: one dataset: metadata, variables, versions (and their downloads), the map;
  for its organisation's editors a new version, restore; for its admins who may see it;
- ``/datastore/catalog.jsonld`` and ``/datastore/<authority>/catalog.jsonld``: DCAT (JSON-LD);
- ``/datastore/whats-new`` and Atom feeds: ``/datastore/feeds/whats-new.atom``, per dataset, per authority,
  and per user's follows at a secret address (``/datastore/feeds/user/<secret>.atom``);
- ``/datastore/publish``: upload a CSV or XLSX, choose the level, map the columns, give the metadata, see
  the validation report and a preview map, publish;
- ``/datastore/org/<code>``: an organisation: its datasets, partnerships, and for its admins its members and
  the audit log.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import flask
import sqlalchemy as sa
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField

from atlas import (
    access,
    accounts,
    audit,
    catalogue,
    csvsafe,
    datapack,
    datasets,
    db,
    deprivation,
    extracts,
    feeds,
    points,
    preview,
    publish,
    registry,
    settings,
)
from atlas.viewstate import LEVEL_LABELS, level_label
from web import auth, errors

__all__ = ["ROUTES", "blueprint", "init_app"]

log = logging.getLogger(__name__)

blueprint = flask.Blueprint("datastore", __name__, template_folder="templates", static_folder="static",
                            static_url_path="/datastore/static")

ROUTES: tuple[tuple[str, str], ...] = (
    ("/datastore", "The registry: search every dataset you may see, with facets, and every authority."),
    ("/datastore/<authority>", "Every dataset held for an authority (code or name slug), with its downloads."),
    ("/datastore/<authority>/<level>/<dataset>.<format>", "A dataset for one authority: csv, geojson, gpkg, parquet."),
    ("/datastore/datasets/<key>", "One dataset: metadata, variables, versions, downloads, the map."),
    ("/datastore/catalog.jsonld", "The whole catalogue as DCAT (JSON-LD)."),
    ("/datastore/<authority>/catalog.jsonld", "An authority's datasets as DCAT (JSON-LD)."),
    ("/datastore/whats-new", "New datasets and versions; Atom at /datastore/feeds/whats-new.atom."),
    ("/datastore/feeds/datasets/<key>.atom", "A dataset's versions (Atom)."),
    ("/datastore/feeds/authorities/<code>.atom", "New datasets and versions for an authority (Atom)."),
)
FORMATS = {"csv": "text/csv", "geojson": "application/geo+json", "gpkg": "application/geopackage+sqlite3",
           "parquet": "application/vnd.apache.parquet"}
JSONLD = "application/ld+json"
ATOM = "application/atom+xml"
DCAT_CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/", "foaf": "http://xmlns.com/foaf/0.1/",
    "xsd": "http://www.w3.org/2001/XMLSchema#", "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
}
STAGING_HOURS = 24
#: The units a column may be given in the browser's flow (the API takes any short text).
UNITS = ("count", "percentage", "people", "rate", "ratio", "score", "")
MAX_RESULTS = 200


class Missing(LookupError):
    """Answered 404 (a page or dataset that does not exist, or that the requester may not see)."""


# -- helpers ------------------------------------------------------------------------------------------------

def _store() -> catalogue.Catalogue:
    """The request's catalogue (what this requester may see), built once per request."""
    return catalogue.of_request()


def _render(template: str, status: int = 200, **context: Any) -> flask.Response:
    response = flask.make_response(flask.render_template(template, **context), status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


def _authority(name: str) -> dict:
    """An authority by ONS code or name slug (``liverpool``, ``E08000012``)."""
    s = _store()
    upper = name.upper()
    for a in s.authorities():
        if a["code"] == upper or datasets.slug(a["name"]) == name.lower():
            return a
    raise Missing(name)


def _base() -> str:
    public = settings.load().public_url
    return public or flask.request.host_url.rstrip("/")


def _map_link(authority: str, level: str, variable: str) -> str:
    return "/?" + urlencode([("authority", authority), ("level", level), ("variable", variable)])


def _points_link(authority: str, dataset: str) -> str:
    """The explorer showing a point dataset over ``authority``'s map."""
    return "/?" + urlencode([("authority", authority), ("points", dataset)])


def _points_preview(s: catalogue.Catalogue, d: datasets.DatasetInfo) -> dict | None:
    """A point dataset's preview for its page: counts, the first points, and a map of them (an SVG)."""
    if not d.points:
        return None
    found = points.preview(s, d.key)
    found["svg"] = preview.points_svg(s, found["lon"], found["lat"], found["authorities"],
                                      f"Map of the {found['count']:,} points of {d.title}")
    return found


def _find(key: str) -> datasets.DatasetInfo:
    for d in datasets.datasets(_store()):
        if d.key == key:
            return d
    raise Missing(key)


@blueprint.app_context_processor
def _context() -> dict:
    return {"actor": auth.actor(), "level_label": level_label}


# -- the registry ---------------------------------------------------------------------------------------------

@blueprint.route("/datastore")
@access.declares("site.view")
def index() -> flask.Response:
    s = _store()
    args = flask.request.args
    q = args.get("q", "").strip()[:200]
    chosen = {name: args.get(name, "").strip()[:200] for name in datasets.FACETS if args.get(name, "").strip()}
    items = datasets.datasets(s)
    found = datasets.search(items, q, chosen)
    counts = datasets.authority_counts(s)
    words = q.lower().split()
    authorities = [dict(a, slug=datasets.slug(a["name"]), counts=counts.get(a["code"], (0, 0)))
                   for a in sorted(s.authorities(), key=lambda a: a["name"])
                   if a.get("levels") and all(w in a["name"].lower() or w in a["code"].lower() for w in words)]
    def facet_link(name: str, value: str | None) -> str:
        params = {"q": q, **chosen}
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
        return flask.url_for("datastore.index", **{k: v for k, v in params.items() if v})
    return _render("datastore/index.html", q=q, chosen=chosen, results=found[:MAX_RESULTS], total=len(found),
                   facets=datasets.facet_counts(found), facet_link=facet_link, authorities=authorities,
                   all_count=len(items))


@blueprint.route("/datastore/<name>")
@access.declares("site.view")
def authority_page(name: str) -> flask.Response:
    a = _authority(name)
    if datasets.slug(a["name"]) != name and a["code"] != name:
        return flask.redirect(flask.url_for("datastore.authority_page", name=a["code"]), 301)
    s = _store()
    items = datasets.datasets(s, a["code"])
    topics: dict[str, list[datasets.DatasetInfo]] = {}
    for d in items:
        topics.setdefault(d.topic, []).append(d)
    levels = {d["level"] for d in a.get("levels") or []}
    # Point datasets (the monitoring sites, published tables of points): how many points here, the first ones.
    previews = {d.key: points.preview(s, d.key, a["code"], n=5) for d in items if d.points}
    return _render("datastore/authority.html", a=a, topics=topics, levels=levels, formats=list(FORMATS),
                   previews=previews, points_link=_points_link,
                   map_link=_map_link, built=datasets._build_created(s), count=len(items),
                   variables=sum(d.variables for d in items),
                   deprivation=deprivation.district_summary(s, a["code"]))


@blueprint.route("/datastore/<name>/<level>/<filename>")
@access.declares("site.view")
def download(name: str, level: str, filename: str) -> flask.Response:
    a = _authority(name)
    csvw = filename.endswith(datapack.CSVW_SUFFIX)  # W3C CSVW metadata beside the CSV
    dataset, _, fmt = (filename[:-len(datapack.CSVW_SUFFIX)] + ".csv" if csvw else filename).rpartition(".")
    if fmt not in FORMATS or not dataset:
        raise Missing(filename)
    s = _store()
    if flask.request.method == "HEAD":
        # Whether the download exists (the same check a GET makes), without writing it: DCAT link checkers.
        if dataset not in s.datasets_at(a["code"], level):
            raise Missing(filename)
        return flask.Response(status=200, mimetype=FORMATS[fmt])
    frame, rows = s.dataset_values(a["code"], level, dataset)
    if csvw:
        url = flask.url_for("datastore.download", name=a["code"], level=level, filename=f"{dataset}.csv",
                            _external=True)
        response = flask.Response(datapack.dataset_csvw(frame, rows, url, f"{a['name']}, {level}: {dataset}"),
                                  mimetype="application/csvm+json")
        response.headers["Cache-Control"] = "public, max-age=3600" if not auth.actor().signed_in else "private"
        return response
    meta = {"dataset": dataset, "authority": a["code"], "level": level,
            "variables": [{k: r.get(k) for k in ("id", "label", "unit", "denominator", "vintage", "as_of",
                                                   "source", "licence", "kind", "method", "cell", "cells", "note",
                                                   "decimals", "categories")} for r in rows]}
    body = datapack.dataset_file(frame, meta, fmt, s.area_geojson_bytes(a["code"], level) if fmt != "csv" else None,
                                 layer=f"{a['code']}_{level}_{dataset}")
    response = flask.Response(body, mimetype=FORMATS[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{a["code"]}_{level}_{dataset}.{fmt}"'
    url = datasets.licence_url(rows[0].get("licence") or "")
    links = [f'<{url}>; rel="license"'] if url else []
    if fmt == "csv":
        csvw = flask.url_for("datastore.download", name=a["code"], level=level,
                             filename=dataset + datapack.CSVW_SUFFIX)
        links.append(f'<{csvw}>; rel="describedby"; type="application/csvm+json"')
    if links:
        response.headers["Link"] = ", ".join(links)
    if rows[0].get("as_of"):
        response.headers["X-Atlas-As-Of"] = rows[0]["as_of"]
    response.headers["Cache-Control"] = "public, max-age=3600" if not auth.actor().signed_in else "private"
    return response


@blueprint.route("/datastore/datasets/<key>")
@access.declares("site.view")
def dataset_page(key: str) -> flask.Response:
    d = _find(key)
    s = _store()
    detail = None
    can_edit = can_admin = following = False
    pull = feed_url = None
    partnerships: list[dict] = []
    if d.published and d.dataset_id is not None:
        from web import publishing  # noqa: PLC0415 - the API's JSON of a dataset, shared

        detail = publishing.dataset_json(d.dataset_id)
        pub = s.published(key)
        actor = auth.actor()
        can_edit = pub is not None and access.allowed(actor, "dataset.version", pub.rule)
        can_admin = pub is not None and access.allowed(actor, "dataset.share", pub.rule)
        if pub is not None and access.allowed(actor, "dataset.feed", pub.rule):
            feed_url = pub.pull_url
        with db.session() as sess:
            if actor.signed_in:
                following = sess.get(db.Follow, (actor.user_id, "dataset", key)) is not None
            state = sess.get(db.PullState, d.dataset_id)
            if state is not None and can_edit:
                pull = {"last_success": state.last_success, "last_error": state.last_error,
                        "failures": state.failures, "next_at": state.next_at}
        if can_admin and pub is not None:
            partnerships = _share_choices(pub.rule.org_id)
    rows = [r for r in s.variables() if r.get("dataset") == key][:300]
    where = sorted({a for r in rows for a in (r.get("authorities") or [])} | set(d.authorities if d.monitoring
                                                                                  else ()))
    names = {a["code"]: a["name"] for a in s.authorities()}
    return _render("datastore/dataset.html", d=d, detail=detail, rows=rows, where=where, names=names,
                   map_link=_map_link, points_preview=_points_preview(s, d), points_link=_points_link,
                   can_edit=can_edit, can_admin=can_admin, following=following, pull=pull,
                   feed_url=feed_url,
                   partnerships=partnerships, levels=list(access.LEVELS))


@blueprint.route("/datastore/datasets/<key>/v<int:number>.csv")
@access.declares("site.view")
def version_csv(key: str, number: int) -> flask.Response:
    m = re.fullmatch(r"ds(\d+)", key)
    if not m:
        raise Missing(key)
    try:
        frame, pub = publish.version_frame(auth.actor(), int(m.group(1)), number, _store().data_dir)
    except publish.Denied:
        raise Missing(key) from None
    out = io.StringIO()
    frame.columns = csvsafe.row([str(c) for c in frame.columns])  # uploaded headings may look like formulas
    frame.to_csv(out, index=False, lineterminator="\r\n")
    response = flask.Response(out.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{key}_v{number}.csv"'
    return response


# -- DCAT --------------------------------------------------------------------------------------------------

def _dcat_description(d: datasets.DatasetInfo) -> str:
    """A dataset's description from the catalogue: what it holds, where, when and from whom."""
    if d.published:
        return d.description or d.title
    return (f"{d.title}: {d.variables:,} variable{'s' if d.variables != 1 else ''} at "
            f"{', '.join(level_label(lv) for lv in d.levels)}; coverage {d.coverage or 'as listed'}; "
            f"vintage {d.vintage or 'not recorded'}. Source: {d.source}")


def _dcat_dataset(d: datasets.DatasetInfo, base: str, authority: dict | None, levels: list[str]) -> dict:
    """One dcat:Dataset. ``levels``: the levels at which this authority's download of it exists (the same
    question the download route asks), so every distribution listed answers."""
    page = f"{base}{flask.url_for('datastore.dataset_page', key=d.key)}"
    out: dict[str, Any] = {
        "@id": page, "@type": "dcat:Dataset", "dct:identifier": d.key, "dct:title": d.title,
        "dct:description": _dcat_description(d),
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": d.publisher,
                          **({"foaf:homepage": {"@id": d.publisher_url}} if d.publisher_url else {})},
        "dcat:theme": d.topic, "dcat:keyword": [d.topic, *d.levels],
        "dcat:landingPage": {"@id": page},
        "dct:accessRights": d.access,
    }
    if d.source:
        out["dct:source"] = d.source
    if d.updated:
        out["dct:modified"] = {"@value": d.updated[:10], "@type": "xsd:date"}
    if d.as_of:
        out["dct:temporal"] = {"@type": "dct:PeriodOfTime", "dcat:endDate": {"@value": d.as_of, "@type": "xsd:date"}}
    licence = d.licence_url
    licence_node = {"@id": licence} if licence else {"@type": "dct:LicenseDocument", "rdfs:label": d.licence_name}
    out["dct:license"] = licence_node
    distributions = []
    if authority is not None:
        out["dct:spatial"] = {"@id": f"http://statistics.data.gov.uk/id/statistical-geography/{authority['code']}"}
        for level in levels:
            for fmt, media in FORMATS.items():
                url = base + flask.url_for("datastore.download", name=authority["code"], level=level,
                                           filename=f"{d.key}.{fmt}")
                dist = {"@id": url, "@type": "dcat:Distribution", "dct:title": f"{d.title}, {authority['name']}, "
                        f"{level_label(level)} ({fmt})", "dcat:accessURL": {"@id": page},
                        "dcat:downloadURL": {"@id": url},
                        "dcat:mediaType": {"@id": f"https://www.iana.org/assignments/media-types/{media}"},
                        "dct:format": fmt, "dct:license": licence_node}
                if fmt == "csv":  # its W3C CSVW metadata, beside it
                    dist["dct:conformsTo"] = {"@id": "http://www.w3.org/TR/tabular-metadata/"}
                    dist["rdfs:seeAlso"] = {"@id": url + datapack.CSVW_SUFFIX[len(".csv"):]}
                distributions.append(dist)
    else:
        distributions.append({"@id": page + "#page", "@type": "dcat:Distribution", "dct:title": f"{d.title} (pages)",
                              "dcat:accessURL": {"@id": page}, "dct:license": licence_node})
    if d.points:  # a table of points or the monitoring sites: the points themselves, as GeoJSON
        distributions.append(_geojson_distribution(d.key, d.title, base, authority, licence_node))
    out["dcat:distribution"] = distributions
    return out


def _geojson_distribution(key: str, title: str, base: str, authority: dict | None, licence: dict) -> dict:
    url = base + flask.url_for("points.point_file", filename=f"{key}.geojson",
                               **({"authority": authority["code"]} if authority else {}))
    return {"@id": url, "@type": "dcat:Distribution", "dct:title": f"{title}: the points (GeoJSON)",
            "dcat:accessURL": {"@id": url}, "dcat:downloadURL": {"@id": url}, "dct:format": "geojson",
            "dcat:mediaType": {"@id": "https://www.iana.org/assignments/media-types/application/geo+json"},
            "dct:license": licence}


def _dcat_levels(authority: dict | None) -> dict[str, list[str]]:
    """dataset -> the levels at which ``authority`` has data for it (the download's own condition)."""
    if authority is None:
        return {}
    s = _store()
    out: dict[str, list[str]] = {}
    for level in (d["level"] for d in authority.get("levels") or []):
        for dataset in s.datasets_at(authority["code"], level):
            out.setdefault(dataset, []).append(level)
    return out


def _dcat(items: list[datasets.DatasetInfo], authority: dict | None) -> flask.Response:
    base = _base()
    me = base + flask.request.path
    title = "Neighbourhood Atlas datastore" + (f": {authority['name']}" if authority else "")
    levels = _dcat_levels(authority)
    doc = {"@context": DCAT_CONTEXT, "@id": me, "@type": "dcat:Catalog", "dct:title": title,
           "dct:description": "Census, deprivation, election and council-published datasets for every local authority "
                              "of England and Wales" + (f"; those held for {authority['name']}" if authority else ""),
           "dct:publisher": {"@type": "foaf:Agent", "foaf:name": "Neighbourhood Atlas"},
           "foaf:homepage": {"@id": base + flask.url_for("datastore.index")},
           "dcat:dataset": [_dcat_dataset(d, base, authority, levels.get(d.key, [])) for d in items
                            if authority is None or levels.get(d.key) or d.monitoring]}
    response = flask.Response(json.dumps(doc, ensure_ascii=False, separators=(",", ":")), mimetype=JSONLD)
    return response


@blueprint.route("/datastore/catalog.jsonld")
@access.declares("site.view")
def dcat_all() -> flask.Response:
    return _dcat(datasets.datasets(_store()), None)


@blueprint.route("/datastore/<name>/catalog.jsonld")
@access.declares("site.view")
def dcat_authority(name: str) -> flask.Response:
    a = _authority(name)
    return _dcat(datasets.datasets(_store(), a["code"]), a)


# -- what's new and Atom feeds ----------------------------------------------------------------------------------

def _entries(actor: access.Actor, datasets: set[int] | None = None, authority: str | None = None,
             limit: int = 50) -> list[dict]:
    """New versions (a dataset's version 1 is its publication) of the datasets ``actor`` may see."""
    snap = registry.snapshot()
    visible = {p.id: p for p in snap.visible(actor)}
    if datasets is not None:
        visible = {k: v for k, v in visible.items() if k in datasets}
    if authority is not None:
        visible = {k: v for k, v in visible.items() if authority in v.authorities}
    if not visible:
        return []
    with db.session() as s:
        versions = s.execute(sa.select(db.Version).where(db.Version.dataset_id.in_(list(visible)))
                             .order_by(db.Version.created.desc(), db.Version.id.desc()).limit(limit)).scalars().all()
        return [{"dataset": visible[v.dataset_id], "number": v.number, "as_of": v.as_of, "created": v.created,
                 "via": v.via, "note": v.note} for v in versions]


@blueprint.route("/datastore/whats-new")
@access.declares("site.view")
def whats_new() -> flask.Response:
    return _render("datastore/whats_new.html", entries=_entries(auth.actor()))


def _atom(title: str, self_url: str, entries: list[dict]) -> flask.Response:
    ns = "http://www.w3.org/2005/Atom"
    ET.register_namespace("", ns)
    feed = ET.Element(f"{{{ns}}}feed")
    base = _base()
    ET.SubElement(feed, f"{{{ns}}}title").text = title
    ET.SubElement(feed, f"{{{ns}}}id").text = base + self_url
    ET.SubElement(feed, f"{{{ns}}}link", rel="self", href=base + self_url)
    updated = max((e["created"] for e in entries), default=datetime(2020, 1, 1))
    ET.SubElement(feed, f"{{{ns}}}updated").text = updated.replace(tzinfo=UTC).isoformat()
    author = ET.SubElement(feed, f"{{{ns}}}author")
    ET.SubElement(author, f"{{{ns}}}name").text = "Neighbourhood Atlas"
    for e in entries:
        pub = e["dataset"]
        item = ET.SubElement(feed, f"{{{ns}}}entry")
        what = "New dataset" if e["number"] == 1 else f"Version {e['number']}"
        ET.SubElement(item, f"{{{ns}}}title").text = f"{what}: {pub.title} ({pub.org_name}), as of {e['as_of']}"
        page = base + flask.url_for("datastore.dataset_page", key=pub.key)
        ET.SubElement(item, f"{{{ns}}}id").text = f"{page}#v{e['number']}"
        ET.SubElement(item, f"{{{ns}}}link", href=page)
        ET.SubElement(item, f"{{{ns}}}updated").text = e["created"].replace(tzinfo=UTC).isoformat()
        ET.SubElement(item, f"{{{ns}}}summary").text = (
            f"{pub.title}, published by {pub.org_name}: version {e['number']} as of {e['as_of']}"
            + (f" ({e['note']})" if e["note"] else "") + f". Access: {pub.rule.access}.")
    body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="utf-8")
    return flask.Response(body, mimetype=ATOM)


@blueprint.route("/datastore/feeds/whats-new.atom")
@access.declares("site.view")
def feed_whats_new() -> flask.Response:
    return _atom("What's new in the Neighbourhood Atlas datastore", flask.request.path, _entries(auth.actor()))


@blueprint.route("/datastore/feeds/datasets/<key>.atom")
@access.declares("site.view")
def feed_dataset(key: str) -> flask.Response:
    m = re.fullmatch(r"ds(\d+)", key)
    pub = registry.snapshot().by_id(int(m.group(1)), auth.actor()) if m else None
    if pub is None:
        raise Missing(key)
    return _atom(f"{pub.title} ({pub.org_name})", flask.request.path, _entries(auth.actor(), {pub.id}))


@blueprint.route("/datastore/feeds/authorities/<code>.atom")
@access.declares("site.view")
def feed_authority(code: str) -> flask.Response:
    a = _authority(code)
    return _atom(f"New data for {a['name']}", flask.request.path, _entries(auth.actor(), authority=a["code"]))


@blueprint.route("/datastore/feeds/user/<secret>.atom")
@access.declares("site.view")
def feed_user(secret: str) -> flask.Response:
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", secret):
        raise Missing("feed")
    with db.session() as s:
        user = s.execute(sa.select(db.User).where(db.User.feed_secret == secret)).scalar_one_or_none()
        if user is None:
            raise Missing("feed")
        follows = [(f.kind, f.target) for f in s.execute(sa.select(db.Follow).where(db.Follow.user_id == user.id))
                   .scalars()]
        user_id = user.id
    actor = accounts.actor_for(user_id, via="feed")
    if actor is None:
        raise Missing("feed")
    ids = {int(t[2:]) for k, t in follows if k == "dataset" and re.fullmatch(r"ds\d+", t)}
    authorities = [t for k, t in follows if k == "authority"]
    entries = _entries(actor, ids) if ids else []
    for code in authorities:
        entries += _entries(actor, authority=code)
    unique = {(e["dataset"].id, e["number"]): e for e in entries}
    entries = sorted(unique.values(), key=lambda e: e["created"], reverse=True)[:100]
    response = _atom(f"Followed by {actor.email}", flask.request.path, entries)
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@blueprint.route("/datastore/follow", methods=["POST"])
@access.declares("account.self")
def follow() -> flask.Response:
    actor = auth.login_required_page()
    auth.CSRF.protect()
    kind = flask.request.form.get("kind", "")
    target = flask.request.form.get("target", "")[:40]
    stop = flask.request.form.get("stop") == "1"
    if kind == "dataset":
        m = re.fullmatch(r"ds(\d+)", target)
        if not m or registry.snapshot().by_id(int(m.group(1)), actor) is None:
            raise Missing(target)
        back = flask.url_for("datastore.dataset_page", key=target)
    elif kind == "authority":
        target = _authority(target)["code"]
        back = flask.url_for("datastore.authority_page", name=target)
    else:
        raise Missing(kind)
    with db.session() as s:
        found = s.get(db.Follow, (actor.user_id, kind, target))
        if stop and found:
            s.delete(found)
        elif not stop and not found:
            s.add(db.Follow(user_id=actor.user_id, kind=kind, target=target))
    return flask.redirect(back)


# -- publishing in the browser -----------------------------------------------------------------------------------

class UploadForm(FlaskForm):
    file = FileField("CSV or XLSX file, one row per area")
    level = SelectField("Level of the areas", choices=[(k, v) for k, v in LEVEL_LABELS.items()] + [
        (registry.POINTS, "Points: one row per place, with its coordinates (atlas/pointdata.py)")])
    organisation = SelectField("Publish for", choices=[])


def _staging(data_dir: Path) -> Path:
    path = registry.published_dir(data_dir) / ".staging"
    path.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in path.iterdir():
        if now - old.stat().st_mtime > STAGING_HOURS * 3600:
            old.unlink(missing_ok=True)
    return path


def _share_choices(org_id: int) -> list[dict]:
    """The partnerships a dataset of ``org_id`` may be shared with (``partnership.share``): its own."""
    snap = registry.snapshot()
    return [p for p in accounts.list_partnerships() if p["id"] in snap.partnerships
            and access.allowed(auth.actor(), "partnership.share", access.Share(snap.partnerships[p["id"]], org_id))]


def _visible_partnerships(actor: access.Actor) -> list[dict]:
    """The partnerships ``actor`` may see (``partnership.view``): those of their organisations."""
    snap = registry.snapshot()
    return [p for p in accounts.list_partnerships()
            if p["id"] in snap.partnerships and access.allowed(actor, "partnership.view", snap.partnerships[p["id"]])]


def _editable_orgs(actor: access.Actor) -> list[tuple[str, str]]:
    """The organisations ``actor`` may publish for (``dataset.publish``)."""
    with db.session() as s:
        q = sa.select(db.Organisation).order_by(db.Organisation.name)
        if not actor.site_admin:  # (a site administrator may publish for every one: no need to narrow)
            q = q.where(db.Organisation.id.in_(sorted(actor.orgs)))
        return [(o.code, o.name) for o in s.execute(q).scalars()
                if access.allowed(actor, "dataset.publish", access.Org(o.id))]


@blueprint.route("/datastore/publish", methods=["GET", "POST"])
@access.declares("dataset.publish")
def publish_start() -> flask.Response:
    actor = auth.login_required_page()
    form = UploadForm()
    form.organisation.choices = _editable_orgs(actor)
    if not form.organisation.choices:
        return _render("account/message.html", 403, title="Publishing",
                       message="Only editors and admins of an organisation publish. Ask your organisation's admin.")
    error = None
    if form.validate_on_submit():
        upload = flask.request.files.get("file")
        data = upload.read() if upload else b""
        if not data:
            error = "Choose a CSV or XLSX file."
        else:
            report = publish.Report()
            rows = publish.read_table(data, upload.filename or "upload.csv", report)
            if not report.ok:
                return _render("datastore/publish_report.html", 422, report=report.as_dict(), title="The file could "
                               "not be read")
            token = secrets.token_urlsafe(18)
            folder = _staging(_store().data_dir)
            (folder / f"{token}.bin").write_bytes(data)
            (folder / f"{token}.json").write_text(json.dumps({
                "user": actor.user_id, "filename": upload.filename or "upload.csv", "level": form.level.data,
                "organisation": form.organisation.data, "header": rows[0] if rows else [], "rows": len(rows) - 1}))
            return flask.redirect(flask.url_for("datastore.publish_details", token=token))
    return _render("datastore/publish_start.html", form=form, error=error,
                   limit=settings.load().upload_max_bytes)


def _staged(token: str, actor: access.Actor) -> tuple[dict, bytes]:
    if not re.fullmatch(r"[A-Za-z0-9_-]{20,40}", token):
        raise Missing(token)
    folder = _staging(_store().data_dir)
    try:
        info = json.loads((folder / f"{token}.json").read_text())
        data = (folder / f"{token}.bin").read_bytes()
    except (OSError, ValueError):
        raise Missing(token) from None
    if info.get("user") != actor.user_id:
        raise Missing(token)
    return info, data


def _form_metadata(form: Any, info: dict) -> dict:
    header = info["header"]
    columns = []
    for i, name in enumerate(header):
        if form.get(f"use_{i}") == "1" and name != form.get("code_column"):
            columns.append({"name": name, "label": form.get(f"label_{i}") or name, "unit": form.get(f"unit_{i}", ""),
                            "denominator": form.get(f"denominator_{i}", ""), "polarity": form.get(f"polarity_{i}", "")})
    def listed(key: str) -> list[str]:
        return [v.strip() for v in form.get(key, "").split(",") if v.strip()]
    if info["level"] == registry.POINTS:  # a table of points: coordinate columns instead of a code column
        roles = {k: form.get(k) or "" for k in ("x_column", "y_column", "id_column", "name_column")}
        columns = [c for c in columns if c["name"] not in roles.values()]
        wgs84 = form.get("crs", "EPSG:4326") == "EPSG:4326"
        where: dict[str, Any] = ({"lon_column": roles["x_column"], "lat_column": roles["y_column"]} if wgs84 else
                                 {"x_column": roles["x_column"], "y_column": roles["y_column"], "crs": form.get("crs")})
        where.update({k: roles[k] for k in ("id_column", "name_column") if roles[k]})
    else:
        where = {"level": info["level"], "code_column": form.get("code_column")}
    return {"title": form.get("title"), "description": form.get("description"), "topic": form.get("topic"),
            **where, "columns": columns,
            "licence": form.get("licence"), "source": form.get("source"), "as_of": form.get("as_of"),
            "organisation": info["organisation"], "update_days": form.get("update_days") or None,
            "pull_url": form.get("pull_url") or None, "pull_minutes": form.get("pull_minutes") or None,
            "access": {"level": form.get("access"), "partnerships": listed("partnerships"),
                       "organisations": listed("organisations")}}


@blueprint.route("/datastore/publish/<token>", methods=["GET", "POST"])
@access.declares("dataset.publish")
def publish_details(token: str) -> flask.Response:
    actor = auth.login_required_page()
    if flask.request.method == "POST":
        auth.CSRF.protect()
    info, data = _staged(token, actor)
    form = flask.request.form
    report = preview_svg = None
    status = 200
    if flask.request.method == "POST":
        rep = publish.Report()
        meta = publish.parse_metadata(_form_metadata(form, info), rep)
        s = _store()
        if form.get("action") == "publish" and rep.ok:
            try:
                out = publish.publish_dataset(actor, meta, data, info["filename"], s.extracts, via="upload",
                                              report=rep)
            except publish.Rejected as exc:
                rep = exc.report
            except publish.Forbidden as exc:
                return _render("account/message.html", 403, title="Publishing", message=str(exc))
            else:
                folder = _staging(s.data_dir)
                for suffix in (".bin", ".json"):
                    (folder / f"{token}{suffix}").unlink(missing_ok=True)
                return flask.redirect(flask.url_for("datastore.dataset_page", key=f"ds{out['id']}"))
        owner = publish.owner_for(actor, info["organisation"], s.extracts)
        onto = (lambda a: access.allowed(actor, "place.publish", access.Target(owner, a))) if owner else None
        frame = publish.check(data, info["filename"], meta, s.extracts, rep, onto=onto) if rep.ok else None
        report = rep.as_dict()
        status = 200 if rep.ok else 422
        if frame is not None and meta.columns and meta.level != registry.POINTS:
            preview_svg = preview.svg(s, meta.level, frame, meta.columns[0].name)
    owner = publish.owner_for(actor, info["organisation"], _store().extracts)
    choices = _share_choices(owner.id) if owner else []
    return _render("datastore/publish_details.html", status, info=info, token=token, form=form, report=report,
                   preview=preview_svg, levels=list(access.LEVELS), partnerships=choices,
                   units=UNITS)


@blueprint.route("/datastore/publish/<int:dataset_id>/version", methods=["POST"])
@access.declares("dataset.version")
def publish_version(dataset_id: int) -> flask.Response:
    actor = auth.login_required_page()
    auth.CSRF.protect()
    upload = flask.request.files.get("file")
    data = upload.read() if upload else b""
    report = publish.Report()
    as_of = publish.parse_metadata({"as_of": flask.request.form.get("as_of")}, report, partial=True).get("as_of")
    if not report.ok or not data:
        if not data:
            report.error("size", "choose a file")
        return _render("datastore/publish_report.html", 422, report=report.as_dict(), title="Nothing was stored")
    try:
        publish.add_version(actor, dataset_id, data, upload.filename or "upload.csv", _store().extracts, as_of=as_of,
                            note=flask.request.form.get("note", "")[:500], via="upload", report=report)
    except publish.Rejected as exc:
        return _render("datastore/publish_report.html", 422, report=exc.report.as_dict(), title="Nothing was stored")
    except publish.Denied:
        raise Missing(dataset_id) from None
    except publish.Forbidden as exc:
        return _render("account/message.html", 403, title="Publishing", message=str(exc))
    except publish.Busy as exc:
        return _busy(exc)
    return flask.redirect(flask.url_for("datastore.dataset_page", key=f"ds{dataset_id}"))


def _busy(exc: publish.Busy) -> flask.Response:
    response = _render("account/message.html", 503, title="Try again", message=str(exc))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


@blueprint.route("/datastore/datasets/<key>/restore", methods=["POST"])
@access.declares("dataset.version")
def restore(key: str) -> flask.Response:
    actor = auth.login_required_page()
    auth.CSRF.protect()
    m = re.fullmatch(r"ds(\d+)", key)
    number = flask.request.form.get("version", "")
    if not m or not number.isdigit():
        raise Missing(key)
    try:
        publish.restore(actor, int(m.group(1)), int(number), _store().data_dir)
    except publish.Denied:
        raise Missing(key) from None
    except publish.Forbidden as exc:
        return _render("account/message.html", 403, title="Restore", message=str(exc))
    except publish.Rejected as exc:
        return _render("datastore/publish_report.html", 409, report=exc.report.as_dict(), title="Not restored")
    except publish.Busy as exc:
        return _busy(exc)
    return flask.redirect(flask.url_for("datastore.dataset_page", key=key))


@blueprint.route("/datastore/datasets/<key>/access", methods=["POST"])
@access.declares("dataset.share")
def change_access(key: str) -> flask.Response:
    actor = auth.login_required_page()
    auth.CSRF.protect()
    m = re.fullmatch(r"ds(\d+)", key)
    if not m:
        raise Missing(key)
    form = flask.request.form
    level = form.get("access", "")
    partnerships = form.getlist("partnerships")
    organisations = [v.strip() for v in form.get("organisations", "").split(",") if v.strip()]
    try:
        publish.set_access(actor, int(m.group(1)), level, partnerships[:100], organisations[:100], _store().data_dir)
    except publish.Denied:
        raise Missing(key) from None
    except (publish.Forbidden, ValueError) as exc:
        return _render("account/message.html", 403 if isinstance(exc, publish.Forbidden) else 400,
                       title="Access", message=str(exc))
    except publish.Rejected as exc:
        return _render("datastore/publish_report.html", 422, report=exc.report.as_dict(), title="Access not changed")
    return flask.redirect(flask.url_for("datastore.dataset_page", key=key))


# -- organisations -------------------------------------------------------------------------------------------

@blueprint.route("/datastore/org/<code>", methods=["GET", "POST"])
@access.declares("org.view")
def org_page(code: str) -> flask.Response:
    """An organisation: its datasets (those the requester may see) for everyone; its members, partnerships
    and open invitations for its members (``org.view``); managing them for its admins (``org.members``):
    invite by e-mail (a one-time link, shown here), change a role, remove a member, a password-reset link
    for a member, create, accept or leave a partnership. Every change is audited (atlas/accounts.py)."""
    actor = auth.actor()
    with db.session() as s:
        org = s.execute(sa.select(db.Organisation).where(db.Organisation.code == code)).scalar_one_or_none()
        if org is None:
            raise Missing(code)
        org_id, name, authority = org.id, org.name, org.authority
    snap = registry.snapshot()
    resource = snap.org(org_id)
    is_admin = access.allowed(actor, "org.members", resource)
    is_member = access.allowed(actor, "org.view", resource)
    message = link = None
    if flask.request.method == "POST":
        auth.login_required_page()
        auth.CSRF.protect()
        if not is_admin:
            return _render("account/message.html", 403, title=name, message="Only this organisation's admins do that.")
        try:
            message, link = _org_action(flask.request.form, code, name, actor)
        except (accounts.AccountError, ValueError) as exc:
            message = f"Not done: {exc}"
        snap = registry.snapshot()
    datasets = [p for p in snap.visible(actor) if p.rule.org_id == org_id]
    members: list[tuple[str, str]] = []
    entries: list[dict] = []
    invitations: list[dict] = []
    partnerships: list[dict] = []
    if is_member:
        with db.session() as s:
            members = sorted((m.user.email, m.role) for m in s.execute(
                sa.select(db.Membership).where(db.Membership.org_id == org_id)).scalars())
        partnerships = [p for p in _visible_partnerships(actor) if any(m["code"] == code for m in p["members"])]
    if is_admin:
        entries = audit.entries(org_id)
        invitations = accounts.list_invitations(code)
    return _render("datastore/org.html", code=code, name=name, authority=authority, datasets=datasets,
                   members=members, entries=entries, is_admin=is_admin, is_member=is_member,
                   partnerships=partnerships, message=message, link=link, invitations=invitations,
                   roles=list(db.ROLES))


def _org_action(form: Any, code: str, name: str, actor: access.Actor) -> tuple[str, str | None]:
    """One admin's change on the organisation page: (what was done, a link to show once or None)."""
    what = form.get("action")
    email = form.get("email", "").strip().lower()
    role = form.get("role", "member")
    if what == "member":  # invite a new person, or change an existing member's role
        if any(u["email"] == email and any(r.startswith(f"{code}:") for r in u["roles"])
               for u in accounts.list_users()):
            accounts.set_role(email, code, role)
            return f"{email} is now {role} of {name}.", None
        path = accounts.invite(email, code, role, by=actor.user_id)
        return (f"Invitation for {email} ({role}). Send them this link (it works once, for "
                f"{settings.load().invitation_hours} hours):"), _base() + path
    if what == "role":
        accounts.set_role(email, code, role)
        return f"{email} is now {role} of {name}.", None
    if what == "remove":
        accounts.remove_member(email, code)
        return f"{email} is no longer a member of {name}.", None
    if what == "reset":
        if not any(u["email"] == email and any(r.startswith(f"{code}:") for r in u["roles"])
                   for u in accounts.list_users()):
            raise accounts.AccountError(f"{email} is not a member of {code}")
        path = accounts.reset_link(email, by=actor.user_id)
        return f"A password-reset link for {email} (it works once, for {settings.load().invitation_hours} hours):", \
            _base() + path
    if what == "revoke_invitation":
        accounts.revoke_invitation(int(form.get("invitation", "0") or 0), code)
        return "Invitation withdrawn.", None
    if what == "partnership":
        invited = [v.strip() for v in form.get("orgs", "").split(",") if v.strip()]
        accounts.add_partnership(form.get("name", ""), invited, created_by=code, accepted=False,
                                 description=form.get("description", ""))
        return "Partnership created; the organisations invited see it once their admins accept.", None
    pid = int(form.get("partnership", "0") or 0)
    if what == "accept":
        accounts.accept_partnership(pid, code)
        return "Partnership accepted.", None
    if what == "leave":
        accounts.leave_partnership(pid, code)
        return "Your organisation has left the partnership.", None
    raise ValueError(f"unknown action {what!r}")


# -- errors ----------------------------------------------------------------------------------------------------

@blueprint.errorhandler(Missing)
@blueprint.errorhandler(extracts.NotFound)
def _missing(exc: Exception) -> flask.Response:
    # The same answer whether the thing does not exist or is not shared with the requester.
    if flask.request.endpoint in ("datastore.download", "datastore.dcat_authority", "datastore.feed_dataset",
                                  "datastore.feed_authority", "datastore.feed_user", "datastore.version_csv"):
        return errors.json_error(404, "not found (or not shared with you)")
    return _render("account/message.html", 404, title="Not found",
                   message="There is no such page or dataset here (or it is not shared with you).")


def init_app(server: flask.Flask) -> None:
    server.register_blueprint(blueprint)

    @server.before_request
    def _feeds() -> None:
        # Live feeds are pulled by a thread of each worker (after gunicorn's fork: started on a request),
        # every ATLAS_PULL_EVERY seconds; each feed is claimed atomically, so workers never pull one twice.
        feeds.start_scheduler(settings.load().pull_every)

    server.extensions.setdefault("atlas_routes", []).extend(ROUTES)
