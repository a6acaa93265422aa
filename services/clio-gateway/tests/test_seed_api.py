"""The Clio seed's endpoints (authenticated, mapped onto the services), sync for every org (`*`), a
full sync that notices contacts deleted in Clio since the last one, and sync requests (admin and
seed routes) refused at once, nothing queued, for orgs the gateway cannot sync."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from uuid import UUID, uuid5

import httpx
import pytest

from practice_sync_cli.testing_stack import SERVICE_TOKENS, Stack, offline_cliniko_org
from practice_sync_clio_gateway.testing import connect, export, sandbox, wait_run
from practice_sync_common import topics
from practice_sync_webhook_ingest.testing import sign, watch


@pytest.fixture(scope="module", autouse=True)
async def fast_clio(stack: Stack, clio_sandbox: str) -> AsyncIterator[None]:
    """A limit above the documented 50/min keeps these fast (the budget follows X-RateLimit-Limit)."""
    await sandbox(stack, "POST", "/rate_limit", json={"limit": 6000, "window_s": 60})
    yield
    await sandbox(stack, "POST", "/rate_limit", json={"limit": 50, "window_s": 60})


async def test_seed_endpoints_need_the_admin_token(stack: Stack, clio_gateway_service: str) -> None:
    async with httpx.AsyncClient(base_url=clio_gateway_service) as anon:
        for method, path in [
            ("POST", "/clio/sync/contacts"),
            ("GET", "/clio/contacts"),
            ("POST", "/clio/custom-actions/smart-intake"),
            ("POST", "/clio/sync/custom-actions"),
            ("POST", "/clio/webhooks/subscribe"),
        ]:
            r = await anon.request(method, path, params={"org_id": "demo-law"})
            assert r.status_code == 401, (path, r.status_code)


async def test_seed_endpoints_sync_ensure_and_receive(
    stack: Stack, clio_gateway_service: str, webhook_ingest_service: str, kafka_bootstrap: str
) -> None:
    org = await connect(stack, "cg-seed")
    async with httpx.AsyncClient(
        base_url=clio_gateway_service, headers=stack.admin_headers(), timeout=30
    ) as gw:
        queued = await gw.post("/clio/sync/contacts", params={"org_id": org, "mode": "full"})
        assert queued.status_code == 202, queued.text
        body = queued.json()
        assert body["status"] == "queued" and body["status_url"] == f"/admin/syncs/{body['run_id']}"
        run = await wait_run(gw, body["run_id"])
        assert run["status"] == "succeeded", run
        assert run["counts"]["published"] == len(await export(stack, "demo-law"))
        bad_mode = await gw.post("/clio/sync/contacts", params={"org_id": org, "mode": "sometimes"})
        assert bad_mode.status_code == 422

        action = (await gw.post("/clio/custom-actions/smart-intake", params={"org_id": org})).json()
        again = (await gw.post("/clio/sync/custom-actions", params={"org_id": org})).json()
        assert again["custom_action_id"] == action["custom_action_id"] and again["action"] == "kept"

        hook = (await gw.post("/clio/webhooks/subscribe", params={"org_id": org})).json()
        assert hook["status"] == "enabled", hook
        secret = next(
            h["shared_secret"]
            for h in _hooks((await sandbox(stack, "GET", "/webhooks")).json())
            if int(h["id"]) == hook["webhook_id"]
        )

        # /clio/webhooks/receive: forwarded to webhook-ingest, its answers passed through.
        shake = await gw.post(
            "/clio/webhooks/receive", params={"org_id": org}, headers={"X-Hook-Secret": "hs-77"}
        )
        assert shake.status_code == 200 and shake.headers["X-Hook-Secret"] == "hs-77"
        delivery = json.dumps(
            {
                "data": {"id": 424242, "etag": f'"{uuid.uuid4().hex}"'},
                "meta": {"event": "deleted", "webhook_id": 1},
            }
        ).encode()
        async with watch(kafka_bootstrap, topics.WEBHOOK_RECEIVED) as watcher:
            ok = await gw.post(
                "/clio/webhooks/receive",
                params={"org_id": org},
                content=delivery,
                headers={"X-Hook-Signature": sign(secret, delivery), "Content-Type": "application/json"},
            )
            assert ok.status_code == 200, ok.text
            [event] = await watcher.wait_for(lambda e: e["org_id"] == org)
        assert event["data"]["payload"]["data"]["id"] == 424242
        forged = await gw.post(
            "/clio/webhooks/receive",
            params={"org_id": org},
            content=delivery,
            headers={"X-Hook-Signature": sign("nope", delivery)},
        )
        assert forged.status_code == 401
        await gw.delete(f"/admin/clio/{org}/webhooks")


def _hooks(body: object) -> list[dict[str, object]]:
    if isinstance(body, list):
        return body
    assert isinstance(body, dict)
    found = body.get("webhooks", body.get("data", []))
    assert isinstance(found, list)
    return found


async def test_sync_for_every_org(stack: Stack, clio_gateway_service: str) -> None:
    orgs = [await connect(stack, "cg-all"), await connect(stack, "cg-all", "conf-one")]
    async with httpx.AsyncClient(
        base_url=clio_gateway_service, headers=stack.admin_headers(), timeout=30
    ) as gw:
        r = await gw.post("/admin/syncs", json={"org_id": "*", "mode": "auto"})
        assert r.status_code == 202, r.text
        assert r.json()["all_orgs"] is True
        base = UUID(r.json()["run_id"])
        for org, account in zip(orgs, ["demo-law", "conf-one"], strict=True):
            run = await wait_run(gw, str(uuid5(base, org)))  # one run per org, derived from the request
            assert run["status"] == "succeeded" and run["org_id"] == org, run
            assert run["counts"]["published"] == len(await export(stack, account))


async def test_full_sync_publishes_contacts_deleted_in_clio_since_the_last_one(
    stack: Stack, clio_gateway_service: str, kafka_bootstrap: str
) -> None:
    org = await connect(stack, "cg-del", "conf-one")
    async with httpx.AsyncClient(
        base_url=clio_gateway_service, headers=stack.admin_headers(), timeout=30
    ) as gw:
        r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
        first = await wait_run(gw, r.json()["run_id"])
        assert first["status"] == "succeeded" and first["counts"]["deleted"] == 0, first
        victim = (await export(stack, "conf-one"))[3]
        assert (
            await sandbox(stack, "DELETE", f"/accounts/conf-one/contacts/{victim['id']}")
        ).status_code == 204
        async with watch(kafka_bootstrap, topics.CONTACT_SYNCED) as watcher:
            r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
            second = await wait_run(gw, r.json()["run_id"])
            assert second["status"] == "succeeded", second
            assert second["counts"]["deleted"] == 1 and second["counts"]["published"] == 0, second
            [gone] = await watcher.wait_for(
                lambda e: e["org_id"] == org and e["correlation_id"] == second["run_id"]
            )
        assert gone["data"]["action"] == "deleted" and gone["data"]["provider_id"] == str(victim["id"])
        # Known as gone: the next full run does not announce it again.
        r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
        assert (await wait_run(gw, r.json()["run_id"]))["counts"]["deleted"] == 0


async def test_sync_requests_for_orgs_the_gateway_cannot_sync_are_refused_with_nothing_queued(
    stack: Stack, clio_gateway_service: str
) -> None:
    unknown = f"ghost-{uuid.uuid4().hex[:8]}"
    # A Cliniko org, not validated; its API a closed port (a cliniko-sync run for it calls no one).
    cliniko = await offline_cliniko_org(stack, f"cg-cliniko-{uuid.uuid4().hex[:8]}")
    async with httpx.AsyncClient(
        base_url=clio_gateway_service, headers=stack.admin_headers(), timeout=30
    ) as gw:
        for org, status, words in [
            (unknown, 404, ["Clio", f"practice-sync credentials set --org {unknown} --provider clio"]),
            (cliniko, 409, ["Cliniko", "Clio", "--provider cliniko"]),
        ]:
            for r in (
                await gw.post("/admin/syncs", json={"org_id": org, "mode": "full"}),
                await gw.post("/clio/sync/contacts", params={"org_id": org, "mode": "full"}),
            ):
                assert r.status_code == status, (r.request.url.path, r.text)
                message = r.json()["error"]["message"]
                assert org in message and all(w in message for w in words), message
            assert (await gw.get("/admin/syncs", params={"org_id": org})).json()["runs"] == []


async def test_an_org_that_must_reconnect_clio_is_refused_with_409(
    stack: Stack, clio_gateway_service: str
) -> None:
    org = await connect(stack, "cg-reauth", "conf-empty")
    gateway_token = {"Authorization": f"Bearer {SERVICE_TOKENS['clio-gateway']}"}
    async with httpx.AsyncClient(base_url=stack.urls["credentials"], timeout=30) as c:
        r = await c.get(f"/internal/credentials/{org}/clio", headers=gateway_token)
        assert r.status_code == 200, r.text
        # The firm disconnects the app in Clio; the next check finds the grant gone.
        gone = await c.post(
            f"{stack.urls['clio-sandbox']}/oauth/deauthorize",
            headers={"Authorization": f"Bearer {r.json()['access_token']}"},
        )
        assert gone.is_success, gone.text
        checked = await c.post(f"/admin/orgs/{org}/credentials/clio/validate", headers=stack.admin_headers())
        assert checked.json()["status"] == "needs_reauth", checked.text
    async with httpx.AsyncClient(
        base_url=clio_gateway_service, headers=stack.admin_headers(), timeout=30
    ) as gw:
        r = await gw.post("/admin/syncs", json={"org_id": org, "mode": "auto"})
        assert r.status_code == 409, r.text
        message = r.json()["error"]["message"]
        assert org in message and "reconnect" in message.lower(), message
        assert f"practice-sync credentials set --org {org} --provider clio" in message
        assert (await gw.get("/admin/syncs", params={"org_id": org})).json()["runs"] == []
