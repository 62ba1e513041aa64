"""The datastore's schema check (atlas/db.py ``ensure_schema``): a database at the newest migration is used
without importing Alembic (issue 20, item 4: memory per worker); any other is migrated, as before."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from atlas import db

ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import json, sys
from atlas import db
db.ensure_schema(sys.argv[1])
import sqlalchemy as sa
with db.engine(sys.argv[1]).connect() as con:
    version = con.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
print(json.dumps({"alembic": "alembic" in sys.modules, "version": version}))
"""


def _ensure_in_a_new_process(url: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _PROBE, url], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_head_is_alembics_newest_revision(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(db._alembic_config(f"sqlite:///{tmp_path / 'x.db'}"))
    assert db.HEAD == script.get_current_head()


def test_a_database_at_head_is_used_without_alembic_and_any_other_is_migrated(tmp_path: Path) -> None:
    from alembic import command

    new = f"sqlite:///{tmp_path / 'new.db'}"
    assert _ensure_in_a_new_process(new) == {"alembic": True, "version": db.HEAD}  # a new database: migrated
    assert _ensure_in_a_new_process(new) == {"alembic": False, "version": db.HEAD}  # then only read
    old = f"sqlite:///{tmp_path / 'old.db'}"
    with sa.create_engine(old).begin() as con:
        cfg = db._alembic_config(old)
        cfg.attributes["connection"] = con
        command.upgrade(cfg, "0003_saved_areas")
    assert _ensure_in_a_new_process(old) == {"alembic": True, "version": db.HEAD}  # one behind: migrated


def test_workers_seeding_the_authorities_at_once_all_succeed(tmp_path: Path) -> None:
    """Each gunicorn worker seeds the organisations on its first request; several at once (warming together)
    met each other's rows (UNIQUE constraint failed: a 500 on the warm-up). Each now finishes, and every
    authority is there once."""
    import threading

    from atlas import accounts

    authorities = [{"code": f"E0600{n:04d}", "name": f"Authority {n}"} for n in range(300)]
    for round_ in range(3):
        url = f"sqlite:///{tmp_path / f'seed{round_}.db'}"
        db.ensure_schema(url)
        start, errors, added = threading.Barrier(4), [], []

        def seed(url: str = url, start: threading.Barrier = start, errors: list = errors,
                 added: list = added) -> None:
            start.wait()
            try:
                added.append(accounts.seed_authorities(authorities, url))
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=seed) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert sum(added) == len(authorities)  # each added once, by whichever got there first
        with db.engine(url).connect() as con:
            codes = con.execute(sa.text("SELECT code FROM organisation")).scalars().all()
        assert sorted(codes) == sorted(a["code"] for a in authorities)
