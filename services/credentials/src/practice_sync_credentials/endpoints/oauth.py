"""Clio OAuth: the admin starts a flow, Clio's redirect completes it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import RedirectResponse

from practice_sync_common.auth import require_admin
from practice_sync_credentials.domain.providers import canonical_org_id
from practice_sync_credentials.endpoints.deps import services
from practice_sync_credentials.schemas.oauth import CallbackOut, StartOut
from practice_sync_credentials.service import clio
from practice_sync_credentials.service.context import Services

router = APIRouter(prefix="/oauth/clio", tags=["oauth"])


@router.get("/start", response_model=None)
async def start(
    org_id: str = Query(max_length=200),
    region: str | None = Query(None, max_length=8, description="us, eu, ca or au; default: the org's"),
    redirect: bool = Query(False, description="answer 307 to the authorize URL instead of JSON"),
    svc: Services = Depends(services),
    actor: str = Depends(require_admin),
) -> StartOut | RedirectResponse:
    flow = await clio.start(svc, actor, canonical_org_id(org_id), region)
    if redirect:
        return RedirectResponse(flow.authorize_url, status_code=307)
    return StartOut(authorize_url=flow.authorize_url, state_expires_at=flow.expires_at, region=flow.region)


# No bearer here: Clio's redirect carries no token; the single-use, expiring state is the proof.
@router.get("/callback")
async def callback(
    code: str | None = Query(None, max_length=2048),
    state: str | None = Query(None, max_length=512),
    error: str | None = Query(None, max_length=200),
    svc: Services = Depends(services),
) -> CallbackOut:
    row = await clio.callback(svc, code, state, error)
    return CallbackOut(
        org_id=row.org_id, provider=row.provider, status=row.status, message=row.status_message
    )
