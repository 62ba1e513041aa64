"""The publishing API, for systems exporting from legacy databases (e.g. nightly):

- ``POST /api/datasets`` with ``Authorization: Bearer <token>`` and multipart parts ``file`` (CSV or XLSX)
  and ``metadata`` (JSON: title, level, code_column, columns [{name, label, unit}], licence, source, as_of,
  access {level, partnerships, organisations}; optional description, topic, organisation, update_days,
  pull_url, pull_minutes) -> 201 ``{id, version, variables, report, links}``;
- ``POST /api/datasets/<id>/versions`` (part ``file``, optional ``metadata`` with ``as_of`` and ``note``)
  -> 201 with the new version's number;
- ``GET /api/datasets`` (those the requester may see) and ``GET /api/datasets/<id>`` (metadata, variables,
  versions) -> 404 for one they may not see, exactly as for one that does not exist;
- ``POST /api/datasets/<id>/restore`` (JSON ``{"version": n}``) and ``POST /api/datasets/<id>/access``
  (JSON ``{"level": ..., "partnerships": [...], "organisations": [...]}``).

Writes take a Bearer token only (never the session cookie, so no cross-site form can publish). A rejected
upload is 422 with the validation report and stores nothing (atlas/publish.py).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import flask
import sqlalchemy as sa

from atlas import access, audit, db, extracts, publish, registry
from web import auth, errors

__all__ = ["ROUTES", "blueprint", "dataset_json", "init_app"]

log = logging.getLogger(__name__)

blueprint = flask.Blueprint("publishing", __name__)

ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/datasets", "GET: the published datasets you may see. POST (Bearer token; multipart file + metadata "
                      "JSON): publish a new dataset; 201 with its id and variables, 422 with the validation report."),
    ("/api/datasets/<id>", "A published dataset's metadata, variables and versions (404 if you may not see it)."),
    ("/api/datasets/<id>/versions", "POST (Bearer token; multipart file, optional metadata {as_of, note}): a new "
                                    "version."),
    ("/api/datasets/<id>/restore", "POST (Bearer token; JSON {version}): make an earlier version current again."),
    ("/api/datasets/<id>/access", "POST (Bearer token; JSON {level, partnerships, organisations}): who may see it "
                                  "(organisation admins)."),
)


def _json(payload: Any, status: int = 200) -> flask.Response:
    return flask.Response(json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")),
                          status=status, mimetype="application/json")


class _NotFound(LookupError):
    pass


def _writer() -> access.Actor:
    actor = auth.actor()
    if actor.via != "token":
        flask.abort(flask.make_response(errors.json_error(
            401, "publishing takes an API token: Authorization: Bearer <token> (`atlas token add EMAIL`)",
            headers={"WWW-Authenticate": 'Bearer realm="atlas"'})))
    return actor


def _upload() -> tuple[bytes, str]:
    part = flask.request.files.get("file")
    if part is None:
        flask.abort(flask.make_response(errors.json_error(400, "multipart part `file` (CSV or XLSX) is required",
                                                          parameter="file")))
    return part.read(), part.filename or "upload.csv"


def _metadata(required: bool) -> Any:
    raw = flask.request.form.get("metadata")
    if raw is None and "metadata" in flask.request.files:
        raw = flask.request.files["metadata"].read().decode("utf-8", errors="replace")
    if raw is None:
        if required:
            flask.abort(flask.make_response(errors.json_error(400, "multipart part `metadata` (JSON) is required",
                                                              parameter="metadata")))
        return {}
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        flask.abort(flask.make_response(errors.json_error(400, "`metadata` is not valid JSON", parameter="metadata")))


def _rejected(exc: publish.Rejected) -> flask.Response:
    return _json({"error": "the upload was rejected: nothing was stored", "status": 422,
                  "report": exc.report.as_dict()}, 422)


def _links(dataset_id: int) -> dict:
    return {"self": flask.url_for("publishing.dataset", dataset_id=dataset_id),
            "page": flask.url_for("datastore.dataset_page", key=f"ds{dataset_id}"),
            "versions": flask.url_for("publishing.versions", dataset_id=dataset_id)}


@access.declares("dataset.publish")
def datasets() -> flask.Response:
    """GET lists what the requester may read (``dataset.read``); POST publishes (``dataset.publish``,
    checked with the organisation in hand)."""
    if flask.request.method == "POST":
        return _create()
    visible = registry.snapshot().visible(auth.actor())
    return _json({"count": len(visible), "datasets": [_summary(p) for p in visible]})


def _summary(pub: registry.Published) -> dict:
    return {"id": pub.id, "title": pub.title, "publisher": pub.org_name, "publisher_code": pub.org_code,
            "level": pub.level, "access": pub.rule.access, "as_of": pub.as_of, "version": pub.version,
            "stale": pub.stale(), "variables": [v["id"] for v in pub.variables],
            "links": _links(pub.id)}


def _create() -> flask.Response:
    actor = _writer()
    data, filename = _upload()
    report = publish.Report()
    meta = publish.parse_metadata(_metadata(True), report)
    s = extracts.current()
    try:
        out = publish.publish_dataset(actor, meta, data, filename, s, via="api", report=report)
    except publish.Rejected as exc:
        audit.record_now("dataset.rejected", detail=f"via api {filename!r}: {exc.report.summary()}")
        return _rejected(exc)
    except publish.Forbidden as exc:
        return errors.json_error(403, str(exc))
    return _json({**out, "links": _links(out["id"])}, 201)


def dataset_json(dataset_id: int, actor: access.Actor | None = None) -> dict | None:
    """A dataset's metadata, variables and versions, or None when the requester may not see it."""
    pub = registry.snapshot().by_id(dataset_id, actor or auth.actor())
    if pub is None:
        return None
    with db.session() as s:
        versions = s.execute(sa.select(db.Version).where(db.Version.dataset_id == dataset_id)
                             .order_by(db.Version.number.desc())).scalars().all()
        shares = s.execute(sa.select(db.DatasetShare).where(db.DatasetShare.dataset_id == dataset_id)).scalars().all()
        names = {p.id: p.name for p in s.execute(sa.select(db.Partnership)).scalars()}
        orgs = {o.id: o.code for o in s.execute(sa.select(db.Organisation).where(
            db.Organisation.id.in_([x.org_id for x in shares if x.org_id]))).scalars()}
        vs = [{"version": v.number, "as_of": v.as_of, "created": v.created.isoformat(timespec="seconds"),
               "rows": v.rows, "via": v.via, "note": v.note, "current": v.number == pub.version,
               "sha256": v.sha256} for v in versions]
    return {"id": pub.id, "title": pub.title, "description": pub.description, "topic": pub.topic,
            "publisher": pub.org_name, "publisher_code": pub.org_code, "level": pub.level, "source": pub.source,
            "licence": pub.licence, "as_of": pub.as_of, "version": pub.version, "stale": pub.stale(),
            "status": pub.status(), "update_days": pub.update_days, "live_feed": bool(pub.pull_url),
            "access": {"level": pub.rule.access, "partnerships": [names.get(p, str(p)) for p in pub.rule.partnerships],
                       "organisations": [orgs.get(o, str(o)) for o in pub.rule.organisations]},
            "authorities": list(pub.authorities),
            "variables": [{k: v.get(k) for k in ("id", "label", "unit", "denominator", "polarity", "cell")}
                          for v in pub.variables],
            "versions": vs, "links": _links(pub.id)}


@access.declares("site.view")
def dataset(dataset_id: int) -> flask.Response:
    found = dataset_json(dataset_id)
    if found is None:
        raise _NotFound(dataset_id)
    return _json(found)


@access.declares("dataset.version")
def versions(dataset_id: int) -> flask.Response:
    if flask.request.method == "GET":
        found = dataset_json(dataset_id)
        if found is None:
            raise _NotFound(dataset_id)
        return _json({"id": dataset_id, "versions": found["versions"]})
    actor = _writer()
    data, filename = _upload()
    report = publish.Report()
    meta = publish.parse_metadata(_metadata(False), report, partial=True)
    if not report.ok:
        return _rejected(publish.Rejected(report))
    try:
        out = publish.add_version(actor, dataset_id, data, filename, extracts.current(), as_of=meta.get("as_of"),
                                  note=meta.get("note", ""), via="api", report=report)
    except publish.Rejected as exc:
        return _rejected(exc)
    except publish.Denied:
        raise _NotFound(dataset_id) from None
    except publish.Forbidden as exc:
        return errors.json_error(403, str(exc))
    except publish.Busy as exc:
        return _busy(exc)
    return _json({**out, "links": _links(dataset_id)}, 201)


def _busy(exc: publish.Busy) -> flask.Response:
    return errors.json_error(503, str(exc), headers={"Retry-After": str(exc.retry_after)},
                             retry_after=exc.retry_after)


def _body() -> dict:
    body = flask.request.get_json(silent=True)
    if not isinstance(body, dict):
        flask.abort(flask.make_response(errors.json_error(400, "send a JSON object")))
    return body


@access.declares("dataset.version")
def restore(dataset_id: int) -> flask.Response:
    actor = _writer()
    number = _body().get("version")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        return errors.json_error(400, "`version` must be a version number", parameter="version")
    try:
        out = publish.restore(actor, dataset_id, number, extracts.current().data_dir)
    except publish.Denied:
        raise _NotFound(dataset_id) from None
    except publish.Forbidden as exc:
        return errors.json_error(403, str(exc))
    except publish.Rejected as exc:
        return _json({"error": "the version cannot be restored", "status": 409, "report": exc.report.as_dict()}, 409)
    except publish.Busy as exc:
        return _busy(exc)
    return _json(out, 201)


@access.declares("dataset.share")
def set_access(dataset_id: int) -> flask.Response:
    actor = _writer()
    body = _body()
    level = body.get("level")
    lists = [body.get("partnerships") or [], body.get("organisations") or []]
    if level not in access.LEVELS or not all(isinstance(x, list) and all(isinstance(v, str) for v in x)
                                            for x in lists):
        return errors.json_error(400, f"`level` must be one of {', '.join(access.LEVELS)}; partnerships and "
                                 "organisations lists of names", parameter="level")
    try:
        publish.set_access(actor, dataset_id, level, lists[0][:100], lists[1][:100], extracts.current().data_dir)
    except publish.Denied:
        raise _NotFound(dataset_id) from None
    except publish.Forbidden as exc:
        return errors.json_error(403, str(exc))
    except publish.Rejected as exc:
        return _rejected(exc)
    found = dataset_json(dataset_id)
    return _json(found if found is not None else {"id": dataset_id, "access": {"level": level}})


blueprint.add_url_rule("/api/datasets", "datasets", datasets, methods=["GET", "POST"])
blueprint.add_url_rule("/api/datasets/<int:dataset_id>", "dataset", dataset, methods=["GET"])
blueprint.add_url_rule("/api/datasets/<int:dataset_id>/versions", "versions", versions, methods=["GET", "POST"])
blueprint.add_url_rule("/api/datasets/<int:dataset_id>/restore", "restore", restore, methods=["POST"])
blueprint.add_url_rule("/api/datasets/<int:dataset_id>/access", "access", set_access, methods=["POST"])


@blueprint.errorhandler(_NotFound)
def _not_found(exc: _NotFound) -> flask.Response:
    # Exactly the answer for a dataset that does not exist, whether or not it does.
    return errors.json_error(404, f"unknown dataset {exc.args[0]!r}", [], what="dataset", value=str(exc.args[0]),
                             see="/api/datasets")


errors.register(blueprint, "/api/datasets")


def init_app(server: flask.Flask) -> None:
    errors.init_app(server)
    server.register_blueprint(blueprint)
    server.extensions.setdefault("atlas_routes", []).extend(ROUTES)
