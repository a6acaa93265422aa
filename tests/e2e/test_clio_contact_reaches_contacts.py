"""Clio to the intake's `contacts` table by webhook: sandbox change → ingest → gateway → projector."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from practice_sync_cli.testing_stack import Stack
from practice_sync_clio_gateway.testing import connect, sandbox


async def _contact_row(projector: httpx.AsyncClient, org: str, clio_id: str) -> dict[str, Any] | None:
    page = (await projector.get(f"/orgs/{org}/contacts", params={"limit": 500})).json()
    return next((c for c in page["data"] if c.get("clio_id") == clio_id), None)


async def test_contact_created_in_clio_reaches_contacts_through_the_webhook_path(
    stack: Stack, clio_gateway_service: str, webhook_ingest_service: str, projector_service: str
) -> None:
    org = await connect(stack, "e2e-hook")
    async with (
        httpx.AsyncClient(base_url=clio_gateway_service, headers=stack.admin_headers(), timeout=30) as gw,
        httpx.AsyncClient(base_url=projector_service, headers=stack.admin_headers(), timeout=30) as projector,
    ):
        hook = await gw.post(f"/admin/clio/{org}/webhooks")
        assert hook.status_code == 200 and hook.json()["status"] == "enabled", hook.text
        last = f"Webhook{uuid.uuid4().hex[:6]}"
        made = await sandbox(
            stack,
            "POST",
            "/accounts/demo-law/contacts",
            json={
                "first_name": "Ada",
                "last_name": last,
                "email_addresses": [{"name": "Work", "address": f" Ada.{last}@Example.com "}],
            },
        )
        assert made.status_code == 201, made.text
        clio_id = str(made.json()["data"]["id"])

        # No sync was requested: only the webhook can bring it.
        deadline = time.monotonic() + 30
        row = None
        while row is None and time.monotonic() < deadline:
            row = await _contact_row(projector, org, clio_id)
            if row is None:
                await asyncio.sleep(0.1)
        assert row is not None, "the new Clio contact never reached public.contacts"
        assert (row["first_name"], row["last_name"], row["source"]) == ("Ada", last, "clio")
        assert row["email"] == f"ada.{last.lower()}@example.com"

        renamed = await sandbox(
            stack, "PATCH", f"/accounts/demo-law/contacts/{clio_id}", json={"first_name": "Augusta"}
        )
        assert renamed.status_code == 200, renamed.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            row = await _contact_row(projector, org, clio_id)
            if row and row["first_name"] == "Augusta":
                break
            await asyncio.sleep(0.1)
        assert row is not None and row["first_name"] == "Augusta"

        gone = await sandbox(stack, "DELETE", f"/accounts/demo-law/contacts/{clio_id}")
        assert gone.status_code == 204, gone.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            row = await _contact_row(projector, org, clio_id)
            if row is None or row.get("deleted_at"):
                break
            await asyncio.sleep(0.1)
        assert row is None or row.get("deleted_at"), row
        await gw.delete(f"/admin/clio/{org}/webhooks")
