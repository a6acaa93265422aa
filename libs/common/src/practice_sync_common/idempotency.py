"""Idempotent consumers: an event id is recorded in the same transaction as its effects.

If the transaction commits, the id is there and a redelivery is skipped; if it rolls back, neither the
effects nor the id remain, so the retry does the work once.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import Column, DateTime, MetaData, String, Table, func, text
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession


def processed_events_table(metadata: MetaData, schema: str) -> Table:
    return Table(
        "processed_events",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", PgUUID(as_uuid=True), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        schema=schema,
    )


async def claim_event(session: AsyncSession, table: Table, consumer: str, event_id: UUID) -> bool:
    """True the first time this consumer sees the event (inside the caller's transaction)."""
    stmt = (
        insert(table)
        .values(consumer=consumer, event_id=event_id)
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    )
    result = await session.execute(stmt)
    return result.first() is not None


async def claim_events(
    session: AsyncSession, table: Table, consumer: str, event_ids: list[UUID]
) -> set[UUID]:
    """The ids of `event_ids` this consumer sees for the first time, claimed in one statement.

    Over an array parameter, so the statement is the same (prepared once) whatever the batch size.
    """
    if not event_ids:
        return set()
    stmt = text(
        f"INSERT INTO {table.fullname} (consumer, event_id) "  # noqa: S608 - a table's own name
        "SELECT :consumer, e FROM unnest(CAST(:ids AS uuid[])) AS e "
        "ON CONFLICT DO NOTHING RETURNING event_id"
    )
    result = await session.execute(stmt, {"consumer": consumer, "ids": list(dict.fromkeys(event_ids))})
    return {row[0] for row in result.all()}


def create_processed_events(schema: str) -> None:
    """For a consumer service's first migration (called inside Alembic's `upgrade`)."""
    from alembic import op

    op.create_table(
        "processed_events",
        Column("consumer", String(100), primary_key=True),
        Column("event_id", PgUUID(as_uuid=True), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        schema=schema,
    )
