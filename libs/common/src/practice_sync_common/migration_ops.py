"""Schema steps that several services' migrations share, each frozen as written.

A migration must make, forever, what it made when it was released: a database migrated long ago and
a fresh one reach the same head only if no old revision's outcome moves. So a step here is never
edited once a migration calls it. A changed definition (in `idempotency.processed_events_table`,
`sync_runs.sync_runs_table`) gets a new step, `_v2` and so on, and a new migration in every service
that has the table; `tests/test_migrations.py` of each service checks head against the definitions.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID


def create_processed_events_v1(schema: str) -> None:
    """The processed-event ledger as every consuming service's first migration made it."""
    from alembic import op

    op.create_table(
        "processed_events",
        Column("consumer", String(100), primary_key=True),
        Column("event_id", PgUUID(as_uuid=True), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        schema=schema,
    )


def index_processed_events_v2(schema: str) -> None:
    """v2: claims by age. The retention prune deletes `processed_at < cut`: without this it read the
    whole ledger (millions of claims on a busy consumer) each round."""
    from alembic import op

    op.create_index("ix_processed_events_processed_at", "processed_events", ["processed_at"], schema=schema)


def unindex_processed_events_v2(schema: str) -> None:
    from alembic import op

    op.drop_index("ix_processed_events_processed_at", "processed_events", schema=schema)


def create_sync_runs_v1(schema: str) -> None:
    """A connector's sync-run table as its migration made it."""
    from alembic import op

    op.create_table(
        "sync_runs",
        Column("run_id", PgUUID(as_uuid=True), primary_key=True),
        Column("org_id", String(128), nullable=False),
        Column("provider", String(32), nullable=False),
        Column("mode", String(32), nullable=False),
        Column("reason", String(64), nullable=False, server_default="manual"),
        Column("status", String(16), nullable=False, server_default="queued"),
        Column("attempt", Integer, nullable=False, server_default="0"),
        Column("progress", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("counts", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("checkpoint", JSONB, nullable=True),
        Column("error", Text, nullable=True),
        Column("requested_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("started_at", DateTime(timezone=True), nullable=True),
        Column("heartbeat_at", DateTime(timezone=True), nullable=True),
        Column("finished_at", DateTime(timezone=True), nullable=True),
        Column("next_retry_at", DateTime(timezone=True), nullable=True),
        schema=schema,
    )
    op.create_index("ix_sync_runs_org_requested", "sync_runs", ["org_id", "requested_at"], schema=schema)
    op.create_index("ix_sync_runs_status", "sync_runs", ["status"], schema=schema)


def drop_sync_runs_v1(schema: str) -> None:
    from alembic import op

    op.drop_table("sync_runs", schema=schema)
