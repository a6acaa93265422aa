"""The migrations build exactly what the shared definitions declare: the processed-event ledger
(kept for a consumer the service may grow; it has none today)."""

from __future__ import annotations

from sqlalchemy import MetaData

from practice_sync_common.idempotency import processed_events_table
from practice_sync_common.testing.schema import migrated_and_declared
from practice_sync_webhook_ingest.main import VERSIONS


async def test_a_fresh_database_migrated_to_head_has_exactly_the_declared_schema(database_url: str) -> None:
    metadata = MetaData()
    processed_events_table(metadata, "webhook_ingest")
    at_head, declared = await migrated_and_declared(database_url, VERSIONS, metadata)
    assert at_head == declared
