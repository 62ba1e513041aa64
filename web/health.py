"""Health, readiness, and a real 404 for unknown pages, as a Blueprint bound by ``init_app(server)``.

- ``GET /healthz``: the process is up and answering (200, JSON). Asks nothing else: a balancer that restarts
  a host on a failed health check must not restart every host when the database blinks.
- ``GET /readyz``: whether this host should be sent requests: its build is present and verified (with object
  storage: fetched and checked against its manifest, atlas/builds.py), and the database, Redis (when
  ``ATLAS_REDIS_URL`` is set) and object storage (when ``ATLAS_STORAGE_URL`` is set) answer. 200 when all do,
  else 503 with ``Retry-After``; the JSON names each check and what failed.
- ``GET /favicon.ico``: where browsers look for an icon on a page that names none (the datastore's and the
  report's server-rendered pages): a redirect to Dash's own favicon, not a 404 in every such page's console.
- Every path that no route and no Dash page serves is answered 404 with a short page linking to the explorer
  (Dash's catch-all route would otherwise serve the app's page with 200 for any path: a soft 404 that fools
  monitors and search engines).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import flask
import sqlalchemy as sa

from atlas import access, builds, db, settings, shared, storage

__all__ = ["CATCH_ALL", "blueprint", "init_app", "is_page"]

log = logging.getLogger(__name__)

blueprint = flask.Blueprint("health", __name__, template_folder="templates")

#: Dash's own route for its pages: it matches every path.
CATCH_ALL = "/<path:path>"
#: Seconds a client is asked to wait when this host is not ready.
RETRY_AFTER = 5


@blueprint.get("/healthz")
@access.declares("site.view")
def healthz() -> flask.Response:
    return flask.jsonify({"status": "ok"})


@blueprint.get("/favicon.ico")
@access.declares("site.view")
def favicon() -> flask.Response:
    return flask.redirect("/_favicon.ico", 301)


def _check(fn: Callable[[], Any]) -> dict:
    started = time.perf_counter()
    try:
        detail = fn()
    except Exception as exc:  # noqa: BLE001 - any failure is "not ready", named in the answer
        log.warning("readiness: %s", exc)
        return {"ok": False, "error": f"{exc.__class__.__name__}: {str(exc)[:200]}",
                "ms": round((time.perf_counter() - started) * 1000, 1)}
    out = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)}
    if isinstance(detail, dict):
        out.update(detail)
    return out


def _build() -> dict:
    config = settings.load()
    state = builds.status(config.data_dir, _local_or(storage.get(config.data_dir)))
    if not state["present"]:
        raise RuntimeError("no build in ATLAS_DATA_DIR/current yet (run `python -m pipeline build`, or wait for "
                           "this host to fetch the build object storage names)")
    if not state["verified"]:
        raise RuntimeError(f"build {state['id']} is not verified against its manifest")
    return {"id": state["id"]}


def _local_or(store: storage.Storage) -> storage.Storage:
    # The build check reads only this host's files; object storage is checked on its own, below.
    return storage.FileStorage(settings.load().data_dir) if not store.local else store


def _database() -> None:
    url = db.database_url()
    if not db.exists(url):
        return  # SQLite not created yet: nothing published, nothing to reach
    with db.session(url) as s:
        s.execute(sa.text("SELECT 1"))


@blueprint.get("/readyz")
@access.declares("site.view")
def readyz() -> flask.Response:
    config = settings.load()
    checks = {"build": _check(_build), "database": _check(_database)}
    if config.redis_url:
        checks["redis"] = _check(shared.ping)
    if config.storage_url:
        checks["storage"] = _check(lambda: storage.get().ping())
    ready = all(c["ok"] for c in checks.values())
    response = flask.jsonify({"ready": ready, "checks": checks})
    response.headers["Cache-Control"] = "no-store"
    if not ready:
        response.status_code = 503
        response.headers["Retry-After"] = str(RETRY_AFTER)
    return response


def _page_pattern(page: str) -> re.Pattern:
    """A Dash page's path or path template ("/profile/<place>") as a pattern of whole paths: each ``<name>`` is
    one non-empty segment, as Dash's router reads it."""
    parts = re.split(r"(<[^<>/]+>)", "/" + page.strip("/"))
    return re.compile("".join("[^/]+" if part.startswith("<") else re.escape(part) for part in parts))


def is_page(path: str, pages: Callable[[], list[str]]) -> bool:
    """Whether ``path`` is one of the Dash pages (the explorer, the embed, a place's profile), as Dash's router
    would match it: ``pages()`` gives their paths, or their path templates for pages with variables."""
    wanted = "/" + path.strip("/")
    return any(_page_pattern(page).fullmatch(wanted) for page in pages())


def _not_found_page() -> flask.Response | None:
    request = flask.request
    rule = request.url_rule
    if request.method not in ("GET", "HEAD") or rule is None or rule.rule not in ("/", CATCH_ALL):
        return None
    if is_page(request.path, flask.current_app.extensions["atlas_pages"]):
        return None
    body = flask.render_template("not_found.html", path=request.path)
    response = flask.Response(body, status=404, mimetype="text/html")
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def init_app(server: flask.Flask, pages: Callable[[], list[str]]) -> None:
    """The routes, and the 404 page for every path but ``pages()`` (the Dash pages' paths: app.py passes them,
    since the HTTP layer does not import the UI framework)."""
    if server.extensions.get("atlas_health"):
        return
    server.extensions["atlas_health"] = True
    server.extensions["atlas_pages"] = pages
    server.register_blueprint(blueprint)
    server.before_request(_not_found_page)
