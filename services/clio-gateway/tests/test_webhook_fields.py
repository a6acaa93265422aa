"""A subscription made with another field list than CONTACT_FIELDS (made before the list changed)
is replaced by `ensure`, new one first, so deliveries carry what the projector needs again."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx

from practice_sync_cli.testing_stack import SERVICE_TOKENS, Stack
from practice_sync_clio_gateway.clio.contacts import CONTACT_FIELDS, has_fields
from practice_sync_clio_gateway.testing import access_token, connect, sandbox

OLD_FIELDS = "id,etag,name"  # what an older gateway subscribed with


async def _sandbox_hooks(stack: Stack) -> dict[int, dict[str, Any]]:
    return {int(h["id"]): h for h in (await sandbox(stack, "GET", "/webhooks")).json()}


async def _delivered(stack: Stack, webhook_id: int, cid: int, timeout_s: float = 15) -> dict[str, Any]:
    """The body of the first delivery `webhook_id` made for contact `cid`."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = await sandbox(stack, "GET", "/webhooks/deliveries", params={"webhook_id": webhook_id})
        for d in r.json()["deliveries"]:
            if d.get("contact_id") == cid and d.get("outcome") == "delivered":
                body: dict[str, Any] = json.loads(d["body"])
                return body
        assert time.monotonic() < deadline, f"webhook {webhook_id} delivered nothing for contact {cid}"
        await asyncio.sleep(0.1)


async def test_a_subscription_with_an_old_field_list_is_replaced_without_a_gap(
    stack: Stack, clio_gateway_service: str, webhook_ingest_service: str
) -> None:
    org = await connect(stack, "cg-fields")
    async with httpx.AsyncClient(
        base_url=clio_gateway_service, headers=stack.admin_headers(), timeout=30
    ) as gw:
        first = (await gw.post(f"/admin/clio/{org}/webhooks")).json()
        assert first["action"] == "created", first
        old_id = int(first["webhook_id"])
        # As an older gateway left it: the same subscription, but the old field list.
        token = await access_token(stack, org, SERVICE_TOKENS["clio-gateway"])
        async with httpx.AsyncClient(base_url=stack.urls["clio-sandbox"], timeout=30) as clio:
            r = await clio.patch(
                f"/api/v4/webhooks/{old_id}",
                json={"data": {"fields": OLD_FIELDS}},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert r.status_code == 200, r.text
        contact_id = None
        try:
            replaced = (await gw.post(f"/admin/clio/{org}/webhooks")).json()
            assert replaced["action"] == "created" and int(replaced["webhook_id"]) != old_id, replaced
            new_id = int(replaced["webhook_id"])
            hooks = await _sandbox_hooks(stack)
            assert old_id not in hooks and hooks[new_id]["fields"] == CONTACT_FIELDS, hooks.get(new_id)
            local = {
                h["webhook_id"]: h for h in (await gw.get(f"/admin/clio/{org}/webhooks")).json()["webhooks"]
            }
            assert local[old_id]["status"] == "deleted", local
            assert local[new_id]["status"] == "enabled" and local[new_id]["fields"] == CONTACT_FIELDS, local
            # The old one delivered until the new one was live: no gap, so no backfill sync.
            runs = (await gw.get("/admin/syncs", params={"org_id": org})).json()["runs"]
            assert not [run for run in runs if run["reason"] == "webhook gap"], runs
            assert (await gw.post(f"/admin/clio/{org}/webhooks")).json()["action"] == "kept"

            # A change is delivered with every field the projector needs: no fetch per delivery.
            made = await sandbox(
                stack,
                "POST",
                "/accounts/demo-law/contacts",
                json={"first_name": "Fields", "last_name": f"F{uuid.uuid4().hex[:6]}"},
            )
            assert made.status_code == 201, made.text
            contact_id = int(made.json()["data"]["id"])
            delivery = await _delivered(stack, new_id, contact_id)
            assert has_fields(delivery["data"]), delivery
        finally:
            await gw.delete(f"/admin/clio/{org}/webhooks")
            if contact_id is not None:
                await sandbox(stack, "DELETE", f"/accounts/demo-law/contacts/{contact_id}")
