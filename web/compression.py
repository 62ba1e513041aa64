"""Compression of every response that benefits: brotli or gzip (by the request's Accept-Encoding), with
flask-compress, configured here once.

Nothing in front of gunicorn is assumed to compress. About 1.6 MB of Dash's and dash-leaflet's JavaScript,
the 88 KB index page, Dash's JSON, the data API (JSON, CSV, GeoJSON, geobuf) and SVG exports all shrink
three- to ten-fold; PNG, PDF, zip and Parquet are compressed already and pass through.

How it fits with the rest:
- **One compressor.** ``dash.Dash(compress=True)`` would only call ``flask_compress.Compress(server)`` with
  the server's config and then set ``COMPRESS_ALGORITHM = ["gzip"]`` in that config (too late for the
  instance it made; Dash 4.4 tests ``hasattr(config, ...)`` on a dict). A second instance would not compress
  twice (flask-compress leaves a response that has a Content-Encoding alone), but it would add a second hook
  with settings nobody chose, so the app leaves Dash's flag off and binds this one (app.py).
- **ETags.** flask-compress appends the encoding to a strong ETag (``"x"`` -> ``"x:br"``, ``"x:gzip"``):
  each encoding is its own representation, with ``Vary: Accept-Encoding``. A view answers a conditional
  request for its own tag (304 for a client that took the identity body); a client holding ``"x:br"``
  gets its 304 from flask-compress, which evaluates the request again after compressing
  (``COMPRESS_EVALUATE_CONDITIONAL_REQUEST``). ``etag_variants`` lists the tags a view may see.
- **Files.** ``send_file`` answers are streamed, and flask-compress would compress a stream chunk by chunk
  with no Content-Length, no cache, no gzip (not among its streaming algorithms) and, except for an
  endpoint named ``static``, no 304 for the encoded tag (colour-science/flask-compress#65). So a compressible
  file up to ``MAX_FILE_BYTES`` is read and compressed whole; any other stream passes through untouched
  (``COMPRESS_STREAMS = False``).
- **Ranges.** A 206 (a range of a file, e.g. a datapack zip or an asset) is never compressed: its
  Content-Range counts the identity bytes.
- **Cache.** Compressed bodies are kept per worker (an LRU of ``CACHE_BYTES``) for responses whose body a
  strong ETag names: keyed by algorithm, path and ETag, never by URL alone (Dash's callbacks all POST to one
  URL; flask-compress's documented ``request.url`` key would serve one user's answer to another). Dash's
  fingerprinted bundles get a strong ETag from ``web.caching``, so they are compressed once per worker.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import flask
import flask_compress

__all__ = ["ALGORITHMS", "CACHE_BYTES", "MAX_FILE_BYTES", "MIMETYPES", "MIN_BYTES", "Compressor", "LruBytes",
           "etag_variants", "init_app"]

#: Preferred first when the client accepts several with the same quality. Chromium 156 sends
#: ``gzip, deflate, br, zstd`` (over plain HTTP too); deflate (ambiguous zlib/raw framing) and zstd are
#: left out.
ALGORITHMS = ("br", "gzip")
#: Responses smaller than this fit one TCP segment anyway: compressing them saves no round trip.
MIN_BYTES = 1024
#: Brotli quality 5: Dash's three largest bundles (915 KB) in about 15 ms to 221 KB; quality 11 saves
#: another 10% for 75 times the CPU. gzip level 6 (flask-compress's default): 240 KB.
BROTLI_QUALITY = 5
GZIP_LEVEL = 6
MAX_FILE_BYTES = 8 * 1024 * 1024
CACHE_BYTES = 16 * 1024 * 1024
MIMETYPES = (
    "text/html", "text/css", "text/plain", "text/csv", "text/xml",
    "text/javascript", "application/javascript", "application/x-javascript",
    "application/json", "application/geo+json", "application/manifest+json", "application/xml",
    "image/svg+xml", "image/x-icon", "image/vnd.microsoft.icon",
    # geobuf: coordinates as varint deltas still shrink by about 45% (Liverpool's OAs 132 -> 74 KB).
    "application/x-protobuf",
    # vector tiles (tippecanoe's are gzip in the PMTiles file; served plain and compressed here like the rest)
    "application/vnd.mapbox-vector-tile",
)


def etag_variants(tag: str) -> tuple[str, ...]:
    """The strong ETags a view's own tag takes on the wire: identity and each encoding."""
    return (tag, *(f"{tag}:{algorithm}" for algorithm in ALGORITHMS))


class LruBytes:
    """flask-compress's cache backend: compressed bodies by key, least recently used dropped beyond
    ``limit`` bytes. Keys are ``"<algorithm>;<key>"`` (flask-compress's format); an empty ``<key>``
    means "not cacheable" and is never stored or found."""

    def __init__(self, limit: int = CACHE_BYTES) -> None:
        self.limit = limit
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    @staticmethod
    def _cacheable(key: str) -> bool:
        return bool(key.partition(";")[2])

    def get(self, key: str) -> bytes | None:
        if not self._cacheable(key):
            return None
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def set(self, key: str, value: bytes) -> None:
        if not self._cacheable(key) or len(value) > self.limit // 8:
            return
        with self._lock:
            if key in self._items:  # flask-compress sets again after every hit
                self._items.move_to_end(key)
                return
            self._items[key] = value
            self._size += len(value)
            while self._size > self.limit:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped)

    def __len__(self) -> int:
        return len(self._items)


def _cache_key(request: flask.Request) -> str:
    # Set by Compressor.after_request from the response, which flask-compress does not pass here.
    return flask.g.get("_atlas_compress_key", "")


class Compressor(flask_compress.Compress):
    """flask-compress, with files read whole, ranges left alone and the cache keyed by strong ETag."""

    def after_request(self, response: flask.Response) -> flask.Response:
        if response.status_code == 206 or "Content-Range" in response.headers:
            response.vary.add("Accept-Encoding")
            return response
        if (response.is_streamed and response.direct_passthrough
                and response.mimetype in self.compress_mimetypes_set
                and response.content_length is not None and response.content_length <= MAX_FILE_BYTES
                and 200 <= response.status_code < 300):
            # A file from send_file (an asset): read it now, so that it is compressed as one body, cached,
            # sent with its length and answered 304 for its encoded tag.
            response.direct_passthrough = False
            response.make_sequence()
        etag, weak = response.get_etag()
        flask.g._atlas_compress_key = f"{flask.request.path}|{etag}" if etag and not weak else ""
        return super().after_request(response)


def init_app(server: flask.Flask) -> Compressor:
    """Compress ``server``'s responses. Bind it before ``web.caching`` (Flask runs after_request hooks
    last-registered first, and the caching hook must give a response its ETag before this one runs)."""
    if "atlas_caching" in server.extensions:
        raise RuntimeError("bind web.compression before web.caching: the caching hook must run first")
    if "atlas_compression" in server.extensions:
        return server.extensions["atlas_compression"]
    server.config.update(
        COMPRESS_ALGORITHM=list(ALGORITHMS),
        COMPRESS_MIMETYPES=list(MIMETYPES),
        COMPRESS_MIN_SIZE=MIN_BYTES,
        COMPRESS_BR_LEVEL=BROTLI_QUALITY,
        COMPRESS_LEVEL=GZIP_LEVEL,
        COMPRESS_STREAMS=False,
        COMPRESS_EVALUATE_CONDITIONAL_REQUEST=True,
        COMPRESS_CACHE_BACKEND=LruBytes,
        COMPRESS_CACHE_KEY=_cache_key,
    )
    compressor = Compressor()
    compressor.init_app(server)
    server.extensions["atlas_compression"] = compressor
    return compressor
