"""The tenant registry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from practice_sync_credentials.repository.tables import organizations


@dataclass(frozen=True, slots=True)
class OrgRow:
    id: str
    name: str | None
    clio_region: str | None
    created_at: datetime


def _row(r: Any) -> OrgRow:
    return OrgRow(id=r[0], name=r[1], clio_region=r[2], created_at=r[3])


_COLS = (organizations.c.id, organizations.c.name, organizations.c.clio_region, organizations.c.created_at)


async def get(session: AsyncSession, org_id: str) -> OrgRow | None:
    r = (await session.execute(sa.select(*_COLS).where(organizations.c.id == org_id))).first()
    return _row(r) if r else None


async def ensure(session: AsyncSession, org_id: str) -> bool:
    """Create the org if missing; True when it was created."""
    stmt = insert(organizations).values(id=org_id).on_conflict_do_nothing().returning(organizations.c.id)
    return (await session.execute(stmt)).first() is not None


async def upsert(session: AsyncSession, org_id: str, name: str | None, clio_region: str | None) -> bool:
    """Create or update (only the fields given); True when created."""
    created = await ensure(session, org_id)
    values: dict[str, str] = {}
    if name is not None:
        values["name"] = name
    if clio_region is not None:
        values["clio_region"] = clio_region
    if values:
        await session.execute(sa.update(organizations).where(organizations.c.id == org_id).values(**values))
    return created


async def list_all(session: AsyncSession, limit: int, after: str | None) -> list[OrgRow]:
    stmt = sa.select(*_COLS).order_by(organizations.c.id).limit(limit)
    if after is not None:
        stmt = stmt.where(organizations.c.id > after)
    return [_row(r) for r in (await session.execute(stmt)).all()]
