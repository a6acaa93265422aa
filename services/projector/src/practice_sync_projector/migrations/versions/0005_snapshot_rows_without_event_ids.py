"""Snapshot rows no longer carry their event id: their upsert claims none (repository/active_patients.py).

Revision ID: 0005
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.execute(f'ALTER TYPE "{schema}".snapshot_row DROP ATTRIBUTE event_id')


def downgrade(schema: str) -> None:
    op.execute(f'ALTER TYPE "{schema}".snapshot_row ADD ATTRIBUTE event_id uuid')
