"""The documentation stays true: the MkDocs site builds with --strict (no broken page links), and every file of
the project the README or a docs page names in backticks exists (the README once named four that did not)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
# A reference to a file of the project: a backticked path under one of its top-level folders, or a top-level file.
_FOLDERS = ("atlas", "web", "ui", "callbacks", "layers", "assets", "pipeline", "bench", "tests", "js", "docs",
            "deploy", ".ci")
_TOP = ("app.py", "gunicorn.conf.py", "pyproject.toml", "Dockerfile", "mkdocs.yml", "README.md")
_FOLDER_RE = "|".join(re.escape(f) for f in _FOLDERS)
_TOP_RE = "|".join(re.escape(f) for f in _TOP)
_REF = re.compile(rf"`((?:{_FOLDER_RE})/[A-Za-z0-9_./*-]+|{_TOP_RE})(?:::[A-Za-z0-9_.]+)?`")
# Made by the README's commands, not committed: named by the docs, absent from a fresh clone until then.
_BUILT = ("assets/vendor/",)


def references(text: str) -> list[str]:
    return [m.group(1) for m in _REF.finditer(text)]


def test_references_find_paths_and_ignore_others() -> None:
    text = "see `atlas/store.py`, `tests/test_view.py::test_x`, `Dockerfile`, `store.values()` and `lookups/x.csv`"
    assert references(text) == ["atlas/store.py", "tests/test_view.py", "Dockerfile"]


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_file_named_exists(page: Path) -> None:
    missing = []
    for ref in references(page.read_text()):
        if ref.startswith(_BUILT):
            continue
        path = ref.rstrip("/")
        found = list(ROOT.glob(path)) if "*" in path else [ROOT / path] if (ROOT / path).exists() else []
        if not found:
            missing.append(ref)
    assert not missing, f"{page.name} names files that do not exist: {sorted(set(missing))}"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs")
    assert mkdocs, "mkdocs is a test dependency (pip install -e '.[test]')"
    done = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    pages = {p.relative_to(tmp_path / "site").as_posix() for p in (tmp_path / "site").rglob("index.html")}
    for page in (ROOT / "docs").glob("*.md"):
        expected = "index.html" if page.stem == "index" else f"{page.stem}/index.html"
        assert expected in pages, f"{page.name} is not in the built site"


_DOTTED = re.compile(r"`((?:atlas|web|ui|callbacks|layers|pipeline)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?:\(\))?`")


def _resolves(name: str) -> bool:
    import importlib

    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_module_and_name_named_exists(page: Path) -> None:
    """`atlas.view.CLASS_ALPHABET`-style references name a module (and attribute) that exists."""
    names = {m.group(1) for m in _DOTTED.finditer(page.read_text())} - {"atlas.js", "atlas.css"}
    missing = sorted(n for n in names if not _resolves(n))
    assert not missing, f"{page.name} names modules or attributes that do not exist: {missing}"
