"""Async SQLAlchemy 2 + asyncpg: engine, sessions, and a unit of work around each transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def make_engine(url: str, *, pool_size: int = 5, application_name: str = "practice-sync") -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # A statement's error would otherwise carry its parameters (tokens, keys, personal data)
        # into every log line and error message that prints it.
        hide_parameters=True,
        # asyncpg prepares every statement and Postgres switches a prepared statement to a generic
        # plan after five runs. A sync's tables grow from empty, so that plan was made for an empty
        # table (a seq scan) and each page then cost more than the last (bench/clio_sync.py).
        connect_args={
            "server_settings": {"application_name": application_name, "plan_cache_mode": "force_custom_plan"}
        },
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends, rolled back when it raises."""
    async with sessions() as session, session.begin():
        yield session


@asynccontextmanager
async def one_connection(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """`sessions` whose units of work all run on one connection, checked out once for the block.

    For a loop that commits often (a crawl commits every page): a connection taken from the pool for
    each transaction costs the pool's ping, a round trip, every time. A connection that breaks fails
    the block's next unit of work, as the work would have failed on it anyway.
    """
    engine = sessions.kw["bind"]
    async with engine.connect() as conn:
        yield async_sessionmaker(class_=sessions.class_, **{**sessions.kw, "bind": conn})


@asynccontextmanager
async def driver_connection(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[asyncpg.Connection]:
    """The driver's own connection (asyncpg) under `sessions`: the one `one_connection` holds, or
    one checked out of the engine's pool for the block.

    For the few statements whose cost per call matters more than the session's conveniences (a
    crawl's page and its checkpoint, `SyncRunRepository.checkpoint_with`). Use it between units of
    work, never inside one: a statement on it runs outside any transaction the session has open.
    Nothing of the session's (its transaction, its `hide_parameters`) applies to it; asyncpg's
    errors name no parameter values.
    """
    bind = sessions.kw["bind"]
    if isinstance(bind, AsyncConnection):  # held for the block by one_connection: share it
        yield (await bind.get_raw_connection()).driver_connection
        return
    async with bind.connect() as conn:
        yield (await conn.get_raw_connection()).driver_connection


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


# SQLSTATE classes that mean the statement's values, not the statement, were refused: 22 "data
# exception" (a NUL character, text that is not the date it claims to be) and 54 "program limit
# exceeded" (an index entry too large).
_REFUSED_VALUE_CLASSES = ("22", "54")


def refused_by_postgres(driver_error: BaseException | None) -> bool:
    """Whether an asyncpg error says a value was refused: by Postgres (the classes above), or by the
    driver while encoding it for its size (an integer past 64 bits, a date past the range once in
    UTC). Any other encoding failure (a wrong Python type), and any error not the driver's, is the
    caller's bug, not the value's. Bare asyncpg callers pass their error; `app_factory.refused_value`
    unwraps SQLAlchemy's first."""
    if driver_error is None or not hasattr(driver_error, "sqlstate"):
        return False
    if driver_error.__cause__ is not None:  # raised while encoding a parameter
        return isinstance(driver_error.__cause__, OverflowError)
    return str(getattr(driver_error, "sqlstate", "") or "").startswith(_REFUSED_VALUE_CLASSES)
