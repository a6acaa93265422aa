"""The processed-event ledger gets its index by age, for the retention prune (migration_ops v2).

Revision ID: 0004
"""

from practice_sync_common.migration_ops import index_processed_events_v2, unindex_processed_events_v2

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    index_processed_events_v2(schema)


def downgrade(schema: str) -> None:
    unindex_processed_events_v2(schema)
