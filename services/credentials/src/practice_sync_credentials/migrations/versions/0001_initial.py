"""Initial schema: tenant registry, sealed credentials, OAuth states, audit log.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    now = sa.func.now()
    op.create_table(
        "organizations",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("clio_region", sa.String(8), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        schema=schema,
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "organization_id",
            sa.String(128),
            sa.ForeignKey(f"{schema}.organizations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        # '' for the provider's one credential of this kind; the webhook id for webhook secrets.
        sa.Column("name", sa.String(64), nullable=False, server_default=""),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_message", sa.Text, nullable=False, server_default=""),
        sa.Column("hint", sa.String(32), nullable=False, server_default=""),
        sa.Column("meta", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("last_validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("organization_id", "provider", "kind", "name", name="credentials_slot"),
        schema=schema,
    )
    op.create_index("credentials_key_id", "credentials", ["key_id"], schema=schema)
    op.create_index("credentials_provider", "credentials", ["provider", "kind"], schema=schema)
    op.create_table(
        "oauth_states",
        # sha256 of the state: the row alone cannot complete a flow.
        sa.Column("state_hash", sa.String(64), primary_key=True),
        sa.Column("organization_id", sa.String(128), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("region", sa.String(8), nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=now),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        # No foreign key: the trail outlives the org and its credentials.
        sa.Column("organization_id", sa.String(128), nullable=True),
        sa.Column("provider", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(32), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        schema=schema,
    )
    op.create_index("audit_log_org", "audit_log", ["organization_id", "id"], schema=schema)


def downgrade(schema: str) -> None:
    op.drop_table("audit_log", schema=schema)
    op.drop_table("oauth_states", schema=schema)
    op.drop_table("credentials", schema=schema)
    op.drop_table("organizations", schema=schema)
