"""Initial schema: the processed-event ledger of this service's consumers.

Revision ID: 0001
"""

from practice_sync_common.migration_ops import create_processed_events_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    create_processed_events_v1(schema)


def downgrade(schema: str) -> None:
    from alembic import op

    op.drop_table("processed_events", schema=schema)
