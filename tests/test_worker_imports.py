"""What a gunicorn worker imports before the app (gunicorn.conf.py's ``post_fork``; issue 20, item 4: memory
per worker): Dash without its Jupyter support, which imports IPython whenever it is installed (35 MB), and the
optional-import guard (atlas/optional.py) that palettable's import shares."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from atlas import optional

ROOT = Path(__file__).resolve().parent.parent

# Loads gunicorn.conf.py as gunicorn does (a file, not a module), then reports what importing Dash imported.
_PROBE = """
import importlib.util, json, sys
if sys.argv[1] == "worker":
    spec = importlib.util.spec_from_file_location("gunicorn_conf", "gunicorn.conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    conf.post_fork(None, None)
import dash, dash._jupyter
report = {"dash": "dash" in sys.modules, "ipython_imported": sys.modules.get("IPython") is not None,
          "jupyter_support": dash._jupyter._dep_installed}
import IPython  # still importable afterwards, by whatever needs it
report["ipython_after"] = IPython.MARK
print(json.dumps(report))
"""


def _probe(mode: str, fake: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", _PROBE, mode], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture()
def fake_ipython(tmp_path: Path) -> Path:
    """An ``IPython`` package first on the path, standing for one installed beside the atlas (a Jupyter host)."""
    (tmp_path / "IPython").mkdir()
    (tmp_path / "IPython" / "__init__.py").write_text("MARK = 'the stand-in'\n")
    return tmp_path


def test_a_worker_imports_dash_without_ipython(fake_ipython: Path) -> None:
    plain = _probe("plain", fake_ipython)  # what `import dash` does anywhere else: it imports IPython
    assert plain["ipython_imported"] is True
    worker = _probe("worker", fake_ipython)
    assert worker == {"dash": True, "ipython_imported": False, "jupyter_support": False,
                      "ipython_after": "the stand-in"}


def test_absent_marks_only_what_was_not_imported_and_always_unmarks() -> None:
    assert "json" in sys.modules
    with pytest.raises(RuntimeError), optional.absent("json", "an_atlas_test_module_nobody_has"):
        assert sys.modules["json"] is not None  # already imported: left alone
        with pytest.raises(ImportError):
            import an_atlas_test_module_nobody_has  # noqa: F401
        raise RuntimeError("the block fails")
    assert "an_atlas_test_module_nobody_has" not in sys.modules  # unmarked even though the block raised
    assert sys.modules["json"] is not None
