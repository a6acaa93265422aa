"""Idempotent consumers: an event id is recorded in the same transaction as its effects.

If the transaction commits, the id is there and a redelivery is skipped; if it rolls back, neither the
effects nor the id remain, so the retry does the work once. Claims older than the retention
(`CLAIMS_RETENTION_H`, a week by default: longer than a redelivery can come, which is bounded by
the topic's retention) are pruned by `ClaimsPruner`, which every consuming service runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import Column, DateTime, Index, MetaData, String, Table, func, text
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from practice_sync_common.logging import get_logger
from practice_sync_common.periodic import Periodic

log = get_logger(__name__)


def processed_events_table(metadata: MetaData, schema: str) -> Table:
    return Table(
        "processed_events",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", PgUUID(as_uuid=True), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        # The retention prune selects by age (`prune_claims`).
        Index("ix_processed_events_processed_at", "processed_at"),
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


async def prune_claims(session: AsyncSession, table: Table, older_than: datetime, limit: int = 10_000) -> int:
    """Delete at most `limit` claims made before `older_than`; returns how many went."""
    name = table.fullname
    result = await session.execute(
        text(
            f"DELETE FROM {name} WHERE ctid IN "  # noqa: S608 - a table's own name
            f"(SELECT ctid FROM {name} WHERE processed_at < :cut LIMIT :limit)"
        ),
        {"cut": older_than, "limit": limit},
    )
    return int(getattr(result, "rowcount", 0) or 0)


class ClaimsPruner:
    """Prunes a consumer's claims past the retention, now and then, in bounded transactions."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        retention: timedelta,
        interval_s: float,
        limit: int = 10_000,
    ) -> None:
        self.sessions, self.table, self.retention = sessions, table, retention
        self.interval_s, self.limit = interval_s, limit
        self._periodic = Periodic(f"claims prune of {table.fullname}", self._round, interval_s)

    async def prune_once(self) -> int:
        cut = datetime.now(UTC) - self.retention
        total = 0
        while True:
            async with self.sessions() as session, session.begin():
                gone = await prune_claims(session, self.table, cut, self.limit)
            total += gone
            if gone < self.limit:
                return total

    async def start(self) -> None:
        await self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def _round(self) -> None:
        gone = await self.prune_once()
        if gone:
            log.info("old claims pruned", table=self.table.fullname, rows=gone)
