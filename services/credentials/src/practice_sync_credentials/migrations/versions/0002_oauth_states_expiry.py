"""OAuth states: an index on expiry, for the background prune of abandoned flows.

Revision ID: 0002
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.create_index("oauth_states_expires_at", "oauth_states", ["expires_at"], schema=schema)


def downgrade(schema: str) -> None:
    op.drop_index("oauth_states_expires_at", table_name="oauth_states", schema=schema)
