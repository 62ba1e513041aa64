"""The datastore: organisations, accounts, partnerships, published datasets and versions, tokens, follows,
live-feed state, the append-only audit log and the registry's generation counter.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisation",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("authority", sa.String(12), nullable=True),
        sa.Column("created", sa.DateTime, nullable=False))
    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("oidc_issuer", sa.String(300), nullable=True),
        sa.Column("oidc_subject", sa.String(300), nullable=True),
        sa.Column("site_admin", sa.Boolean, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("feed_secret", sa.String(64), nullable=False, unique=True),
        sa.Column("session_nonce", sa.String(32), nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.UniqueConstraint("oidc_issuer", "oidc_subject"))
    op.create_table(
        "membership",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("org_id", sa.Integer, sa.ForeignKey("organisation.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(10), nullable=False))
    op.create_table(
        "partnership",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_by_org", sa.Integer, sa.ForeignKey("organisation.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("created", sa.DateTime, nullable=False))
    op.create_table(
        "partnership_member",
        sa.Column("partnership_id", sa.Integer, sa.ForeignKey("partnership.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("org_id", sa.Integer, sa.ForeignKey("organisation.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("status", sa.String(10), nullable=False))
    op.create_table(
        "dataset",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("org_id", sa.Integer, sa.ForeignKey("organisation.id", ondelete="RESTRICT"), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("code_column", sa.String(200), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("licence", sa.Text, nullable=False),
        sa.Column("access", sa.String(12), nullable=False),
        sa.Column("update_days", sa.Integer, nullable=True),
        sa.Column("pull_url", sa.String(2000), nullable=True),
        sa.Column("pull_minutes", sa.Integer, nullable=True),
        sa.Column("current_version_id", sa.Integer, nullable=True),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("updated", sa.DateTime, nullable=False))
    op.create_table(
        "dataset_share",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("dataset.id", ondelete="CASCADE"), nullable=False),
        sa.Column("partnership_id", sa.Integer, sa.ForeignKey("partnership.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("org_id", sa.Integer, sa.ForeignKey("organisation.id", ondelete="CASCADE"), nullable=True))
    op.create_table(
        "variable",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("dataset.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("var_id", sa.String(80), nullable=False, unique=True),
        sa.Column("column", sa.String(200), nullable=False),
        sa.Column("label", sa.String(300), nullable=False),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.Column("denominator", sa.String(200), nullable=False),
        sa.Column("polarity", sa.String(200), nullable=False),
        sa.Column("decimals", sa.Integer, nullable=True))
    op.create_table(
        "version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("dataset.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("as_of", sa.String(10), nullable=False),
        sa.Column("file", sa.String(300), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("via", sa.String(10), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("user_account.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.UniqueConstraint("dataset_id", "number"))
    with op.batch_alter_table("dataset") as batch:
        batch.create_foreign_key("fk_dataset_current_version", "version", ["current_version_id"], ["id"],
                                 ondelete="SET NULL")
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created", sa.DateTime, nullable=False),
        sa.Column("expires", sa.DateTime, nullable=True),
        sa.Column("revoked", sa.DateTime, nullable=True),
        sa.Column("last_used", sa.DateTime, nullable=True))
    op.create_table(
        "follow",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("target", sa.String(40), primary_key=True),
        sa.Column("created", sa.DateTime, nullable=False))
    op.create_table(
        "pull_state",
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("dataset.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("next_at", sa.DateTime, nullable=False),
        sa.Column("last_attempt", sa.DateTime, nullable=True),
        sa.Column("last_success", sa.DateTime, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False))
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("org_id", sa.Integer, nullable=True),
        sa.Column("dataset_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("address", sa.String(64), nullable=False))
    op.create_index("ix_audit_org", "audit_log", ["org_id", "at"])
    op.create_index("ix_audit_dataset", "audit_log", ["dataset_id", "at"])
    op.create_table(
        "registry_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False))
    op.execute("INSERT INTO registry_state (id, generation) VALUES (1, 0)")
    # The audit log is append-only, whoever connects: the database itself refuses updates and deletes.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'the audit log is append-only'; END; $$ LANGUAGE plpgsql""")
        op.execute("CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")
    else:
        for what in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{what.lower()} BEFORE {what} ON audit_log "
                       "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END")


def downgrade() -> None:
    for table in ("registry_state", "audit_log", "pull_state", "follow", "api_token"):
        op.drop_table(table)
    with op.batch_alter_table("dataset") as batch:
        batch.drop_constraint("fk_dataset_current_version", type_="foreignkey")
    for table in ("version", "variable", "dataset_share", "dataset", "partnership_member", "partnership",
                  "membership", "user_account", "organisation"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
