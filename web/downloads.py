"""Downloads: the map as an image (/export/map.png|svg|pdf) and an authority's whole datapack
(/datapack/<authority>.zip), as a Flask Blueprint bound by ``init_app(server)``.

Routes parse the URL, ask ``export`` / ``datapack`` (which do the work and know nothing of Flask) and
answer. A bad link gets a 400 (export) or 404 (unknown authority) in JSON naming the parameter, never a
traceback and never a quietly different image.

An export reads its data in the request thread (``export.map_data``) and has it drawn in the render pool
(``atlas.renderpool``): when the pool and its queue are full it is answered 503 with ``Retry-After`` at
once. Each client may ask for ``ATLAS_EXPORT_RATE_LIMIT`` exports (429 with ``Retry-After`` beyond), and an
image may have at most ``ATLAS_EXPORT_MAX_PIXELS`` pixels (400 naming dpi, width and height).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from typing import Any

import flask

from atlas import access, catalogue, datapack, export, renderpool, settings, shared
from web import compression, errors, ratelimit

__all__ = ["ROUTES", "blueprint", "init_app"]

log = logging.getLogger(__name__)

blueprint = flask.Blueprint("downloads", __name__)

DAY = 86_400
MAX_PIXELS = "ATLAS_EXPORT_MAX_PIXELS"
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


_error = errors.json_error


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


class _Images:
    """Rendered images: in Redis when ``ATLAS_REDIS_URL`` is set (drawn once for every worker of every host,
    kept ``ATLAS_CACHE_TIMEOUT`` seconds), else in this worker's small LRU. The key names everything the image
    depends on (the data's version, the place, what the requester may see), so a new version is a new key on
    every host at once. Redis down: the image is drawn here (and the next attempt waits shared.BACKOFF)."""

    KEY = shared.PREFIX + "image:"
    #: Images larger than this are not sent to Redis (a 600-dpi PNG of a dense map can be tens of MB).
    SHARED_MAX = 8 * 1024 * 1024

    def __init__(self, limit: int) -> None:
        self.local = _Bytes(limit)

    def get(self, key: str) -> export.Rendered | None:
        if not shared.enabled():
            return self.local.get(key)
        try:
            raw = shared.call(lambda r: r.get(self.KEY + key))
        except shared.Unavailable:
            return None
        if raw is None:
            return None
        meta_len = int.from_bytes(raw[:4], "big")
        meta = json.loads(raw[4:4 + meta_len])
        return export.Rendered(body=raw[4 + meta_len:], mimetype=meta["mimetype"], crs=meta["crs"],
                               limits=tuple(meta["limits"]), frame=tuple(meta["frame"]))

    def put(self, key: str, value: export.Rendered) -> None:
        if not shared.enabled():
            self.local.put(key, value)
            return
        if len(value.body) > self.SHARED_MAX:
            return
        # A plain layout (not pickle): what is read back from a shared store is never executed.
        meta = json.dumps({"mimetype": value.mimetype, "crs": value.crs, "limits": list(value.limits),
                           "frame": list(value.frame)}).encode()
        raw = len(meta).to_bytes(4, "big") + meta + value.body
        ttl = settings.load().cache_timeout
        try:
            shared.call(lambda r: r.set(self.KEY + key, raw, ex=ttl))
        except shared.Unavailable:
            pass


_images = _Images(32 * 1024 * 1024)


def _spec_key(build_id: str, spec: export.ExportSpec) -> str:
    from atlas import viewstate as view_state  # noqa: PLC0415 - the explorer's canonical query

    text = "|".join([view_state.to_query(spec.state), spec.fmt, repr(spec.bbox), str(spec.dpi),
                     str(spec.width), str(spec.height)])
    return f"{build_id}:export:{hashlib.sha256(text.encode()).hexdigest()[:24]}"


def _export_version(s: catalogue.Catalogue, spec: export.ExportSpec) -> str:
    """What an image depends on beyond its query: the build or the published dataset's current version, the
    place's membership (a partnership's area grows) and what the requester may see. A read of restricted
    data is audited here, so also when the image comes from the cache."""
    st = spec.state
    variable = s.variable(st.variable)
    s.audit_read(variable, f"export {st.authority}/{st.level}/{st.variable}")
    return f"{variable.key}|{s.place_key(st.authority)}|{s.scope_key()}"


@access.declares("site.view")
def export_map(format: str) -> flask.Response:  # noqa: A002 - the URL's own word
    s = catalogue.of_request()
    try:
        repeated = [k for k, values in flask.request.args.lists() if len(values) > 1]
        if repeated:
            # The explorer takes the last; a link for a report must not depend on which one is meant.
            raise export.ExportError(repeated, f"parameter{'s' if len(repeated) > 1 else ''} "
                                     f"{', '.join(repr(k) for k in repeated)} given more than once")
        args = flask.request.args.to_dict()
        spec = export.parse_export(args, format, s, max_pixels=flask.current_app.config[MAX_PIXELS])
        tag = _spec_key(_export_version(s, spec), spec)
        held = [t for t in compression.etag_variants(tag) if flask.request.if_none_match.contains(t)]
        if held:
            # Before rendering: a 304 for the representation the client holds (an SVG may be compressed).
            response = flask.Response(status=304)
            response.set_etag(held[0])
            response.headers["Cache-Control"] = f"public, max-age={DAY}"
            return response
        rendered = _images.get(tag)
        if rendered is None:
            # Reading the data stays here; drawing (seconds of CPU, a canvas of up to 140 MB) goes to the pool.
            rendered = renderpool.get_pool().render(export.map_data(s, spec))
            _images.put(tag, rendered)
    except renderpool.Busy as exc:
        if isinstance(exc, renderpool.Timeout) and exc.future is not None:
            # The image is still being drawn: keep it for the retry Retry-After asks for, rather than draw it twice.
            exc.future.add_done_callback(lambda done, tag=tag: None if done.cancelled() or done.exception()
                                         else _images.put(tag, done.result()))
        log.warning("503 %s: %s", flask.request.path, exc)
        return _error(503, str(exc), headers={"Retry-After": str(exc.retry_after)}, retry_after=exc.retry_after)
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


@access.declares("site.view")
def datapack_zip(authority: str) -> flask.Response:
    s = catalogue.of_request()
    path = datapack.ensure(s, authority)
    tag = f"{s.build_id}:datapack:{authority}"
    response = flask.send_file(path, mimetype="application/zip", as_attachment=True,
                               download_name=f"atlas_{authority}_{s.build_id}.zip", etag=tag,
                               conditional=True, max_age=DAY)
    return response


blueprint.add_url_rule("/export/map.<format>", "export_map", ratelimit.export_limit(export_map), methods=["GET"])
blueprint.add_url_rule("/datapack/<authority>.zip", "datapack", datapack_zip, methods=["GET"])


errors.register(blueprint, "/export", "/datapack")


def init_app(server: flask.Flask) -> None:
    """Register /export/... and /datapack/... on ``server`` (the Dash app's Flask server), with the shared
    error handling, the body limit and the export rate limit."""
    config = settings.load()
    server.config[MAX_PIXELS] = config.export_max_pixels
    errors.init_app(server, config)
    ratelimit.init_app(server, config)
    server.register_blueprint(blueprint)
    # Listed by GET /api beside the data API's own routes: the whole URL surface in one place.
    server.extensions.setdefault("atlas_routes", []).extend(ROUTES)
