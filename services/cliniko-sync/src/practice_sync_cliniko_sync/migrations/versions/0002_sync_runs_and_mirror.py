"""Sync runs, the per-org appointment mirror and high-water marks.

Revision ID: 0002
"""

from alembic import op
from sqlalchemy import Boolean, Column, DateTime, String

from practice_sync_common.migration_ops import create_sync_runs_v1, drop_sync_runs_v1

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = String(32)


def _appointment_columns() -> list[Column[object]]:
    return [
        Column("starts_at", DateTime(timezone=True), nullable=False),
        Column("ends_at", DateTime(timezone=True)),
        Column("practitioner_id", ID),
        Column("appointment_type_id", ID),
        Column("business_id", ID),
        Column("counts", Boolean, nullable=False),
        Column("updated_at", String(40), nullable=False),
    ]


def upgrade(schema: str) -> None:
    create_sync_runs_v1(schema)
    op.create_table(
        "individual_appointments",
        Column("org_id", String(128), primary_key=True),
        Column("id", ID, primary_key=True),
        Column("patient_id", ID, nullable=False),
        *_appointment_columns(),
        schema=schema,
    )
    op.create_index("ix_ind_org_starts", "individual_appointments", ["org_id", "starts_at"], schema=schema)
    op.create_index("ix_ind_org_patient", "individual_appointments", ["org_id", "patient_id"], schema=schema)
    op.create_table(
        "group_appointments",
        Column("org_id", String(128), primary_key=True),
        Column("id", ID, primary_key=True),
        *_appointment_columns(),
        schema=schema,
    )
    op.create_index("ix_grp_org_starts", "group_appointments", ["org_id", "starts_at"], schema=schema)
    op.create_table(
        "attendees",
        Column("org_id", String(128), primary_key=True),
        Column("id", ID, primary_key=True),
        Column("group_id", ID, nullable=False),
        Column("patient_id", ID, nullable=False),
        Column("counts", Boolean, nullable=False),
        Column("updated_at", String(40), nullable=False),
        schema=schema,
    )
    op.create_index("ix_att_org_group", "attendees", ["org_id", "group_id"], schema=schema)
    op.create_index("ix_att_org_patient", "attendees", ["org_id", "patient_id"], schema=schema)
    op.create_table(
        "patients",
        Column("org_id", String(128), primary_key=True),
        Column("id", ID, primary_key=True),
        Column("first_name", String(255)),
        Column("last_name", String(255)),
        Column("email", String(320)),
        Column("phone", String(64)),
        Column("archived", Boolean, nullable=False),
        Column("updated_at", String(40), nullable=False),
        schema=schema,
    )
    op.create_table(
        "sync_state",
        Column("org_id", String(128), primary_key=True),
        Column("resource", String(64), primary_key=True),
        Column("high_water", String(40), nullable=False),
        schema=schema,
    )


def downgrade(schema: str) -> None:
    for name in ("sync_state", "patients", "attendees", "group_appointments", "individual_appointments"):
        op.drop_table(name, schema=schema)
    drop_sync_runs_v1(schema)
