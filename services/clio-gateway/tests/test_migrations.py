"""The migrations build the schema the code declares (repository.tables), and each revision builds
what it built when it was written, so a database at any revision reaches the same head."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from practice_sync_clio_gateway.main import VERSIONS
from practice_sync_clio_gateway.repository import tables
from practice_sync_common.testing.schema import (
    assert_migrations_make_declared,
    declare,
    migrate,
    schema_shape,
)


def _migrate(conn: Connection, schema: str, revision: str) -> None:
    migrate(conn, VERSIONS, schema, revision)


def _declare(conn: Connection, schema: str) -> None:
    declare(conn, tables.metadata, schema)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def schemas(engine: AsyncEngine) -> AsyncIterator[Callable[[], str]]:
    """Fresh schema names, dropped afterwards."""
    made: list[str] = []

    def new() -> str:
        made.append(f"t_clio_mig_{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield new
    async with engine.begin() as conn:
        for schema in made:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


async def test_a_fresh_database_migrated_to_head_has_exactly_the_declared_schema(database_url: str) -> None:
    """What the code reads and writes (repository.tables) is what the migrations make: the same
    tables, columns, types, defaults, keys, indexes and constraints, nothing more."""
    await assert_migrations_make_declared(database_url, VERSIONS, tables.metadata)


async def test_revision_0002_makes_what_it_made_when_written(
    engine: AsyncEngine, schemas: Callable[[], str]
) -> None:
    """Today's tables less the tombstone column 0003 adds and the claims' index 0004 adds: 0002 used
    to copy repository.tables as they are now, so a fresh database stopped at 0002 already had
    `contact_versions.deleted_at`, and 0003 could add it only with IF NOT EXISTS."""
    fresh, declared = schemas(), schemas()
    async with engine.begin() as conn:
        await conn.run_sync(_declare, declared)
        want = await conn.run_sync(schema_shape, declared)
        await conn.run_sync(_migrate, fresh, "0002")
        at_0002 = await conn.run_sync(schema_shape, fresh)
    as_written = json.loads(json.dumps(want))
    del as_written["contact_versions"]["columns"]["deleted_at"]
    as_written["contact_versions"]["column_order"].remove("deleted_at")
    as_written["processed_events"]["indexes"] = []  # 0004 indexes the claims by age
    assert at_0002 == as_written
