"""`webhook.received` → the webhook event log and `contact.synced`.

Payloads subscribed with CONTACT_FIELDS carry everything the projector needs, so most deliveries
cost no Clio request; older subscriptions' payloads are completed by fetching the record by id.
Replays are idempotent twice over: the envelope id is claimed once, and an (id, etag) already
published is not published again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert

from practice_sync_clio_gateway.clio.contacts import CONTACT_FIELDS, deleted_event, has_fields, to_event
from practice_sync_clio_gateway.repository import contacts as repo
from practice_sync_clio_gateway.repository.tables import processed_events, webhook_events
from practice_sync_clio_gateway.service.context import Gateway
from practice_sync_common.db import unit_of_work
from practice_sync_common.dead_letter import PermanentError
from practice_sync_common.events import Envelope, WebhookReceived
from practice_sync_common.idempotency import claim_event
from practice_sync_common.logging import secrets
from practice_sync_common.provider_http import ProviderRequestError

CONSUMER = "clio-gateway.webhooks"


async def _log(
    gw: Gateway,
    event: Envelope[WebhookReceived],
    record_id: int | None,
    status: str,
    error: str | None = None,
) -> None:
    values: dict[str, Any] = {
        "event_id": event.id,
        "org_id": event.org_id,
        "webhook_id": event.data.webhook_id,
        "event": event.data.event,
        "record_id": record_id,
        "status": status,
        # Stored and shown by the admin API: scrubbed here, whatever the caller passed.
        "error": secrets.scrub(error)[:1000] if error else None,
        "received_at": event.data.received_at,
        "processed_at": datetime.now(UTC) if status != "received" else None,
    }
    stmt = insert(webhook_events).values(**values)
    async with unit_of_work(gw.sessions) as s:
        await s.execute(
            stmt.on_conflict_do_update(
                index_elements=[webhook_events.c.event_id],
                set_={"status": status, "error": error, "processed_at": values["processed_at"]},
            )
        )


async def handle(gw: Gateway, event: Envelope[WebhookReceived]) -> None:
    if event.data.provider != "clio":
        return
    payload = event.data.payload
    data = payload.get("data") if isinstance(payload.get("data"), dict) else None
    if data is None or "id" not in data:
        await _log(gw, event, None, "failed", "payload has no data.id")
        return
    org, cid = event.org_id, int(data["id"])
    await _log(gw, event, cid, "received")
    try:
        if event.data.event == "deleted":
            async with unit_of_work(gw.sessions) as s:
                if not await claim_event(s, processed_events, CONSUMER, event.id):
                    return
                await gw.contacts_out.publish(org, [deleted_event(cid, data.get("etag"))], event.id)
                await repo.forget(s, org, cid)
        else:
            record = data
            if not has_fields(record):
                api = await gw.clio.open(org)
                try:
                    record = (await api.get(f"contacts/{cid}", CONTACT_FIELDS))["data"]
                finally:
                    await api.aclose()
            async with unit_of_work(gw.sessions) as s:
                if not await claim_event(s, processed_events, CONSUMER, event.id):
                    return
                kind = await repo.change_kind(s, org, cid, record.get("etag"))
                if kind is not None:
                    ev = to_event(record, kind)
                    await gw.contacts_out.publish(org, [ev], event.id)
                    await repo.record_page(
                        s, org, [(cid, ev.etag, ev.provider_updated_at)], datetime.now(UTC)
                    )
    except ProviderRequestError as exc:
        await _log(gw, event, cid, "failed", str(exc))
        if exc.status == 404:
            return  # deleted since; its own `deleted` delivery follows
        raise PermanentError(str(exc)) from exc
    except Exception as exc:
        await _log(gw, event, cid, "failed", f"{type(exc).__name__}: {exc}")
        raise
    await _log(gw, event, cid, "processed")
