"""Per-patient totals: the history boundary of orgs counted per patient, and the patients' bases.

Revision ID: 0003
"""

from alembic import op
from sqlalchemy import Column, DateTime, Integer, String

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.create_table(
        "history_scope",
        Column("org_id", String(128), primary_key=True),
        Column("boundary", DateTime(timezone=True), nullable=False),
        schema=schema,
    )
    op.create_table(
        "patient_bases",
        Column("org_id", String(128), primary_key=True),
        Column("patient_id", String(32), primary_key=True),
        Column("before_count", Integer, nullable=False),
        schema=schema,
    )


def downgrade(schema: str) -> None:
    op.drop_table("patient_bases", schema=schema)
    op.drop_table("history_scope", schema=schema)
