"""The audit trail: append-only, written in the same transaction as the change it records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from practice_sync_credentials.repository.tables import audit_log


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: datetime
    actor: str
    action: str
    org_id: str | None
    provider: str | None
    kind: str | None
    outcome: str
    detail: str


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    outcome: str,
    org_id: str | None = None,
    provider: str | None = None,
    kind: str | None = None,
    detail: str = "",
) -> None:
    await session.execute(
        sa.insert(audit_log).values(
            actor=actor,
            action=action,
            outcome=outcome,
            organization_id=org_id,
            provider=provider,
            kind=kind,
            detail=detail[:2000],
        )
    )


async def page(
    session: AsyncSession,
    *,
    limit: int,
    before_id: int | None,
    org_id: str | None,
    provider: str | None,
    action: str | None,
) -> list[AuditRow]:
    t = audit_log.c
    stmt = sa.select(
        t.id, t.at, t.actor, t.action, t.organization_id, t.provider, t.kind, t.outcome, t.detail
    ).order_by(t.id.desc())
    if before_id is not None:
        stmt = stmt.where(t.id < before_id)
    if org_id is not None:
        stmt = stmt.where(t.organization_id == org_id)
    if provider is not None:
        stmt = stmt.where(t.provider == provider)
    if action is not None:
        stmt = stmt.where(t.action == action)
    rows = (await session.execute(stmt.limit(limit))).all()
    return [AuditRow(*r) for r in rows]
