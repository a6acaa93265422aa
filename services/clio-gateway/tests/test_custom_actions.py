"""Deleting a custom action (admin API) against the Clio sandbox over HTTP: deleted at Clio and here,
already gone at Clio (our record cleaned up), and unknown to both (404 naming the org and the id)."""

from __future__ import annotations

import httpx

from practice_sync_cli.testing_stack import SERVICE_TOKENS, Stack
from practice_sync_clio_gateway.testing import connect

GATEWAY_TOKEN = {"Authorization": f"Bearer {SERVICE_TOKENS['clio-gateway']}"}


async def clio_as(stack: Stack, org: str) -> httpx.AsyncClient:
    """The Clio sandbox's API with the org's own access token (what a person in Clio would do)."""
    async with httpx.AsyncClient(base_url=stack.urls["credentials"], timeout=30) as c:
        r = await c.get(f"/internal/credentials/{org}/clio", headers=GATEWAY_TOKEN)
        assert r.status_code == 200, r.text
        token = r.json()
    return httpx.AsyncClient(
        base_url=token["api_url"], headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=30
    )


async def test_deleting_a_custom_action_unknown_or_already_gone(
    stack: Stack, clio_gateway_service: str
) -> None:
    # Custom actions are per Clio user: a sandbox user no other test installs one for.
    org = await connect(stack, "cg-ca-del", "conf-empty")
    async with (
        httpx.AsyncClient(base_url=clio_gateway_service, headers=stack.admin_headers(), timeout=30) as gw,
        await clio_as(stack, org) as clio,
    ):

        async def recorded() -> set[int]:
            r = await gw.get(f"/admin/clio/{org}/custom-actions")
            assert r.status_code == 200, r.text
            return {a["custom_action_id"] for a in r.json()["custom_actions"]}

        ensured = await gw.post(f"/admin/clio/{org}/custom-actions/sync")
        assert ensured.status_code == 200, ensured.text
        first = ensured.json()["custom_action_id"]

        # Unknown to us and to Clio: 404 naming the org and the id; nothing else touched.
        unknown = 9_000_000_001
        r = await gw.delete(f"/admin/clio/{org}/custom-actions/{unknown}")
        assert r.status_code == 404, r.text
        message = r.json()["error"]["message"]
        assert org in message and str(unknown) in message, message
        assert await recorded() == {first}
        assert (await clio.get(f"/custom_actions/{first}")).status_code == 200

        # Known to us but already deleted in Clio: our record is cleaned up and the delete succeeds.
        assert (await clio.delete(f"/custom_actions/{first}")).status_code == 204
        r = await gw.delete(f"/admin/clio/{org}/custom-actions/{first}")
        assert r.status_code == 200, r.text
        assert r.json() == {
            "org_id": org,
            "custom_action_id": first,
            "deleted": True,
            "at_clio": "already_gone",
            "record_removed": True,
        }
        assert first not in await recorded()
        # Now gone everywhere: deleting it again is a 404, not a quiet success.
        again = await gw.delete(f"/admin/clio/{org}/custom-actions/{first}")
        assert again.status_code == 404, again.text
        assert org in again.json()["error"]["message"] and str(first) in again.json()["error"]["message"]

        # The ordinary case: present at Clio and here, deleted in both.
        second = (await gw.post(f"/admin/clio/{org}/custom-actions/sync")).json()
        assert second["action"] == "created" and second["custom_action_id"] != first
        r = await gw.delete(f"/admin/clio/{org}/custom-actions/{second['custom_action_id']}")
        assert r.status_code == 200, r.text
        assert r.json()["at_clio"] == "deleted" and r.json()["record_removed"] is True
        assert (await clio.get(f"/custom_actions/{second['custom_action_id']}")).status_code == 404
        assert await recorded() == set()

        # Not a Clio id at all: refused before Clio is asked.
        for bad in ("0", "-5", str(2**63)):
            assert (await gw.delete(f"/admin/clio/{org}/custom-actions/{bad}")).status_code == 422, bad
