"""`webhook.received` → the webhook event log and `contact.synced`.

Payloads subscribed with CONTACT_FIELDS carry everything the projector needs, so most deliveries
cost no Clio request; older subscriptions' payloads are completed by fetching the record by id.
Replays are idempotent twice over: the envelope id is claimed once, and an (id, etag) already
published is not published again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.dialects.postgresql import insert

from practice_sync_clio_gateway.clio.contacts import (
    CONTACT_FIELDS,
    clio_id,
    deleted_event,
    has_fields,
    parse_time,
    to_event,
    unreadable_field,
)
from practice_sync_clio_gateway.clio.credentials import NeedsReauth, must_reconnect
from practice_sync_clio_gateway.repository import contacts as repo
from practice_sync_clio_gateway.repository.tables import processed_events, webhook_events
from practice_sync_clio_gateway.service.context import Gateway
from practice_sync_common.db import unit_of_work
from practice_sync_common.dead_letter import PermanentError
from practice_sync_common.events import Envelope, WebhookReceived
from practice_sync_common.idempotency import claim_event
from practice_sync_common.logging import secrets
from practice_sync_common.provider_http import ProviderAuthError, ProviderRequestError

CONSUMER = "clio-gateway.webhooks"


NO_RECORD_ID = "payload has no data.id that is a Clio record id (a positive integer)"
# This change was not applied; a sync after reconnecting brings it (and whatever else was missed).
CATCH_UP = "sync it with `practice-sync sync request --org {org} --provider clio` to catch up"


def record_id(payload: dict[str, Any]) -> int | None:
    """`data.id` when it is a Clio id; None for a missing one, a string, a float, a bool, ...

    `int()` of such values either raised (retried three times for nothing, never logged) or, for
    1.5 or true, silently named another contact.
    """
    data = payload.get("data")
    return clio_id(data.get("id")) if isinstance(data, dict) else None


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
        # Stored and shown by the admin API: scrubbed here, whatever the caller passed (the update
        # of an existing row too: that is how every failure after `received` is written).
        "error": secrets.scrub(error)[:1000] if error else None,
        "received_at": event.data.received_at,
        "processed_at": datetime.now(UTC) if status != "received" else None,
    }
    stmt = insert(webhook_events).values(**values)
    async with unit_of_work(gw.sessions) as s:
        await s.execute(
            stmt.on_conflict_do_update(
                index_elements=[webhook_events.c.event_id],
                set_={k: values[k] for k in ("status", "error", "processed_at")},
            )
        )


def _change(record: dict[str, Any], known: repo.KnownVersion | None) -> Literal["created", "updated"] | None:
    """What publishing `record` would be: None when it is the published version or an older one.

    Deliveries can arrive out of order (Clio retries failed ones later) and replayed: an older
    version must not replace a newer one, here or downstream.
    """
    at = parse_time(record.get("updated_at"))
    if known is None:
        return "created"
    if known.deleted:
        # A delivery from before the deletion (Clio retries late); only a newer version is news.
        return "created" if known.revived_by(at) else None
    if record.get("etag") is not None and record.get("etag") == known.etag:
        return None
    if at is not None and known.updated_at is not None and at < known.updated_at:
        return None
    return "updated"


def _ambiguous(record: dict[str, Any], known: repo.KnownVersion | None) -> bool:
    """Another etag stamped in the same second as the published version (Clio's timestamps are
    whole seconds): the payload alone cannot say which is newer, Clio's current record can."""
    at = parse_time(record.get("updated_at"))
    return (
        known is not None
        and not known.deleted  # the tombstone's stamp settles it: a tie is not newer
        and record.get("etag") != known.etag
        and (at is None or known.updated_at is None or at == known.updated_at)
    )


async def _fetch(gw: Gateway, org: str, cid: int) -> dict[str, Any]:
    api = await gw.clio.open(org)
    try:
        record: dict[str, Any] = (await api.get(f"contacts/{cid}", CONTACT_FIELDS))["data"]
        return record
    finally:
        await api.aclose()


async def _on_deleted(gw: Gateway, event: Envelope[WebhookReceived], cid: int) -> None:
    data = event.data.payload["data"]
    etag = data.get("etag")
    async with unit_of_work(gw.sessions) as s:
        if not await claim_event(s, processed_events, CONSUMER, event.id):
            return
        await gw.contacts_out.publish(event.org_id, [deleted_event(cid, etag)], event.id)
        # A tombstone, not a forgotten row: a late `updated` delivery must not come back as `created`.
        updated = parse_time(data.get("updated_at"))
        await repo.mark_deleted(s, event.org_id, cid, etag, updated, datetime.now(UTC))


async def _on_changed(gw: Gateway, event: Envelope[WebhookReceived], cid: int) -> None:
    org = event.org_id
    record: dict[str, Any] = event.data.payload["data"]
    fetched = not has_fields(record)
    if fetched:
        record = await _fetch(gw, org, cid)
    if not fetched:
        async with unit_of_work(gw.sessions) as s:
            known = await repo.known_version(s, org, cid)
        if _ambiguous(record, known):
            record = await _fetch(gw, org, cid)
    if (problem := unreadable_field(record)) is not None:
        # Dead-lettered at once: every retry would read the same record.
        raise PermanentError(f"Clio contact {cid} is unreadable: {problem}")
    async with unit_of_work(gw.sessions) as s:
        if not await claim_event(s, processed_events, CONSUMER, event.id):
            return
        kind = _change(record, await repo.known_version(s, org, cid))
        if kind is not None:
            ev = to_event(record, kind)
            await gw.contacts_out.publish(org, [ev], event.id)
            await repo.record_page(s, org, [(cid, ev.etag, ev.provider_updated_at)], datetime.now(UTC))


async def handle(gw: Gateway, event: Envelope[WebhookReceived]) -> None:
    if event.data.provider != "clio":
        return
    cid = record_id(event.data.payload)
    if cid is None:
        # Logged for the admin API, and dead-lettered (not retried: no retry can add an id).
        await _log(gw, event, None, "failed", NO_RECORD_ID)
        raise PermanentError(NO_RECORD_ID)
    await _log(gw, event, cid, "received")
    try:
        if event.data.event == "deleted":
            await _on_deleted(gw, event, cid)
        else:
            await _on_changed(gw, event, cid)
    except (NeedsReauth, ProviderAuthError) as exc:
        # Only a person reconnecting fixes this: retrying would only delay the dead letter.
        reason = must_reconnect(event.org_id, exc, then=CATCH_UP.format(org=event.org_id))
        await _log(gw, event, cid, "failed", reason)
        raise PermanentError(reason) from exc
    except ProviderRequestError as exc:
        await _log(gw, event, cid, "failed", str(exc))
        if exc.status == 404:
            return  # deleted since; its own `deleted` delivery follows
        raise PermanentError(str(exc)) from exc
    except Exception as exc:
        await _log(gw, event, cid, "failed", f"{type(exc).__name__}: {exc}")
        raise
    await _log(gw, event, cid, "processed")
