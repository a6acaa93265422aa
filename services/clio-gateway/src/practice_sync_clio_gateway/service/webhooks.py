"""Clio webhook subscriptions: create (secret stored before any delivery can be checked), renew,
recreate after a gap (with an incremental sync to backfill it), delete on disconnect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from practice_sync_clio_gateway.clio.contacts import CONTACT_FIELDS
from practice_sync_clio_gateway.repository.tables import webhook_subscriptions as subs
from practice_sync_clio_gateway.service.context import Gateway
from practice_sync_common import topics
from practice_sync_common.broker import publish
from practice_sync_common.db import unit_of_work
from practice_sync_common.events import SyncRequested, envelope
from practice_sync_common.logging import get_logger, secrets
from practice_sync_common.provider_http import ProviderRequestError

log = get_logger(__name__)
HOOK_FIELDS = "id,etag,url,status,expires_at,model,events,fields"
EVENTS = ["created", "updated", "deleted"]


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None


def target_url(gw: Gateway, org: str) -> str:
    return f"{gw.settings.webhook_ingest_public_url.rstrip('/')}/webhooks/clio/{org}"


async def list_local(gw: Gateway, org: str) -> list[dict[str, Any]]:
    async with unit_of_work(gw.sessions) as s:
        rows = await s.execute(select(subs).where(subs.c.org_id == org).order_by(subs.c.webhook_id))
        return [dict(r) for r in rows.mappings()]


async def _save(gw: Gateway, org: str, hook: dict[str, Any], renewed: bool = False) -> None:
    values = {
        "org_id": org,
        "webhook_id": int(hook["id"]),
        "model": "contact",
        "url": hook.get("url") or target_url(gw, org),
        "fields": hook.get("fields") or CONTACT_FIELDS,  # what Clio delivers, not what we would ask
        "status": hook.get("status") or "pending",
        "expires_at": _time(hook.get("expires_at")),
        "checked_at": datetime.now(UTC),
        **({"renewed_at": datetime.now(UTC)} if renewed else {}),
    }
    stmt = insert(subs).values(**values)
    keep = {k: v for k, v in values.items() if k not in ("org_id", "webhook_id")}
    async with unit_of_work(gw.sessions) as s:
        await s.execute(
            stmt.on_conflict_do_update(index_elements=[subs.c.org_id, subs.c.webhook_id], set_=keep)
        )


def _outdated(hook: dict[str, Any]) -> bool:
    """Subscribed to other fields or events than a subscription made now would be.

    Renewal PATCHes `expires_at` only, so after CONTACT_FIELDS changes an old subscription kept
    delivering the old fields (a fetch per delivery) for as long as it was renewed. clio.md
    documents PATCHing `expires_at` (and a handshake when `url` changes) but not `fields`, so such
    a subscription is replaced rather than patched.
    """
    fields = hook.get("fields")
    if not isinstance(fields, str):
        return False  # not shown: no reason to replace a live subscription
    return field_set(fields) != field_set(CONTACT_FIELDS) or set(hook.get("events") or []) != set(EVENTS)


def field_set(fields: str) -> frozenset[tuple[str, frozenset[str]]]:
    """A `fields` list as a set, nested braces included: `a,b{c,d}` and `b{d, c},a` are one list.

    Compared by meaning, not by text: were Clio to echo the list reordered or respaced, a textual
    comparison would replace the subscription at every reconcile round.
    """
    items: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(fields + ","):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            items.append(fields[start:i])
            start = i + 1
    parsed = set()
    for item in (i.strip() for i in items):
        name, _, rest = item.partition("{")
        nested = frozenset(f.strip() for f in rest.rstrip("}").split(",") if f.strip())
        if name.strip():
            parsed.add((name.strip(), nested))
    return frozenset(parsed)


def _outcome(hook: dict[str, Any], action: str) -> dict[str, Any]:
    return {
        "webhook_id": hook["id"],
        "status": hook["status"],
        "expires_at": hook["expires_at"],
        "action": action,
    }


async def ensure(gw: Gateway, org: str) -> dict[str, Any]:
    """The org's live contact subscription: renewed, recreated or created as needed.

    Returns `{webhook_id, status, expires_at, action}` where action is kept | renewed | created.
    """
    now = gw.now()
    url = target_url(gw, org)
    known_before = bool(await list_local(gw, org))
    api = await gw.clio.open(org)
    try:
        remote: list[dict[str, Any]] = []
        async for _, body in api.pages("webhooks", HOOK_FIELDS):
            remote += [
                h for h in body.get("data") or [] if h.get("url") == url and h.get("model") in ("contact", 6)
            ]
        gap = False
        outdated: list[int] = []
        for hook in remote:
            expires = _time(hook.get("expires_at"))
            alive = hook.get("status") in ("enabled", "pending") and expires is not None and expires > now
            if not alive or expires is None:
                # Expired or suspended: deliveries were lost; replace it and backfill by sync.
                gap = True
                await _delete_remote(gw, api, org, int(hook["id"]))
                continue
            if _outdated(hook):
                # Still delivering: deleted only once its replacement exists, so nothing is missed.
                outdated.append(int(hook["id"]))
                continue
            if expires - now < timedelta(seconds=gw.settings.webhook_renew_before_s):
                new_expiry = now + timedelta(seconds=gw.settings.webhook_ttl_s)
                hook = await api.patch(
                    f"webhooks/{hook['id']}", {"expires_at": new_expiry.isoformat()}, HOOK_FIELDS
                )
                await _save(gw, org, hook, renewed=True)
                return _outcome(hook, "renewed")
            await _save(gw, org, hook)
            return _outcome(hook, "kept")
        created = await _create(gw, api, org, now)
        for webhook_id in outdated:
            await _delete_remote(gw, api, org, webhook_id)
    finally:
        await api.aclose()
    # A replaced subscription (expired, suspended, or gone at Clio) may have missed changes; one
    # replaced while still alive (outdated fields) delivered until its successor was live.
    if gap or (known_before and not outdated):
        await request_backfill(gw, org, "webhook gap")
    return {**created, "action": "created"}


async def _create(gw: Gateway, api: Any, org: str, now: datetime) -> dict[str, Any]:
    expires = now + timedelta(seconds=gw.settings.webhook_ttl_s)
    data = {
        "url": target_url(gw, org),
        "model": "contact",
        "fields": CONTACT_FIELDS,
        "events": EVENTS,
        "expires_at": expires.isoformat(),
    }
    hook = await api.create("webhooks", data, HOOK_FIELDS + ",shared_secret")
    secret = hook.pop("shared_secret", None)
    if not secret:
        hook_secret = await api.get(f"webhooks/{hook['id']}", "shared_secret")
        secret = hook_secret["data"]["shared_secret"]
    secrets.add(secret)
    # Stored before anything else: ingest must be able to check the first delivery.
    await gw.clio.credentials.put_webhook_secret(org, str(hook["id"]), secret)
    await _save(gw, org, hook)
    current = (await api.get(f"webhooks/{hook['id']}", HOOK_FIELDS))["data"]
    if current.get("status") == "pending":
        # The handshake may have raced the secret's storage; confirm it ourselves.
        try:
            await api.activate_webhook(int(hook["id"]), secret)
            current = (await api.get(f"webhooks/{hook['id']}", HOOK_FIELDS))["data"]
        except ProviderRequestError as exc:
            log.warning("webhook activation failed", org=org, error=str(exc))
    await _save(gw, org, current)
    return {"webhook_id": current["id"], "status": current["status"], "expires_at": current.get("expires_at")}


async def _delete_remote(gw: Gateway, api: Any, org: str, webhook_id: int) -> None:
    try:
        await api.delete(f"webhooks/{webhook_id}")
    except ProviderRequestError as exc:
        if exc.status != 404:
            raise
    await gw.clio.credentials.delete_webhook_secret(org, str(webhook_id))
    async with unit_of_work(gw.sessions) as s:
        await s.execute(
            update(subs).where(subs.c.org_id == org, subs.c.webhook_id == webhook_id).values(status="deleted")
        )


async def delete_all(gw: Gateway, org: str) -> list[int]:
    """On disconnect: remove every subscription of the org (at Clio, its secret, our row)."""
    gone = []
    api = await gw.clio.open(org)
    try:
        async for _, body in api.pages("webhooks", HOOK_FIELDS):
            for hook in body.get("data") or []:
                if hook.get("url") == target_url(gw, org):
                    await _delete_remote(gw, api, org, int(hook["id"]))
                    gone.append(int(hook["id"]))
    finally:
        await api.aclose()
    return gone


async def request_backfill(gw: Gateway, org: str, reason: str) -> None:
    event = envelope(
        "sync.requested",
        "clio-gateway",
        org,
        SyncRequested(provider="clio", mode="incremental", reason=reason),
    )
    await publish(gw.broker, topics.SYNC_REQUESTED, event)
