"""Builds as folders, and builds in object storage: the one place that swaps, prunes, uploads and fetches them.

A data folder (``ATLAS_DATA_DIR``) holds complete builds in ``builds/<id>/`` and a symlink ``current`` to the
one in use, swapped by one atomic rename (``swap``). One process at a time changes a data folder: it holds
an exclusive ``flock`` on ``.build.lock`` (``build_lock``), which the kernel drops with the process, however it
ends; holding it, leftovers of a killed change (``builds/.staging-*``, ``.current-*``) are removed, and old
builds are pruned unless a running process still reads them (each reader holds a shared flock on its
build's ``build.json``: atlas/extracts.py).

With object storage (``ATLAS_STORAGE_URL``), ``publish`` uploads a finished build as immutable objects
``builds/<id>/<file>`` (conditional puts: nothing is ever replaced), then its manifest
``builds/<id>/manifest.json`` (every file's SHA-256 and size), and only then moves the pointer
``builds/current.json`` (the build's id and its manifest's SHA-256). A publisher killed mid-upload leaves
objects no manifest names and the pointer where it was: nothing half-published. Each host's ``sync``
(at start, then every ``ATLAS_BUILD_POLL`` seconds) fetches the build the pointer names into a staging
folder, checks every file against the manifest, renames it into ``builds/`` and swaps ``current``: a host
never serves a half-downloaded build, and its workers move to the new build on their next request.

This module imports nothing of the project but its settings and storage (the pipeline uses it too).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from atlas import settings, storage

__all__ = ["BuildBusy", "LOCK_FILE", "MANIFEST", "POINTER", "build_lock", "check_stored", "clear_leftovers",
           "prune", "publish", "start_polling", "status", "swap", "sync"]

log = logging.getLogger(__name__)

LOCK_FILE = ".build.lock"
#: The pointer object naming the current build in object storage.
POINTER = "builds/current.json"
#: Each stored build's manifest (its last object: a build without one is incomplete).
MANIFEST = "manifest.json"
#: A synced build keeps its manifest beside its files: it was checked against it.
SYNCED = "manifest.json"


class BuildBusy(RuntimeError):
    """Another process holds the data folder's build lock (a build, or a host fetching a build)."""


def swap(current: Path, target: Path) -> None:
    """Point ``current`` at the build ``target`` with one atomic rename of a fresh symlink over the old one."""
    link = current.with_name(f".current-{os.getpid()}")
    link.unlink(missing_ok=True)
    link.symlink_to(Path("builds") / target.name)
    os.replace(link, current)


@contextmanager
def build_lock(data_dir: Path) -> Iterator[None]:
    """An exclusive flock on ``data_dir/.build.lock`` while a build is made or fetched; the kernel drops it
    when the process ends, however it ends (a SIGKILL'd build leaves no stale lock). Raises BuildBusy."""
    path = Path(data_dir) / LOCK_FILE
    handle = open(path, "a+")  # noqa: SIM115 - held for the whole block, closed below
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise BuildBusy(f"another build (pid {holder}) is running in {data_dir}; wait for it to "
                            "finish") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def clear_leftovers(data_dir: Path) -> None:
    """Remove what killed builds (or fetches) left: ``builds/.staging-*`` folders and ``.current-*`` symlinks.

    Called with the build lock held, which proves no other build is running, so every such leftover is
    stale: a build that was alive would still hold the lock.
    """
    builds = Path(data_dir) / "builds"
    for path in builds.glob(".staging-*"):
        log.info("removing %s, left by a build that did not finish", path.name)
        shutil.rmtree(path, ignore_errors=True)
    for link in Path(data_dir).glob(".current-*"):
        link.unlink(missing_ok=True)


def _remove_unless_read(build: Path) -> bool:
    """Remove ``build`` unless a running process reads it; returns whether it was removed.

    A reader holds a shared flock on its build's build.json for its whole life, so an exclusive one cannot
    be had (non-blocking) while any reader lives. It is held while the folder is removed, so a reader that
    opens the build meanwhile fails to lock it rather than reading half a folder.
    """
    try:
        handle = open(build / "build.json", "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        shutil.rmtree(build, ignore_errors=True)  # not a complete build: nothing can be reading it
        return True
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                return False
            raise
        shutil.rmtree(build, ignore_errors=True)
        return True


def prune(builds: Path, keep: int, current: Path) -> list[str]:
    """Keep the newest ``keep`` complete builds (and always the one ``current`` points at); remove older
    ones unless a running process still reads them. Returns the names removed."""
    done = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.name, reverse=True)
    removed = []
    for old in done[keep:]:
        if old.resolve() == current.resolve():
            continue
        if _remove_unless_read(old):
            removed.append(old.name)
        else:
            log.info("keeping %s: a running process still reads it", old.name)
    if removed:
        log.info("removed %d old build(s): %s", len(removed), ", ".join(removed))
    return removed


# -- builds in object storage ---------------------------------------------------------------------------------

def _files(build_dir: Path) -> list[str]:
    return sorted(p.relative_to(build_dir).as_posix() for p in build_dir.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(build_dir).parts)
                  and p.relative_to(build_dir).as_posix() != MANIFEST)


def _manifest_of(store: storage.Storage, pointer: dict | None) -> dict:
    """The files of the build ``pointer`` names (rel -> sha256, size, object), {} when there is none."""
    if not pointer:
        return {}
    try:
        raw = store.get(f"builds/{pointer['id']}/{MANIFEST}")
    except FileNotFoundError:
        return {}
    files = json.loads(raw)["files"]
    return {rel: {**meta, "object": meta.get("object") or f"builds/{pointer['id']}/{rel}"}
            for rel, meta in files.items()}


def publish(build_dir: Path, store: storage.Storage | None = None) -> dict:
    """Upload the finished build in ``build_dir`` to object storage, then its manifest, then move the pointer
    to it. A file whose bytes the current build already stored (same path, same SHA-256) is not sent again:
    the manifest names that object (objects are immutable, so it cannot change under it). Files already
    stored by a run that was killed are kept as they are: an object is complete or absent. Returns the
    pointer written."""
    store = store or storage.get()
    if store.local:
        raise ValueError("ATLAS_STORAGE_URL is empty: builds are read from ATLAS_DATA_DIR itself, there is "
                         "nothing to upload (set ATLAS_STORAGE_URL=s3://bucket/prefix)")
    build_dir = Path(build_dir).resolve()
    build_id = json.loads((build_dir / "build.json").read_text())["id"]
    prefix = f"builds/{build_id}/"
    raw = store.get_pointer(POINTER)
    before = _manifest_of(store, json.loads(raw) if raw else None)
    held = {e.key: e.size for e in store.list(prefix)}
    files = {}
    started = time.perf_counter()
    sent = 0
    for rel in _files(build_dir):
        path = build_dir / rel
        meta = {"sha256": storage.sha256_file(path), "size": path.stat().st_size}
        old = before.get(rel)
        if old is not None and old["sha256"] == meta["sha256"] and not old["object"].startswith(prefix):
            files[rel] = {**meta, "object": old["object"]}
            continue
        key = prefix + rel
        files[rel] = {**meta, "object": key}
        if held.get(key) == meta["size"]:
            continue
        try:
            store.put(key, path)
            sent += meta["size"]
        except storage.Exists:
            pass  # stored by an earlier run that was killed: objects are whole or absent
    manifest = json.dumps({"id": build_id, "files": files,
                           "published": datetime.now(UTC).replace(microsecond=0).isoformat()},
                          indent=1, sort_keys=True).encode()
    try:
        store.put(prefix + MANIFEST, manifest)
    except storage.Exists:
        manifest = store.get(prefix + MANIFEST)  # published before: the pointer names that manifest
    pointer = {"id": build_id, "manifest_sha256": hashlib.sha256(manifest).hexdigest()}
    store.set_pointer(POINTER, json.dumps(pointer).encode())
    log.info("published build %s: %d files, %.1f MB sent (the rest unchanged) in %.1f s", build_id, len(files),
             sent / 1e6, time.perf_counter() - started)
    return pointer


def sync(data_dir: Path | None = None, store: storage.Storage | None = None, keep: int | None = None) -> str | None:
    """Make the build that object storage's pointer names this host's ``current``, fetching and checking it
    first. Returns the id switched to, or None (nothing to do: no object storage, no pointer, already
    current, or another process of this host is fetching). Raises storage.Unavailable, storage.Corrupt."""
    config = settings.load()
    data_dir = Path(data_dir) if data_dir is not None else config.data_dir
    store = store or storage.get(data_dir)
    if store.local:
        return None
    raw = store.get_pointer(POINTER)
    if raw is None:
        return None
    pointer = json.loads(raw)
    build_id = str(pointer["id"])
    current = data_dir / "current"
    if current.exists() and current.resolve().name == build_id:
        return None
    data_dir.mkdir(parents=True, exist_ok=True)
    builds = data_dir / "builds"
    builds.mkdir(exist_ok=True)
    try:
        with build_lock(data_dir):
            if current.exists() and current.resolve().name == build_id:
                return None
            clear_leftovers(data_dir)
            target = builds / build_id
            if not (target / SYNCED).exists():
                _fetch(store, build_id, pointer["manifest_sha256"], builds, target)
            swap(current, target)
            prune(builds, keep or config.keep_builds, target)
    except BuildBusy:
        return None
    log.info("now serving build %s (from object storage)", build_id)
    return build_id


_pollers: dict[int, threading.Thread] = {}
_pollers_lock = threading.Lock()


def _poll(data_dir: Path, every: int) -> None:
    while True:
        try:
            sync(data_dir)
        except (storage.Unavailable, storage.Corrupt) as exc:
            log.warning("build sync: %s; this host keeps serving its current build", exc)
        except Exception:  # noqa: BLE001 - the poller must outlive any one failure
            log.exception("build sync failed; this host keeps serving its current build")
        time.sleep(every)


def start_polling(data_dir: Path | None = None) -> bool:
    """With object storage, check it for a newer build every ``ATLAS_BUILD_POLL`` seconds in a daemon thread
    of this process (once per process; gunicorn.conf.py starts one in each worker after the fork). The build
    lock makes one process of a host fetch while the others carry on. Returns whether a poller runs."""
    config = settings.load()
    if not config.storage_url or config.build_poll <= 0:
        return False
    data_dir = Path(data_dir) if data_dir is not None else config.data_dir
    with _pollers_lock:
        if os.getpid() not in _pollers:
            thread = threading.Thread(target=_poll, args=(data_dir, config.build_poll), daemon=True,
                                      name="atlas-build-sync")
            thread.start()
            _pollers[os.getpid()] = thread
    return True


def _fetch(store: storage.Storage, build_id: str, manifest_sha256: str, builds: Path, target: Path) -> None:
    """Download build ``build_id`` into a staging folder, check every file, and rename it to ``target``."""
    prefix = f"builds/{build_id}/"
    manifest = store.get(prefix + MANIFEST)
    if hashlib.sha256(manifest).hexdigest() != manifest_sha256:
        raise storage.Corrupt(f"build {build_id}: its manifest does not match the pointer's SHA-256")
    files = json.loads(manifest)["files"]
    staging = builds / f".staging-{build_id}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    started = time.perf_counter()
    have = _synced_files(builds.parent / "current")
    fetched = 0
    try:
        for rel, meta in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            mine = have.get(rel)
            if mine is not None and mine[1] == meta["sha256"]:
                os.link(mine[0], path)  # the same bytes, checked when this host fetched them: shared, not copied
                continue
            store.download(meta.get("object") or prefix + rel, path)
            fetched += meta["size"]
            got = storage.sha256_file(path)
            if got != meta["sha256"]:
                raise storage.Corrupt(f"build {build_id}: {rel} does not match its manifest")
        (staging / SYNCED).write_bytes(manifest)  # last: a folder with it was checked whole
        if target.exists():
            shutil.rmtree(target)  # an unchecked copy (a build folder without its manifest)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("fetched build %s: %d files, %.1f MB downloaded (the rest shared with the build before) in %.1f s",
             build_id, len(files), fetched / 1e6, time.perf_counter() - started)


def _synced_files(current: Path) -> dict[str, tuple[Path, str]]:
    """The files of this host's current build that were checked against a manifest: rel -> (path, sha256)."""
    try:
        files = json.loads((current / SYNCED).read_text())["files"]
    except (OSError, ValueError, KeyError):
        return {}
    root = current.resolve()
    return {rel: (root / rel, meta["sha256"]) for rel, meta in files.items() if (root / rel).is_file()}


def status(data_dir: Path, store: storage.Storage | None = None) -> dict:
    """The build this host serves: ``id``, whether it is ``present`` and ``verified`` (with object storage:
    fetched and checked against its manifest; without: built here), and the id storage names (``stored``,
    with object storage only; raises storage.Unavailable when it cannot be asked)."""
    current = Path(data_dir) / "current"
    build_json = current / "build.json"
    out: dict = {"present": build_json.exists(), "id": None, "verified": False}
    if out["present"]:
        try:
            out["id"] = str(json.loads(build_json.read_text())["id"])
        except (OSError, ValueError, KeyError):
            out["present"] = False
            return out
    store = store or storage.get(data_dir)
    if store.local:
        out["verified"] = out["present"]
        return out
    out["verified"] = out["present"] and (current / SYNCED).exists()
    raw = store.get_pointer(POINTER)
    out["stored"] = json.loads(raw)["id"] if raw else None
    return out


def check_stored(store: storage.Storage, orphan_age: float) -> list[str]:
    """What is wrong with the builds in object storage (``atlas check``): a pointer naming a build without a
    manifest, a manifest naming an object that is missing or of another size; and files of a build no
    manifest names (an upload killed before it finished) older than ``orphan_age`` seconds."""
    if store.local:
        return []
    problems: list[str] = []
    entries = store.list("builds/")
    by_key = {e.key: e for e in entries}
    builds: dict[str, list[storage.Entry]] = {}
    for e in entries:
        parts = e.key.split("/")
        if len(parts) >= 3:
            builds.setdefault(parts[1], []).append(e)
    raw = store.get_pointer(POINTER)
    if raw is not None:
        pointed = json.loads(raw)["id"]
        if f"builds/{pointed}/{MANIFEST}" not in by_key:
            problems.append(f"the current build {pointed} has no manifest in object storage")
    now = time.time()
    for build_id, items in sorted(builds.items()):
        key = f"builds/{build_id}/{MANIFEST}"
        if key not in by_key:
            if now - max(e.modified for e in items) >= orphan_age:
                problems.append(f"builds/{build_id}/: {len(items)} objects of an upload that did not finish "
                                "(`atlas sweep` removes them)")
            continue
        for rel, meta in json.loads(store.get(key))["files"].items():
            found = by_key.get(meta.get("object") or f"builds/{build_id}/{rel}")
            if found is None:
                problems.append(f"build {build_id}: {rel} is missing from object storage")
            elif found.size != meta["size"]:
                problems.append(f"build {build_id}: {rel} is {found.size} bytes, its manifest says {meta['size']}")
    return problems


def sweep_stored(store: storage.Storage, older_than: float) -> list[str]:
    """Remove the objects of build uploads that never finished (no manifest) and are older than
    ``older_than`` seconds. Returns their keys."""
    if store.local:
        return []
    entries = store.list("builds/")
    manifests = {e.key.split("/")[1] for e in entries if e.key.endswith("/" + MANIFEST)}
    by_build: dict[str, list[storage.Entry]] = {}
    for e in entries:
        parts = e.key.split("/")
        if len(parts) >= 3 and parts[1] not in manifests:
            by_build.setdefault(parts[1], []).append(e)
    removed = []
    now = time.time()
    for items in by_build.values():
        if now - max(e.modified for e in items) >= older_than:
            for e in items:
                store.delete(e.key)
                removed.append(e.key)
    return removed
