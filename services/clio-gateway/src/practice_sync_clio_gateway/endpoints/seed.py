"""The Clio seed's endpoints, kept working (admin token; `org_id` query parameter where the seed
had an implicit user), mapped onto the event-driven pieces."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy import text

from practice_sync_clio_gateway.endpoints.admin import gateway, guarded
from practice_sync_clio_gateway.service import custom_actions, webhooks
from practice_sync_clio_gateway.service.context import Gateway
from practice_sync_common.auth import require_admin
from practice_sync_common.db import unit_of_work
from practice_sync_common.org_ids import OrgIdQuery
from practice_sync_common.sync_runs import SyncIntake, SyncMode

router = APIRouter(prefix="/clio", tags=["clio (seed API)"])
admin = [Depends(require_admin)]


def intake(request: Request) -> SyncIntake:
    found: SyncIntake = request.app.state.sync_intake
    return found


@router.post("/sync/contacts", status_code=202, dependencies=admin)
async def sync_contacts(
    org_id: OrgIdQuery,
    mode: SyncMode = Query(default="auto"),
    gw: Gateway = Depends(gateway),
    sync_intake: SyncIntake = Depends(intake),
) -> dict[str, Any]:
    """`POST /admin/syncs` under the seed's name: the same intake, so the same 404/409/503 refusals
    (nothing queued) for an org without a Clio grant."""
    accepted = await sync_intake.submit(gw.sessions, gw.broker, org_id, mode, reason="seed api")
    return {
        "run_id": str(accepted.run_id),
        "org_id": org_id,
        "status": "queued",
        "status_url": f"/admin/syncs/{accepted.run_id}",
    }


@router.get("/contacts", dependencies=admin)
async def contacts(
    org_id: OrgIdQuery,
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
    gw: Gateway = Depends(gateway),
) -> dict[str, Any]:
    """The org's Clio contacts from the projector's `public.contacts` read model."""
    async with unit_of_work(gw.sessions) as s:
        exists = (await s.execute(text("SELECT to_regclass('public.contacts')"))).scalar()
        if exists is None:
            raise HTTPException(503, "the contacts read model does not exist yet (is the projector running?)")
        rows = await s.execute(
            text("SELECT * FROM public.contacts WHERE organization_id = :org ORDER BY 1 LIMIT :l OFFSET :o"),
            {"org": org_id, "l": limit, "o": offset},
        )
        items = [
            {
                k: (
                    str(v)
                    if v is not None and not isinstance(v, int | str | bool | float | list | dict)
                    else v
                )
                for k, v in r.items()
            }
            for r in rows.mappings()
        ]
    return {"org_id": org_id, "contacts": items, "limit": limit, "offset": offset}


@router.post("/custom-actions/smart-intake", dependencies=admin)
async def smart_intake(org_id: OrgIdQuery, gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    return dict(await guarded(custom_actions.ensure(gw, org_id)))


@router.post("/sync/custom-actions", dependencies=admin)
async def sync_custom_actions(org_id: OrgIdQuery, gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    return dict(await guarded(custom_actions.ensure(gw, org_id)))


@router.post("/webhooks/subscribe", dependencies=admin)
async def subscribe(org_id: OrgIdQuery, gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    return dict(await guarded(webhooks.ensure(gw, org_id)))


@router.post("/webhooks/receive")
async def receive(request: Request, org_id: OrgIdQuery, gw: Gateway = Depends(gateway)) -> Response:
    """The seed received webhooks here; it now forwards to webhook-ingest (same checks, same answers)."""
    body = await request.body()
    keep = {
        k: v
        for k, v in request.headers.items()
        if k.lower() in ("x-hook-secret", "x-hook-signature", "content-type")
    }
    async with httpx.AsyncClient(base_url=gw.settings.webhook_ingest_public_url, timeout=10.0) as c:
        try:
            r = await c.post(f"/webhooks/clio/{org_id}", content=body, headers=keep)
        except httpx.HTTPError as exc:
            raise HTTPException(503, "webhook-ingest unreachable; retry later") from exc
    passthrough = {k: v for k, v in r.headers.items() if k.lower() in ("x-hook-secret", "content-type")}
    return Response(r.content, r.status_code, headers=passthrough)
