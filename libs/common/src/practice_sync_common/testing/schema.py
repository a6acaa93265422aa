"""For each service's `test_migrations.py`: the schema its migrations build, and the one its code
declares, in a form two schemas compare by (what they hold, not their names)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection, MetaData, inspect, text

from practice_sync_common.migrations import alembic_config

Shape = dict[str, Any]


def schema_shape(conn: Connection, schema: str) -> Shape:
    """Every table of `schema` as Postgres reports it: columns (type, nullability, default),
    primary key, indexes, unique, foreign-key and check constraints. The schema's name is
    replaced by a placeholder."""
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


def migrate(conn: Connection, versions: Path, schema: str, revision: str = "head") -> None:
    """The service's migrations, run into `schema` up to `revision`."""
    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    cfg = alembic_config(versions, schema)
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, revision)


def declare(conn: Connection, metadata: MetaData, schema: str) -> None:
    """`metadata`'s tables made directly in `schema` (no migrations): what the code reads and writes."""
    conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    copy = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(copy, schema=schema)
    copy.create_all(conn)


async def migrated_and_declared(database_url: str, versions: Path, metadata: MetaData) -> tuple[Shape, Shape]:
    """(the schema a fresh database migrated to head has, the one `metadata` declares), each built
    in a new schema of its own that is dropped afterwards. A test asserts they are equal: a
    definition changed without its migration (or a migration without its definition) fails it."""
    from sqlalchemy.ext.asyncio import create_async_engine

    fresh, declared = (f"t_mig_{uuid.uuid4().hex[:8]}" for _ in range(2))
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(migrate, versions, fresh)
            at_head = await conn.run_sync(schema_shape, fresh)
            await conn.run_sync(declare, metadata, declared)
            want = await conn.run_sync(schema_shape, declared)
            for schema in (fresh, declared):
                await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await engine.dispose()
    return at_head, want
