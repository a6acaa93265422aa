"""Row types for the snapshot path's array parameters: one array of rows instead of a dozen arrays.

The driver checks every element of an array parameter against `collections.abc` before encoding
it; with one array per column that was about 24 checks a row and the projector's largest cost. An
array of composite values is checked once a row and its fields encoded straight.

Revision ID: 0004
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    op.execute(
        f"""
        CREATE TYPE "{schema}".snapshot_row AS (
            cliniko_patient_id text, contact_id uuid, link_method text, run_id uuid,
            recent_appointment_count integer, upcoming_appointment_count integer,
            total_appointment_count integer, last_appointment_date timestamptz,
            recent_appointments text, upcoming_appointments text,
            search_date_from date, search_date_to date, event_id uuid)
        """
    )
    op.execute(
        f"""
        CREATE TYPE "{schema}".new_contact AS (
            id uuid, first_name text, last_name text, name text, normalized_name text,
            email text, phone text, cliniko_patient_id text)
        """
    )


def downgrade(schema: str) -> None:
    op.execute(f'DROP TYPE "{schema}".new_contact')
    op.execute(f'DROP TYPE "{schema}".snapshot_row')
