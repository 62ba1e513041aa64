"""One way to answer an error, for every blueprint that serves data (the API, the downloads, those to come).

``json_error`` writes the body every one of them answers with: ``{"error": message, "status": code, ...}``
plus what helps (the valid choices, capped at ``MAX_VALID`` with their count; the parameter at fault).
``register(blueprint, prefix, ...)`` gives a blueprint the shared handlers:

- ``extracts.NotFound`` -> 404 naming what was not found and listing what is valid;
- any ``HTTPException`` (405, 413, 429 from flask-limiter...) -> its status, as JSON;
- a shared service that cannot be reached (``SHARED``: the database, object storage, Redis) -> 503 with
  ``Retry-After``, saying which; the workers stay up and recover by themselves when it returns;
- ``renderpool.Busy`` (the worker's pool of image and file processes is full, too slow, or lost the process
  doing the work) -> 503 with ``Retry-After``, saying which;
- ``FileNotFoundError`` (no extracts yet) -> 503 saying to run the pipeline;
- anything else -> 500, logged with its traceback here and never sent to the client.

``init_app(server)`` adds what no blueprint can do alone, because the request never reached one:

- a body over ``MAX_CONTENT_LENGTH`` (``ATLAS_MAX_BODY_BYTES``, about 1 MB) is refused with 413 before any
  view runs, whatever the method or path: JSON under a data prefix, one line of plain text elsewhere; the
  publishing routes alone (``UPLOAD_PATHS``) take up to ``ATLAS_UPLOAD_MAX_BYTES`` (20 MB) and 256 KB more;
- a path under a registered prefix that no route of its blueprint matched (``/api/`` with its trailing
  slash, ``/export/anything``: Dash's catch-all page would answer them 200) is a JSON 404.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import flask
import redis
from werkzeug.exceptions import HTTPException, NotFound, RequestEntityTooLarge

from atlas import db, extracts, renderpool, settings, shared, storage

__all__ = ["MAX_VALID", "SHARED", "busy", "init_app", "is_data_path", "json_error", "register", "unavailable"]

log = logging.getLogger(__name__)

#: Longest list of valid choices put in an error body; the body says how many there are in all.
MAX_VALID = 100
#: Where the full list of valid choices lives, for lists too long for an error body.
SEE = {"authority": "/api/authorities", "variable": "/api/variables", "topic": "/api/variables",
       "built indicator": "/api/builder", "table": "/api/builder"}
_PREFIXES = "atlas_data_prefixes"
#: The routes that take an upload, and so a larger body (ATLAS_UPLOAD_MAX_BYTES): the publishing API and
#: the browser's upload form.
UPLOAD_PATHS = re.compile(r"^/(api/datasets(/\d+/versions)?|datastore/publish(/\d+/version)?)$")
UPLOAD_OVERHEAD = 256 * 1024


def json_error(status: int, message: str, valid: list[str] | None = None, headers: dict[str, str] | None = None,
               **extra: Any) -> flask.Response:
    """The JSON error every data route answers with."""
    payload: dict[str, Any] = {"error": message, "status": status, **extra}
    if valid is not None:
        payload["valid"] = list(valid)[:MAX_VALID]
        payload["valid_count"] = len(valid)
        if len(valid) > MAX_VALID:
            payload["valid_truncated"] = True
    body = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    response = flask.Response(body, status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _prefixes(app: flask.Flask) -> tuple[str, ...]:
    return tuple(app.extensions.get(_PREFIXES, ()))


def is_data_path(path: str, app: flask.Flask | None = None) -> bool:
    """True when ``path`` belongs to a data blueprint (it is answered in JSON)."""
    app = app or flask.current_app
    return any(path == p or path.startswith(p + "/") for p in _prefixes(app))


def _http_error(exc: HTTPException) -> flask.Response:
    status = exc.code or 500
    headers = {k: v for k, v in exc.get_headers() if k.lower() in ("allow", "retry-after")}
    if status >= 500:
        log.error("%s %s: %s", status, flask.request.path, exc.description)
    else:
        log.info("%s %s: %s", status, flask.request.path, exc.description)
    return json_error(status, exc.description or exc.name, headers=headers)


#: Shared services a request may need, by the exception raised while one cannot be reached, with its name.
SHARED: dict[type[Exception], str] = {
    db.Unavailable: "the datastore's database", storage.Unavailable: "object storage",
    shared.Unavailable: "the shared store of sessions and limits (Redis)",
    # flask-limiter's Redis storage raises redis-py's own errors from its before_request check.
    redis.ConnectionError: "the shared store of sessions and limits (Redis)",
    redis.TimeoutError: "the shared store of sessions and limits (Redis)"}


def unavailable(exc: Exception) -> flask.Response:
    """503 with Retry-After for a shared service that cannot be reached: JSON on data paths and Dash's
    callbacks, one line of plain text elsewhere. Logged in one line, never a traceback."""
    what = next((name for cls, name in SHARED.items() if isinstance(exc, cls)), "a service this needs")
    log.error("503 %s: %s unavailable: %s", flask.request.path, what, exc)
    return _retry_later(f"{what} is unavailable; try again shortly", getattr(exc, "retry_after", 5))


def busy(exc: renderpool.Busy) -> flask.Response:
    """503 with Retry-After when the worker's pool (map images, files with geometry) is full, its task too slow,
    or the process doing it died; the message says which."""
    log.warning("503 %s: %s", flask.request.path, exc)
    return _retry_later(str(exc), exc.retry_after)


def _retry_later(message: str, retry_after: int) -> flask.Response:
    """A 503 with Retry-After: JSON on data paths and Dash's callbacks, one line of plain text elsewhere."""
    retry = str(retry_after)
    if is_data_path(flask.request.path) or flask.request.path.startswith("/_dash"):
        return json_error(503, message, headers={"Retry-After": retry}, retry_after=int(retry))
    return flask.Response(message[:1].upper() + message[1:] + ".\n", status=503, mimetype="text/plain",
                          headers={"Retry-After": retry})


def _not_found(exc: extracts.NotFound) -> flask.Response:
    extra = {"see": SEE[exc.what]} if exc.what in SEE else {}
    return json_error(getattr(exc, "status", 404), exc.message, exc.valid, what=exc.what, value=exc.value, **extra)


def _no_extracts(exc: FileNotFoundError) -> flask.Response:
    log.error("data unavailable on %s: %s", flask.request.path, exc)
    return json_error(503, "the extracts are not available on this server yet; run `python -m pipeline build`")


def _internal(exc: Exception) -> flask.Response:
    log.exception("internal error on %s", flask.request.path)
    return json_error(500, "internal error; it has been logged")


def register(blueprint: flask.Blueprint, *prefixes: str) -> flask.Blueprint:
    """Give ``blueprint`` the shared JSON error handlers, and claim ``prefixes`` (e.g. ``/api``) for it: an
    unmatched path under them is a JSON 404 rather than Dash's page. A blueprint's own handlers for more
    specific exceptions still win (Flask looks them up by the exception's class first)."""
    blueprint.register_error_handler(extracts.NotFound, _not_found)
    blueprint.register_error_handler(HTTPException, _http_error)
    for cls in SHARED:
        blueprint.register_error_handler(cls, unavailable)
    blueprint.register_error_handler(renderpool.Busy, busy)
    blueprint.register_error_handler(FileNotFoundError, _no_extracts)
    blueprint.register_error_handler(Exception, _internal)

    @blueprint.record_once
    def _claim(state: Any) -> None:
        state.app.extensions.setdefault(_PREFIXES, [])
        state.app.extensions[_PREFIXES].extend(p for p in prefixes if p not in state.app.extensions[_PREFIXES])

    return blueprint


def _too_large(exc: RequestEntityTooLarge) -> flask.Response:
    limit = flask.request.max_content_length or flask.current_app.config.get("MAX_CONTENT_LENGTH") or 0
    message = f"request body too large: at most {limit:,} bytes are accepted"
    log.warning("413 %s %s: %s bytes", flask.request.method, flask.request.path, flask.request.content_length)
    if is_data_path(flask.request.path):
        return json_error(413, message, limit=limit)
    return flask.Response(message + "\n", status=413, mimetype="text/plain")


def init_app(server: flask.Flask, config: settings.Settings | None = None) -> None:
    """The body limit and the JSON 404 of unmatched data paths on ``server`` (once)."""
    if server.extensions.get("atlas_errors"):
        return
    server.extensions["atlas_errors"] = True
    config = config or settings.load()
    server.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    server.register_error_handler(RequestEntityTooLarge, _too_large)
    for cls in SHARED:
        server.register_error_handler(cls, unavailable)
    server.register_error_handler(renderpool.Busy, busy)


    @server.before_request
    def _guard() -> flask.Response | None:
        request = flask.request
        limit = flask.current_app.config.get("MAX_CONTENT_LENGTH")
        if request.method == "POST" and UPLOAD_PATHS.match(request.path):
            # The publishing routes only (a CSV or XLSX and its metadata): ATLAS_UPLOAD_MAX_BYTES, plus room
            # for the multipart envelope. Every other route keeps ATLAS_MAX_BODY_BYTES.
            limit = request.max_content_length = settings.load().upload_max_bytes + UPLOAD_OVERHEAD
        # Werkzeug checks the limit only when the body is read, and a GET view never reads it: refuse a large
        # declared body here, before any view (chunked bodies are cut off by Werkzeug as they are read).
        if limit and request.content_length is not None and request.content_length > limit:
            raise RequestEntityTooLarge()
        if is_data_path(request.path):
            routing = request.routing_exception
            if isinstance(routing, HTTPException) and (routing.code or 500) >= 400:
                return _http_error(routing)  # e.g. 405: Flask would answer it in HTML, before any blueprint
            if routing is None and request.blueprint is None:
                # Matched only by Dash's catch-all page route (``/api/``, ``/export/anything``).
                return _http_error(NotFound(f"no route matches {request.path}; GET /api lists every route"))
        return None
