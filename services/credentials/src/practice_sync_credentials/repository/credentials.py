"""Sealed credential rows. Ciphertexts go in and out as opaque strings; sealing happens above."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from practice_sync_credentials.repository.tables import credentials

_c = credentials.c
_COLS = (
    _c.id,
    _c.organization_id,
    _c.provider,
    _c.kind,
    _c.name,
    _c.ciphertext,
    _c.key_id,
    _c.status,
    _c.status_message,
    _c.hint,
    _c.meta,
    _c.expires_at,
    _c.created_at,
    _c.updated_at,
    _c.last_validated_at,
    _c.refreshed_at,
)


@dataclass(frozen=True, slots=True)
class CredentialRow:
    id: int
    org_id: str
    provider: str
    kind: str
    name: str
    ciphertext: str = field(repr=False)
    key_id: str
    status: str
    status_message: str
    hint: str
    meta: dict[str, Any]
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_validated_at: datetime | None
    refreshed_at: datetime | None


def _rows(result: sa.Result[Any]) -> list[CredentialRow]:
    return [CredentialRow(*tuple(r)) for r in result.all()]


async def get(
    session: AsyncSession, org_id: str, provider: str, kind: str, name: str = "", *, for_update: bool = False
) -> CredentialRow | None:
    stmt = sa.select(*_COLS).where(
        _c.organization_id == org_id, _c.provider == provider, _c.kind == kind, _c.name == name
    )
    if for_update:
        stmt = stmt.with_for_update()
    found = _rows(await session.execute(stmt))
    return found[0] if found else None


async def upsert(
    session: AsyncSession,
    *,
    org_id: str,
    provider: str,
    kind: str,
    name: str,
    ciphertext: str,
    key_id: str,
    status: str,
    status_message: str,
    hint: str,
    meta: dict[str, Any],
    expires_at: datetime | None,
    validated: bool,
    refreshed: bool = False,
) -> CredentialRow:
    now = sa.func.now()
    values: dict[str, Any] = {
        "organization_id": org_id,
        "provider": provider,
        "kind": kind,
        "name": name,
        "ciphertext": ciphertext,
        "key_id": key_id,
        "status": status,
        "status_message": status_message,
        "hint": hint,
        "meta": meta,
        "expires_at": expires_at,
        "updated_at": now,
        "last_validated_at": now if validated else None,
        "refreshed_at": now if refreshed else None,
    }
    ins = insert(credentials).values(**values)
    update = {k: ins.excluded[k] for k in values if k not in ("organization_id", "provider", "kind", "name")}
    stmt = ins.on_conflict_do_update(constraint="credentials_slot", set_=update).returning(*_COLS)
    return _rows(await session.execute(stmt))[0]


async def update_secret(
    session: AsyncSession,
    row_id: int,
    *,
    ciphertext: str,
    key_id: str,
    hint: str | None = None,
    meta: dict[str, Any] | None = None,
    expires_at: datetime | None = None,
    status: str | None = None,
    status_message: str | None = None,
    refreshed: bool = False,
    touch: bool = True,
) -> None:
    values: dict[str, Any] = {"ciphertext": ciphertext, "key_id": key_id}
    if touch:
        values["updated_at"] = sa.func.now()
    if hint is not None:
        values["hint"] = hint
    if meta is not None:
        values["meta"] = meta
        values["expires_at"] = expires_at
    if status is not None:
        values["status"] = status
        values["status_message"] = status_message or ""
    if refreshed:
        values["refreshed_at"] = sa.func.now()
    await session.execute(sa.update(credentials).where(_c.id == row_id).values(**values))


async def set_status(
    session: AsyncSession, row_id: int, status: str, message: str, *, validated: bool = True
) -> None:
    values: dict[str, Any] = {"status": status, "status_message": message}
    if validated:
        values["last_validated_at"] = sa.func.now()
    await session.execute(sa.update(credentials).where(_c.id == row_id).values(**values))


async def delete(
    session: AsyncSession, org_id: str, provider: str, kind: str | None = None, name: str | None = None
) -> int:
    stmt = sa.delete(credentials).where(_c.organization_id == org_id, _c.provider == provider)
    if kind is not None:
        stmt = stmt.where(_c.kind == kind)
    if name is not None:
        stmt = stmt.where(_c.name == name)
    result = await session.execute(stmt.returning(_c.id))
    return len(result.all())


async def list_(
    session: AsyncSession,
    *,
    org_id: str | None = None,
    provider: str | None = None,
    kind: str | None = None,
    limit: int = 1000,
) -> list[CredentialRow]:
    stmt = sa.select(*_COLS).order_by(_c.organization_id, _c.provider, _c.kind, _c.name).limit(limit)
    if org_id is not None:
        stmt = stmt.where(_c.organization_id == org_id)
    if provider is not None:
        stmt = stmt.where(_c.provider == provider)
    if kind is not None:
        stmt = stmt.where(_c.kind == kind)
    return _rows(await session.execute(stmt))


async def expiring(
    session: AsyncSession, provider: str, kind: str, before: datetime, skip_status: str
) -> list[tuple[str, str]]:
    """(org, name) of credentials whose expiry is before ``before`` and are not in ``skip_status``."""
    stmt = sa.select(_c.organization_id, _c.name).where(
        _c.provider == provider, _c.kind == kind, _c.expires_at < before, _c.status != skip_status
    )
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]


async def count_by_kid(session: AsyncSession) -> dict[str, int]:
    stmt = sa.select(_c.key_id, sa.func.count()).group_by(_c.key_id)
    return {r[0]: int(r[1]) for r in (await session.execute(stmt)).all()}


async def sample_per_kid(session: AsyncSession) -> list[CredentialRow]:
    """One row per key id in use (for checking at start that the ring opens what is stored)."""
    stmt = sa.select(*_COLS).distinct(_c.key_id).order_by(_c.key_id, _c.id)
    return _rows(await session.execute(stmt))


async def ids_not_under(session: AsyncSession, kid: str, after_id: int, limit: int) -> list[int]:
    stmt = sa.select(_c.id).where(_c.key_id != kid, _c.id > after_id).order_by(_c.id).limit(limit)
    return [int(r[0]) for r in (await session.execute(stmt)).all()]


async def lock_for_rewrap(session: AsyncSession, row_id: int, kid: str) -> CredentialRow | None:
    """The row, locked, if it is still under another key; None when busy (locked) or already moved."""
    stmt = sa.select(*_COLS).where(_c.id == row_id, _c.key_id != kid).with_for_update(skip_locked=True)
    found = _rows(await session.execute(stmt))
    return found[0] if found else None


async def count_not_under(session: AsyncSession, kid: str) -> int:
    stmt = sa.select(sa.func.count()).select_from(credentials).where(_c.key_id != kid)
    return int((await session.execute(stmt)).scalar_one())


async def orgs_with(
    session: AsyncSession,
    provider: str,
    kind: str,
    org: str | None = None,
    *,
    limit: int | None = None,
    after: str | None = None,
) -> list[tuple[str, str]]:
    """(org, status) by org id; `after`/`limit` page it by that id (keyset: stable under inserts)."""
    stmt = (
        sa.select(_c.organization_id, _c.status)
        .where(_c.provider == provider, _c.kind == kind, _c.name == "")
        .order_by(_c.organization_id)
        .limit(limit)
    )
    if org is not None:
        stmt = stmt.where(_c.organization_id == org)
    if after is not None:
        stmt = stmt.where(_c.organization_id > after)
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]
