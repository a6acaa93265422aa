"""The migrations build the schema the code declares (repository.tables), and each revision builds
what it built when it was written, so a database at any revision reaches the same head."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, MetaData, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from practice_sync_clio_gateway.main import VERSIONS
from practice_sync_clio_gateway.repository import tables
from practice_sync_common.migrations import alembic_config

Shape = dict[str, Any]


def _shape(conn: Connection, schema: str) -> Shape:
    """Every table of `schema` as Postgres reports it: columns (type, nullability, default),
    primary key, indexes, unique, foreign-key and check constraints. The schema's name is
    replaced by a placeholder, so two schemas compare by what they hold."""
    insp = inspect(conn)
    shape: Shape = {}
    for name in insp.get_table_names(schema=schema):
        if name == "alembic_version":
            continue
        pk = insp.get_pk_constraint(name, schema=schema)
        shape[name] = {
            "columns": {
                # Compiled for Postgres: str() of a type drops e.g. WITH TIME ZONE.
                c["name"]: [
                    c["type"].compile(dialect=conn.dialect),
                    c["nullable"],
                    c.get("default"),
                    c.get("autoincrement"),
                ]
                for c in insp.get_columns(name, schema=schema)
            },
            "primary_key": [pk["name"], pk["constrained_columns"]],
            "indexes": sorted(
                [i["name"], i["column_names"], i["unique"]] for i in insp.get_indexes(name, schema=schema)
            ),
            "unique": sorted(
                [u["name"], u["column_names"]] for u in insp.get_unique_constraints(name, schema=schema)
            ),
            "foreign_keys": sorted(
                [f["name"], f["constrained_columns"], f["referred_table"], f["referred_columns"]]
                for f in insp.get_foreign_keys(name, schema=schema)
            ),
            "checks": sorted(
                [c["name"], c["sqltext"]] for c in insp.get_check_constraints(name, schema=schema)
            ),
        }
    normalized: Shape = json.loads(json.dumps(shape, default=str).replace(schema, "<schema>"))
    return normalized


def _migrate(conn: Connection, schema: str, revision: str) -> None:
    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    cfg = alembic_config(VERSIONS, schema)
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def _declare(conn: Connection, schema: str) -> None:
    """The schema as repository.tables declares it today, made directly (no migrations)."""
    conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    copy = MetaData()
    for table in tables.metadata.tables.values():
        table.to_metadata(copy, schema=schema)
    copy.create_all(conn)


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


async def test_a_fresh_database_migrated_to_head_has_exactly_the_declared_schema(
    engine: AsyncEngine, schemas: Callable[[], str]
) -> None:
    """What the code reads and writes (repository.tables) is what the migrations make: the same
    tables, columns, types, defaults, keys, indexes and constraints, nothing more. On the way,
    revision 0002 makes what it made when written (today's tables less the tombstone column 0003
    adds): it used to copy repository.tables as they are now, so a fresh database stopped at 0002
    already had `contact_versions.deleted_at`, and 0003 could add it only with IF NOT EXISTS."""
    fresh, declared = schemas(), schemas()
    async with engine.begin() as conn:
        await conn.run_sync(_declare, declared)
        want = await conn.run_sync(_shape, declared)
        await conn.run_sync(_migrate, fresh, "0002")
        at_0002 = await conn.run_sync(_shape, fresh)
        await conn.run_sync(_migrate, fresh, "head")
        at_head = await conn.run_sync(_shape, fresh)
    as_written = json.loads(json.dumps(want))
    del as_written["contact_versions"]["columns"]["deleted_at"]
    assert at_0002 == as_written
    assert at_head == want
