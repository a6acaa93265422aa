"""Admin: the key ring, the rewrap, the legacy import and the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response

from practice_sync_common.auth import require_admin
from practice_sync_credentials.domain.providers import Provider, canonical_org_id
from practice_sync_credentials.endpoints.deps import provider_query, services
from practice_sync_credentials.schemas.audit import AuditEntry, AuditPage
from practice_sync_credentials.schemas.keys import KeyOut, KeysOut, RewrapOut
from practice_sync_credentials.schemas.legacy import LegacyImportIn, LegacyImportOut
from practice_sync_credentials.service import legacy, orgs, rotation
from practice_sync_credentials.service.context import Services

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/keys")
async def keys(svc: Services = Depends(services), _: str = Depends(require_admin)) -> KeysOut:
    found, unknown = await rotation.key_usage(svc)
    return KeysOut(
        current_kid=svc.vault.current_kid,
        keys=[KeyOut(kid=k.kid, fingerprint=k.fingerprint, current=k.current, rows=k.rows) for k in found],
        unknown_kids=unknown,
    )


def _jobs(svc: Services) -> rotation.RewrapJobs:
    assert svc.rewrap_jobs is not None
    return svc.rewrap_jobs


@router.post("/keys/rewrap", status_code=202)
async def start_rewrap(
    response: Response,
    wait: bool = Query(False, description="answer when the rewrap has finished"),
    batch_size: int | None = Query(None, ge=1, le=10_000),
    svc: Services = Depends(services),
    actor: str = Depends(require_admin),
) -> RewrapOut:
    jobs = _jobs(svc)
    task = jobs.start(svc, actor, batch_size or svc.settings.rewrap_batch_size)
    if wait:
        await task
        response.status_code = 200
    return RewrapOut(**jobs.progress.as_dict())


@router.get("/keys/rewrap")
async def rewrap_progress(svc: Services = Depends(services), _: str = Depends(require_admin)) -> RewrapOut:
    return RewrapOut(**_jobs(svc).progress.as_dict())


@router.post("/import/legacy")
async def import_legacy(
    body: LegacyImportIn, svc: Services = Depends(services), actor: str = Depends(require_admin)
) -> LegacyImportOut:
    rows = [legacy.LegacyRow(r.org_id, r.provider, r.ciphertext) for r in body.rows]
    return LegacyImportOut(imported=await legacy.import_rows(svc, actor, rows))


@router.get("/audit")
async def audit(
    limit: int = Query(50, ge=1, le=500),
    before_id: int | None = Query(None, ge=1),
    org: str | None = Query(None, max_length=200),
    provider: Provider | None = Depends(provider_query),
    action: str | None = Query(None, max_length=64),
    svc: Services = Depends(services),
    _: str = Depends(require_admin),
) -> AuditPage:
    rows = await orgs.audit_page(
        svc,
        limit=limit,
        before_id=before_id,
        org_id=canonical_org_id(org) if org else None,
        provider=provider.value if provider else None,
        action=action,
    )
    entries = [
        AuditEntry(
            id=r.id,
            at=r.at,
            actor=r.actor,
            action=r.action,
            org_id=r.org_id,
            provider=r.provider,
            kind=r.kind,
            outcome=r.outcome,
            detail=r.detail,
        )
        for r in rows
    ]
    return AuditPage(entries=entries, next_before_id=entries[-1].id if len(entries) == limit else None)
