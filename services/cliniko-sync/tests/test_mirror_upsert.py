"""A page of records written to the mirror: inserted or updated by id, all of it or nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from practice_sync_cliniko_sync.repository import mirror, tables
from practice_sync_common.testing.databases import create_database, drop_database

ORG = "clinic-a"
START = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[Any]]:
    url = await create_database(database_url, "mirror")
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE SCHEMA cliniko"))
            await conn.run_sync(tables.metadata.create_all)
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()
        await drop_database(database_url, url)


def _visit(ident: str, patient: str, counts: bool = True, org: str = ORG) -> dict[str, Any]:
    return {
        "org_id": org,
        "id": ident,
        "starts_at": START,
        "ends_at": None,
        "practitioner_id": "77",
        "appointment_type_id": None,
        "business_id": "5",
        "updated_at": "2026-03-01T08:00:00Z",
        "patient_id": patient,
        "counts": counts,
    }


async def _mirrored(sessions: async_sessionmaker[Any]) -> dict[tuple[str, str], tuple[str, bool]]:
    t = tables.individual_appointments
    async with sessions() as s:
        rows = await s.execute(select(t.c.org_id, t.c.id, t.c.patient_id, t.c.counts))
        return {(r.org_id, r.id): (r.patient_id, r.counts) for r in rows}


async def test_a_page_inserts_new_ids_and_updates_known_ones_per_org(
    sessions: async_sessionmaker[Any],
) -> None:
    table = tables.individual_appointments
    async with sessions.begin() as s:
        await mirror.upsert(s, table, [_visit("1", "p1"), _visit("2", "p2"), _visit("1", "p9", False)])
        await mirror.upsert(s, table, [_visit("1", "p1", org="clinic-b")])
    async with sessions.begin() as s:
        await mirror.upsert(s, table, [_visit("2", "p3", False)])
    assert await _mirrored(sessions) == {
        (ORG, "1"): ("p9", False),  # the page's last copy of a repeated id
        (ORG, "2"): ("p3", False),  # updated by the later page
        ("clinic-b", "1"): ("p1", True),  # the same id in another org is another record
    }


async def test_a_value_longer_than_its_column_fails_the_page_and_writes_none_of_it(
    sessions: async_sessionmaker[Any],
) -> None:
    # Postgres cuts a value short when cast to varchar(n), so the statement must not do that cast.
    with pytest.raises(DBAPIError, match="too long"):
        async with sessions.begin() as s:
            page = [_visit("3", "p3"), _visit("4" * 33, "p4")]
            await mirror.upsert(s, tables.individual_appointments, page)
    assert await _mirrored(sessions) == {}
