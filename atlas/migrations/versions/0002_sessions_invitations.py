"""Server-side sessions (revocable), invitations and password resets (one-time, expiring links), live feeds'
addresses removed from version notes (they may hold credentials), and an expiry for every API token made
without one (issue 16).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_session",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("last_seen", sa.DateTime, nullable=False),
        sa.Column("expires", sa.DateTime, nullable=False),
        sa.Column("ended", sa.DateTime, nullable=True),
        sa.Column("how", sa.String(300), nullable=False),
        sa.Column("address", sa.String(64), nullable=False))
    op.create_index("ix_user_session_user_id", "user_session", ["user_id"])
    op.create_table(
        "invitation",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("org_id", sa.Integer, sa.ForeignKey("organisation.id", ondelete="CASCADE"), nullable=True),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("created_by", sa.Integer, nullable=True),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("expires", sa.DateTime, nullable=False),
        sa.Column("used", sa.DateTime, nullable=True),
        sa.Column("revoked", sa.DateTime, nullable=True))
    # A pulled version's note named its feed's address (with any API key in it): now it says only that.
    version = sa.table("version", sa.column("via", sa.String), sa.column("note", sa.Text))
    op.execute(version.update().where(version.c.via == "pull").where(version.c.note.like("pulled from %"))
               .values(note="pulled from its live feed"))
    # Tokens now expire: one made before, without an expiry, lives ATLAS_TOKEN_DEFAULT_DAYS from now.
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415

    from atlas import settings  # noqa: PLC0415

    token = sa.table("api_token", sa.column("expires", sa.DateTime), sa.column("revoked", sa.DateTime))
    until = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=settings.load().token_default_days)
    op.execute(token.update().where(token.c.expires.is_(None)).where(token.c.revoked.is_(None))
               .values(expires=until))


def downgrade() -> None:
    op.drop_table("invitation")
    op.drop_index("ix_user_session_user_id", "user_session")
    op.drop_table("user_session")
