"""The `cliniko` schema: a per-org mirror of what the active-patient rules need, and sync state.

Keeping every appointment's counting flag (not the whole record) lets a run recompute totals and
the moving window from `updated_at` deltas alone, instead of re-crawling the history.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, MetaData, String, Table

from practice_sync_common.idempotency import processed_events_table
from practice_sync_common.sync_runs import sync_runs_table

SCHEMA = "cliniko"
metadata = MetaData()
ID = String(32)

sync_runs = sync_runs_table(metadata, SCHEMA)
processed_events = processed_events_table(metadata, SCHEMA)


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


individual_appointments = Table(
    "individual_appointments",
    metadata,
    Column("org_id", String(128), primary_key=True),
    Column("id", ID, primary_key=True),
    Column("patient_id", ID, nullable=False),
    *_appointment_columns(),
    # The window's visits by start, and a patient's all-time total.
    Index("ix_ind_org_starts", "org_id", "starts_at"),
    Index("ix_ind_org_patient", "org_id", "patient_id"),
    schema=SCHEMA,
)
group_appointments = Table(
    "group_appointments",
    metadata,
    Column("org_id", String(128), primary_key=True),
    Column("id", ID, primary_key=True),
    *_appointment_columns(),
    Index("ix_grp_org_starts", "org_id", "starts_at"),
    schema=SCHEMA,
)
attendees = Table(
    "attendees",
    metadata,
    Column("org_id", String(128), primary_key=True),
    Column("id", ID, primary_key=True),
    Column("group_id", ID, nullable=False),
    Column("patient_id", ID, nullable=False),
    Column("counts", Boolean, nullable=False),
    Column("updated_at", String(40), nullable=False),
    Index("ix_att_org_group", "org_id", "group_id"),
    Index("ix_att_org_patient", "org_id", "patient_id"),
    schema=SCHEMA,
)
patients = Table(
    "patients",
    metadata,
    Column("org_id", String(128), primary_key=True),
    Column("id", ID, primary_key=True),
    Column("first_name", String(255)),
    Column("last_name", String(255)),
    Column("email", String(320)),
    Column("phone", String(64)),
    Column("archived", Boolean, nullable=False),
    Column("updated_at", String(40), nullable=False),
    schema=SCHEMA,
)
# High-water marks per org and resource: the largest `updated_at` seen (Cliniko's own clock).
sync_state = Table(
    "sync_state",
    metadata,
    Column("org_id", String(128), primary_key=True),
    Column("resource", String(64), primary_key=True),
    Column("high_water", String(40), nullable=False),
    schema=SCHEMA,
)
# Orgs whose first run counted totals per patient instead of crawling the whole history: the mirror
# holds individual appointments from `boundary` on (plus any older ones deltas brought), and each
# patient's countable individual appointments before `boundary` are a base asked from Cliniko.
history_scope = Table(
    "history_scope",
    metadata,
    Column("org_id", String(128), primary_key=True),
    Column("boundary", DateTime(timezone=True), nullable=False),
    schema=SCHEMA,
)
# A patient's countable individual appointments starting before the org's boundary (Cliniko's
# `total_entries`). Dropped when a delta may have changed that number; asked again when needed.
patient_bases = Table(
    "patient_bases",
    metadata,
    Column("org_id", String(128), primary_key=True),
    Column("patient_id", ID, primary_key=True),
    Column("before_count", Integer, nullable=False),
    # On Cliniko's clock, no earlier than the count was made (null: stored before it was kept). An
    # appointment created after it cannot be in the count, so a new booking need not ask again.
    Column("counted_at", DateTime(timezone=True), nullable=True),
    schema=SCHEMA,
)
MIRROR = (
    individual_appointments,
    group_appointments,
    attendees,
    patients,
    sync_state,
    history_scope,
    patient_bases,
)
