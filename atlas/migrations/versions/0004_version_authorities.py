"""Each version records the authorities it covers (JSON list), so every host knows a published dataset's
coverage from the database alone, before (or without) fetching its file from object storage (issue 20).
Existing versions are filled in from their files in ATLAS_DATA_DIR/published, where they were kept.

Revision ID: 0004
Revises: 0003_saved_areas
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003_saved_areas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("version", sa.Column("authorities", sa.Text, nullable=True))
    import pyarrow.parquet as pq  # noqa: PLC0415

    from atlas import settings  # noqa: PLC0415

    root = settings.load().data_dir / "published"
    version = sa.table("version", sa.column("id", sa.Integer), sa.column("file", sa.String),
                       sa.column("authorities", sa.Text))
    con = op.get_bind()
    for row_id, file in con.execute(sa.select(version.c.id, version.c.file)).all():
        path = root / file
        if not path.exists():
            continue  # read from the file when a host first has it (atlas/registry.py)
        table = pq.read_table(path, columns=["authority"])
        found = sorted(set(table.column("authority").to_pylist()) - {None})
        con.execute(version.update().where(version.c.id == row_id).values(authorities=json.dumps(found)))


def downgrade() -> None:
    op.drop_column("version", "authorities")
