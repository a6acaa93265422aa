"""Sync runs, contact versions, high-water marks, webhook subscriptions and log, custom actions.

Revision ID: 0002
"""

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID as PgUUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tables(schema: str) -> list[Table]:
    """The tables as this revision made them, frozen here (not read from repository.tables, which
    moves on: a column added later would land in fresh databases through 0002 and collide with the
    revision that adds it). Index names come from SQLAlchemy's default convention, as they did."""
    meta = MetaData()
    return [
        Table(
            "contact_versions",
            meta,
            Column("org_id", String(128), primary_key=True),
            Column("contact_id", BigInteger, primary_key=True),
            Column("etag", String(200), nullable=True),
            Column("updated_at", DateTime(timezone=True), nullable=True),
            Column("seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
            schema=schema,
        ),
        Table(
            "sync_state",
            meta,
            Column("org_id", String(128), primary_key=True),
            Column("high_water", DateTime(timezone=True), nullable=True),
            Column("last_full_at", DateTime(timezone=True), nullable=True),
            Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
            schema=schema,
        ),
        Table(
            "webhook_subscriptions",
            meta,
            Column("org_id", String(128), primary_key=True),
            Column("webhook_id", BigInteger, primary_key=True),
            Column("model", String(40), nullable=False),
            Column("url", Text, nullable=False),
            Column("fields", Text, nullable=False),
            Column("status", String(20), nullable=False),
            Column("expires_at", DateTime(timezone=True), nullable=True),
            Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
            Column("renewed_at", DateTime(timezone=True), nullable=True),
            Column("checked_at", DateTime(timezone=True), nullable=True),
            schema=schema,
        ),
        Table(
            "webhook_events",
            meta,
            Column("event_id", PgUUID(as_uuid=True), primary_key=True),
            Column("org_id", String(128), nullable=False, index=True),
            Column("webhook_id", String(40), nullable=True),
            Column("event", String(40), nullable=True),
            Column("record_id", BigInteger, nullable=True),
            Column("status", String(20), nullable=False),
            Column("error", Text, nullable=True),
            Column("received_at", DateTime(timezone=True), nullable=False),
            Column("processed_at", DateTime(timezone=True), nullable=True),
            schema=schema,
        ),
        Table(
            "custom_actions",
            meta,
            Column("org_id", String(128), primary_key=True),
            Column("custom_action_id", BigInteger, primary_key=True),
            Column("clio_user_id", BigInteger, nullable=False, index=True),
            Column("label", String(200), nullable=False),
            Column("target_url", Text, nullable=False),
            Column("ui_reference", String(40), nullable=False),
            Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
            schema=schema,
        ),
        Table(
            "custom_action_clicks",
            meta,
            Column("id", BigInteger, primary_key=True, autoincrement=True),
            Column("org_id", String(128), nullable=True, index=True),
            Column("custom_action_id", BigInteger, nullable=True),
            Column("clio_user_id", BigInteger, nullable=True),
            Column("contact_id", BigInteger, nullable=True),
            Column("outcome", String(20), nullable=False),
            Column("clicked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
            schema=schema,
        ),
    ]


def upgrade(schema: str) -> None:
    from alembic import op

    from practice_sync_common.migration_ops import create_sync_runs_v1

    create_sync_runs_v1(schema)
    for table in _tables(schema):
        table.create(op.get_bind(), checkfirst=False)


def downgrade(schema: str) -> None:
    from alembic import op

    from practice_sync_common.migration_ops import drop_sync_runs_v1

    for table in reversed(_tables(schema)):
        op.drop_table(table.name, schema=schema)
    drop_sync_runs_v1(schema)
