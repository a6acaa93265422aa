"""The migrations build exactly what the code declares in the projector's schema: the processed-event
ledger. `snapshot_runs` and the read models in `public` (contacts, active_patients) are reached
through raw SQL only, so their migration is their one definition."""

from __future__ import annotations

from practice_sync_common.testing.schema import assert_migrations_make_declared
from practice_sync_projector.main import VERSIONS
from practice_sync_projector.repository import tables


async def test_a_fresh_database_migrated_to_head_has_exactly_the_declared_schema(database_url: str) -> None:
    undeclared = ("snapshot_runs",)
    await assert_migrations_make_declared(database_url, VERSIONS, tables.metadata, undeclared=undeclared)
