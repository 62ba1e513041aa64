"""gunicorn settings for Neighbourhood Atlas: ``gunicorn -c gunicorn.conf.py app:server``.

Override any of them with GUNICORN_CMD_ARGS (e.g. ``--workers 4 --bind 127.0.0.1:8050``). With more than
one worker, set ATLAS_CACHE_TYPE=FileSystemCache (one host) or ATLAS_REDIS_URL (several) so the workers share
classified results.
"""

from __future__ import annotations

import logging
import os

# Arrow allocates from the C heap, which the workers trim, rather than from mimalloc's own pages (atlas/heap.py):
# set before any process of this server imports pyarrow (Arrow reads it once); an operator's own setting is kept.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

bind = "0.0.0.0:8050"
workers = 2
worker_class = "gthread"
threads = 4
timeout = 60
graceful_timeout = 20
# Recycle each worker after 5,000 to 7,500 requests: whatever its heap grew to (pandas, matplotlib, geometry
# caches) goes back to the system. The jitter is wide so that the two workers, which share requests about
# evenly, do not restart together: with 1,000 +- 200 both restarted within seconds under load in
# bench/bench_load.py, and requests waited up to 41 s for a worker to boot. The other worker serves while
# one restarts; the new one is warmed before it takes a request (below).
max_requests = 5000
max_requests_jitter = 2500
# Not preloaded: each worker imports the app after the fork, so nothing (DuckDB above all) is ever opened
# in the master and shared across processes.
preload_app = False
accesslog = "-"

_WARM_PATHS = ("/", "/_dash-layout", "/_dash-dependencies", "/api")


def on_starting(server) -> None:
    """Stop at once, with one message, when ATLAS_DATA_DIR cannot be written (atlas/db.py).

    With object storage (ATLAS_STORAGE_URL), fetch and check the build its pointer names before the host
    takes requests (atlas/builds.py): a new host joins serving the current build, never a half-downloaded one.
    Storage unreachable: logged, and the host starts on what it has (/readyz says whether that is a build)."""
    from atlas import builds, db, settings, storage  # noqa: PLC0415 - only builds' files: no DuckDB in the master

    config = settings.load()
    # A data folder this user cannot write (a container's volume owned by root, a read-only mount): stop here with
    # one message naming the folder and the user, rather than start workers that each stop on it, for ever.
    db.require_writable_data_dir(config)
    _start_classifier(config)
    if not config.storage_url:
        return
    log = logging.getLogger("gunicorn.error")
    try:
        found = builds.sync()
        log.info("build from object storage: %s", found or "already current")
    except (storage.Unavailable, storage.Corrupt) as exc:
        log.warning("could not fetch the current build from object storage: %s", exc)


_classifier = None


def _start_classifier(config) -> None:
    """With ATLAS_CLASSIFIER=host, start this host's classification process (atlas/classifyd.py) before any
    worker forks: the workers inherit its address and key, and none of them imports mapclassify."""
    global _classifier
    if config.classifier != "host":
        return
    from atlas import classifyd  # noqa: PLC0415 - numpy only: mapclassify is imported in the process it starts

    _classifier = classifyd.Service().start()
    classifyd.use(_classifier.address, _classifier.authkey)
    logging.getLogger("gunicorn.error").info("classification process %s at %s", _classifier.pid, _classifier.address)


def on_exit(server) -> None:
    """Stop the classification process with the master."""
    if _classifier is not None:
        _classifier.stop()


def post_fork(server, worker) -> None:
    """Limit the worker's malloc arenas before it starts any thread (atlas/heap.py). Set here, with glibc's
    ``mallopt``, because the MALLOC_ARENA_MAX variable is read once, when a process starts: a worker is forked
    from the master, so the variable would have to be in the master's environment already (the Dockerfile sets
    it too). Then make the worker's heap trimmer (``post_request``) and import Dash as the worker needs it."""
    global _trimmer
    from atlas import heap  # noqa: PLC0415 - ctypes only

    heap.limit_arenas()
    _trimmer = heap.Trimmer()
    _import_dash()


#: This worker's heap trimmer (atlas/heap.py), made after the fork.
_trimmer = None


def post_request(worker, req, environ, resp) -> None:
    """After each answer is sent: give the heap's freed pages back to the system, a moment later, in a thread of
    the trimmer's (a request peaks, then frees; glibc would keep the pages)."""
    if _trimmer is not None:
        _trimmer.request_done()


def _import_dash() -> None:
    """Import Dash in the worker, before the app does, with IPython marked absent (atlas/optional.py). Dash
    imports IPython, requests, comm and nest_asyncio whenever IPython is installed, to run inside Jupyter
    (dash/_jupyter.py): 35 MB a worker would hold for nothing where the host also has Jupyter."""
    from atlas import optional  # noqa: PLC0415 - after the fork, in the worker

    with optional.absent("IPython"):
        import dash  # noqa: F401, PLC0415


def post_worker_init(worker) -> None:
    """Warm the worker before it takes its first request.

    Dash registers its component libraries lazily, on the first request a worker serves: two requests
    arriving together at a fresh worker can then fail with "dash_leaflet is not a registered library"
    (DESIGN.md, Gotchas). One request through Flask's test client does that registration, and the layout
    request also opens this worker's store (read-only DuckDB, after the fork).
    """
    log = logging.getLogger("gunicorn.error")
    from atlas import builds  # noqa: PLC0415 - after the fork, in the worker

    builds.start_polling()  # with object storage: switch to a newer build when one is published
    client = worker.wsgi.test_client()
    for path in _WARM_PATHS:
        status = client.get(path).status_code
        if status >= 400:
            log.warning("warming worker %s: GET %s answered %s", worker.pid, path, status)
    # Start the export render pool now (its fork server imports matplotlib: 2 s, more on a busy machine), not
    # on a user's export; in the background, so the worker takes requests meanwhile.
    import threading  # noqa: PLC0415

    from atlas import renderpool  # noqa: PLC0415 - after the fork, in the worker

    threading.Thread(target=renderpool.get_pool().warm, name="atlas-render-warm", daemon=True).start()
    log.info("worker %s warmed (%s, render pool)", worker.pid, ", ".join(_WARM_PATHS))


def worker_exit(server, worker) -> None:
    """Stop this worker's render processes with it."""
    from atlas import renderpool  # noqa: PLC0415

    renderpool.reset_pool()
