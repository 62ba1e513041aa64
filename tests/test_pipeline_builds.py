"""Builds in a data folder: one at a time, a killed build leaves nothing behind for long, old builds are
pruned to ATLAS_KEEP_BUILDS, and a build that a running process reads is never removed.

Every child process here is a fresh interpreter (subprocess: fork + exec), never a fork of this process,
which may have DuckDB's threads running. Nothing waits a fixed time: each wait is for something the child
says or does.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from pipeline import build

PROJECT = Path(__file__).resolve().parent.parent


def _env(data: Path, raw_dir: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")},
            "ATLAS_RAW_DIR": str(raw_dir), "ATLAS_DATA_DIR": str(data), "PYTHONPATH": str(PROJECT)}


def _copy_build(good: Path, target: Path, name: str) -> Path:
    """A whole build at no cost (hard links), except its build.json, which is a real copy: the store locks
    build.json, and a lock on one hard-linked inode would hold every copy."""
    folder = target / "builds" / name
    shutil.copytree(good, folder, copy_function=os.link)
    manifest = json.loads((good / "build.json").read_text())
    (folder / "build.json").unlink()
    (folder / "build.json").write_text(json.dumps({**manifest, "id": name}))
    return folder


def _point_current(data: Path, name: str) -> None:
    link = data / ".current-test"
    link.symlink_to(Path("builds") / name)
    os.replace(link, data / "current")


@pytest.fixture()
def previous(data_dir: Path, tmp_path: Path) -> Path:
    """A data folder whose `current` is (a hard-linked copy of) the session's good build, under its own id,
    so a plain re-run finds the inputs unchanged and returns early."""
    good = (data_dir / "current").resolve()
    target = tmp_path / "data"
    _copy_build(good, target, good.name)
    _point_current(target, good.name)
    return target


def test_a_killed_build_leaves_current_intact_and_its_staging_goes_at_the_next_build(
        raw_dir: Path, previous: Path) -> None:
    before = (previous / "current").resolve()
    child = subprocess.Popen([sys.executable, "-m", "pipeline", "build", "--force"], cwd=PROJECT,
                             env=_env(previous, raw_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
    try:
        assert child.stderr is not None
        for line in child.stderr:  # the build logs its staging folder once it has made it
            if " staging " in line:
                break
        else:
            pytest.fail(f"the build ended (exit {child.wait()}) before it said where it stages")
        staging = list((previous / "builds").glob(".staging-*"))
        assert len(staging) == 1 and staging[0].is_dir()
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stderr:
            child.stderr.close()
    # killed mid-way: `current` still points at the good build, the staging folder is left over
    assert (previous / "current").resolve() == before
    assert json.loads((before / "build.json").read_text())["id"] == before.name
    assert staging[0].exists()
    # the next build (inputs unchanged: it returns early) takes the lock, so it knows the leftover is stale
    result = subprocess.run([sys.executable, "-m", "pipeline", "build"], cwd=PROJECT,
                            env=_env(previous, raw_dir), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    assert not list((previous / "builds").glob(".staging-*"))
    assert (previous / "current").resolve() == before


def test_two_builds_never_run_at_once(raw_dir: Path, previous: Path) -> None:
    with open(previous / build.LOCK_FILE, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running build does
        with pytest.raises(build.BuildBusy, match="another build"):
            build.build(raw_dir, previous)
        result = subprocess.run([sys.executable, "-m", "pipeline", "build"], cwd=PROJECT,
                                env=_env(previous, raw_dir), capture_output=True, text=True, timeout=600)
    assert result.returncode == 1
    assert "another build" in result.stderr and "Traceback" not in result.stderr
    # once the lock is free, the same command runs (and finds the extracts up to date)
    assert build.build(raw_dir, previous).skipped


def test_builds_beyond_the_setting_are_removed_newest_kept(raw_dir: Path, previous: Path) -> None:
    good = (previous / "current").resolve()
    older = [f"20200101T00000{i}-0000000{i}" for i in range(4)]
    for name in older:
        _copy_build(good, previous, name)
    (previous / "builds" / "20190101T000000-half").mkdir()  # no build.json: never complete
    # `current` is the newest by name here; keep=3 keeps it and the two newest older ones
    report = build.build(raw_dir, previous, keep=3)
    assert report.skipped
    left = sorted(p.name for p in (previous / "builds").iterdir())
    assert left == sorted([good.name, older[3], older[2]])


def test_current_is_kept_even_when_it_is_not_among_the_newest(raw_dir: Path, previous: Path) -> None:
    good = (previous / "current").resolve()
    newer = "29990101T000000-99999999"
    _copy_build(good, previous, newer)
    build.build(raw_dir, previous, keep=1)
    assert sorted(p.name for p in (previous / "builds").iterdir()) == sorted([good.name, newer])


def test_a_build_read_by_a_running_process_survives_pruning(raw_dir: Path, previous: Path) -> None:
    good = (previous / "current").resolve()
    read = "20200101T000000-aaaaaaaa"
    _copy_build(good, previous, read)
    _point_current(previous, read)
    script = ("import sys\n"
              "from atlas import catalogue\n"
              "s = catalogue.build(data_dir=sys.argv[1])\n"
              "assert len(s.values('E07000194', 'lsoa11', 'ks102ew0001')) == 58\n"
              "print('ready', s.build_id, flush=True)\n"
              "sys.stdin.read()\n")  # until the test closes stdin
    reader = subprocess.Popen([sys.executable, "-c", script, str(previous)], cwd=PROJECT,
                              env=_env(previous, raw_dir), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert reader.stdout is not None and reader.stdin is not None
        assert reader.stdout.readline().split() == ["ready", read]
        _point_current(previous, good.name)  # a newer build is swapped in; the reader keeps its own
        build.build(raw_dir, previous, keep=1)
        assert (previous / "builds" / read / "build.json").exists(), "a build in use was removed"
        reader.stdin.close()
        assert reader.wait(timeout=60) == 0
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    # the reader has gone: the next build prunes what it kept
    build.build(raw_dir, previous, keep=1)
    assert [p.name for p in (previous / "builds").iterdir()] == [good.name]


def test_a_rebuild_reuses_cached_areas_and_parses_and_gives_the_same_extracts(raw_dir: Path, data_dir: Path,
                                                                              previous: Path) -> None:
    """What a change to a census table or a result costs: boundaries and R data are not read again (the
    cache is keyed by the SHA-256 of what they depend on), and the extracts are the same as a cold build's."""
    shutil.copytree(data_dir / build.CACHE_DIR, previous / build.CACHE_DIR, copy_function=os.link)
    good = (previous / "current").resolve()
    report = build.build(raw_dir, previous, force=True)
    assert report.counts["areas_cache"] == "reused"
    assert "boundaries" not in report.steps and "geometry" not in report.steps
    rebuilt = (previous / "current").resolve()
    assert rebuilt != good
    files = sorted(p.relative_to(good) for p in good.rglob("*.parquet"))
    assert files == sorted(p.relative_to(rebuilt) for p in rebuilt.rglob("*.parquet")) and len(files) > 250
    for relative in files:
        if relative.parts[0] == "areas":
            a, b = gpd.read_parquet(good / relative), gpd.read_parquet(rebuilt / relative)
            assert (a.geometry.to_wkb() == b.geometry.to_wkb()).all(), relative
            a, b = a.drop(columns="geometry"), b.drop(columns="geometry")
        else:
            a, b = pd.read_parquet(good / relative), pd.read_parquet(rebuilt / relative)
        assert a.equals(b), relative
