"""Neighbourhood Atlas: the composition root. Run with ``gunicorn app:server``.

Creates the Dash app, binds the cache and the data API to its Flask server, registers the callbacks (by
importing their modules) and sets the layout, which is a function: nothing reads the data at import.
"""

from __future__ import annotations

import logging

import dash

import api
import cache
import compression
import downloads
import security
import settings
from callbacks import (
    compare,  # noqa: F401 - the compare view (issue 4)
    embed,  # the /embed page and the share tools (issue 5)
    explorer,  # noqa: F401 - importing registers the callbacks
)
from callbacks.layout import layout

config = settings.load()
logging.basicConfig(level=config.log_level)

app = dash.Dash(__name__, title="Neighbourhood Atlas", update_title=None, suppress_callback_exceptions=False)
cache.init_cache(app.server, config)
api.init_app(app.server)
compression.init_compression(app.server)
app.layout = embed.page_layout(layout)  # /embed gets its own layout, same callbacks
app.validation_layout = embed.validation_layout(app.validation_layout)
# After the layout, so the policy's script hashes cover every callback Dash inlines.
downloads.init_app(app.server)
security.init_app(app.server, script_hashes=app.csp_hashes())
server = app.server

if __name__ == "__main__":
    app.run(debug=False, port=8050)
