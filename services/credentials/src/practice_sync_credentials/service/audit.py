"""Audit entries that must survive the rollback of the work they describe (denials, failures)."""

from __future__ import annotations

from practice_sync_common.db import unit_of_work
from practice_sync_credentials.repository import audit as audit_repo
from practice_sync_credentials.service.context import Services


async def record_alone(
    services: Services,
    *,
    actor: str,
    action: str,
    outcome: str,
    org_id: str | None = None,
    provider: str | None = None,
    kind: str | None = None,
    detail: str = "",
) -> None:
    async with unit_of_work(services.sessions) as session:
        await audit_repo.record(
            session,
            actor=actor,
            action=action,
            outcome=outcome,
            org_id=org_id,
            provider=provider,
            kind=kind,
            detail=detail,
        )
