"""gzip for the Dash app's own JSON responses (the data API compresses its own in api.py).

Opening an authority sends its variable list once (Camden's output areas: 4,496 variables, about 450 KB
of JSON, 42 KB gzipped); a switch's payload shrinks by half. Nothing in front of gunicorn is assumed to
compress, and Dash's own ``compress=True`` needs a package this project does not use.
"""

from __future__ import annotations

import gzip

import flask

__all__ = ["init_compression"]

MIN_BYTES = 1024
_PATHS = ("/_dash-update-component", "/_dash-layout", "/_dash-dependencies")


def _gzip(response: flask.Response) -> flask.Response:
    if (flask.request.path not in _PATHS or response.status_code != 200 or response.direct_passthrough
            or "Content-Encoding" in response.headers or "gzip" not in flask.request.accept_encodings):
        return response
    body = response.get_data()
    if len(body) < MIN_BYTES:
        return response
    response.set_data(gzip.compress(body, 5, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    return response


def init_compression(server: flask.Flask) -> None:
    """Compress Dash's callback, layout and dependency responses when the browser accepts gzip."""
    server.after_request(_gzip)
