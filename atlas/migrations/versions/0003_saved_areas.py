"""Saved areas (issue 22): a person's own set of small areas, opened as a place by code ``A<id>``, private to
its owner or shared with an organisation, a partnership or everyone.

Revision ID: 0003_saved_areas
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_saved_areas"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "saved_area",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("codes", sa.Text, nullable=False),
        sa.Column("how", sa.String(10), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("access", sa.String(12), nullable=False),
        sa.Column("org_id", sa.Integer, sa.ForeignKey("organisation.id", ondelete="CASCADE"), nullable=True),
        sa.Column("partnership_id", sa.Integer, sa.ForeignKey("partnership.id", ondelete="CASCADE"), nullable=True),
        sa.Column("created", sa.DateTime, nullable=False))
    op.create_index("ix_saved_area_owner_id", "saved_area", ["owner_id"])


def downgrade() -> None:
    op.drop_index("ix_saved_area_owner_id", "saved_area")
    op.drop_table("saved_area")
