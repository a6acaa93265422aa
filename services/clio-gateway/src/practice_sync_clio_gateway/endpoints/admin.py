"""Admin API of the gateway (admin token): custom actions, webhooks, the webhook event log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from sqlalchemy import select

from practice_sync_clio_gateway.clio.credentials import CredentialsUnavailable, NeedsReauth
from practice_sync_clio_gateway.repository.tables import webhook_events
from practice_sync_clio_gateway.service import custom_actions, webhooks
from practice_sync_clio_gateway.service.context import Gateway
from practice_sync_common.auth import require_admin
from practice_sync_common.db import unit_of_work
from practice_sync_common.org_ids import OrgPath
from practice_sync_common.provider_http import ProviderAuthError, ProviderError

router = APIRouter(prefix="/admin/clio", tags=["clio admin"], dependencies=[Depends(require_admin)])
ACTION_ID = Path(ge=1, le=2**63 - 1)  # a Clio id (int64); anything else names no action


def gateway(request: Request) -> Gateway:
    gw: Gateway = request.app.state.gateway
    return gw


async def guarded(call: Any) -> Any:
    """Clio and credentials failures as clear HTTP answers."""
    try:
        return await call
    except NeedsReauth as exc:
        raise HTTPException(409, f"{exc}; reconnect Clio for this org") from exc
    except ProviderAuthError as exc:
        raise HTTPException(409, f"Clio refused the org's token: {exc}") from exc
    except (ProviderError, CredentialsUnavailable) as exc:
        raise HTTPException(503, f"Clio or credentials unavailable: {exc}") from exc


@router.get("/{org}/custom-actions")
async def list_actions(org: OrgPath, gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    return {"org_id": org, "custom_actions": await custom_actions.list_for(gw, org)}


@router.post("/{org}/custom-actions/sync")
async def sync_action(org: OrgPath, gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    return dict(await guarded(custom_actions.ensure(gw, org)))


@router.delete("/{org}/custom-actions/{action_id}")
async def delete_action(
    org: OrgPath, action_id: int = ACTION_ID, gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    """Delete at Clio and here. Already gone at Clio but still recorded: the record is cleaned up
    (200, `at_clio: already_gone`). Known to neither: 404."""
    try:
        removed = await guarded(custom_actions.remove(gw, org, action_id))
    except custom_actions.CustomActionNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    return {"org_id": org, "custom_action_id": action_id, "deleted": True, **removed}


@router.get("/{org}/webhooks")
async def list_hooks(org: OrgPath, gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    return {"org_id": org, "webhooks": await webhooks.list_local(gw, org)}


@router.post("/{org}/webhooks")
async def ensure_hook(org: OrgPath, gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    """Create, renew or replace the org's contact subscription (what the scheduled job does)."""
    return dict(await guarded(webhooks.ensure(gw, org)))


@router.delete("/{org}/webhooks")
async def delete_hooks(org: OrgPath, gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    return {"org_id": org, "deleted": await guarded(webhooks.delete_all(gw, org))}


@router.get("/{org}/webhook-events")
async def events(
    org: OrgPath, limit: int = Query(default=50, ge=1, le=500), gw: Gateway = Depends(gateway)
) -> dict[str, Any]:
    t = webhook_events
    async with unit_of_work(gw.sessions) as s:
        rows = await s.execute(
            select(t).where(t.c.org_id == org).order_by(t.c.received_at.desc()).limit(limit)
        )
        return {"org_id": org, "events": [dict(r) for r in rows.mappings()]}


@router.post("/{org}/reconcile")
async def reconcile(org: OrgPath, gw: Gateway = Depends(gateway)) -> dict[str, Any]:
    """What the scheduled job does for one org, now: custom action, webhook, first sync if never synced."""
    from practice_sync_clio_gateway.tasks.reconcile import reconcile_org

    await guarded(reconcile_org(gw, org))
    return {"org_id": org, "reconciled": True}
