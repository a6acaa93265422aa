"""webhook-ingest over real HTTP, with the session's credentials service and broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest

from practice_sync_cli.testing_stack import SERVICE_TOKENS, Stack, start_service
from practice_sync_common import topics
from practice_sync_common.events import Envelope, WebhookReceived
from practice_sync_sandbox._kit.runner import free_port
from practice_sync_webhook_ingest.testing import sign, watch

GATEWAY = {"Authorization": f"Bearer {SERVICE_TOKENS['clio-gateway']}"}


def new_org() -> str:
    return f"wi-{uuid.uuid4().hex[:10]}"


async def store_secret(stack: Stack, org: str, webhook_id: str, secret: str) -> None:
    async with httpx.AsyncClient(base_url=stack.urls["credentials"]) as c:
        r = await c.post("/admin/orgs", json={"id": org}, headers=stack.admin_headers())
        assert r.status_code in (200, 201), r.text
        r = await c.put(
            f"/internal/credentials/{org}/clio/webhook-secrets/{webhook_id}",
            json={"secret": secret},
            headers=GATEWAY,
        )
        assert r.status_code == 200, r.text


def delivery(contact_id: int, webhook_id: int, event: str = "updated") -> bytes:
    body = {
        "data": {"id": contact_id, "etag": f'"{uuid.uuid4().hex}"'},
        "meta": {"event": event, "webhook_id": webhook_id},
    }
    return json.dumps(body).encode()


async def post(url: str, org: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url) as c:
        return await c.post(f"/webhooks/clio/{org}", content=body, headers=headers)


def another_ingest(stack: Stack, **overrides: Any) -> str:
    """A second webhook-ingest with `overrides`; the session's instance stays the stack's one (start_service
    registers the newest instance under the name)."""
    main_url, main_app = stack.urls.get("webhook-ingest"), stack.apps.get("webhook-ingest")
    url = start_service(stack, "webhook-ingest", **overrides)
    if main_url is not None:
        stack.urls["webhook-ingest"], stack.apps["webhook-ingest"] = main_url, main_app
    return url


def counter(text: str, outcome: str) -> float:
    for line in text.splitlines():
        if line.startswith("webhook_ingest_deliveries_total{") and f'outcome="{outcome}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_handshake_echoes_the_secret_without_publishing(webhook_ingest_service: str) -> None:
    r = await post(
        webhook_ingest_service, new_org(), b'{"id": 7, "webhook_id": 7}', {"X-Hook-Secret": "hs-1234567"}
    )
    assert r.status_code == 200
    assert r.headers["X-Hook-Secret"] == "hs-1234567"


async def test_signed_delivery_is_published_before_200(
    stack: Stack, webhook_ingest_service: str, kafka_bootstrap: str
) -> None:
    org, secret = new_org(), f"sec-{uuid.uuid4().hex}"
    await store_secret(stack, org, "41", secret)
    body = delivery(1234, 41)
    async with watch(kafka_bootstrap, topics.WEBHOOK_RECEIVED) as watcher:
        r = await post(webhook_ingest_service, org, body, {"X-Hook-Signature": sign(secret, body)})
        assert r.status_code == 200, r.text
        [event] = await watcher.wait_for(lambda e: e["org_id"] == org)
    assert event["type"] == "webhook.received"
    # The envelope is built around the raw body: it must still be exactly the schema consumers parse.
    parsed = Envelope[WebhookReceived].model_validate(event)
    assert parsed.org_id == org and parsed.data.provider == "clio"
    assert event["data"]["payload"] == json.loads(body)
    assert event["data"]["webhook_id"] == "41" and event["data"]["event"] == "updated"
    assert secret not in json.dumps(event)


async def test_a_uuid_org_in_another_spelling_is_published_under_its_own_id(
    stack: Stack, webhook_ingest_service: str, kafka_bootstrap: str
) -> None:
    """The event carries the org's one (lowercase) id whatever spelling the URL used: the projector
    keys the contact by it, and the read API finds it there."""
    org, secret = str(uuid.uuid4()), f"sec-{uuid.uuid4().hex}"
    await store_secret(stack, org, "42", secret)
    body = delivery(4321, 42)
    async with watch(kafka_bootstrap, topics.WEBHOOK_RECEIVED) as watcher:
        r = await post(webhook_ingest_service, org.upper(), body, {"X-Hook-Signature": sign(secret, body)})
        assert r.status_code == 200, r.text
        [event] = await watcher.wait_for(lambda e: e["org_id"].lower() == org)
    assert event["org_id"] == org


async def test_new_secret_works_immediately_and_bad_or_missing_signatures_get_401(
    stack: Stack, webhook_ingest_service: str, kafka_bootstrap: str
) -> None:
    org, first, second = new_org(), f"sec-{uuid.uuid4().hex}", f"sec-{uuid.uuid4().hex}"
    await store_secret(stack, org, "1", first)
    body = delivery(5, 1)
    async with httpx.AsyncClient(base_url=webhook_ingest_service) as c:
        before = (await c.get("/metrics")).text
    assert (
        await post(webhook_ingest_service, org, body, {"X-Hook-Signature": sign(first, body)})
    ).status_code == 200
    # A subscription created after the cache was filled: its first delivery must still pass.
    await store_secret(stack, org, "2", second)
    body2 = delivery(6, 2)
    assert (
        await post(webhook_ingest_service, org, body2, {"X-Hook-Signature": sign(second, body2)})
    ).status_code == 200

    forged = await post(webhook_ingest_service, org, body, {"X-Hook-Signature": sign("not-the-secret", body)})
    assert forged.status_code == 401
    assert "X-Hook-Signature" in forged.json()["error"]["message"]
    tampered = await post(webhook_ingest_service, org, body + b" ", {"X-Hook-Signature": sign(first, body)})
    assert tampered.status_code == 401
    missing = await post(webhook_ingest_service, org, body, {})
    assert missing.status_code == 401 and "missing" in missing.json()["error"]["message"]
    other_org = await post(webhook_ingest_service, new_org(), body, {"X-Hook-Signature": sign(first, body)})
    assert other_org.status_code == 401

    nan = b'{"data": {"id": NaN}}'  # Python's json would take it; it is not JSON
    assert (
        await post(webhook_ingest_service, org, nan, {"X-Hook-Signature": sign(first, nan)})
    ).status_code == 400
    not_json = b"this is not json"
    bad = await post(webhook_ingest_service, org, not_json, {"X-Hook-Signature": sign(first, not_json)})
    assert bad.status_code == 400 and "not JSON" in bad.json()["error"]["message"]

    async with httpx.AsyncClient(base_url=webhook_ingest_service) as c:
        after = (await c.get("/metrics")).text
    assert counter(after, "accepted") - counter(before, "accepted") >= 2
    assert counter(after, "bad_signature") - counter(before, "bad_signature") >= 3
    assert counter(after, "missing_signature") - counter(before, "missing_signature") >= 1
    assert counter(after, "not_json") - counter(before, "not_json") >= 1
    assert first not in after and second not in after


async def test_signed_empty_or_non_object_bodies_get_400_and_publish_nothing(
    stack: Stack, webhook_ingest_service: str, kafka_bootstrap: str
) -> None:
    """A Clio delivery is a JSON object: a verified empty or non-object body is refused, with or
    without an X-Hook-Secret header (a signed request is a delivery, never a handshake), while an
    unsigned handshake with an empty body is still confirmed."""
    org, secret = new_org(), f"sec-{uuid.uuid4().hex}"
    await store_secret(stack, org, "43", secret)
    async with watch(kafka_bootstrap, topics.WEBHOOK_RECEIVED) as watcher:
        for extra in ({}, {"X-Hook-Secret": "hs-signed-1"}):
            for empty in (b"", b" \r\n"):
                r = await post(
                    webhook_ingest_service, org, empty, {"X-Hook-Signature": sign(secret, empty), **extra}
                )
                assert r.status_code == 400, (extra, empty, r.status_code, r.text)
                assert "body is empty" in r.json()["error"]["message"]
                assert "x-hook-secret" not in r.headers
            for not_object in (b"[]", b'"x"', b"1", b"null"):
                r = await post(
                    webhook_ingest_service,
                    org,
                    not_object,
                    {"X-Hook-Signature": sign(secret, not_object), **extra},
                )
                assert r.status_code == 400, (extra, not_object, r.status_code, r.text)
                assert "JSON object" in r.json()["error"]["message"]
            assert secret not in r.text

        # Clio's handshake: unsigned, body possibly empty → echoed, nothing published.
        shake = await post(webhook_ingest_service, org, b"", {"X-Hook-Secret": "hs-empty-9"})
        assert shake.status_code == 200 and shake.headers["X-Hook-Secret"] == "hs-empty-9"

        # A signed delivery that also carries X-Hook-Secret is published, not swallowed as a handshake.
        body = delivery(4343, 43, "created")
        r = await post(
            webhook_ingest_service,
            org,
            body,
            {"X-Hook-Signature": sign(secret, body), "X-Hook-Secret": "hs-signed-2"},
        )
        assert r.status_code == 200, r.text
        [event] = await watcher.wait_for(lambda e: e["org_id"] == org)
        assert event["data"]["payload"] == json.loads(body)
        await watcher.settle(1.0)
    assert [e["data"]["payload"] for e in watcher.seen if e["org_id"] == org] == [json.loads(body)]


async def test_oversized_body_is_refused(webhook_ingest_service: str) -> None:
    big = b'{"pad": "' + b"x" * 300_000 + b'"}'
    r = await post(webhook_ingest_service, new_org(), big, {"X-Hook-Signature": "00"})
    assert r.status_code == 413


async def test_an_org_id_no_org_can_have_is_refused_not_retried(webhook_ingest_service: str) -> None:
    # The credentials service would never know "-x": 422 (permanent), not 503 (Clio would retry forever).
    for org in ("-x", ".hidden", "a" * 129):
        r = await post(webhook_ingest_service, org, b"{}", {"X-Hook-Signature": "00"})
        assert r.status_code == 422, (org, r.status_code, r.text)


class Forwarder:
    """A TCP forwarder to a real service, opened late or closed early: what goes through it sees that
    service appear or vanish (stopping it also cuts the connections already open)."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port, self.target = port, target
        self.server: asyncio.base_events.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except Exception:
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.open |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.open -= {writer, up_writer}

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server:
            self.server.close()
        for writer in list(self.open):
            writer.close()


@pytest.mark.slow
async def test_broker_down_answers_503_then_the_retry_is_delivered(
    stack: Stack, credentials_service: str, kafka_bootstrap: str
) -> None:
    dead_port = free_port()
    url = another_ingest(stack, kafka_bootstrap_servers=f"127.0.0.1:{dead_port}", publish_timeout_s=1.0)
    org, secret = new_org(), f"sec-{uuid.uuid4().hex}"
    await store_secret(stack, org, "9", secret)
    body = delivery(77, 9, "created")
    headers = {"X-Hook-Signature": sign(secret, body)}
    down = await post(url, org, body, headers)
    assert down.status_code == 503
    assert "retry" in down.json()["error"]["message"]

    host, port = kafka_bootstrap.split(",")[0].rsplit(":", 1)
    forwarder = Forwarder(dead_port, (host, int(port)))
    await forwarder.start()
    try:
        async with watch(kafka_bootstrap, topics.WEBHOOK_RECEIVED) as watcher:
            retried: Any = None
            for _ in range(20):  # what Clio's retries do, faster
                retried = await post(url, org, body, headers)
                if retried.status_code == 200:
                    break
                await asyncio.sleep(0.5)
            assert retried.status_code == 200, retried.text
            [event] = await watcher.wait_for(lambda e: e["org_id"] == org)
            assert event["data"]["payload"]["data"]["id"] == 77
    finally:
        await forwarder.stop()


@pytest.mark.slow
async def test_broker_lost_after_start_answers_503_within_the_publish_timeout(
    stack: Stack, credentials_service: str
) -> None:
    """The producer's own deadline bounds a delivery when the broker goes away mid-life."""
    from practice_sync_common.embedded.kafka import EmbeddedBroker

    broker = EmbeddedBroker(free_port())
    await asyncio.to_thread(broker.start)
    try:
        url = another_ingest(stack, kafka_bootstrap_servers=broker.bootstrap, publish_timeout_s=1.5)
        org, secret = new_org(), f"sec-{uuid.uuid4().hex}"
        await store_secret(stack, org, "9", secret)
        body = delivery(78, 9, "created")
        headers = {"X-Hook-Signature": sign(secret, body)}
        assert (await post(url, org, body, headers)).status_code == 200

        await asyncio.to_thread(broker.stop)
        started = asyncio.get_running_loop().time()
        lost = await post(url, org, body, headers)
        waited = asyncio.get_running_loop().time() - started
        assert lost.status_code == 503, lost.text
        assert waited < 1.5 + 2.0  # the publish timeout, not aiokafka's 40 s default

        await asyncio.to_thread(broker.start)  # back on the same address: the retry goes through
        retried: Any = None
        for _ in range(30):
            retried = await post(url, org, body, headers)
            if retried.status_code == 200:
                break
            await asyncio.sleep(0.5)
        assert retried.status_code == 200, retried.text
    finally:
        await asyncio.to_thread(broker.stop)


@pytest.mark.slow
async def test_secrets_past_their_ttl_keep_working_while_credentials_is_away_until_the_bound(
    stack: Stack, credentials_service: str
) -> None:
    """Past the TTL the held secrets are refreshed in the background, not waited for; with credentials
    unreachable they still verify deliveries for `max_stale_s`, then deliveries get 503 until it is back."""
    target = httpx.URL(credentials_service)
    assert target.host and target.port
    forwarder = Forwarder(free_port(), (target.host, target.port))
    await forwarder.start()
    url = another_ingest(
        stack,
        credentials_url=f"http://127.0.0.1:{forwarder.port}",
        webhook_secret_ttl_s=0.5,
        webhook_secret_max_stale_s=2.0,
    )
    try:
        org, secret = new_org(), f"sec-{uuid.uuid4().hex}"
        await store_secret(stack, org, "11", secret)
        body = delivery(79, 11)
        headers = {"X-Hook-Signature": sign(secret, body)}
        assert (await post(url, org, body, headers)).status_code == 200

        await forwarder.stop()  # credentials unreachable from the ingest from here on
        await asyncio.sleep(0.8)  # past the TTL, inside the bound
        held = await post(url, org, body, headers)
        assert held.status_code == 200, held.text

        await asyncio.sleep(2.2)  # past TTL + max_stale_s
        gone = await post(url, org, body, headers)
        assert gone.status_code == 503
        assert "retry" in gone.json()["error"]["message"]

        await forwarder.start()
        back = await post(url, org, body, headers)
        assert back.status_code == 200, back.text
    finally:
        await forwarder.stop()
