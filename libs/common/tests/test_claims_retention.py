"""Claims past the retention are pruned in bounded batches; recent ones, which a redelivery may
still need, stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import MetaData, func, insert, select, text

from practice_sync_common.db import make_engine, make_sessionmaker
from practice_sync_common.idempotency import ClaimsPruner, processed_events_table

SCHEMA = "claims_test"


async def test_old_claims_go_recent_ones_stay(database_url: str) -> None:
    engine = make_engine(database_url)
    table = processed_events_table(MetaData(), SCHEMA)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
            await conn.run_sync(table.metadata.create_all)
            consumer = f"c-{uuid.uuid4().hex[:8]}"
            now = datetime.now(UTC)
            rows = [
                {"consumer": consumer, "event_id": uuid.uuid4(), "processed_at": now - timedelta(days=d)}
                for d in (30, 20, 9, 8, 8, 6, 1, 0)
            ]
            await conn.execute(insert(table), rows)
        pruner = ClaimsPruner(make_sessionmaker(engine), table, timedelta(days=7), 3600, limit=2)
        # Other tests' rows may share the table; count only this consumer's.
        await pruner.prune_once()
        async with engine.connect() as conn:
            left = await conn.scalar(select(func.count()).where(table.c.consumer == consumer))
            newest = await conn.scalar(
                select(func.min(table.c.processed_at)).where(table.c.consumer == consumer)
            )
        assert left == 3  # 6 days, 1 day and today; the five older ones went, two at a time
        assert newest is not None and newest > now - timedelta(days=7)
    finally:
        await engine.dispose()
