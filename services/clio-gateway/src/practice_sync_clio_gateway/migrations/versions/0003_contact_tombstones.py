"""Contact tombstones: a deleted contact's version row is kept, marked `deleted_at`.

Revision ID: 0003
"""

from alembic import op
from sqlalchemy import Column, DateTime, column, delete, table

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    # 0002 once copied repository.tables as they were at the time it ran, so a database brought
    # to exactly 0002 by that code after this revision was written has the column already.
    op.add_column(
        "contact_versions",
        Column("deleted_at", DateTime(timezone=True), nullable=True),
        schema=schema,
        if_not_exists=True,
    )


def downgrade(schema: str) -> None:
    # Tombstones go with the column: forgotten, as before this revision.
    versions = table("contact_versions", column("deleted_at"), schema=schema)
    op.execute(delete(versions).where(versions.c.deleted_at.is_not(None)))
    op.drop_column("contact_versions", "deleted_at", schema=schema)
