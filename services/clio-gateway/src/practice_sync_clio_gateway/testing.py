"""Test helpers: the session gateway's settings (see cli testing_stack.clio_gateway_service), orgs
connected by OAuth, the sandbox control API, run waiting, and a fold of `contact.synced`."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition


def gateway_overrides(stack: Any, port: int) -> dict[str, Any]:
    return {
        "webhook_ingest_public_url": stack.urls["webhook-ingest"],
        "gateway_public_url": f"http://127.0.0.1:{port}",
        "smart_intake_dashboard_url": "http://intake.test/dashboard",
        "reconcile_interval_s": 0,  # tests drive reconcile through the admin API
        "clio_rate_limit": 50,
    }


# ---- helpers for the gateway's tests (real services over HTTP) -----------------------------------
async def connect(stack: Any, prefix: str, user: str = "demo-law") -> str:
    """A new org connected to the sandbox user `user` by OAuth through credentials."""
    org = f"{prefix}-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=stack.urls["credentials"], timeout=30) as c:
        start = await c.get("/oauth/clio/start", params={"org_id": org}, headers=stack.admin_headers())
        assert start.status_code == 200, start.text
        url = httpx.URL(start.json()["authorize_url"]).copy_merge_params({"login_hint": user})
        authorize = await c.get(url)
        assert authorize.status_code == 302, authorize.text
        done = await c.get(authorize.headers["location"])
        assert done.status_code == 200 and done.json()["status"] == "valid", done.text
    return org


async def sandbox(stack: Any, method: str, path: str, **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.urls["clio-sandbox"], timeout=30) as c:
        return await c.request(method, f"/_sandbox{path}", **kw)


async def access_token(stack: Any, org: str, service_token: str) -> str:
    """The org's current Clio access token, read from credentials as the gateway reads it (with
    the gateway's service token: testing_stack.SERVICE_TOKENS["clio-gateway"])."""
    async with httpx.AsyncClient(base_url=stack.urls["credentials"], timeout=30) as c:
        r = await c.get(
            f"/internal/credentials/{org}/clio", headers={"Authorization": f"Bearer {service_token}"}
        )
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


async def revoke(stack: Any, token: str) -> None:
    """The firm disconnects the app in Clio: the org's grant (access and refresh token) is revoked.

    Credentials learns it only when it next uses the grant (a refresh) or validates it.
    """
    async with httpx.AsyncClient(base_url=stack.urls["clio-sandbox"], timeout=30) as c:
        r = await c.post("/oauth/deauthorize", headers={"Authorization": f"Bearer {token}"})
    assert r.is_success, r.text


async def signed_delivery(stack: Any, webhook_id: int, cid: int, first_name: str) -> dict[str, Any]:
    """The signed delivery the sandbox made for `cid` carrying `first_name` (Clio's retries resend it)."""
    r = await sandbox(stack, "GET", "/webhooks/deliveries", params={"webhook_id": webhook_id})
    items = r.json() if isinstance(r.json(), list) else r.json().get("deliveries", [])
    for d in items:
        body = d["body"] if isinstance(d["body"], dict) else json.loads(d["body"] or "null")
        data = body["data"] if d.get("signature") and body else {}
        if data.get("id") == cid and data.get("first_name") == first_name:
            return {"body": body, "raw": d["body"], "signature": d["signature"]}
    raise AssertionError(f"no delivery for contact {cid} with first_name {first_name!r}")


async def replay(stack: Any, org: str, delivery: dict[str, Any]) -> None:
    """Deliver `delivery` to ingest again, signature and all, as Clio's retry would."""
    raw = delivery["raw"] if isinstance(delivery["raw"], str) else json.dumps(delivery["raw"])
    async with httpx.AsyncClient(base_url=stack.urls["webhook-ingest"]) as ingest:
        r = await ingest.post(
            f"/webhooks/clio/{org}", content=raw.encode(), headers={"X-Hook-Signature": delivery["signature"]}
        )
    assert r.status_code == 200, r.text


async def export(stack: Any, account: str) -> list[dict[str, Any]]:
    r = await sandbox(stack, "GET", f"/accounts/{account}/contacts/export")
    assert r.status_code == 200, r.text
    data: list[dict[str, Any]] = r.json()["data"]
    return data


async def wait_run(gw: httpx.AsyncClient, run_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        r = await gw.get(f"/admin/syncs/{run_id}")
        run: dict[str, Any] = r.json()
        # 404 until the consumer has recorded a run requested through the topic (e.g. for "*").
        if r.status_code != 404 and run["status"] in ("succeeded", "failed"):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} did not finish in {timeout_s}s: {run}")
        await asyncio.sleep(0.05)


class ContactTail:
    """`contact.synced` from the moment it started, folded per org into id → latest event data
    (a `deleted` removes the id): what the gateway has told the world about each org's contacts."""

    def __init__(self, bootstrap: str) -> None:
        self._bootstrap = bootstrap
        self._consumer: AIOKafkaConsumer | None = None
        self._parts: list[TopicPartition] = []
        self.state: dict[str, dict[str, dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []

    async def start(self) -> ContactTail:
        from practice_sync_common import topics

        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        await consumer.start()
        parts = consumer.partitions_for_topic(topics.CONTACT_SYNCED) or set()
        for _ in range(50):
            if parts:
                break
            await consumer.topics()
            await asyncio.sleep(0.1)
            parts = consumer.partitions_for_topic(topics.CONTACT_SYNCED) or set()
        self._parts = [TopicPartition(topics.CONTACT_SYNCED, p) for p in sorted(parts)]
        consumer.assign(self._parts)
        await consumer.seek_to_end(*self._parts)
        for tp in self._parts:
            await consumer.position(tp)
        self._consumer = consumer
        return self

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def catch_up(self) -> None:
        """Read up to the topic's end as of now (everything acknowledged before this call)."""
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(self._parts)
        quiet = False
        # Up to the end offsets, then until a poll comes back empty (the embedded broker's end
        # offsets can trail just-acknowledged records).
        while not quiet or [tp for tp, end in ends.items() if await self._consumer.position(tp) < end]:
            batches = await self._consumer.getmany(timeout_ms=100)
            quiet = not any(batches.values())
            for records in batches.values():
                for record in records:
                    event = json.loads(record.value)
                    self.events.append(event)
                    data = event["data"]
                    org = self.state.setdefault(event["org_id"], {})
                    if data["action"] == "deleted":
                        org.pop(data["provider_id"], None)
                    else:
                        org[data["provider_id"]] = data

    async def of(self, org: str) -> dict[str, dict[str, Any]]:
        await self.catch_up()
        return dict(self.state.get(org, {}))
