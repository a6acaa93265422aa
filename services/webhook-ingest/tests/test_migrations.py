"""The migrations build exactly what the shared definitions declare: the processed-event ledger
(kept for a consumer the service may grow; it has none today)."""

from __future__ import annotations

from sqlalchemy import MetaData

from practice_sync_common.idempotency import processed_events_table
from practice_sync_common.testing.schema import assert_migrations_make_declared
from practice_sync_webhook_ingest.main import SCHEMA, VERSIONS


async def test_a_fresh_database_migrated_to_head_has_exactly_the_declared_schema(database_url: str) -> None:
    metadata = MetaData()
    processed_events_table(metadata, SCHEMA)
    await assert_migrations_make_declared(database_url, VERSIONS, metadata)
