"""Transactions that run behind the Row-Level Security wall of the read models.

Every read and write of `public.contacts` / `public.active_patients` goes through `org_scope`:
the transaction switches to the non-superuser role `practice_projector` (RLS applies to it, FORCED
on both tables) and sets `app.org_id`, which the tables' policy compares with `organization_id`.
Both are `SET LOCAL`, so they end with the transaction and never leak to the next pool user.
Queries still filter on organization_id themselves: the policy is the second wall, not the first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

ROLE = "practice_projector"
# Both consumers take this lock, one through a session and the snapshot path on bare asyncpg: they
# exclude each other only while the key is the same, so it is written once, for either placeholder.
_LOCK_ORG = "SELECT pg_advisory_xact_lock(hashtext('projector:org:' || {org}))"
_POINT_AT_ORG = "SELECT set_config('app.org_id', {org}, {local})"


async def enter_org(session: AsyncSession, org_id: str) -> None:
    """Point the current transaction at one org (may be called again to switch orgs)."""
    await session.execute(text(_POINT_AT_ORG.format(org=":org", local="true")), {"org": org_id})


async def lock_orgs(session: AsyncSession, org_ids: list[str]) -> None:
    """Serialise the two consumers' writes to one org's contacts (matching must see a stable set).

    Sorted, so two transactions taking several orgs' locks cannot deadlock.
    """
    for org in sorted(set(org_ids)):
        await session.execute(text(_LOCK_ORG.format(org=":org")), {"org": org})


async def lock_orgs_raw(conn: Any, org_ids: list[str]) -> None:
    """`lock_orgs` on a bare asyncpg connection (the snapshot path's writer)."""
    for org in sorted(set(org_ids)):
        await conn.execute(_LOCK_ORG.format(org="$1"), org)


async def enter_org_raw(conn: Any, org_id: str, *, local: bool = True) -> None:
    """`enter_org` on a bare asyncpg connection; `local=False` points a connection that runs
    statement by statement (no transaction) at the org until it is pointed again."""
    await conn.execute(_POINT_AT_ORG.format(org="$1", local="true" if local else "false"), org_id)


@asynccontextmanager
async def scoped_transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction as the RLS-bound role; call `enter_org` before touching a read model."""
    async with sessions() as session, session.begin():
        await session.execute(text(f"SET LOCAL ROLE {ROLE}"))
        yield session


@asynccontextmanager
async def org_scope(sessions: async_sessionmaker[AsyncSession], org_id: str) -> AsyncIterator[AsyncSession]:
    async with scoped_transaction(sessions) as session:
        await enter_org(session, org_id)
        yield session


@asynccontextmanager
async def raw_connection(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A pooled connection as the bare asyncpg connection (the pool's settings included)."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        yield raw.driver_connection
