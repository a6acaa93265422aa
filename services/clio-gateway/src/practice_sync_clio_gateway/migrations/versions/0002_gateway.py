"""Sync runs, contact versions, high-water marks, webhook subscriptions and log, custom actions.

Revision ID: 0002
"""

from sqlalchemy import MetaData

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = (
    "contact_versions",
    "sync_state",
    "webhook_subscriptions",
    "webhook_events",
    "custom_actions",
    "custom_action_clicks",
)


def upgrade(schema: str) -> None:
    from alembic import op

    from practice_sync_clio_gateway.repository import tables
    from practice_sync_common.sync_runs import create_sync_runs

    create_sync_runs(schema)
    # The table definitions live in one place (repository.tables); copy them into the target schema.
    meta = MetaData()
    for name in _TABLES:
        table = tables.metadata.tables[f"{tables.SCHEMA}.{name}"].to_metadata(meta, schema=schema)
        table.create(op.get_bind(), checkfirst=False)


def downgrade(schema: str) -> None:
    from alembic import op

    from practice_sync_common.sync_runs import drop_sync_runs

    for name in reversed(_TABLES):
        op.drop_table(name, schema=schema)
    drop_sync_runs(schema)
