"""Neighbourhood Atlas: the composition root. Run with ``gunicorn -c gunicorn.conf.py app:server``.

Creates the Dash app with its pages (ui/pages: the explorer at ``/``, the embeddable map at ``/embed``),
binds the cache and the HTTP routes (web/) to its Flask server, and registers the callbacks by importing
their modules. Nothing reads the data at import: layouts are functions.

Responses are compressed by web.compression (brotli or gzip, one flask-compress instance configured there;
Dash's own ``compress=True`` is left off, see that module) and given their cache lifetimes by web.caching.
Flask runs after_request hooks last-registered first: security headers, then caching, then compression.
"""

from __future__ import annotations

import logging

import dash
import flask

from atlas import access, cache, settings
from callbacks import (  # noqa: F401 - importing registers the callbacks
    areas,
    builder,
    compare,
    embed,
    explorer,
)
from callbacks import points as point_callbacks  # noqa: F401 - the point layer's, the site and area cards'
from ui import ids, page
from web import (
    api,
    auth,
    caching,
    callback_guard,
    compression,
    datastore,
    downloads,
    health,
    points,
    publishing,
    security,
)
from web import areas as saved_areas
from web import profile as profiles

config = settings.load()
logging.basicConfig(level=config.log_level)
page.drop_polyfill()  # no page loads @babel/polyfill: ui/page.py says why

IDS_SCRIPT = f"/_atlas/ids.js?v={ids.javascript_version()}"

app = dash.Dash(__name__, title="Neighbourhood Atlas", update_title=None, suppress_callback_exceptions=False,
                use_pages=True, pages_folder="ui/pages", external_scripts=[IDS_SCRIPT],
                # Web Worker scripts (assets/vendor/tiles.worker.js) are started by assets/tiles.js, not loaded
                # by the page.
                assets_ignore=r"\.worker\.js$")
# The page's language, for screen readers and hyphenation (Dash's own page template has none).
app.index_string = app.index_string.replace("<html>", '<html lang="en-GB">', 1)
# The explorer's title bar is painted with the HTML, before any script (ui/page.py).
app.interpolate_index = page.with_masthead(app.interpolate_index)
cache.init_cache(app.server, config)
api.init_app(app.server)
points.init_app(app.server)
downloads.init_app(app.server)
publishing.init_app(app.server)
# Area profiles, areas like mine and saved areas (issue 22).
profiles.init_app(app.server)
saved_areas.init_app(app.server)
# Who is asking (sessions, API tokens, OIDC) and the datastore's pages: the actor every access decision reads.
auth.init_app(app.server)
datastore.init_app(app.server)
# /healthz, /readyz, and a real 404 page for a path no route or page serves (web/health.py).
health.init_app(app.server, pages=lambda: [page.get("path_template") or page["path"]
                                           for page in dash.page_registry.values()])
compression.init_app(app.server)
caching.init_app(app.server)
# Malformed callback requests: 400 with one log line, never a 500 (web/callback_guard.py).
callback_guard.init_app(app.server, lambda: app.callback_map)


@app.server.errorhandler(dash.exceptions.DependencyException)
def _unknown_library(exc: Exception) -> tuple[str, int, dict[str, str]]:
    """``/_dash-component-suites/<not a library>/...``: Dash raises, and Flask would answer 500."""
    logging.getLogger(__name__).info("404 %s: %s", flask.request.path, str(exc).splitlines()[0])
    return "no such component library\n", 404, {"Content-Type": "text/plain; charset=utf-8"}


@app.server.get("/_atlas/ids.js")
@access.declares("site.view")
def _ids_script() -> flask.Response:
    """The component ids for assets/*.js (ui/ids.py), versioned by content: cached a year when the URL
    names this version (as the page's does), revalidated otherwise."""
    response = flask.Response(ids.javascript(), mimetype="text/javascript")
    if flask.request.args.get("v") == ids.javascript_version():
        response.headers["Cache-Control"] = caching.IMMUTABLE
    return response


security.init_app(app.server, script_hashes=app.csp_hashes)
server = app.server

if __name__ == "__main__":
    app.run(debug=False, port=8050)
