"""A data folder the app cannot write stops it with one message naming the folder and the user (issue 20, item 5).

The image's volume owned by root, or mounted read-only, used to kill every gunicorn worker at boot with a
PermissionError traceback on the secret key, and gunicorn started new workers for ever. The tests run as root,
whom permissions do not stop, so the folder here lies beneath a regular file: creating it fails for any user,
through the same path. deploy/build-test-image.sh checks the image itself on a folder owned by root.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from atlas import db, settings

ROOT = Path(__file__).resolve().parent.parent


def _blocked(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("not a folder")
    return tmp_path / "a-file" / "data"


def _says_folder_and_user(message: str, folder: Path) -> None:
    assert f"ATLAS_DATA_DIR={folder} must be writable" in message, message
    uid = os.getuid()
    assert f"({pwd.getpwuid(uid).pw_name}, uid {uid})" in message, message
    assert "Not a directory" in message, message  # why, in the system's words


def test_the_check_and_the_secret_key_name_the_folder_and_the_user(tmp_path: Path) -> None:
    folder = _blocked(tmp_path)
    config = settings.load({"ATLAS_DATA_DIR": str(folder)})
    with pytest.raises(SystemExit) as stopped:
        db.require_writable_data_dir(config)
    _says_folder_and_user(str(stopped.value.code), folder)
    with pytest.raises(SystemExit) as stopped:
        db.secret_key(config)
    _says_folder_and_user(str(stopped.value.code), folder)


def test_a_writable_folder_passes_and_is_made(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "data"
    db.require_writable_data_dir(settings.load({"ATLAS_DATA_DIR": str(folder)}))
    assert folder.is_dir()
    assert list(folder.iterdir()) == []  # the probe leaves nothing behind


def test_gunicorn_stops_before_starting_a_worker(tmp_path: Path) -> None:
    folder = _blocked(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ATLAS_DATA_DIR": str(folder), "ATLAS_STORAGE_URL": ""}
    env.pop("ATLAS_SECRET_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0", "app:server"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # the old behaviour: workers stopping and started again for ever
        os.killpg(process.pid, signal.SIGKILL)  # the master and its workers: nothing left behind
        _, stderr = process.communicate()
        pytest.fail(f"gunicorn kept running on an unwritable data folder: {stderr[-2000:]!r}")
    done = subprocess.CompletedProcess(process.args, process.returncode, "", stderr)
    assert done.returncode == 1, done.stderr
    _says_folder_and_user(done.stderr, folder)
    assert "Booting worker" not in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
