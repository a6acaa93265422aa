"""clio-gateway end to end: real credentials, Clio sandbox, broker and Postgres over HTTP."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx

from practice_sync_cli.testing_stack import Stack
from practice_sync_clio_gateway.testing import connect, sandbox, wait_run
from practice_sync_common import topics
from practice_sync_webhook_ingest.testing import watch


async def test_full_then_incremental_sync_publishes_each_version_once(
    stack: Stack, clio_gateway_service: str, kafka_bootstrap: str
) -> None:
    org = await connect(stack, "cg-sync")
    export = (await sandbox(stack, "GET", "/accounts/demo-law/contacts/export")).json()
    contacts = export if isinstance(export, list) else export.get("data") or export.get("contacts")
    async with (
        httpx.AsyncClient(base_url=clio_gateway_service, headers=stack.admin_headers()) as gw,
        watch(kafka_bootstrap, topics.CONTACT_SYNCED) as watcher,
    ):
        r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "auto"})
        assert r.status_code == 202, r.text
        run = await wait_run(gw, r.json()["run_id"])
        assert run["status"] == "succeeded", run
        assert run["counts"]["mode"] == "full"
        assert run["counts"]["published"] == len(contacts)
        events = await watcher.wait_for(lambda e: e["org_id"] == org, count=len(contacts))
        by_id = {e["data"]["provider_id"]: e["data"] for e in events}
        assert set(by_id) == {str(c["id"]) for c in contacts}
        sample = contacts[0]
        got = by_id[str(sample["id"])]
        assert got["action"] == "created" and got["etag"] == sample["etag"]
        if sample.get("primary_email_address"):
            assert sample["primary_email_address"].lower() in got["emails"]

        changed = await sandbox(
            stack, "PATCH", f"/accounts/demo-law/contacts/{sample['id']}", json={"first_name": "Renamed"}
        )
        assert changed.status_code == 200, changed.text
        r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "auto"})
        run = await wait_run(gw, r.json()["run_id"])
        assert run["status"] == "succeeded", run
        assert run["counts"]["mode"] == "incremental"
        assert run["counts"]["published"] == 1  # the overlap window's other records are deduped
        [update] = await watcher.wait_for(
            lambda e: e["org_id"] == org and e["data"]["action"] == "updated", count=1
        )
        assert update["data"]["first_name"] == "Renamed"


async def test_webhook_path_delivers_a_new_contact_and_replays_are_idempotent(
    stack: Stack, clio_gateway_service: str, webhook_ingest_service: str, kafka_bootstrap: str
) -> None:
    org = await connect(stack, "cg-hook")
    async with (
        httpx.AsyncClient(base_url=clio_gateway_service, headers=stack.admin_headers()) as gw,
        watch(kafka_bootstrap, topics.CONTACT_SYNCED) as watcher,
    ):
        r = await gw.post(f"/admin/clio/{org}/webhooks")
        assert r.status_code == 200, r.text
        hook = r.json()
        assert hook["action"] == "created" and hook["status"] == "enabled", hook
        again = (await gw.post(f"/admin/clio/{org}/webhooks")).json()
        assert again["action"] == "kept" and again["webhook_id"] == hook["webhook_id"]

        made = await sandbox(
            stack,
            "POST",
            "/accounts/demo-law/contacts",
            json={
                "first_name": "Hook",
                "last_name": f"Test{uuid.uuid4().hex[:6]}",
                "email_addresses": [{"name": "Work", "address": "Hook.T@Example.com"}],
            },
        )
        assert made.status_code == 201, made.text
        cid = str(made.json()["data"]["id"] if "data" in made.json() else made.json()["id"])
        [event] = await watcher.wait_for(lambda e: e["org_id"] == org and e["data"]["provider_id"] == cid)
        assert event["data"]["action"] == "created"
        assert event["data"]["emails"] == ["hook.t@example.com"]

        deliveries = (
            await sandbox(stack, "GET", "/webhooks/deliveries", params={"webhook_id": hook["webhook_id"]})
        ).json()
        items = deliveries if isinstance(deliveries, list) else deliveries.get("deliveries", [])
        delivered = [d for d in items if d.get("kind") != "handshake" and d.get("signature")]
        assert delivered, deliveries
        d = delivered[-1]
        body = d["body"] if isinstance(d["body"], str) else json.dumps(d["body"])
        async with httpx.AsyncClient(base_url=webhook_ingest_service) as ingest:
            replay = await ingest.post(
                f"/webhooks/clio/{org}", content=body.encode(), headers={"X-Hook-Signature": d["signature"]}
            )
        assert replay.status_code == 200, replay.text
        await watcher.settle(2.0)
        assert len([e for e in watcher.seen if e["org_id"] == org and e["data"]["provider_id"] == cid]) == 1

        log = (await gw.get(f"/admin/clio/{org}/webhook-events")).json()["events"]
        assert {e["status"] for e in log} == {"processed"}
        assert len(log) >= 2

        gone = await gw.delete(f"/admin/clio/{org}/webhooks")
        assert gone.json()["deleted"] == [hook["webhook_id"]]


async def test_custom_action_launch_verifies_the_nonce_with_clio(
    stack: Stack, clio_gateway_service: str
) -> None:
    org = await connect(stack, "cg-ca")
    async with httpx.AsyncClient(base_url=clio_gateway_service, headers=stack.admin_headers()) as gw:
        first = await gw.post(f"/admin/clio/{org}/custom-actions/sync")
        assert first.status_code == 200, first.text
        second = (await gw.post(f"/admin/clio/{org}/custom-actions/sync")).json()
        action = first.json()
        assert second["custom_action_id"] == action["custom_action_id"] and second["action"] == "kept"

    export = (await sandbox(stack, "GET", "/accounts/demo-law/contacts/export")).json()
    contacts = export if isinstance(export, list) else export.get("data") or export.get("contacts")
    subject = contacts[1]["id"]
    click = await sandbox(
        stack, "POST", f"/custom_actions/{action['custom_action_id']}/click", json={"subject_id": subject}
    )
    assert click.status_code in (200, 201), click.text
    url = click.json()["url"]
    assert url.startswith(clio_gateway_service)
    async with httpx.AsyncClient() as browser:
        ok = await browser.get(url)
        assert ok.status_code == 302, ok.text
        assert ok.headers["location"] == f"http://intake.test/dashboard?contact_id={subject}"
        replayed = await browser.get(url)
        assert replayed.status_code == 403
        params = dict(httpx.URL(url).params)
        forged = await browser.get(
            url.split("?")[0], params={**params, "custom_action_nonce": "forged-nonce-1"}
        )
        assert forged.status_code == 403
        other_user = await browser.get(url.split("?")[0], params={**params, "user_id": "999999"})
        assert other_user.status_code == 403
        for r in (replayed, forged):
            assert params["custom_action_nonce"] not in r.text


async def test_sync_survives_429s_5xx_and_an_expired_token(
    stack: Stack, clio_gateway_service: str, kafka_bootstrap: str
) -> None:
    assert (await sandbox(stack, "POST", "/token_ttl", json={"seconds": 2})).status_code == 200
    try:
        org = await connect(stack, "cg-faults")
        # Expired at Clio, and past credentials' minimum refresh interval (5 s).
        await asyncio.sleep(5.5)
        # Tokens minted from now on (the refresh) live long enough for the throttled run.
        await sandbox(stack, "POST", "/token_ttl", json={"seconds": 3600})
        faults = await sandbox(stack, "POST", "/faults", json={"force_429": 2, "server_errors": 2})
        assert faults.status_code == 200, faults.text
        async with httpx.AsyncClient(base_url=clio_gateway_service, headers=stack.admin_headers()) as gw:
            r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
            run = await wait_run(gw, r.json()["run_id"])
        assert run["status"] == "succeeded", run["error"]
        assert run["progress"]["throttled_429"] >= 1
        assert run["counts"]["mode"] == "full"
    finally:
        await sandbox(stack, "POST", "/token_ttl", json={"seconds": 3600})
        await sandbox(stack, "DELETE", "/faults")
