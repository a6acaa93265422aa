"""Webhook renewal before expiry, and replacement plus a backfill sync after one, on the sandbox's clock.

Clio judges expiry by its own clock; the gateway's notion of "now" (`Gateway.now`) is pointed at the
sandbox's clock for this test, and the sandbox clock is moved with its control API.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from practice_sync_cli.testing_stack import Stack
from practice_sync_clio_gateway.service.context import Gateway
from practice_sync_clio_gateway.testing import connect, export, sandbox, wait_run
from practice_sync_common import topics
from practice_sync_webhook_ingest.testing import watch

DAY = 86400


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _sandbox_hook(stack: Stack, webhook_id: int) -> dict[str, Any]:
    body = (await sandbox(stack, "GET", "/webhooks")).json()
    hooks = body if isinstance(body, list) else body.get("webhooks", body.get("data", []))
    [hook] = [h for h in hooks if int(h["id"]) == webhook_id]
    return dict(hook)


async def test_webhook_is_renewed_before_expiry_and_replaced_with_a_backfill_after_it(
    stack: Stack, clio_gateway_service: str, webhook_ingest_service: str, kafka_bootstrap: str
) -> None:
    gateway: Gateway = stack.apps["clio-gateway"].state.gateway
    default_now = gateway.now
    started = _t((await sandbox(stack, "GET", "/clock")).json()["now"])
    skew = started - datetime.now(UTC)
    moved = timedelta(0)

    async def advance(days: int) -> None:
        nonlocal moved
        r = await sandbox(stack, "POST", "/clock/advance", json={"seconds": days * DAY})
        assert r.status_code == 200, r.text
        moved += timedelta(days=days)

    gateway.now = lambda: datetime.now(UTC) + skew + moved
    # Tokens minted for this org outlive the clock moves below (refresh is tested elsewhere).
    await sandbox(stack, "POST", "/token_ttl", json={"seconds": 120 * DAY})
    # A high limit keeps this fast (the gateway's budget follows X-RateLimit-Limit).
    await sandbox(stack, "POST", "/rate_limit", json={"limit": 6000, "window_s": 60})
    try:
        org = await connect(stack, "cg-exp", "expiry-firm")
        async with httpx.AsyncClient(
            base_url=clio_gateway_service, headers=stack.admin_headers(), timeout=30
        ) as gw:
            r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
            assert (await wait_run(gw, r.json()["run_id"]))["status"] == "succeeded"

            created = (await gw.post(f"/admin/clio/{org}/webhooks")).json()
            assert created["action"] == "created" and created["status"] == "enabled", created
            first = await _sandbox_hook(stack, created["webhook_id"])
            assert _t(first["expires_at"]) - started > timedelta(days=29)

            # 24 days on, 6 are left (< WEBHOOK_RENEW_BEFORE_S, 7 d): renewed in place by PATCH.
            await advance(24)
            renewed = (await gw.post(f"/admin/clio/{org}/webhooks")).json()
            assert renewed["action"] == "renewed" and renewed["webhook_id"] == created["webhook_id"]
            after = await _sandbox_hook(stack, created["webhook_id"])
            assert _t(after["expires_at"]) - (started + moved) > timedelta(days=29)
            kept = (await gw.post(f"/admin/clio/{org}/webhooks")).json()
            assert kept["action"] == "kept"

            # 31 more days: expired at Clio. A change made now is not delivered...
            await advance(31)
            contact = (await export(stack, "expiry-firm"))[0]
            name = f"Gap{uuid.uuid4().hex[:8]}"
            r = await sandbox(
                stack, "PATCH", f"/accounts/expiry-firm/contacts/{contact['id']}", json={"last_name": name}
            )
            assert r.status_code == 200, r.text
            deliveries = (
                await sandbox(
                    stack, "GET", "/webhooks/deliveries", params={"webhook_id": created["webhook_id"]}
                )
            ).json()
            items = deliveries if isinstance(deliveries, list) else deliveries.get("deliveries", [])
            assert any(d.get("outcome") == "expired" for d in items), items

            # ...so the next ensure replaces the subscription and a backfill sync brings the change.
            async with watch(kafka_bootstrap, topics.CONTACT_SYNCED) as watcher:
                replaced = (await gw.post(f"/admin/clio/{org}/webhooks")).json()
                assert replaced["action"] == "created" and replaced["webhook_id"] != created["webhook_id"]
                assert replaced["status"] == "enabled"
                [event] = await watcher.wait_for(
                    lambda e: e["org_id"] == org and e["data"]["provider_id"] == str(contact["id"])
                )
            assert event["data"]["last_name"] == name and event["data"]["action"] == "updated"
            runs = (await gw.get("/admin/syncs", params={"org_id": org})).json()["runs"]
            assert any(run["reason"] == "webhook gap" for run in runs), runs
            local = {
                h["webhook_id"]: h["status"]
                for h in (await gw.get(f"/admin/clio/{org}/webhooks")).json()["webhooks"]
            }
            assert local[created["webhook_id"]] == "deleted" and local[replaced["webhook_id"]] == "enabled"
            await gw.delete(f"/admin/clio/{org}/webhooks")
    finally:
        gateway.now = default_now
        await sandbox(stack, "POST", "/token_ttl", json={"seconds": 3600})
        await sandbox(stack, "POST", "/rate_limit", json={"limit": 50, "window_s": 60})
        await sandbox(stack, "POST", "/clock/set", json={"at": (datetime.now(UTC) + skew).isoformat()})
