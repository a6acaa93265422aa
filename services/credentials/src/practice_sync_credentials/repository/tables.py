"""Table definitions for queries, as the migrations make them (tests/test_migrations.py holds the
two equal: a change here needs its migration)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

SCHEMA = "credentials"
metadata = sa.MetaData(schema=SCHEMA)

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("name", sa.String(255)),
    sa.Column("clio_region", sa.String(8)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "organization_id",
        sa.String(128),
        sa.ForeignKey(organizations.c.id, ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("name", sa.String(64), nullable=False, server_default=""),
    sa.Column("ciphertext", sa.Text, nullable=False),
    sa.Column("key_id", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("status_message", sa.Text, nullable=False, server_default=""),
    sa.Column("hint", sa.String(32), nullable=False, server_default=""),
    sa.Column("meta", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("last_validated_at", sa.DateTime(timezone=True)),
    sa.Column("refreshed_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("organization_id", "provider", "kind", "name", name="credentials_slot"),
    sa.Index("credentials_key_id", "key_id"),
    sa.Index("credentials_provider", "provider", "kind"),
)

oauth_states = sa.Table(
    "oauth_states",
    metadata,
    sa.Column("state_hash", sa.String(64), primary_key=True),
    sa.Column("organization_id", sa.String(128), nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("region", sa.String(8), nullable=False),
    sa.Column("redirect_uri", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("oauth_states_expires_at", "expires_at"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("organization_id", sa.String(128)),
    sa.Column("provider", sa.String(32)),
    sa.Column("kind", sa.String(32)),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    sa.Index("audit_log_org", "organization_id", "id"),
)
