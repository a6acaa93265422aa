"""Attendee rows of individual appointments out of the mirror.

Cliniko's /attendees lists each individual appointment's one attendee as well as class places
(spec §6), and earlier versions stored every attendee they read. Only class attendees are used
(joined to classes), and each run now keeps only those; the rest would be counted twice on the
attendees' high-water mark (`mirror.attendees_at`), so they go. Attendees whose appointment the
mirror does not have stay: they join nothing and are counted once; runs prune them when the
appointment arrives.

Revision ID: 0004
"""

from alembic import op
from sqlalchemy import column, delete, exists, table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    a = table("attendees", column("org_id"), column("group_id"), schema=schema)
    i = table("individual_appointments", column("org_id"), column("id"), schema=schema)
    op.execute(delete(a).where(exists().where(i.c.org_id == a.c.org_id, i.c.id == a.c.group_id)))


def downgrade(schema: str) -> None:
    """Nothing to restore: an older version stores them again as it reads them; it never needed them."""
