"""The migrations build exactly the schema the code declares (repository.tables)."""

from __future__ import annotations

from practice_sync_cliniko_sync.main import VERSIONS
from practice_sync_cliniko_sync.repository import tables
from practice_sync_common.testing.schema import assert_migrations_make_declared


async def test_a_fresh_database_migrated_to_head_has_exactly_the_declared_schema(database_url: str) -> None:
    await assert_migrations_make_declared(database_url, VERSIONS, tables.metadata)
