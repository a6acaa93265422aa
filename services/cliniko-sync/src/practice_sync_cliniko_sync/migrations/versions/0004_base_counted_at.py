"""When each patient's base was counted, so a new booking after it does not ask again.

Revision ID: 0004
"""

from alembic import op
from sqlalchemy import Column, DateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    # Nullable: bases counted before this column existed are "time unknown", asked again as before.
    column = Column("counted_at", DateTime(timezone=True), nullable=True)
    op.add_column("patient_bases", column, schema=schema)


def downgrade(schema: str) -> None:
    op.drop_column("patient_bases", "counted_at", schema=schema)
