"""Downloads: the map as an image (/export/map.png|svg|pdf) and an authority's whole datapack
(/datapack/<authority>.zip), as a Flask Blueprint bound by ``init_app(server)``.

Routes parse the URL, ask ``export`` / ``datapack`` (which do the work and know nothing of Flask) and
answer. A bad link gets a 400 (export) or 404 (unknown authority) in JSON naming the parameter, never a
traceback and never a quietly different image.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from typing import Any

import flask

from atlas import datapack, export, store
from web import compression

__all__ = ["ROUTES", "blueprint", "init_app"]

log = logging.getLogger(__name__)

blueprint = flask.Blueprint("downloads", __name__)

DAY = 86_400
ROUTES: tuple[tuple[str, str], ...] = (
    ("/export/map.<format>",
     "The map view as png, svg or pdf (A4 landscape), from the explorer's query keys (authority, level, "
     "variable, scheme, k, breaks, scope, palette, reverse, opacity) plus bbox=west,south,east,north "
     f"(degrees; default the authority's bounds), dpi ({export.DPI_MIN}-{export.DPI_MAX}, PNG only: "
     f"{export.SCREEN_DPI} screen, {export.PRINT_DPI} print) and width/height in pixels (PNG, SVG). "
     "A link the explorer would have to change is refused with 400."),
    ("/datapack/<authority>.zip",
     "Every variable at every level the authority has: values wide per level and dataset (Parquet and "
     "CSV), geometry per level (GeoPackage), and a README listing every variable's definition, source, "
     "vintage and licence."),
)


def _error(status: int, message: str, **extra: Any) -> flask.Response:
    body = json.dumps({"error": message, "status": status, **extra}, ensure_ascii=False)
    return flask.Response(body, status=status, mimetype="application/json")


class _Bytes:
    """A small per-process LRU of rendered images, bounded by total bytes: a report's image link is
    fetched by every reader, and the same link always gives the same image within a build."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[str, tuple[export.Rendered, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> export.Rendered | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: str, value: export.Rendered) -> None:
        size = len(value.body)
        if size > self.limit // 4:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = (value, size)
            self._size += size
            while self._size > self.limit:
                _, (_, dropped) = self._items.popitem(last=False)
                self._size -= dropped


_images = _Bytes(64 * 1024 * 1024)


def _spec_key(build_id: str, spec: export.ExportSpec) -> str:
    from atlas import viewstate as view_state  # noqa: PLC0415 - the explorer's canonical query

    text = "|".join([view_state.to_query(spec.state), spec.fmt, repr(spec.bbox), str(spec.dpi),
                     str(spec.width), str(spec.height)])
    return f"{build_id}:export:{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def export_map(format: str) -> flask.Response:  # noqa: A002 - the URL's own word
    s = store.get_store()
    try:
        repeated = [k for k, values in flask.request.args.lists() if len(values) > 1]
        if repeated:
            # The explorer takes the last; a link for a report must not depend on which one is meant.
            raise export.ExportError(repeated, f"parameter{'s' if len(repeated) > 1 else ''} "
                                     f"{', '.join(repr(k) for k in repeated)} given more than once")
        args = flask.request.args.to_dict()
        spec = export.parse_export(args, format, s)
        tag = _spec_key(s.build_id, spec)
        held = [t for t in compression.etag_variants(tag) if flask.request.if_none_match.contains(t)]
        if held:
            # Before rendering: a 304 for the representation the client holds (an SVG may be compressed).
            response = flask.Response(status=304)
            response.set_etag(held[0])
            response.headers["Cache-Control"] = f"public, max-age={DAY}"
            return response
        rendered = _images.get(tag)
        if rendered is None:
            rendered = export.render(export.map_data(s, spec))
            _images.put(tag, rendered)
    except export.ExportError as exc:
        extra: dict[str, Any] = {"parameter": exc.parameters[0], "parameters": exc.parameters,
                                 "messages": exc.messages}
        if exc.valid:
            extra["valid"] = exc.valid
        return _error(400, exc.message, **extra)
    st = spec.state
    response = flask.Response(rendered.body, mimetype=rendered.mimetype)
    response.headers["Content-Disposition"] = (
        f'inline; filename="atlas_{st.authority}_{st.level}_{st.variable}.{format}"')
    # Where the map frame is, so the image can be georeferenced (and is, by the tests).
    response.headers["X-Map-CRS"] = rendered.crs
    response.headers["X-Map-Bounds"] = ",".join(f"{v:.2f}" for v in rendered.limits)
    response.headers["X-Map-Frame"] = ",".join(f"{v:.2f}" for v in rendered.frame)
    response.headers["Cache-Control"] = f"public, max-age={DAY}"
    response.set_etag(tag)
    return response


def datapack_zip(authority: str) -> flask.Response:
    s = store.get_store()
    path = datapack.ensure(s, authority)
    tag = f"{s.build_id}:datapack:{authority}"
    response = flask.send_file(path, mimetype="application/zip", as_attachment=True,
                               download_name=f"atlas_{authority}_{s.build_id}.zip", etag=tag,
                               conditional=True, max_age=DAY)
    return response


blueprint.add_url_rule("/export/map.<format>", "export_map", export_map, methods=["GET"])
blueprint.add_url_rule("/datapack/<authority>.zip", "datapack", datapack_zip, methods=["GET"])


@blueprint.errorhandler(store.NotFound)
def _not_found(exc: store.NotFound) -> flask.Response:
    return _error(404, exc.message, what=exc.what, value=exc.value, valid=exc.valid[:100],
                  valid_count=len(exc.valid), see="/api/authorities")


@blueprint.errorhandler(FileNotFoundError)
def _no_extracts(exc: FileNotFoundError) -> flask.Response:
    log.error("downloads unavailable: %s", exc)
    return _error(503, "the extracts are not available on this server yet; run `python -m pipeline build`")


@blueprint.errorhandler(Exception)
def _internal(exc: Exception) -> flask.Response:
    log.exception("download error on %s", flask.request.path)
    return _error(500, "internal error while preparing the download; it has been logged")


def init_app(server: flask.Flask) -> None:
    """Register /export/... and /datapack/... on ``server`` (the Dash app's Flask server)."""
    server.register_blueprint(blueprint)
    # Listed by GET /api beside the data API's own routes: the whole URL surface in one place.
    server.extensions.setdefault("atlas_routes", []).extend(ROUTES)
