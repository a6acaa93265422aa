"""Async SQLAlchemy 2 + asyncpg: engine, sessions, and a unit of work around each transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


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


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
