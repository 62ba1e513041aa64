"""Alembic's environment: migrations run on the connection atlas.db.ensure_schema hands over (under its lock),
or on ``sqlalchemy.url`` when run by the alembic command itself."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from atlas.db import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as con:
        _run(con)
