"""The names index of a build is derived by a child process, once per host, not in the worker (atlas/search.py
``_index``; issue 20, item 4: the derivation's strings left the worker that did it 50-60 MB larger for good).

The child's file is the one the worker would write; workers asking at once get one derivation; a child that
fails leaves search working (the worker derives it) and says so in the log."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from atlas import extracts, search


@pytest.fixture()
def fresh_cache(atlas_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> extracts.Extracts:
    monkeypatch.setenv("ATLAS_CACHE_DIR", str(tmp_path / "cache"))
    return extracts.current(atlas_env)


def _children(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    ran: list[list[str]] = []
    real = subprocess.run

    def counted(command, *args, **kwargs):
        ran.append(list(command))
        return real(command, *args, **kwargs)

    monkeypatch.setattr(search.subprocess, "run", counted)
    return ran


def test_the_child_writes_the_index_the_worker_would(fresh_cache, tmp_path, monkeypatch) -> None:
    ran = _children(monkeypatch)
    path = Path(search._index(fresh_cache))
    assert [c[1:3] for c in ran] == [["-m", "atlas.search"]]
    search._write_index(fresh_cache, tmp_path / "here.parquet")
    derived, here = pq.read_table(path), pq.read_table(tmp_path / "here.parquet")
    assert derived.num_rows > 100_000 and derived.equals(here)
    # and search reads it
    found = search.search(fresh_cache, "Camden")["results"]
    assert found and found[0]["code"] == "E09000007", found[:1]


def test_workers_asking_at_once_get_one_derivation(fresh_cache, monkeypatch) -> None:
    ran = _children(monkeypatch)
    paths: list[str] = []
    threads = [threading.Thread(target=lambda: paths.append(search._index(fresh_cache))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ran) == 1 and len(set(paths)) == 1 and Path(paths[0]).exists()
    assert not list(Path(paths[0]).parent.glob("*.part"))


def test_a_failing_child_leaves_search_working_and_says_why(fresh_cache, monkeypatch, caplog) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")  # the child starts and fails at once
    with caplog.at_level(logging.WARNING, logger="atlas.search"):
        path = Path(search._index(fresh_cache))
    assert path.exists() and pq.read_table(path).num_rows > 100_000
    assert "deriving it in this worker" in caplog.text
