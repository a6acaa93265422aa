"""Failures a person must read: a Clio page of the wrong shape or with a record that is not a
contact we can read, and an org whose Clio grant is gone
(a run's error and a webhook event's reason name the reconnect command; such an event is
dead-lettered at once, since no retry can bring the grant back)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Coroutine
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from faststream.kafka.subscriber.usecase import LogicSubscriber
from prometheus_client.parser import text_string_to_metric_families

from practice_sync_cli.testing_stack import SERVICE_TOKENS, Stack
from practice_sync_clio_gateway.service.sync import ContactSync
from practice_sync_clio_gateway.testing import (
    ContactTail,
    access_token,
    connect,
    export,
    revoke,
    sandbox,
    wait_run,
)
from practice_sync_common import topics
from practice_sync_common.db import unit_of_work
from practice_sync_common.events import WebhookReceived, envelope
from practice_sync_common.sync_runs import SyncProgress
from practice_sync_webhook_ingest.testing import from_now

T = TypeVar("T")


def _gateway(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.urls["clio-gateway"], headers=stack.admin_headers(), timeout=30)


def _reconnect_command(org: str) -> str:
    return f"practice-sync credentials set --org {org} --provider clio"


async def _settled(gw: httpx.AsyncClient, run_id: str, timeout_s: float = 30) -> dict[str, Any]:
    """The run once its attempt is over: finished, or queued again for a retry with its error."""
    deadline = time.monotonic() + timeout_s
    while True:
        run: dict[str, Any] = (await gw.get(f"/admin/syncs/{run_id}")).json()
        if run["status"] in ("succeeded", "failed") or (run["status"] == "queued" and run.get("error")):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} did not settle in {timeout_s}s: {run}")
        await asyncio.sleep(0.05)


async def _resume_at(sync: ContactSync, run_id: uuid.UUID, org: str, next_url: str) -> None:
    """A full run checkpointed before `next_url` (as if Clio's last page had linked to it), started.

    Runs on the service's own loop: its sessions are bound there.
    """
    gw = sync.gw
    checkpoint = {
        "mode": "full",
        "since": None,
        "next": next_url,
        "max_updated": None,
        "started": datetime.now(UTC).isoformat(),
    }
    async with unit_of_work(gw.sessions) as s:
        await gw.runs.create(s, run_id=run_id, org_id=org, provider="clio", mode="full", reason="test")
        await gw.runs.checkpoint(s, run_id, checkpoint, SyncProgress())
    sync.start(run_id)


def _sync_requests(sync: ContactSync) -> LogicSubscriber[Any]:
    """The gateway's `sync.requested` subscriber, consuming since the service started."""
    [subscriber] = [
        s
        for s in sync.gw.broker.subscribers
        if isinstance(s, LogicSubscriber) and topics.SYNC_REQUESTED in s.topic_names
    ]
    return subscriber


def _service_loop(sync: ContactSync) -> asyncio.AbstractEventLoop:
    # `sync.loop` is known only once a run has started; the consumer's task is there from the start.
    loop: asyncio.AbstractEventLoop = _sync_requests(sync).tasks[0].get_loop()
    return loop


def _on_service_loop(sync: ContactSync, work: Coroutine[Any, Any, T]) -> Awaitable[T]:
    return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, _service_loop(sync)))


async def test_a_page_that_is_json_but_not_a_clio_page_fails_the_run_as_a_malformed_page(
    stack: Stack, clio_gateway_service: str
) -> None:
    """Clio's envelope is `{"data": [...], "meta": ...}`. A page that is a JSON list failed the run
    as `internal error: AttributeError`; an object without a data list passed for an empty last
    page (for a full run: every known contact deleted). Both are malformed pages now, said the way
    a body that is not JSON is. The sandbox's API always answers its envelope, so the next link of
    a checkpointed run leads to sandbox control routes answering a list and an object instead."""
    org = await connect(stack, "cg-shape", "conf-empty")
    sync: ContactSync = stack.apps["clio-gateway"].state.contact_sync
    async with _gateway(stack) as gw:
        r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
        assert (await wait_run(gw, r.json()["run_id"]))["status"] == "succeeded"  # the org syncs
        assert sync.loop is not None
        for path, shape in [("/_sandbox/accounts", "a list"), ("/_sandbox/clock", "an object without data")]:
            run_id = uuid.uuid4()
            next_url = f"{stack.urls['clio-sandbox']}{path}"
            await _on_service_loop(sync, _resume_at(sync, run_id, org, next_url))
            run = await _settled(gw, str(run_id))
            assert run["status"] != "succeeded", (path, run)
            error = run["error"] or ""
            assert f"GET {path} answered a malformed page" in error and shape in error, (path, error)
            assert "internal error" not in error


async def test_an_unreadable_record_in_a_contacts_page_fails_the_run_at_once_naming_it(
    stack: Stack, clio_gateway_service: str, kafka_bootstrap: str
) -> None:
    """A page record that is not an object, has no id, or an id that is not a Clio id (a string of
    digits or `true` included) stands in for the third contact of the org's only page. Such a
    record was dropped, and a full run then published that contact as deleted (or, for `true`,
    named contact 1). Now the run fails at its first attempt (no retry reads it differently), the
    error names the record's position and id, and the org's `contact.synced` is untouched: nothing
    of the page (not even on the org's first run), and no deletion."""
    contacts = sorted(await export(stack, "demo-law"), key=lambda c: c["id"])
    victim = contacts[2]
    cid = victim["id"]
    without_id = {k: v for k, v in victim.items() if k != "id"}
    shapes: list[tuple[Any, str, str]] = [
        ([cid, victim["name"]], "(no id)", "not a JSON object: ["),
        (without_id, "(no id)", "a record without an id"),
        ({**victim, "id": str(cid)}, f'(id "{cid}")', "not a Clio id"),
        ({**victim, "id": True}, "(id true)", "not a Clio id"),
        ({**victim, "id": cid + 0.5}, f"(id {cid + 0.5})", "not a Clio id"),
        # A good id with a field no attempt can read: it used to fail as an internal error, retried.
        ({**victim, "etag": 7}, f"(id {cid})", "its etag is not a string"),
        ({**victim, "updated_at": "yesterday"}, f"(id {cid})", "its updated_at is not an ISO 8601 time"),
        ({**victim, "email_addresses": "a@b.example"}, f"(id {cid})", "its email_addresses is not a list"),
    ]
    tail = await ContactTail(kafka_bootstrap).start()
    try:
        org = await connect(stack, "cg-unreadable", "demo-law")
        async with _gateway(stack) as gw:

            async def full_run(record: Any) -> dict[str, Any]:
                fault = {"account": "demo-law", "position": 2, "record": record}
                assert (await sandbox(stack, "POST", "/faults/contact_record", json=fault)).status_code == 200
                r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
                assert r.status_code == 202, r.text
                return await _settled(gw, r.json()["run_id"])

            def refused(run: dict[str, Any], ident: str, problem: str) -> None:
                assert run["status"] == "failed" and run["attempt"] == 1, run  # not queued for a retry
                error = run["error"] or ""
                assert f"record at position 2 of {len(contacts)} {ident}" in error and problem in error, error
                assert "internal error" not in error

            refused(await full_run(without_id), "(no id)", "a record without an id")
            assert await tail.of(org) == {}  # the other contacts of the page were not published either
            r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
            assert (await wait_run(gw, r.json()["run_id"]))["status"] == "succeeded"
            synced = await tail.of(org)
            assert set(synced) == {str(c["id"]) for c in contacts}
            seen = len(tail.events)
            for record, ident, problem in shapes:
                refused(await full_run(record), ident, problem)
            await tail.catch_up()
            assert [e for e in tail.events[seen:] if e["org_id"] == org] == []  # no deletion, nothing
    finally:
        await sandbox(stack, "DELETE", "/faults")
        await tail.stop()


def _dead_letters(bootstrap: str) -> AbstractAsyncContextManager[AIOKafkaConsumer]:
    """`webhook.received.dlq` from its end as of now, headers kept (the topic watcher drops them)."""
    return from_now(bootstrap, topics.dlq(topics.WEBHOOK_RECEIVED))


async def _dead_lettered(consumer: AIOKafkaConsumer, ids: set[str], timeout_s: float = 30) -> dict[str, Any]:
    """{event id: its DLQ headers} once every id in `ids` has been dead-lettered."""
    found: dict[str, Any] = {}
    deadline = time.monotonic() + timeout_s
    while set(found) != ids:
        assert time.monotonic() < deadline, f"dead-lettered {sorted(found)} of {sorted(ids)}"
        for records in (await consumer.getmany(timeout_ms=200)).values():
            for record in records:
                event_id = json.loads(record.value)["id"]
                if event_id in ids:
                    found[event_id] = {k: v.decode() for k, v in record.headers}
    return found


async def _lose_grant(stack: Stack, org: str, told: bool) -> str:
    """The firm revokes `org`'s grant in Clio; `told`: credentials has checked it since (its refresh
    met `invalid_grant`, so it refuses the token, 409), else it still hands out the revoked token
    (Clio answers 401). The revoked access token, for asserting it leaks nowhere."""
    token = await access_token(stack, org, SERVICE_TOKENS["clio-gateway"])
    await revoke(stack, token)
    if told:
        async with httpx.AsyncClient(base_url=stack.urls["credentials"], timeout=30) as c:
            r = await c.post(f"/admin/orgs/{org}/credentials/clio/validate", headers=stack.admin_headers())
            assert r.json()["status"] == "needs_reauth", r.text
    return token


async def _needs_reauth(stack: Stack, prefix: str, told: bool) -> tuple[str, str]:
    """A new org whose grant is gone (see `_lose_grant`), and its revoked access token."""
    org = await connect(stack, prefix, "conf-empty")
    return org, await _lose_grant(stack, org, told)


async def test_a_webhook_for_an_org_that_must_reconnect_is_dead_lettered_at_once_saying_how(
    stack: Stack, clio_gateway_service: str, kafka_bootstrap: str
) -> None:
    """A delivery that needs the contact fetched, for an org whose grant is gone (credentials knows,
    or only Clio does): logged failed naming the reconnect command, dead-lettered after one attempt
    (it was retried three times first, for nothing)."""
    orgs = [
        await _needs_reauth(stack, "cg-rewh", told=True),
        await _needs_reauth(stack, "cg-rewh", told=False),
    ]
    payload = {"data": {"id": 4242, "etag": '"stale"'}, "meta": {"event": "updated"}}  # no fields: a fetch
    sent = {
        org: envelope(topics.WEBHOOK_RECEIVED, "test", org, WebhookReceived(provider="clio", payload=payload))
        for org, _ in orgs
    }
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        async with _dead_letters(kafka_bootstrap) as dlq, _gateway(stack) as gw:
            for org, event in sent.items():
                await producer.send_and_wait(
                    topics.WEBHOOK_RECEIVED, event.model_dump_json().encode(), key=org.encode()
                )
            dead = await _dead_lettered(dlq, {str(e.id) for e in sent.values()})
            for org, token in orgs:
                headers = dead[str(sent[org].id)]
                assert headers["x-dlq-attempts"] == "1", headers
                assert headers["x-dlq-error-type"] == "PermanentError", headers
                r = await gw.get(f"/admin/clio/{org}/webhook-events")
                [logged] = r.json()["events"]
                assert logged["status"] == "failed" and logged["record_id"] == 4242, logged
                assert "reconnect Clio" in logged["error"], logged
                assert _reconnect_command(org) in logged["error"] and token not in logged["error"]
                assert _reconnect_command(org) in headers["x-dlq-error"]
    finally:
        await producer.stop()


async def test_a_grant_revoked_during_a_run_fails_it_saying_how_to_reconnect(
    stack: Stack, clio_gateway_service: str
) -> None:
    """The firm disconnects the app in Clio while a full run walks its pages: the run fails for
    good, its error (as `GET /admin/syncs/{run_id}` shows it) says the org must reconnect Clio and
    names the command, and carries no token."""
    org = await connect(stack, "cg-revoked", "conf-many")
    token = await access_token(stack, org, SERVICE_TOKENS["clio-gateway"])
    async with _gateway(stack) as gw:
        # Slow pages (six of them), so the grant goes while the walk is between its ends.
        assert (await sandbox(stack, "POST", "/faults", json={"latency_ms": 400})).status_code == 200
        try:
            r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]
            deadline = time.monotonic() + 30
            while (await gw.get(f"/admin/syncs/{run_id}")).json()["progress"]["pages"] < 1:
                assert time.monotonic() < deadline, "the run read no page"
                await asyncio.sleep(0.05)
            await revoke(stack, token)
            await wait_run(gw, run_id)
        finally:
            await sandbox(stack, "DELETE", "/faults")
        r = await gw.get(f"/admin/syncs/{run_id}")
    run = r.json()
    assert run["status"] == "failed" and 1 <= run["progress"]["pages"] < 6, run
    assert run["attempt"] == 1, run  # not retried: only a person can fix it
    error = run["error"]
    assert f"org {org} must reconnect Clio" in error, error
    assert _reconnect_command(org) in error and "request the sync again" in error, error
    assert token not in r.text


@asynccontextmanager
async def _sync_requests_held(stack: Stack) -> AsyncIterator[None]:
    """Meanwhile the gateway's `sync.requested` consumer fetches nothing (as when its worker lags or
    is down): a request the intake accepted stays a queued run that nobody has claimed. Leaving
    resumes it, and the held requests are consumed as any others."""
    sync: ContactSync = stack.apps["clio-gateway"].state.contact_sync
    consumer: AIOKafkaConsumer = _sync_requests(sync).consumer

    # The consumer belongs to the service's loop: it is paused and resumed there, between fetches.
    async def pause() -> set[TopicPartition]:
        partitions: set[TopicPartition] = consumer.assignment()
        consumer.pause(*partitions)
        return partitions

    async def resume() -> None:
        consumer.resume(*held)

    held = await _on_service_loop(sync, pause())
    assert held, "the gateway's sync.requested consumer has no partitions to hold"
    try:
        yield
    finally:
        await _on_service_loop(sync, resume())


async def _clio_requests(stack: Stack, accounts: tuple[str, ...]) -> Counter[tuple[str, str]]:
    """The sandbox's ledger of API requests served so far, by (account, endpoint)."""
    served = (await sandbox(stack, "GET", "/stats")).json()["accounts"]
    return Counter(
        {
            (a, endpoint): n
            for a in accounts
            for endpoint, n in served.get(a, {}).get("by_endpoint", {}).items()
        }
    )


_TOKEN_ROUTES = ("/internal/credentials/{org}/clio", "/internal/credentials/{org}/clio/refresh")


async def _token_calls(stack: Stack) -> Counter[tuple[str, str, str]]:
    """Credentials' Clio token routes served so far, by (method, route, status), from its /metrics.

    The counter is per route, not per org: it counts every org's calls, so a test reading it must
    be the only one asking for tokens meanwhile (tests run one at a time; reconcile rounds are off).
    """
    async with httpx.AsyncClient(base_url=stack.urls["credentials"], timeout=30) as c:
        text = (await c.get("/metrics")).text
    calls: Counter[tuple[str, str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "practice_sync_http_requests_total" and labels.get("route") in _TOKEN_ROUTES:
                calls[(labels["method"], labels["route"], labels["status"])] += int(sample.value)
    return calls


async def test_a_run_queued_before_the_grant_went_fails_at_its_claim_asking_credentials_once(
    stack: Stack, clio_gateway_service: str
) -> None:
    """The intake accepts a sync while the grant is good; before the run is claimed, the firm
    disconnects the app in Clio and credentials learns it (its refresh meets `invalid_grant`, so it
    answers 409 `needs_reauth`). The claimed run asks credentials for the token once and fails for
    good at that first attempt: no retry scheduled, no refresh tried, nothing sent to Clio, and an
    error that names the reconnect command and carries no token."""
    org = await connect(stack, "cg-queued-reauth", "conf-empty")
    clio_accounts = ("conf-empty", "unauthenticated")  # a revoked token is served as the latter
    async with _gateway(stack) as gw:
        async with _sync_requests_held(stack):
            r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]
            token = await _lose_grant(stack, org, told=True)
            async with httpx.AsyncClient(base_url=stack.urls["credentials"], timeout=30) as c:
                refused = await c.get(
                    f"/internal/credentials/{org}/clio",
                    headers={"Authorization": f"Bearer {SERVICE_TOKENS['clio-gateway']}"},
                )
            assert refused.status_code == 409 and "needs_reauth" in refused.text, refused.text
            queued = (await gw.get(f"/admin/syncs/{run_id}")).json()
            assert queued["status"] == "queued" and queued["attempt"] == 0, queued  # not claimed yet
            clio_before = await _clio_requests(stack, clio_accounts)
            calls_before = await _token_calls(stack)
        # A retry would be due 30 s on (RETRY's backoff): a run settled well before that had none.
        run = await wait_run(gw, run_id, timeout_s=10)
        shown = (await gw.get(f"/admin/syncs/{run_id}")).text
    assert run["status"] == "failed" and run["attempt"] == 1 and run["next_retry_at"] is None, run
    error = run["error"]
    assert f"org {org} must reconnect Clio" in error and _reconnect_command(org) in error, error
    assert "request the sync again" in error and error.endswith("(after 1 attempt)"), error
    assert token not in shown
    assert run["progress"]["requests"] == 0, run
    assert await _clio_requests(stack, clio_accounts) - clio_before == Counter()  # Clio was asked nothing
    asked = await _token_calls(stack) - calls_before
    assert asked == Counter({("GET", "/internal/credentials/{org}/clio", "409"): 1}), asked
