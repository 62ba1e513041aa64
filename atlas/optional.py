"""Importing a library with one of its optional dependencies marked absent.

Some libraries import a heavy optional dependency whenever it is installed, for features the atlas never uses:
palettable imports matplotlib's pyplot for its plotting helpers (50 MB), and Dash imports IPython, requests,
comm and nest_asyncio for running inside Jupyter (35 MB). Each guards that import with ``except ImportError``,
so importing it while the dependency is marked absent (``sys.modules[name] = None``, Python's own way of
saying "not installed") gives the library without it. The mark is removed as soon as the import is done: the
dependency can still be imported by whatever really needs it afterwards.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

__all__ = ["absent"]


@contextlib.contextmanager
def absent(*names: str) -> Iterator[None]:
    """Within the block, ``import name`` raises ImportError for each of ``names`` not already imported."""
    marked = [name for name in names if name not in sys.modules]
    for name in marked:
        sys.modules[name] = None  # type: ignore[assignment] - Python's way to say "not installed"
    try:
        yield
    finally:
        for name in marked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
