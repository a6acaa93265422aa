"""Admin: the tenant registry."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response

from practice_sync_common.auth import require_admin
from practice_sync_credentials.domain.providers import canonical_org_id
from practice_sync_credentials.endpoints.deps import org_path, services
from practice_sync_credentials.schemas.orgs import OrgIn, OrgList, OrgOut
from practice_sync_credentials.service import orgs
from practice_sync_credentials.service.context import Services

router = APIRouter(prefix="/admin/orgs", tags=["admin"])


@router.get("")
async def list_orgs(
    limit: int = Query(100, ge=1, le=1000),
    after: str | None = Query(None, max_length=128),
    svc: Services = Depends(services),
    _: str = Depends(require_admin),
) -> OrgList:
    out = [OrgOut.of(org, creds) for org, creds in await orgs.list_with_credentials(svc, limit, after)]
    return OrgList(orgs=out, next_after=out[-1].id if len(out) == limit else None)


@router.get("/{org}")
async def get_org(
    org: str = Depends(org_path), svc: Services = Depends(services), _: str = Depends(require_admin)
) -> OrgOut:
    return OrgOut.of(*await orgs.get_with_credentials(svc, org))


@router.post("", status_code=201)
async def create_org(
    body: OrgIn, response: Response, svc: Services = Depends(services), actor: str = Depends(require_admin)
) -> OrgOut:
    org, created = await orgs.create(svc, actor, canonical_org_id(body.id), body.name, body.clio_region)
    if not created:
        response.status_code = 200
    return OrgOut(id=org.id, name=org.name, clio_region=org.clio_region, created_at=org.created_at)
