"""A database of its own on the session's Postgres, for tests that need an empty or isolated one."""

from __future__ import annotations

import uuid

from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine


async def create_database(server_url: str, prefix: str = "test") -> str:
    """Create a uniquely named database on `server_url`'s server; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await _on_server(server_url, f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, database_url: str) -> None:
    """Drop a database `create_database` made (its sessions ended first)."""
    name = make_url(database_url).database or ""
    await _on_server(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _on_server(server_url: str, statement: str) -> None:
    # Outside a transaction: CREATE/DROP DATABASE cannot run inside one.
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()
