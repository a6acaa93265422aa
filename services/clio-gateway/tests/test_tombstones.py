"""A deleted contact stays deleted: the gateway keeps a tombstone (not a forgotten version row), so
a late delivery of a version from before the deletion publishes nothing, whatever the projector's
clock says; a version Clio stamped after the deletion is still published (as `created`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from practice_sync_cli.testing_stack import Stack
from practice_sync_clio_gateway.testing import connect, replay, sandbox, signed_delivery, wait_run
from practice_sync_common import topics
from practice_sync_common.events import WebhookReceived, envelope
from practice_sync_webhook_ingest.testing import TopicWatcher, watch

ACCOUNT = "demo-law"  # contacts made here are deleted again by the tests that make them


def _gateway(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.urls["clio-gateway"], headers=stack.admin_headers(), timeout=30)


async def _new_contact(stack: Stack, first_name: str) -> dict[str, Any]:
    r = await sandbox(
        stack,
        "POST",
        f"/accounts/{ACCOUNT}/contacts",
        json={"first_name": first_name, "last_name": f"Tomb{uuid.uuid4().hex[:6]}"},
    )
    assert r.status_code == 201, r.text
    record: dict[str, Any] = r.json()["data"]
    return record


async def _delete(stack: Stack, cid: int) -> None:
    assert (await sandbox(stack, "DELETE", f"/accounts/{ACCOUNT}/contacts/{cid}")).status_code == 204


async def _log_size(gw: httpx.AsyncClient, org: str) -> int:
    return len((await gw.get(f"/admin/clio/{org}/webhook-events", params={"limit": 500})).json()["events"])


async def _handled(gw: httpx.AsyncClient, org: str, before: int, timeout_s: float = 20) -> dict[str, Any]:
    """The event the org's log gained after `before` entries, once the gateway is done with it."""
    deadline = time.monotonic() + timeout_s
    while True:
        events = (await gw.get(f"/admin/clio/{org}/webhook-events", params={"limit": 500})).json()["events"]
        if len(events) > before and events[0]["status"] != "received":
            newest: dict[str, Any] = events[0]
            return newest
        assert time.monotonic() < deadline, f"no new handled event for {org}: {events[:2]}"
        await asyncio.sleep(0.1)


async def _inject(kafka_bootstrap: str, org: str, event: str, data: dict[str, Any]) -> None:
    """A `webhook.received` as ingest publishes it (the topic may carry what no signed delivery
    can: a version of a contact Clio already deleted)."""
    payload = {"data": data, "meta": {"event": event}}
    ev = envelope(
        topics.WEBHOOK_RECEIVED, "test", org, WebhookReceived(provider="clio", event=event, payload=payload)
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.WEBHOOK_RECEIVED, ev.model_dump_json().encode(), key=org.encode())
    finally:
        await producer.stop()


def _of(out: TopicWatcher, org: str, cid: int, since: int = 0) -> list[dict[str, Any]]:
    return [e for e in out.seen[since:] if e["org_id"] == org and e["data"]["provider_id"] == str(cid)]


def _later(record: dict[str, Any], first_name: str) -> dict[str, Any]:
    """The same contact as Clio would show it an hour after `record` (newer than any deletion here)."""
    stamp = datetime.fromisoformat(record["updated_at"].replace("Z", "+00:00")) + timedelta(hours=1)
    return {
        **record,
        "first_name": first_name,
        "etag": f'"{uuid.uuid4().hex}"',
        "updated_at": stamp.isoformat(),
    }


async def test_a_late_update_after_a_deleted_delivery_publishes_nothing_but_a_newer_version_does(
    stack: Stack, clio_gateway_service: str, webhook_ingest_service: str, kafka_bootstrap: str
) -> None:
    org = await connect(stack, "cg-tomb")
    async with _gateway(stack) as gw, watch(kafka_bootstrap, topics.CONTACT_SYNCED) as out:
        hook = (await gw.post(f"/admin/clio/{org}/webhooks")).json()
        assert hook["status"] == "enabled", hook
        try:
            cid = int((await _new_contact(stack, "Tomb"))["id"])
            await out.wait_for(lambda e: e in _of(out, org, cid) and e["data"]["action"] == "created")
            r = await sandbox(
                stack, "PATCH", f"/accounts/{ACCOUNT}/contacts/{cid}", json={"first_name": "Later"}
            )
            assert r.status_code == 200, r.text
            await out.wait_for(lambda e: e in _of(out, org, cid) and e["data"]["first_name"] == "Later")
            late = await signed_delivery(stack, hook["webhook_id"], cid, "Later")
            await _delete(stack, cid)
            await out.wait_for(lambda e: e in _of(out, org, cid) and e["data"]["action"] == "deleted")

            # Clio retries the update's delivery after the deletion's: nothing comes back to life.
            mark, before = len(out.seen), await _log_size(gw, org)
            await replay(stack, org, late)
            assert (await _handled(gw, org, before))["status"] == "processed"
            await out.settle(1.0)
            assert _of(out, org, cid, mark) == []

            # A version stamped after the deletion is news (Clio has no undelete; this is the rule).
            await _inject(kafka_bootstrap, org, "updated", _later(late["body"]["data"], "Again"))
            [again] = await out.wait_for(lambda e: e in _of(out, org, cid, mark))
            assert again["data"]["action"] == "created" and again["data"]["first_name"] == "Again"
        finally:
            await gw.delete(f"/admin/clio/{org}/webhooks")


async def test_a_contact_a_full_run_found_gone_is_not_revived_by_a_late_update(
    stack: Stack, clio_gateway_service: str, kafka_bootstrap: str
) -> None:
    org = await connect(stack, "cg-tombfull")
    contact = await _new_contact(stack, "Gone")
    cid = int(contact["id"])
    async with _gateway(stack) as gw, watch(kafka_bootstrap, topics.CONTACT_SYNCED) as out:
        r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
        assert (await wait_run(gw, r.json()["run_id"]))["status"] == "succeeded"
        await _delete(stack, cid)
        r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
        second = await wait_run(gw, r.json()["run_id"])
        assert second["status"] == "succeeded" and second["counts"]["deleted"] >= 1, second
        await out.wait_for(lambda e: e in _of(out, org, cid) and e["data"]["action"] == "deleted")

        # The last version before the deletion, delivered late (this org has no subscription, so it
        # comes straight onto the topic): nothing is published for the deleted contact.
        mark, before = len(out.seen), await _log_size(gw, org)
        await _inject(kafka_bootstrap, org, "updated", contact)
        assert (await _handled(gw, org, before))["status"] == "processed"
        await out.settle(1.0)
        assert _of(out, org, cid, mark) == []

        # Later full runs do not announce the deletion again, and the newer version still counts.
        r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
        assert (await wait_run(gw, r.json()["run_id"]))["counts"]["deleted"] == 0
        await _inject(kafka_bootstrap, org, "updated", _later(contact, "Back"))
        [back] = await out.wait_for(lambda e: e in _of(out, org, cid, mark))
        assert back["data"]["action"] == "created" and back["data"]["first_name"] == "Back"
