"""clio-gateway edge cases found in review: garbled launch parameters, webhook events without a
usable contact id or with a field no attempt can read, deliveries out of order, and contacts changed
while a sync walks."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaProducer

from practice_sync_cli.testing_stack import Stack
from practice_sync_clio_gateway.testing import (
    connect,
    export,
    replay,
    sandbox,
    signed_delivery,
    wait_run,
)
from practice_sync_common import topics
from practice_sync_common.events import Envelope, WebhookReceived, envelope
from practice_sync_webhook_ingest.testing import TopicWatcher, watch

T = TypeVar("T")


async def test_launch_with_a_garbled_subject_url_is_a_400_not_a_500(
    stack: Stack, clio_gateway_service: str
) -> None:
    """A subject_url that only looks like a contact path (a trailing newline, non-ASCII digits, an
    id past 64 bits) is refused with a 400 naming the parameter, for an installed action too."""
    org = await connect(stack, "cg-launch")
    async with httpx.AsyncClient(base_url=clio_gateway_service, headers=stack.admin_headers()) as gw:
        made = await gw.post(f"/admin/clio/{org}/custom-actions/sync")
        assert made.status_code == 200, made.text
    action = made.json()
    subject = (await export(stack, "demo-law"))[0]["id"]
    click = await sandbox(
        stack, "POST", f"/custom_actions/{action['custom_action_id']}/click", json={"subject_id": subject}
    )
    assert click.status_code in (200, 201), click.text
    params = dict(httpx.URL(click.json()["url"]).params)
    garbled = [
        f"/api/v4/contacts/{subject}\n",
        "/api/v4/contacts/\u0663\u0664",  # Arabic-Indic digits: `\d` matches them, Clio would not
        f"/api/v4/contacts/{2**64}",
    ]
    async with httpx.AsyncClient(base_url=clio_gateway_service) as browser:
        for subject_url in garbled:
            r = await browser.get(
                "/clio/custom-actions/launch", params={**params, "subject_url": subject_url}
            )
            assert r.status_code == 400, (subject_url, r.status_code, r.text)
            assert "subject_url" in r.json()["error"]["message"]
            assert params["custom_action_nonce"] not in r.text
        for name in ("custom_action_id", "user_id"):
            r = await browser.get("/clio/custom-actions/launch", params={**params, name: str(2**64)})
            assert r.status_code in (400, 422), (name, r.status_code, r.text)
            assert name in r.json()["error"]["message"]
        # The nonce was never spent on a garbled request: the genuine click still works.
        ok = await browser.get("/clio/custom-actions/launch", params=params)
        assert ok.status_code == 302, ok.text
        assert ok.headers["location"] == f"http://intake.test/dashboard?contact_id={subject}"


async def _event_log(gw: httpx.AsyncClient, org: str) -> list[dict[str, Any]]:
    r = await gw.get(f"/admin/clio/{org}/webhook-events", params={"limit": 500})
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events


async def _until(check: Callable[[], Awaitable[T | None]], timeout_s: float = 20.0) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        got = await check()
        if got is not None:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout_s}s")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def _dead_lettered(
    bootstrap: str, org: str, events: Sequence[Envelope[WebhookReceived]]
) -> AsyncIterator[tuple[list[dict[str, Any]], TopicWatcher]]:
    """`events` put on `webhook.received` (keyed by `org`, as ingest would), entered once each is on
    its DLQ: those dead letters, and `contact.synced` as watched from before the first was sent."""
    ids = {str(ev.id) for ev in events}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        async with (
            watch(bootstrap, topics.dlq(topics.WEBHOOK_RECEIVED)) as dead,
            watch(bootstrap, topics.CONTACT_SYNCED) as out,
        ):
            for ev in events:
                await producer.send_and_wait(
                    topics.WEBHOOK_RECEIVED, ev.model_dump_json().encode(), key=org.encode()
                )
            yield await dead.wait_for(lambda e: e["id"] in ids, count=len(ids), timeout_s=30), out
    finally:
        await producer.stop()


async def test_webhook_events_without_a_usable_id_are_logged_and_dead_lettered(
    stack: Stack, clio_gateway_service: str, kafka_bootstrap: str
) -> None:
    """Ingest refuses such deliveries now, but the topic may still carry them (older ingests, other
    producers): each is logged as failed saying why and dead-lettered with that reason, at once;
    none is taken for another contact (1.5 and true were read as contact 1)."""
    org = f"cg-badid-{uuid.uuid4().hex[:8]}"
    payloads: list[dict[str, Any]] = [
        {},
        {"data": {"id": "abc"}, "meta": {"event": "updated"}},
        {"data": {"id": 1.5, "etag": '"x"', "name": "A"}, "meta": {"event": "updated"}},
        {"data": {"id": True}, "meta": {"event": "deleted"}},
    ]
    sent = [
        envelope(topics.WEBHOOK_RECEIVED, "test", org, WebhookReceived(provider="clio", payload=p))
        for p in payloads
    ]
    async with (
        httpx.AsyncClient(base_url=clio_gateway_service, headers=stack.admin_headers()) as gw,
        _dead_lettered(kafka_bootstrap, org, sent) as (dlq, out),
    ):
        ids = {str(ev.id) for ev in sent}
        assert {e["id"] for e in dlq} == ids

        async def all_failed() -> list[dict[str, Any]] | None:
            log = [e for e in await _event_log(gw, org) if e["event_id"] in ids]
            return log if len(log) == len(ids) else None

        log = await _until(all_failed)
        assert {e["status"] for e in log} == {"failed"}
        assert all("data.id" in e["error"] and e["record_id"] is None for e in log), log
        await out.settle(0.5)
        assert not [e for e in out.seen if e["org_id"] == org]


async def test_webhook_contacts_with_an_unreadable_field_are_dead_lettered_at_once_naming_it(
    stack: Stack, clio_gateway_service: str, kafka_bootstrap: str
) -> None:
    """A delivery carrying the whole contact (no fetch) with a field no attempt can read: a numeric
    etag failed as an internal error, retried; a date that is none, or an email list that is a
    string, was published as if empty. Each is now dead-lettered at once, the log naming the field,
    and nothing is published."""
    org = f"cg-badfield-{uuid.uuid4().hex[:8]}"
    whole = {
        "etag": '"e1"',
        "updated_at": "2025-01-01T00:00:00Z",
        "name": "Ada Field",
        "first_name": "Ada",
        "last_name": "Field",
        "email_addresses": [{"address": "ada@example.com"}],
        "phone_numbers": [],
    }
    bad: dict[str, dict[str, Any]] = {
        "its etag is not a string": {"etag": 7},
        "its updated_at is not an ISO 8601 time": {"updated_at": "yesterday"},
        "its email_addresses is not a list": {"email_addresses": "ada@example.com"},
    }
    sent = {
        problem: envelope(
            topics.WEBHOOK_RECEIVED,
            "test",
            org,
            WebhookReceived(
                provider="clio",
                payload={"data": {**whole, **change, "id": 900 + n}, "meta": {"event": "updated"}},
            ),
        )
        for n, (problem, change) in enumerate(bad.items())
    }
    async with (
        httpx.AsyncClient(base_url=clio_gateway_service, headers=stack.admin_headers()) as gw,
        _dead_lettered(kafka_bootstrap, org, list(sent.values())) as (_, out),
    ):
        ids = {str(ev.id): problem for problem, ev in sent.items()}

        async def all_failed() -> list[dict[str, Any]] | None:
            log = [e for e in await _event_log(gw, org) if e["event_id"] in ids]
            return log if len(log) == len(ids) and all(e["status"] == "failed" for e in log) else None

        for entry in await _until(all_failed):
            assert ids[entry["event_id"]] in entry["error"], entry
        await out.settle(0.5)
        assert not [e for e in out.seen if e["org_id"] == org]


async def test_an_older_delivery_arriving_late_does_not_roll_a_contact_back(
    stack: Stack,
    clio_gateway_service: str,
    webhook_ingest_service: str,
    projector_service: str,
    kafka_bootstrap: str,
) -> None:
    """Two edits in one second (Clio stamps whole seconds), the older delivery retried after the
    newer one: neither the gateway nor the read model may go back to the older version. A deleted
    contact is not brought back by a late delivery either."""
    org = await connect(stack, "cg-order")
    async with (
        httpx.AsyncClient(base_url=clio_gateway_service, headers=stack.admin_headers()) as gw,
        watch(kafka_bootstrap, topics.CONTACT_SYNCED) as out,
    ):
        hook = (await gw.post(f"/admin/clio/{org}/webhooks")).json()
        assert hook["status"] == "enabled", hook
        made = await sandbox(
            stack, "POST", "/accounts/demo-law/contacts", json={"first_name": "First", "last_name": "Order"}
        )
        assert made.status_code == 201, made.text
        cid = int(made.json()["data"]["id"] if "data" in made.json() else made.json()["id"])

        async def projected(first_name: str) -> Callable[[], Awaitable[dict[str, Any] | None]]:
            async def check() -> dict[str, Any] | None:
                r = await gw.get("/clio/contacts", params={"org_id": org, "limit": 500})
                rows = [c for c in r.json().get("contacts", []) if c.get("clio_id") == str(cid)]
                return rows[0] if rows and rows[0]["first_name"] == first_name else None

            return check

        await _until(await projected("First"))
        # Both edits in the same whole second of the sandbox clock.
        epoch = (await sandbox(stack, "GET", "/clock")).json()["epoch"]
        at = datetime.fromtimestamp(math.ceil(epoch), UTC).isoformat()
        assert (await sandbox(stack, "POST", "/clock/set", json={"at": at})).status_code == 200
        for name in ("Older", "Newer"):
            r = await sandbox(stack, "PATCH", f"/accounts/demo-law/contacts/{cid}", json={"first_name": name})
            assert r.status_code == 200, r.text
        newer = await _until(await projected("Newer"))
        older_delivery = await signed_delivery(stack, hook["webhook_id"], cid, "Older")
        newer_delivery = await signed_delivery(stack, hook["webhook_id"], cid, "Newer")
        assert older_delivery["body"]["data"]["updated_at"] == newer_delivery["body"]["data"]["updated_at"]

        before = len(await _event_log(gw, org))
        await replay(stack, org, older_delivery)

        async def handled() -> bool | None:
            log = await _event_log(gw, org)
            return True if len(log) > before and log[0]["status"] != "received" else None

        await _until(handled)
        await out.settle(1.0)
        # The read model keeps the newer version (the projector takes ties in arrival order) ...
        assert (await _until(await projected("Newer"), 3.0))["clio_etag"] == newer["clio_etag"]
        # ... because the gateway no longer republishes the older one.
        late = [e for e in out.seen if e["org_id"] == org and e["data"].get("first_name") == "Older"]
        assert [e["data"]["action"] for e in late] == ["updated"]  # the live one only, not the replay

        # Deleted, then the last update delivered again: the contact stays deleted.
        assert (await sandbox(stack, "DELETE", f"/accounts/demo-law/contacts/{cid}")).status_code in (
            200,
            204,
        )

        async def deleted() -> bool | None:
            r = await gw.get("/clio/contacts", params={"org_id": org, "limit": 500})
            rows = [c for c in r.json().get("contacts", []) if c.get("clio_id") == str(cid)]
            return True if rows and rows[0]["deleted_at"] is not None else None

        await _until(deleted)
        await replay(stack, org, newer_delivery)
        await out.settle(2.0)
        assert await deleted()


async def test_a_contact_changed_behind_a_running_walk_is_picked_up_by_the_next_incremental(
    stack: Stack, clio_gateway_service: str, kafka_bootstrap: str
) -> None:
    """A full walk (by id) passes contact A; A changes; ten minutes later (sandbox clock) contact Z,
    ahead of the cursor, changes and the walk sees it. The next incremental run must still find A:
    its window may not start after the walk's own start."""
    org = await connect(stack, "cg-mark", user="conf-many")
    contacts = sorted(await export(stack, "conf-many"), key=lambda c: int(c["id"]))
    low, high = contacts[0], contacts[-1]
    marker = f"Behind{uuid.uuid4().hex[:6]}"
    async with (
        httpx.AsyncClient(base_url=clio_gateway_service, headers=stack.admin_headers()) as gw,
        watch(kafka_bootstrap, topics.CONTACT_SYNCED) as out,
    ):
        # Slow pages (six of them), so the changes land while the walk is between its ends.
        assert (await sandbox(stack, "POST", "/faults", json={"latency_ms": 1500})).status_code == 200
        try:
            r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]

            async def past_first_page() -> bool | None:
                run = (await gw.get(f"/admin/syncs/{run_id}")).json()
                return True if (run.get("progress") or {}).get("pages", 0) >= 1 else None

            await _until(past_first_page)
            path = "/accounts/conf-many/contacts"
            r = await sandbox(stack, "PATCH", f"{path}/{low['id']}", json={"first_name": marker})
            assert r.status_code == 200, r.text
            await sandbox(stack, "POST", "/clock/advance", json={"seconds": 600})
            r = await sandbox(stack, "PATCH", f"{path}/{high['id']}", json={"first_name": f"{marker}Z"})
            assert r.status_code == 200, r.text
            full = await wait_run(gw, run_id)
        finally:
            await sandbox(stack, "DELETE", "/faults")
        assert full["status"] == "succeeded", full
        assert (await gw.get(f"/admin/syncs/{run_id}")).json()["progress"]["pages"] == 6

        r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "incremental"})
        incremental = await wait_run(gw, r.json()["run_id"])
        assert incremental["status"] == "succeeded", incremental
        [changed] = await out.wait_for(
            lambda e: e["org_id"] == org and e["data"]["first_name"] == marker, timeout_s=5
        )
        assert changed["data"]["provider_id"] == str(low["id"])
