"""What keeps the server up: the render pool (bounded, 503 with Retry-After), the export rate limit (429),
the pixel budget, the body limit (413), JSON 404s for unknown data paths, one error handler for the data
blueprints, and figures freed after drawing."""

from __future__ import annotations

import gc
import json
import os
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl

import flask
import psutil
import pytest

from atlas import catalogue, export, renderpool, settings
from web import api, downloads, errors, ratelimit

CAMDEN = "E09000007"
VIEW = f"authority={CAMDEN}&level=lsoa11&variable=ks102ew0002&scheme=quantiles&k=5"
SMALL = f"{VIEW}&dpi=72&width=400"


def _app() -> flask.Flask:
    server = flask.Flask(__name__)
    api.init_app(server)
    downloads.init_app(server)
    return server


@pytest.fixture()
def thread_pool(atlas_env: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ATLAS_EXPORT_POOL", "thread")
    monkeypatch.setenv("ATLAS_EXPORT_RATE_LIMIT", "")
    renderpool.reset_pool()
    yield
    renderpool.reset_pool()


@pytest.fixture()
def client(thread_pool) -> flask.testing.FlaskClient:
    return _app().test_client()


def _json_error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["status"] == status and body["error"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


# -- the render pool ---------------------------------------------------------------------------------------

def _spec(query: str = SMALL, fmt: str = "png") -> export.ExportSpec:
    return export.parse_export(dict(parse_qsl(query)), fmt, catalogue.build())


def test_process_pool_draws_the_same_bytes_as_drawing_here(atlas_env) -> None:
    """MapData crosses to a forkserver process and back; the image is byte for byte the same."""
    data = export.map_data(catalogue.build(), _spec())
    pool = renderpool.RenderPool("process", workers=1, queue=0, timeout=120, tasks_per_child=25)
    try:
        here = export.render(data)
        there = pool.render(data)
        assert there.body == here.body and there.frame == here.frame and there.limits == here.limits
        child = psutil.Process(pool.warm())
        assert child.pid != psutil.Process().pid and child.nice() >= renderpool.RENDER_NICENESS
    finally:
        pool.shutdown()


def test_as_deployed_each_task_runs_in_a_fresh_process_with_the_next_one_ready(atlas_env) -> None:
    """ATLAS_EXPORT_TASKS_PER_CHILD's default (1): a pool process makes one image or file and is replaced, so
    none keeps what its task grew it to; the images are the same bytes, and a process waits for the next task."""
    assert settings.load().export_tasks_per_child == 1
    data = export.map_data(catalogue.build(), _spec())
    pool = renderpool.RenderPool("process", workers=1, queue=0, timeout=120,
                                 tasks_per_child=settings.load().export_tasks_per_child)
    try:
        first, second = pool.render(data), pool.render(data)
        assert first.body == second.body == export.render(data).body
        pids = [pool.run(os.getpid, what="file") for _ in range(3)]
        assert len(set(pids)) == 3 and psutil.Process().pid not in pids
        deadline = time.monotonic() + 60
        while not (ready := [p for p in pool._executor._processes.values() if p.is_alive()]):  # noqa: SLF001
            assert time.monotonic() < deadline, "no process was started for the next task"
            time.sleep(0.05)
        assert ready[0].pid not in pids
    finally:
        pool.shutdown()


class _Blocking:
    """A render that waits until released, so the pool is full for as long as the test says."""

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, data):
        self.started.set()
        assert self.release.wait(timeout=60)
        return export.render(data)


def test_a_full_pool_answers_503_with_retry_after_at_once(client, monkeypatch) -> None:
    blocking = _Blocking()
    monkeypatch.setattr(renderpool, "_render_in_child", blocking)
    pool = renderpool.RenderPool("thread", workers=1, queue=0, timeout=60)
    monkeypatch.setattr(renderpool, "get_pool", lambda config=None: pool)
    first: dict = {}
    waiting = threading.Thread(target=lambda: first.update(r=client.get(f"/export/map.png?{SMALL}")))
    waiting.start()
    assert blocking.started.wait(timeout=60)
    busy = client.get(f"/export/map.png?{SMALL.replace('k=5', 'k=4')}")  # another image: the pool is full
    body = _json_error(busy, 503)
    assert int(busy.headers["Retry-After"]) >= 1 and body["retry_after"] == int(busy.headers["Retry-After"])
    assert "try again" in body["error"]
    blocking.release.set()
    waiting.join(timeout=60)
    assert first["r"].status_code == 200 and first["r"].mimetype == "image/png"
    assert pool.in_flight == 0
    assert client.get(f"/export/map.png?{SMALL.replace('k=5', 'k=4')}").status_code == 200  # a slot again
    pool.shutdown()


def test_the_queue_holds_exports_while_one_is_drawn(thread_pool, monkeypatch) -> None:
    blocking = _Blocking()
    monkeypatch.setattr(renderpool, "_render_in_child", blocking)
    pool = renderpool.RenderPool("thread", workers=1, queue=1, timeout=60)
    data = export.map_data(catalogue.build(), _spec())
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(pool.render(data))) for _ in range(2)]
    threads[0].start()
    assert blocking.started.wait(timeout=60)
    threads[1].start()  # waits in the queue
    with pytest.raises(renderpool.Busy):
        pool.render(data)  # the third has no place
    blocking.release.set()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 2 and pool.in_flight == 0
    pool.shutdown()


def test_a_slow_image_times_out_with_503(thread_pool, monkeypatch) -> None:
    blocking = _Blocking()
    monkeypatch.setattr(renderpool, "_render_in_child", blocking)
    pool = renderpool.RenderPool("thread", workers=1, queue=0, timeout=0.2)
    with pytest.raises(renderpool.Timeout) as raised:
        pool.render(export.map_data(catalogue.build(), _spec()))
    assert raised.value.retry_after >= 1
    assert pool.in_flight == 1  # the image is still being drawn and keeps its slot...
    blocking.release.set()
    pool.shutdown()
    assert pool.in_flight == 0  # ...until it is done


def test_an_image_that_outlives_its_request_serves_the_retry(client, monkeypatch) -> None:
    blocking = _Blocking()
    monkeypatch.setattr(renderpool, "_render_in_child", blocking)
    pool = renderpool.RenderPool("thread", workers=1, queue=0, timeout=0.2)
    monkeypatch.setattr(renderpool, "get_pool", lambda config=None: pool)
    url = f"/export/map.png?{SMALL.replace('k=5', 'k=6')}"
    assert client.get(url).status_code == 503  # not ready in time
    blocking.release.set()
    pool.shutdown()  # waits for the drawing to finish
    monkeypatch.setattr(renderpool, "_render_in_child", lambda data: pytest.fail("drawn twice"))
    again = client.get(url)
    assert again.status_code == 200 and again.data.startswith(b"\x89PNG")


def test_a_killed_render_process_is_replaced(atlas_env) -> None:
    pool = renderpool.RenderPool("process", workers=1, queue=0, timeout=120, tasks_per_child=25)
    try:
        pool.warm()
        data = export.map_data(catalogue.build(), _spec(f"{VIEW}&dpi=600"))  # seconds to draw
        outcome: dict = {}
        drawing = threading.Thread(target=lambda: outcome.update(error=_raises(pool.render, data)))
        drawing.start()
        victims = list(pool._executor._processes.values())  # noqa: SLF001 - the test kills one
        assert len(victims) == 1
        while pool.in_flight == 0:
            drawing.join(timeout=0.01)
        victims[0].kill()
        drawing.join(timeout=120)
        assert isinstance(outcome["error"], renderpool.Busy)
        assert pool.render(export.map_data(catalogue.build(), _spec())).body.startswith(b"\x89PNG")
    finally:
        pool.shutdown()


def test_render_processes_end_with_a_worker_that_dies(atlas_env, tmp_path) -> None:
    """A worker killed (or exiting while its pool starts) leaves no render process or fork server behind."""
    import subprocess
    import sys

    script = ("import os, psutil; from atlas import renderpool\n"
              "pool = renderpool.RenderPool('process', workers=1, queue=0, tasks_per_child=25)\n"
              "child = psutil.Process(pool.warm())\n"
              "print(child.pid, child.ppid(), flush=True)\n"
              "os._exit(0)\n")  # no shutdown: as if killed
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "out.txt"
    with open(out, "w") as handle:  # a file, not a pipe: orphans holding a pipe would keep run() waiting
        subprocess.run([sys.executable, "-c", script], stdout=handle, stderr=subprocess.STDOUT, timeout=120,
                       cwd=root, env={**__import__("os").environ, "PYTHONPATH": str(root)}, check=True)
    render_pid, forkserver_pid = (int(v) for v in out.read_text().split()[:2])
    left = [psutil.Process(pid) for pid in (render_pid, forkserver_pid) if psutil.pid_exists(pid)]
    _, alive = psutil.wait_procs(left, timeout=30)
    assert alive == [], [p.cmdline()[:3] for p in alive]


def test_a_pool_shut_down_while_starting_starts_nothing(thread_pool) -> None:
    pool = renderpool.RenderPool("thread")
    pool.shutdown()
    with pytest.raises(renderpool.Busy):
        pool.warm()


def _raises(fn, *args):
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - handed to the assertion
        return exc
    return None


def test_figures_are_freed_after_drawing(atlas_env) -> None:
    """A drawn figure's Agg canvas (4 bytes a pixel) goes at once, not at the next full collection; the
    emptied Figure and a few small artists in reference cycles wait for the collector."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.figure import Figure

    data = export.map_data(catalogue.build(), _spec(f"{VIEW}&dpi=150"))
    gc.collect()
    gc.disable()
    try:
        export.render(data)
        objects = gc.get_objects()
        canvases = [o for o in objects if isinstance(o, RendererAgg)]
        figures = [o for o in objects if isinstance(o, Figure)]
    finally:
        gc.enable()
    assert canvases == []
    assert all(not f.axes and not f.texts for f in figures)


# -- limits on what a client may ask ---------------------------------------------------------------------

def test_export_rate_limit_is_per_client_with_429_and_retry_after(thread_pool, monkeypatch) -> None:
    monkeypatch.setenv("ATLAS_EXPORT_RATE_LIMIT", "2 per minute")
    client = _app().test_client()
    for _ in range(2):
        assert client.get(f"/export/map.svg?{VIEW}").status_code == 200
    refused = client.get(f"/export/map.svg?{VIEW}")
    body = _json_error(refused, 429)
    assert "too many exports" in body["error"]
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    other = client.get(f"/export/map.svg?{VIEW}", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200  # another client has its own count
    assert client.get("/api").status_code == 200  # and the data API is not limited


def test_rate_limit_counts_live_in_redis_when_the_hosts_share_one() -> None:
    assert ratelimit.storage_uri(settings.load({})) == "memory://"
    assert ratelimit.storage_uri(settings.load({"ATLAS_CACHE_TYPE": "FileSystemCache"})) == "memory://"
    config = settings.load({"ATLAS_REDIS_URL": "redis://cache.internal:6380/2"})
    assert ratelimit.storage_uri(config) == "redis://cache.internal:6380/2"


def test_pixel_budget_comes_from_the_setting(thread_pool, monkeypatch) -> None:
    monkeypatch.setenv("ATLAS_EXPORT_MAX_PIXELS", "1000000")
    client = _app().test_client()
    body = _json_error(client.get(f"/export/map.png?{VIEW}&dpi=300"), 400)
    assert body["parameters"] == ["dpi", "width", "height"] and "1,000,000" in body["error"]
    assert client.get(f"/export/map.png?{VIEW}&dpi=96").status_code == 200  # 0.9 million pixels


@pytest.mark.parametrize("empty", ["dpi", "bbox", "variable", "width", "k", "palette"])
def test_an_empty_export_parameter_is_400_naming_it(client, empty) -> None:
    others = "&".join(p for p in VIEW.split("&") if not p.startswith(empty + "="))
    body = _json_error(client.get(f"/export/map.png?{others}&{empty}="), 400)
    assert body["parameter"] == empty and "without a value" in body["error"]


def test_a_large_body_is_413_json_for_data_and_text_elsewhere(client) -> None:
    big = b"x" * (settings.load().max_body_bytes + 1)
    body = _json_error(client.post("/api/authorities", data=big), 413)
    assert body["limit"] == 1_048_576
    _json_error(client.get("/api", data=big), 413)  # a GET's body is refused too, though no view reads it
    _json_error(client.get(f"/export/map.png?{VIEW}", data=big), 413)
    assert client.post("/api/authorities", data=b"x" * 1000).status_code == 405  # small: the usual answer


def test_a_large_callback_body_is_413_in_plain_text(atlas_env) -> None:
    import app as app_module

    response = app_module.server.test_client().post("/_dash-update-component", data=b"{" * 1_100_000,
                                                    content_type="application/json")
    assert response.status_code == 413 and response.mimetype == "text/plain"
    assert "at most 1,048,576 bytes" in response.get_data(as_text=True)


# -- one error handler for the data blueprints ------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/", "/api//", "/api/nope", "/api/values/", "/export/", "/export/nope",
                                  "/export/map", "/datapack/", "/datapack/x/y.zip"])
def test_unknown_data_paths_are_json_404_even_in_the_dash_app(atlas_env, path) -> None:
    import app as app_module

    body = _json_error(app_module.server.test_client().get(path), 404)
    assert "/api" in body["error"] or "route" in body["error"]


def test_the_icon_browsers_ask_for_is_dashs_and_an_unknown_page_is_a_real_404(atlas_env) -> None:
    """A server-rendered page names no icon, so the browser asks /favicon.ico: it finds Dash's (a 404 there
    is an error in every such page's console); any other unknown path is a 404 page, not the app's page."""
    import app as app_module

    client = app_module.server.test_client()
    icon = client.get("/favicon.ico", follow_redirects=True)
    assert icon.status_code == 200 and icon.mimetype in ("image/x-icon", "image/vnd.microsoft.icon")
    missing = client.get("/favicon.icon")
    assert missing.status_code == 404 and "Page not found" in missing.get_data(as_text=True)


@pytest.mark.parametrize(("path", "status"), [("/profile/E09000019", 200), ("/profile/A1", 200), ("/embed", 200),
                                              ("/areas/new", 200), ("/profile", 404), ("/profile/a/b", 404),
                                              ("/embedx", 404), ("/areas/new/x", 404)])
def test_pages_with_a_path_template_are_pages_and_nothing_else_is(atlas_env, path: str, status: int) -> None:
    """A Dash page with a variable in its path (a place's profile, a saved area's code) is served, not the
    404 page; a path its template does not match is the 404 page."""
    import app as app_module

    response = app_module.server.test_client().get(path)
    assert response.status_code == status, path
    assert ("Page not found" in response.get_data(as_text=True)) == (status == 404)


def test_wrong_method_on_a_download_is_json_405(client) -> None:
    response = client.post(f"/export/map.png?{VIEW}")
    _json_error(response, 405)
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("path", ["/api/authorities", f"/export/map.png?{SMALL}", f"/datapack/{CAMDEN}.zip"])
def test_every_data_blueprint_answers_errors_alike(client, monkeypatch, path, caplog) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(catalogue, "build", broken)
    body = _json_error(client.get(path), 500)
    assert body == {"error": "internal error; it has been logged", "status": 500}
    assert any(r.exc_info for r in caplog.records)  # the traceback is in the log, not the answer

    def missing(*_: object, **__: object) -> None:
        raise FileNotFoundError("no extracts")

    monkeypatch.setattr(catalogue, "build", missing)
    assert "pipeline build" in _json_error(client.get(path), 503)["error"]


def test_not_found_lists_what_is_valid_alike(client) -> None:
    from_api = _json_error(client.get("/api/authorities/E99999999"), 404)
    from_downloads = _json_error(client.get("/datapack/E99999999.zip"), 404)
    for body in (from_api, from_downloads):
        assert body["what"] == "authority" and body["value"] == "E99999999"
        assert len(body["valid"]) <= errors.MAX_VALID < body["valid_count"] and body["see"] == "/api/authorities"
    assert json.loads(json.dumps(from_api))  # plain JSON
