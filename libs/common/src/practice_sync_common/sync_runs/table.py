"""The `sync_runs` table: one per connector service, in that service's own schema."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID

STATUSES = ("queued", "running", "succeeded", "failed")


def _columns() -> list[Any]:
    return [
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
    ]


def sync_runs_table(metadata: MetaData, schema: str) -> Table:
    return Table(
        "sync_runs",
        metadata,
        *_columns(),
        Index("ix_sync_runs_org_requested", "org_id", "requested_at"),
        Index("ix_sync_runs_status", "status"),
        schema=schema,
    )
