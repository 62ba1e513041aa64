"""The architecture as the README draws it: imports run one way (import-linter's contracts in
pyproject.toml), and the top level holds what the README promises."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_imports_follow_the_contracts() -> None:
    lint = shutil.which("lint-imports")
    assert lint, "import-linter is a test dependency (pip install -e '.[test]')"
    done = subprocess.run([lint, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_the_top_level_shows_the_architecture() -> None:
    modules = sorted(p.name for p in ROOT.glob("*.py"))
    assert modules == ["app.py", "gunicorn.conf.py"], modules
    for folder in ("atlas", "web", "ui", "callbacks", "layers", "assets", "pipeline", "bench", "tests"):
        assert (ROOT / folder).is_dir(), folder
