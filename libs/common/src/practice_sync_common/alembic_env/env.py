"""Shared Alembic environment: the version table lives in the migrating service's own schema."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

config = context.config
schema: str = config.attributes["schema"]


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        version_table="alembic_version",
        version_table_schema=schema,
        include_schemas=True,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations(schema=schema)


connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through practice_sync_common.migrations.upgrade_to_head")
run(connection)
