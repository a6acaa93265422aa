"""The `/_sandbox` control API tests and benchmarks drive: data, clock, faults, limits, tokens, accounting."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from practice_sync_sandbox._kit.clock import iso_z
from practice_sync_sandbox._kit.faults import FaultPlan
from practice_sync_sandbox.clio.custom_actions import mint_click
from practice_sync_sandbox.clio.delivery import Dispatcher
from practice_sync_sandbox.clio.errors import ClioJSON, not_found, unprocessable
from practice_sync_sandbox.clio.fields import Resource, Selection, project
from practice_sync_sandbox.clio.oauth_routes import parse_scopes
from practice_sync_sandbox.clio.resources import ts
from practice_sync_sandbox.clio.state import Account, ClioSandbox, RecordFault


class ClockAdvance(BaseModel):
    seconds: float


class ClockSet(BaseModel):
    at: datetime


class RateLimitBody(BaseModel):
    limit: int = Field(ge=1)
    window_s: float | None = Field(default=None, gt=0)


class TokenTtlBody(BaseModel):
    seconds: int = Field(ge=1)


class MintTokenBody(BaseModel):
    user: str | int | None = None  # slug or user id; default the first account
    scopes: list[str] | None = None
    ttl_s: int | None = None


class DeclineBody(BaseModel):
    decline: bool


class ClickBody(BaseModel):
    subject_id: int
    user_id: int | None = None  # who clicks; default the action's owner


class FaultBody(BaseModel):
    force_429: int = 0
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_statuses: list[int] = Field(default_factory=lambda: [500, 502, 503])
    server_errors: int = 0
    latency_ms: int = 0
    malformed_pages: int = 0
    cut_connections: int = 0
    seed: int = 0


class RecordFaultBody(BaseModel):
    account: str | int  # slug or user id
    position: int = Field(default=0, ge=0)
    record: Any  # any JSON, null included: the record as the page will carry it


def full_selection(resource: Resource) -> Selection:
    """Every field, nested ones in full: the ground truth a test compares a sync against."""
    sel: Selection = [(name, None) for name in resource.scalars]
    sel += [(name, list(sub.scalars)) for name, (sub, _) in resource.nested.items()]
    return sel


async def _data(request: Request) -> dict[str, Any]:
    try:
        payload = await request.json()
    except ValueError:
        raise unprocessable("Body must be JSON") from None
    if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
        payload = payload["data"]
    if not isinstance(payload, dict):
        raise unprocessable('Body must be a JSON object (optionally wrapped in {"data": …})')
    return payload


def control_router(sb: ClioSandbox, dispatcher: Dispatcher) -> APIRouter:
    router = APIRouter(prefix="/_sandbox", tags=["sandbox control"])

    def account_of(key: str) -> Account:
        account = sb.account(key)
        if account is None:
            raise not_found("Account", key)
        return account

    def summary(account: Account) -> dict[str, Any]:
        return {
            "slug": account.spec.slug,
            "user_id": account.user.id,
            "user_name": account.user.name,
            "email": account.user.email,
            "contacts": len(account.contacts),
        }

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "provider": "clio",
            "now": iso_z(sb.clock.now()),
            "accounts": [summary(a) for a in sb.accounts.values()],
            "client_id": sb.config.client_id,
            "webhook_deliveries_in_flight": dispatcher.in_flight,
        }

    @router.get("/accounts")
    async def accounts() -> list[dict[str, Any]]:
        return [summary(a) for a in sb.accounts.values()]

    # ---- data ---------------------------------------------------------------------------------------

    @router.get("/accounts/{account}/contacts/export")
    async def export_contacts(account: str) -> Response:
        acc = account_of(account)
        sel = full_selection(acc.contact_resource)
        data = [project(c, acc.contact_resource, sel) for c in acc.contacts.iter_from(None)]
        return ClioJSON({"data": data, "count": len(data)})

    @router.post("/accounts/{account}/contacts", status_code=201)
    async def create_contact(account: str, request: Request) -> Response:
        acc = account_of(account)
        contact = acc.contacts.create(await _data(request), sb.now())
        dispatcher.contact_event(acc, "created", None, contact)
        return ClioJSON(
            {"data": project(contact, acc.contact_resource, full_selection(acc.contact_resource))},
            status_code=201,
        )

    @router.patch("/accounts/{account}/contacts/{contact_id}")
    async def update_contact(account: str, contact_id: int, request: Request) -> Response:
        acc = account_of(account)
        before, after = acc.contacts.update(contact_id, await _data(request), sb.now())
        dispatcher.contact_event(acc, "updated", before, after)
        return ClioJSON({"data": project(after, acc.contact_resource, full_selection(acc.contact_resource))})

    @router.delete("/accounts/{account}/contacts/{contact_id}", status_code=204)
    async def delete_contact(account: str, contact_id: int) -> Response:
        acc = account_of(account)
        contact = acc.contacts.delete(contact_id)
        dispatcher.contact_event(acc, "deleted", None, contact)
        return Response(status_code=204)

    # ---- clock, limits, faults ------------------------------------------------------------------------

    @router.get("/clock")
    async def clock() -> dict[str, Any]:
        return {"now": iso_z(sb.clock.now()), "epoch": sb.clock.time()}

    @router.post("/clock/advance")
    async def clock_advance(body: ClockAdvance) -> dict[str, Any]:
        return {"now": iso_z(sb.clock.advance(body.seconds)), "epoch": sb.clock.time()}

    @router.post("/clock/set")
    async def clock_set(body: ClockSet) -> dict[str, Any]:
        return {"now": iso_z(sb.clock.set(body.at)), "epoch": sb.clock.time()}

    @router.post("/rate_limit")
    async def rate_limit(body: RateLimitBody) -> dict[str, Any]:
        sb.limiter.configure(body.limit, body.window_s)
        return {"limit": sb.limiter.limit, "window_s": sb.limiter.window_s}

    @router.post("/token_ttl")
    async def token_ttl(body: TokenTtlBody) -> dict[str, Any]:
        sb.oauth.token_ttl_s = body.seconds
        return {"token_ttl_s": body.seconds}

    @router.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return asdict(sb.faults.plan)

    @router.post("/faults")
    async def set_faults(body: FaultBody) -> dict[str, Any]:
        sb.faults.set(FaultPlan(**body.model_dump()))
        return asdict(sb.faults.plan)

    @router.delete("/faults")
    async def clear_faults() -> dict[str, Any]:
        sb.faults.clear()
        sb.record_faults.clear()
        return asdict(sb.faults.plan)

    @router.post("/faults/contact_record")
    async def set_record_fault(body: RecordFaultBody) -> dict[str, Any]:
        acc = account_of(str(body.account))
        sb.record_faults[acc.user.id] = RecordFault(body.position, body.record)
        return {"account": acc.spec.slug, "position": body.position, "record": body.record}

    # ---- OAuth conveniences ---------------------------------------------------------------------------

    @router.post("/tokens")
    async def mint_token(body: MintTokenBody) -> dict[str, Any]:
        acc = account_of(str(body.user)) if body.user is not None else next(iter(sb.accounts.values()))
        try:
            scopes = parse_scopes(
                " ".join(body.scopes) if body.scopes is not None else None, sb.config.app_scopes
            )
        except Exception as exc:
            raise unprocessable(str(exc)) from None
        if body.scopes == []:
            scopes = frozenset()
        access, grant = sb.oauth.mint_grant(acc.user.id, scopes, body.ttl_s)
        return {
            "access_token": access.token,
            "token_type": "bearer",
            "expires_in": round(access.expires_at - sb.clock.time()),
            "refresh_token": grant.refresh_token,
            "user_id": acc.user.id,
            "account": acc.spec.slug,
            "scopes": sorted(scopes),
        }

    @router.post("/oauth/decline")
    async def decline(body: DeclineBody) -> dict[str, Any]:
        sb.oauth.decline = body.decline
        return {"decline": body.decline}

    # ---- custom actions, webhooks ---------------------------------------------------------------------

    @router.post("/custom_actions/{action_id}/click")
    async def click(action_id: int, body: ClickBody) -> dict[str, Any]:
        action = sb.custom_actions.get(action_id)
        if action is None:
            raise not_found("CustomAction", action_id)
        if body.user_id is not None and body.user_id not in sb.accounts:
            raise not_found("User", body.user_id)
        return mint_click(sb, action, body.subject_id, body.user_id)

    @router.get("/webhooks")
    async def webhooks() -> list[dict[str, Any]]:
        return [
            {
                "id": h.id,
                "user_id": h.user_id,
                "url": h.url,
                "model": h.model,
                "fields": h.fields,
                "events": h.events,
                "status": h.status,
                "shared_secret": h.shared_secret,
                "expires_at": ts(h.expires_at),
            }
            for h in sb.webhooks.values()
        ]

    @router.post("/webhooks/{webhook_id}/enable")
    async def enable_webhook(webhook_id: int) -> dict[str, Any]:
        hook = sb.webhooks.get(webhook_id)
        if hook is None:
            raise not_found("Webhook", webhook_id)
        dispatcher.enable(hook)
        return {"id": hook.id, "status": hook.status}

    @router.get("/webhooks/deliveries")
    async def deliveries(webhook_id: int | None = None, kind: str | None = None) -> dict[str, Any]:
        rows = [
            r
            for r in dispatcher.records
            if (webhook_id is None or r.get("webhook_id") == webhook_id)
            and (kind is None or r["kind"] == kind)
        ]
        return {"in_flight": dispatcher.in_flight, "deliveries": rows}

    @router.delete("/webhooks/deliveries")
    async def clear_deliveries() -> dict[str, Any]:
        dispatcher.records.clear()
        return {"cleared": True}

    # ---- request accounting ---------------------------------------------------------------------------

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        snap = sb.ledger.snapshot()
        snap["rate_limit"] = {"limit": sb.limiter.limit, "window_s": sb.limiter.window_s}
        return snap

    @router.post("/stats/reset")
    async def stats_reset() -> dict[str, Any]:
        sb.ledger.reset()
        return {"reset": True}

    return router
