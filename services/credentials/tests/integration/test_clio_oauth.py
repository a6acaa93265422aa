"""Clio OAuth against the Clio sandbox over HTTP: connect, refresh, invalid_grant, revoke, regions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import sqlalchemy as sa

from practice_sync_common.db import unit_of_work
from practice_sync_credentials.domain.clio_tokens import ClioTokenSet
from practice_sync_credentials.repository import credentials as cred_repo
from practice_sync_credentials.repository import oauth_states
from practice_sync_credentials.service import clio
from practice_sync_credentials.service.context import Services
from practice_sync_credentials.service.refresher import prune_expired_states, refresh_expiring
from practice_sync_credentials.testing import admin, connect_clio, make_settings, new_org, running, service


async def stored_tokens(services: Services, org: str) -> ClioTokenSet:
    async with unit_of_work(services.sessions) as session:
        row = await cred_repo.get(session, org, "clio", "oauth_tokens")
    assert row is not None
    return ClioTokenSet.from_secret_fields(services.vault.open(clio.ref(org), row.ciphertext))


async def who_am_i(api_url: str, token: str) -> int:
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{api_url}/users/who_am_i", headers={"Authorization": f"Bearer {token}"})
    return r.status_code


async def test_connect_stores_tokens_and_the_gateway_gets_a_working_token(
    client: httpx.AsyncClient, services: Services, clio_sandbox: str
) -> None:
    org = new_org("law")
    done = await connect_clio(client, org)
    assert done == {
        "org_id": org,
        "provider": "clio",
        "status": "valid",
        "message": "connected through OAuth",
    }
    listed = (await client.get(f"/admin/orgs/{org}/credentials", headers=admin())).json()["credentials"]
    assert [(c["provider"], c["kind"], c["status"]) for c in listed] == [("clio", "oauth_tokens", "valid")]
    assert listed[0]["api_url"] == f"{clio_sandbox}/api/v4"
    assert listed[0]["expires_at"] is not None
    r = await client.get(f"/internal/credentials/{org}/clio", headers=service("clio-gateway"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["region"] == "US"
    assert "refresh_token" not in body  # only this service ever uses it
    assert await who_am_i(body["api_url"], body["access_token"]) == 200


async def test_refresh_keeps_the_old_refresh_token(client: httpx.AsyncClient, services: Services) -> None:
    org = new_org("law")
    await connect_clio(client, org)
    before = await stored_tokens(services, org)
    r = await client.post(f"/internal/credentials/{org}/clio/refresh", headers=service("clio-gateway"))
    assert r.status_code == 200, r.text
    after = await stored_tokens(services, org)
    assert after.access_token != before.access_token
    assert r.json()["access_token"] == after.access_token
    # The sandbox, like Clio, sends no refresh_token on refresh: the old one must be kept and still work.
    assert after.refresh_token == before.refresh_token
    again = await client.post(f"/internal/credentials/{org}/clio/refresh", headers=service("clio-gateway"))
    assert again.status_code == 200
    assert await who_am_i(again.json()["api_url"], again.json()["access_token"]) == 200
    audit = (await client.get("/admin/audit", params={"org": org}, headers=admin())).json()["entries"]
    assert sum(e["action"] == "credential.refresh" and e["outcome"] == "ok" for e in audit) == 2


async def test_background_refresh_renews_tokens_before_expiry(
    client: httpx.AsyncClient, services: Services
) -> None:
    org = new_org("law")
    await connect_clio(client, org)
    before = await stored_tokens(services, org)
    # The sandbox's tokens last an hour; a day's look-ahead makes them due.
    assert services.settings.clio_refresh_ahead_s > 3600
    counts = await refresh_expiring(services)
    assert counts["refreshed"] >= 1, counts
    after = await stored_tokens(services, org)
    assert after.access_token != before.access_token
    assert after.expires_at is not None and before.expires_at is not None
    assert after.expires_at >= before.expires_at


async def test_invalid_grant_marks_the_credential_needs_reauth(
    client: httpx.AsyncClient, services: Services, clio_sandbox: str
) -> None:
    org = new_org("law")
    await connect_clio(client, org)
    tokens = await stored_tokens(services, org)
    # Someone disconnects the app in Clio: the grant, refresh token included, is gone.
    async with httpx.AsyncClient() as c:
        gone = await c.post(
            f"{clio_sandbox}/oauth/deauthorize", headers={"Authorization": f"Bearer {tokens.access_token}"}
        )
    assert gone.status_code == 200
    r = await client.post(f"/internal/credentials/{org}/clio/refresh", headers=service("clio-gateway"))
    assert r.status_code == 409, r.text
    assert r.json()["error"]["type"] == "needs_reauth"
    assert "invalid_grant" in r.json()["error"]["message"]
    listed = (await client.get(f"/admin/orgs/{org}/credentials", headers=admin())).json()["credentials"]
    assert listed[0]["status"] == "needs_reauth"
    read = await client.get(f"/internal/credentials/{org}/clio", headers=service("clio-gateway"))
    assert read.status_code == 409
    audit = (await client.get("/admin/audit", params={"org": org}, headers=admin())).json()["entries"]
    assert any(e["action"] == "credential.refresh" and e["outcome"] == "invalid_grant" for e in audit)
    # Reconnecting heals it.
    await connect_clio(client, org)
    ok = await client.get(f"/internal/credentials/{org}/clio", headers=service("clio-gateway"))
    assert ok.status_code == 200


async def test_delete_revokes_at_clio(client: httpx.AsyncClient, services: Services) -> None:
    org = new_org("law")
    await connect_clio(client, org)
    tokens = await stored_tokens(services, org)
    api_url = (await client.get(f"/internal/credentials/{org}/clio", headers=service("clio-gateway"))).json()[
        "api_url"
    ]
    r = await client.delete(f"/admin/orgs/{org}/credentials/clio", headers=admin())
    assert r.status_code == 200, r.text
    assert r.json()["revoked"] is True and r.json()["deleted"] == 1
    assert await who_am_i(api_url, tokens.access_token) == 401
    assert (await client.get(f"/admin/orgs/{org}/credentials", headers=admin())).json()["credentials"] == []
    gone = await client.get(f"/internal/credentials/{org}/clio", headers=service("clio-gateway"))
    assert gone.status_code == 404


async def test_validate_clio_calls_who_am_i(client: httpx.AsyncClient) -> None:
    org = new_org("law")
    await connect_clio(client, org)
    r = await client.post(f"/admin/orgs/{org}/credentials/clio/validate", headers=admin())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "valid"


async def test_bad_or_reused_state_is_refused(client: httpx.AsyncClient, clio_sandbox: str) -> None:
    r = await client.get("/oauth/clio/callback", params={"code": "x", "state": "forged"})
    assert r.status_code == 422
    assert "state" in r.json()["error"]["message"]
    org = new_org("law")
    start = await client.get("/oauth/clio/start", params={"org_id": org}, headers=admin())
    async with httpx.AsyncClient() as outside:
        location = httpx.URL((await outside.get(start.json()["authorize_url"])).headers["location"])
    first = await client.get("/oauth/clio/callback", params=dict(location.params))
    assert first.status_code == 200
    replay = await client.get("/oauth/clio/callback", params=dict(location.params))
    assert replay.status_code == 422


async def test_declined_consent_stores_nothing(client: httpx.AsyncClient) -> None:
    org = new_org("law")
    start = await client.get("/oauth/clio/start", params={"org_id": org}, headers=admin())
    url = httpx.URL(start.json()["authorize_url"]).copy_add_param("sandbox_decline", "true")
    async with httpx.AsyncClient() as outside:
        location = httpx.URL((await outside.get(url)).headers["location"])
    r = await client.get("/oauth/clio/callback", params=dict(location.params))
    assert r.status_code == 422
    assert "access_denied" in r.json()["error"]["message"]
    assert (await client.get(f"/admin/orgs/{org}/credentials", headers=admin())).json()["credentials"] == []


async def test_start_uses_the_regional_host_without_an_override(database_url: str) -> None:
    settings = make_settings(database_url, clio_base_url=None)
    async with running(settings) as (client, _):
        org = new_org("law")
        eu = await client.get("/oauth/clio/start", params={"org_id": org, "region": "eu"}, headers=admin())
        assert eu.status_code == 200, eu.text
        url = httpx.URL(eu.json()["authorize_url"])
        assert url.host == "eu.app.clio.com" and url.path == "/oauth/authorize"
        assert url.params["redirect_uri"] == settings.clio_redirect_uri
        assert url.params["response_type"] == "code" and url.params["state"]
        # The org remembers its region.
        again = await client.get("/oauth/clio/start", params={"org_id": org}, headers=admin())
        assert httpx.URL(again.json()["authorize_url"]).host == "eu.app.clio.com"
        bad = await client.get("/oauth/clio/start", params={"org_id": org, "region": "mars"}, headers=admin())
        assert bad.status_code == 422 and "region" in bad.json()["error"]["message"]
        redirect = await client.get(
            "/oauth/clio/start", params={"org_id": org, "redirect": "true"}, headers=admin()
        )
        assert redirect.status_code == 307


async def test_oauth_not_configured_is_a_clear_503(database_url: str) -> None:
    async with running(make_settings(database_url, clio_client_id="")) as (client, _):
        r = await client.get("/oauth/clio/start", params={"org_id": new_org()}, headers=admin())
        assert r.status_code == 503
        assert "CLIO_CLIENT_ID" in r.json()["error"]["message"]


async def test_expired_access_token_is_refreshed_on_read(
    client: httpx.AsyncClient, services: Services
) -> None:
    org = new_org("law")
    await connect_clio(client, org)
    before = await stored_tokens(services, org)
    async with unit_of_work(services.sessions) as session:
        await session.execute(
            sa.text(
                "UPDATE credentials.credentials SET expires_at = now() - interval '1 minute' "
                "WHERE organization_id = :o"
            ),
            {"o": org},
        )
    # The sealed copy still says "valid for an hour"; make the domain see it as expiring too.
    services_clock = services.clock
    services.clock = lambda: services_clock() + timedelta(hours=2)
    try:
        r = await client.get(f"/internal/credentials/{org}/clio", headers=service("clio-gateway"))
    finally:
        services.clock = services_clock
    assert r.status_code == 200, r.text
    assert r.json()["access_token"] != before.access_token


async def listed_org(client: httpx.AsyncClient, org: str) -> dict[str, object] | None:
    """The org as `GET /admin/orgs` lists it, or None (one page starting just before it)."""
    r = await client.get("/admin/orgs", params={"after": org[:-1], "limit": 5}, headers=admin())
    assert r.status_code == 200, r.text
    found = [o for o in r.json()["orgs"] if o["id"] == org]
    return found[0] if found else None


async def clio_orgs(client: httpx.AsyncClient) -> set[str]:
    r = await client.get("/internal/orgs", params={"provider": "clio"}, headers=service("clio-gateway"))
    assert r.status_code == 200, r.text
    return {o["org_id"] for o in r.json()["orgs"]}


async def authorize(start: httpx.Response) -> dict[str, str]:
    """The sandbox's auto-approving authorize step: the callback's query parameters."""
    assert start.status_code == 200, start.text
    async with httpx.AsyncClient() as outside:
        r = await outside.get(start.json()["authorize_url"])
    assert r.status_code == 302, r.text
    return dict(httpx.URL(r.headers["location"]).params)


async def test_start_writes_no_org_until_the_callback_succeeds(
    client: httpx.AsyncClient, services: Services
) -> None:
    org = new_org("law")
    # Abandoned: started, never completed.
    start = await client.get("/oauth/clio/start", params={"org_id": org}, headers=admin())
    assert start.status_code == 200, start.text
    assert await listed_org(client, org) is None
    assert org not in await clio_orgs(client)
    # Failed: Clio refuses the code; the state is used up and still nothing is created.
    params = await authorize(await client.get("/oauth/clio/start", params={"org_id": org}, headers=admin()))
    failed = await client.get("/oauth/clio/callback", params={**params, "code": "not-the-code"})
    assert failed.status_code == 400, failed.text
    assert "invalid_grant" in failed.json()["error"]["message"]
    # Declined at Clio.
    declined = await client.get("/oauth/clio/start", params={"org_id": org}, headers=admin())
    url = httpx.URL(declined.json()["authorize_url"]).copy_add_param("sandbox_decline", "true")
    async with httpx.AsyncClient() as outside:
        location = httpx.URL((await outside.get(url)).headers["location"])
    assert (await client.get("/oauth/clio/callback", params=dict(location.params))).status_code == 422
    assert await listed_org(client, org) is None
    assert org not in await clio_orgs(client)
    async with unit_of_work(services.sessions) as session:
        rows = await session.execute(
            sa.text("SELECT count(*) FROM credentials.organizations WHERE id = :o"), {"o": org}
        )
        assert rows.scalar_one() == 0
        creds = await session.execute(
            sa.text("SELECT count(*) FROM credentials.credentials WHERE organization_id = :o"), {"o": org}
        )
        assert creds.scalar_one() == 0
    # The one abandoned flow left is still pending: it completes, and only then is there an org.
    done = await client.get("/oauth/clio/callback", params=await authorize(start))
    assert done.status_code == 200, done.text
    created = await listed_org(client, org)
    assert created is not None and created["clio_region"] == "US"
    assert created["credentials"] == [
        {"provider": "clio", "kind": "oauth_tokens", "name": "", "status": "valid"}
    ]
    assert org in await clio_orgs(client)
    audit = (await client.get("/admin/audit", params={"org": org}, headers=admin())).json()["entries"]
    actions = [(e["action"], e["outcome"]) for e in reversed(audit)]
    assert actions.count(("oauth.start", "ok")) == 3
    assert actions.count(("org.create", "ok")) == 1
    assert actions.index(("org.create", "ok")) > actions.index(("oauth.callback", "error"))


async def test_start_for_an_existing_org_changes_its_region_only_when_the_flow_completes(
    client: httpx.AsyncClient,
) -> None:
    org = new_org("law")
    made = await client.post(
        "/admin/orgs", json={"id": org, "name": "A Firm", "clio_region": "ca"}, headers=admin()
    )
    assert made.status_code == 201, made.text
    # No region given: the org's.
    own = await client.get("/oauth/clio/start", params={"org_id": org}, headers=admin())
    assert own.status_code == 200 and own.json()["region"] == "CA"
    # Another region asked for, then abandoned: the org keeps its own.
    eu = await client.get("/oauth/clio/start", params={"org_id": org, "region": "eu"}, headers=admin())
    assert eu.status_code == 200 and eu.json()["region"] == "EU"
    listed = await listed_org(client, org)
    assert listed is not None and listed["clio_region"] == "CA" and listed["credentials"] == []
    # Started again without a region while that flow is pending: the same region as the pending flow.
    again = await client.get("/oauth/clio/start", params={"org_id": org}, headers=admin())
    assert again.json()["region"] == "EU"
    # Completed: now the org is in that region, its name and creation time untouched.
    done = await client.get("/oauth/clio/callback", params=await authorize(again))
    assert done.status_code == 200, done.text
    listed = await listed_org(client, org)
    assert listed is not None
    assert (listed["clio_region"], listed["name"], listed["created_at"]) == (
        "EU",
        "A Firm",
        made.json()["created_at"],
    )
    r = await client.get(f"/internal/credentials/{org}/clio", headers=service("clio-gateway"))
    assert r.status_code == 200 and r.json()["region"] == "EU"
    audit = (await client.get("/admin/audit", params={"org": org}, headers=admin())).json()["entries"]
    assert [e["action"] for e in audit].count("org.create") == 1  # the POST's, not the callback's


async def state_counts(services: Services) -> tuple[int, int]:
    """How many OAuth states are (expired, still pending)."""
    async with unit_of_work(services.sessions) as session:
        rows = await session.execute(
            sa.text(
                "SELECT count(*) FILTER (WHERE expires_at <= now()), "
                "count(*) FILTER (WHERE expires_at > now()) FROM credentials.oauth_states"
            )
        )
        expired, pending = rows.one()
    return int(expired), int(pending)


async def abandon_flows(client: httpx.AsyncClient, services: Services, count: int) -> list[str]:
    """Flows started an hour ago (a clock turned back) and never completed: their states are expired now."""
    real_clock = services.clock
    services.clock = lambda: real_clock() - timedelta(hours=1)
    try:
        starts = [
            await client.get("/oauth/clio/start", params={"org_id": new_org("gone")}, headers=admin())
            for _ in range(count)
        ]
    finally:
        services.clock = real_clock
    assert all(s.status_code == 200 for s in starts), [s.text for s in starts]
    return [httpx.URL(s.json()["authorize_url"]).params["state"] for s in starts]


async def test_prune_deletes_expired_states_in_bounded_batches_and_keeps_pending_ones(
    fresh_database: str, clio_sandbox: str
) -> None:
    settings = make_settings(fresh_database, clio_base_url=clio_sandbox, oauth_state_prune_batch_size=2)
    async with running(settings) as (client, services):
        abandoned = await abandon_flows(client, services, 5)
        pending = await client.get("/oauth/clio/start", params={"org_id": new_org("law")}, headers=admin())
        assert await state_counts(services) == (5, 1)
        # One batch takes at most its size, and never an unexpired state.
        async with unit_of_work(services.sessions) as session:
            assert await oauth_states.delete_expired(session, services.now(), 2) == 2
        assert await state_counts(services) == (3, 1)
        # A round takes batch after batch until none is left.
        assert await prune_expired_states(services) == 3
        assert await prune_expired_states(services) == 0
        assert await state_counts(services) == (0, 1)
        # Still single use and expiring: the pruned flows cannot complete, the pending one can, once.
        late = await client.get("/oauth/clio/callback", params={"code": "x", "state": abandoned[0]})
        assert late.status_code == 422 and "expired" in late.json()["error"]["message"]
        params = await authorize(pending)
        assert (await client.get("/oauth/clio/callback", params=params)).status_code == 200
        assert (await client.get("/oauth/clio/callback", params=params)).status_code == 422
        assert await state_counts(services) == (0, 0)


async def test_abandoned_flows_are_pruned_in_the_background(fresh_database: str, clio_sandbox: str) -> None:
    """No callback ever arrives: the service's own background loop deletes the expired states."""
    settings = make_settings(fresh_database, clio_base_url=clio_sandbox, clio_refresh_interval_s=0.1)
    async with running(settings) as (client, services):
        await abandon_flows(client, services, 3)
        pending = await client.get("/oauth/clio/start", params={"org_id": new_org("law")}, headers=admin())
        deadline = asyncio.get_running_loop().time() + 10
        while asyncio.get_running_loop().time() < deadline:
            if await state_counts(services) == (0, 1):
                break
            await asyncio.sleep(0.1)
        assert await state_counts(services) == (0, 1)
        await asyncio.sleep(0.5)  # a few more rounds: the pending flow stays, and completes
        assert await state_counts(services) == (0, 1)
        done = await client.get("/oauth/clio/callback", params=await authorize(pending))
        assert done.status_code == 200, done.text
