"""For each service's `test_migrations.py`: the schema its migrations build, and the one its code
declares, in a form two schemas compare by (what they hold, not their names).

`assert_migrations_make_declared` is the check itself: a definition changed without its migration
(or a migration without its definition) fails it, naming what differs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection, MetaData, inspect, text

from practice_sync_common.migrations import alembic_config
from practice_sync_common.testing.databases import create_database, drop_database

Shape = dict[str, Any]


def schema_shape(conn: Connection, schema: str) -> Shape:
    """Every table of `schema` as Postgres reports it: columns (type, nullability, default, identity),
    primary key, indexes, unique, foreign-key and check constraints. The schema's name is
    replaced by a placeholder."""
    insp = inspect(conn)
    shape: Shape = {}
    for name in insp.get_table_names(schema=schema):
        if name == "alembic_version":
            continue
        pk = insp.get_pk_constraint(name, schema=schema)
        columns = insp.get_columns(name, schema=schema)
        shape[name] = {
            "columns": {
                # Compiled for Postgres: str() of a type drops e.g. WITH TIME ZONE.
                c["name"]: [
                    c["type"].compile(dialect=conn.dialect),
                    c["nullable"],
                    c.get("default"),
                    c.get("autoincrement"),
                    c.get("identity"),
                    c.get("computed"),
                ]
                for c in columns
            },
            # In order: a table's row type lists its columns so, and code may rely on it
            # (cliniko-sync's mirror writes arrays of it).
            "column_order": [c["name"] for c in columns],
            "primary_key": [pk["name"], pk["constrained_columns"]],
            "indexes": sorted(
                [i["name"], i["column_names"], i["unique"]] for i in insp.get_indexes(name, schema=schema)
            ),
            "unique": sorted(
                [u["name"], u["column_names"]] for u in insp.get_unique_constraints(name, schema=schema)
            ),
            "foreign_keys": sorted(
                [
                    f["name"],
                    f["constrained_columns"],
                    f["referred_schema"],
                    f["referred_table"],
                    f["referred_columns"],
                    sorted(f.get("options", {}).items()),
                ]
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
    """(the schema a fresh database migrated to head has, the one `metadata` declares).

    Both are built in a database of their own, dropped afterwards: a migration may also make objects
    outside the service's schema (the projector's read models in `public`), which would collide
    with the ones the session's database already has."""
    from sqlalchemy.ext.asyncio import create_async_engine

    fresh, declared = (f"t_mig_{uuid.uuid4().hex[:8]}" for _ in range(2))
    url = await create_database(database_url, "mig")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(migrate, versions, fresh)
            at_head = await conn.run_sync(schema_shape, fresh)
            await conn.run_sync(declare, metadata, declared)
            want = await conn.run_sync(schema_shape, declared)
    finally:
        await engine.dispose()
        await drop_database(database_url, url)
    return at_head, want


def shape_differences(at_head: Shape, declared: Shape) -> list[str]:
    """What differs between two shapes, one line per table, column or table part."""
    out: list[str] = []
    for table in sorted(at_head.keys() | declared.keys()):
        if table not in declared:
            out.append(f"{table}: made by the migrations, not declared")
            continue
        if table not in at_head:
            out.append(f"{table}: declared, not made by the migrations")
            continue
        for part, want in declared[table].items():
            got = at_head[table][part]
            if got == want:
                continue
            if isinstance(want, dict):
                for key in sorted(got.keys() | want.keys()):
                    made, meant = got.get(key), want.get(key)
                    if made != meant:
                        out.append(f"{table}.{part}.{key}: migrations {made}, declared {meant}")
            else:
                out.append(f"{table}.{part}: migrations {got}, declared {want}")
    return out


async def assert_migrations_make_declared(
    database_url: str, versions: Path, metadata: MetaData, *, undeclared: tuple[str, ...] = ()
) -> None:
    """A fresh database migrated to head has exactly the tables, columns (type, nullability,
    default), keys, indexes and constraints `metadata` declares, nothing more.

    `undeclared` names the tables the migrations make that the code reaches only through raw SQL
    (no SQLAlchemy definition to drift from): they must exist, and are left out of the comparison."""
    at_head, declared = await migrated_and_declared(database_url, versions, metadata)
    missing = [name for name in undeclared if name not in at_head]
    assert not missing, f"not made by the migrations: {missing}"
    for name in undeclared:
        del at_head[name]
    differences = shape_differences(at_head, declared)
    assert not differences, "\n".join(["migrations at head and declared tables differ:", *differences])
