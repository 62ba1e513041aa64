"""Shared fixtures: the real publisher files, and extracts built from them once per test session.

With pytest-xdist the workers share one build: the first to take the lock builds, the others wait and
reuse it (the pattern from pytest-xdist's docs, with fcntl in place of the filelock package).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from atlas import settings


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def raw_dir() -> Path:
    """The publishers' files, in place (never copied into the repository)."""
    path = settings.load({k: v for k, v in os.environ.items() if k == "ATLAS_RAW_DIR"}).raw_dir
    if not (path / "MANIFEST.sha256").exists() and not (path / "boundaries").exists():
        pytest.fail(f"ATLAS_RAW_DIR={path} holds no publisher files; run `python -m pipeline fetch`")
    return path


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory, raw_dir: Path) -> Path:
    """An ATLAS_DATA_DIR holding extracts built from the real raw files, built once per session.

    ``TEST_EXTRACTS_DIR`` (not an ATLAS_* setting) names a folder kept between sessions instead: the build
    is then skipped when the raw files and the pipeline are unchanged (for working on the app; CI does not
    set it)."""
    from pipeline import build

    kept = os.environ.get("TEST_EXTRACTS_DIR")
    root = Path(kept).resolve() if kept else tmp_path_factory.getbasetemp().parent
    root.mkdir(parents=True, exist_ok=True)
    target = root / "atlas-data"
    with _locked(root / "atlas-data.lock"):
        # Cheap when a worker already built it: unchanged inputs and code are detected and skipped.
        build.build(raw_dir, target)
    return target


@pytest.fixture()
def atlas_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the app's settings at the session's extracts (tiles off, in-process cache)."""
    monkeypatch.setenv("ATLAS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("ATLAS_TILES_URL", "")
    monkeypatch.setenv("ATLAS_CACHE_TYPE", "SimpleCache")
    # Exports drawn in a thread and not rate-limited: a render process's start-up under a loaded test run
    # could outlast the export timeout, and one test client is one "client" for the limiter. The pool's
    # processes, its limits and the rate limit have tests of their own (tests/test_server_limits.py).
    monkeypatch.setenv("ATLAS_EXPORT_POOL", "thread")
    monkeypatch.setenv("ATLAS_EXPORT_RATE_LIMIT", "")
    from atlas import renderpool

    renderpool.reset_pool()
    yield data_dir
    renderpool.reset_pool()


@pytest.fixture()
def duo(atlas_env: Path, dash_thread_server, tmp_path: Path) -> Iterator:
    """dash_duo, always headless with Debian's Chromium, serving the app on the session's extracts."""
    from browser_support import start_duo

    yield from start_duo(dash_thread_server, tmp_path)
