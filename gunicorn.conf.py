"""gunicorn settings for Neighbourhood Atlas: ``gunicorn -c gunicorn.conf.py app:server``.

Override any of them with GUNICORN_CMD_ARGS (e.g. ``--workers 4 --bind 127.0.0.1:8050``). With more than
one worker, set ATLAS_CACHE_TYPE to FileSystemCache or RedisCache so the workers share classified results.
"""

from __future__ import annotations

import logging

bind = "0.0.0.0:8050"
workers = 2
worker_class = "gthread"
threads = 4
timeout = 60
graceful_timeout = 20
# Not preloaded: each worker imports the app after the fork, so nothing (DuckDB above all) is ever opened
# in the master and shared across processes.
preload_app = False
accesslog = "-"

_WARM_PATHS = ("/", "/_dash-layout", "/_dash-dependencies", "/api")


def post_worker_init(worker) -> None:
    """Warm the worker before it takes its first request.

    Dash registers its component libraries lazily, on the first request a worker serves: two requests
    arriving together at a fresh worker can then fail with "dash_leaflet is not a registered library"
    (DESIGN.md, Gotchas). One request through Flask's test client does that registration, and the layout
    request also opens this worker's store (read-only DuckDB, after the fork).
    """
    log = logging.getLogger("gunicorn.error")
    client = worker.wsgi.test_client()
    for path in _WARM_PATHS:
        status = client.get(path).status_code
        if status >= 400:
            log.warning("warming worker %s: GET %s answered %s", worker.pid, path, status)
    log.info("worker %s warmed (%s)", worker.pid, ", ".join(_WARM_PATHS))
