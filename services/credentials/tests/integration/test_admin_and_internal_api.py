"""The HTTP contract: auth, per-service scoping, metadata-only admin views, bad input, audit."""

from __future__ import annotations

import uuid

import httpx
import pytest

from practice_sync_credentials.service.context import Services
from practice_sync_credentials.testing import ADMIN, DEMO_KEY, admin, connect_clio, new_org, service


async def setup_everything(client: httpx.AsyncClient, cliniko_sandbox: str) -> tuple[str, str, list[str]]:
    clinic, law = new_org("clinic"), new_org("law")
    r = await client.put(
        f"/admin/orgs/{clinic}/credentials/cliniko",
        json={"api_key": DEMO_KEY, "api_url": cliniko_sandbox},
        headers=admin(),
    )
    assert r.status_code == 200
    await connect_clio(client, law)
    tokens = (await client.get(f"/internal/credentials/{law}/clio", headers=service("clio-gateway"))).json()
    hook = "hook-secret-" + law
    await client.put(
        f"/internal/credentials/{law}/clio/webhook-secrets/99",
        json={"secret": hook},
        headers=service("clio-gateway"),
    )
    return clinic, law, [DEMO_KEY, tokens["access_token"], hook]


async def test_admin_api_never_returns_a_secret(client: httpx.AsyncClient, cliniko_sandbox: str) -> None:
    clinic, law, secrets = await setup_everything(client, cliniko_sandbox)
    pages = [
        await client.get("/admin/credentials", headers=admin()),
        await client.get(f"/admin/orgs/{clinic}/credentials", headers=admin()),
        await client.get(f"/admin/orgs/{law}/credentials", headers=admin()),
        await client.get("/admin/orgs", params={"limit": 1000}, headers=admin()),
        await client.get("/admin/audit", params={"limit": 500}, headers=admin()),
        await client.get("/admin/keys", headers=admin()),
        await client.post(f"/admin/orgs/{clinic}/credentials/cliniko/validate", headers=admin()),
        await client.post(f"/admin/orgs/{law}/credentials/clio/validate", headers=admin()),
        await client.get("/openapi.json"),
    ]
    for page in pages:
        assert page.status_code == 200, page.text
        for secret in secrets:
            assert secret not in page.text
        assert "ciphertext" not in page.text or page.request.url.path == "/openapi.json"
    creds = (await client.get(f"/admin/orgs/{law}/credentials", headers=admin())).json()["credentials"]
    assert {c["kind"] for c in creds} == {"oauth_tokens", "webhook_secret"}
    assert all(c["hint"].startswith("…") for c in creds)


async def test_auth_is_required_and_checked(client: httpx.AsyncClient) -> None:
    org = new_org()
    for method, path in [
        ("GET", "/admin/credentials"),
        ("PUT", f"/admin/orgs/{org}/credentials/cliniko"),
        ("GET", "/admin/keys"),
        ("POST", "/admin/keys/rewrap"),
        ("GET", "/admin/audit"),
        ("GET", "/oauth/clio/start?org_id=x"),
        ("GET", f"/internal/credentials/{org}/cliniko"),
        ("GET", "/internal/orgs?provider=cliniko"),
    ]:
        none = await client.request(method, path, json={"api_key": DEMO_KEY})
        assert none.status_code == 401, (path, none.text)
        assert "bearer" in none.json()["error"]["message"].lower()
        wrong = await client.request(
            method, path, json={"api_key": DEMO_KEY}, headers={"Authorization": "Bearer no"}
        )
        assert wrong.status_code == 401, (path, wrong.text)
    # A service token is not an admin token.
    r = await client.get("/admin/credentials", headers=service("clio-gateway"))
    assert r.status_code == 401


async def test_internal_reads_are_scoped_per_provider_and_audited(
    client: httpx.AsyncClient, cliniko_sandbox: str
) -> None:
    clinic, law, _ = await setup_everything(client, cliniko_sandbox)
    allowed = [
        (f"/internal/credentials/{clinic}/cliniko", "cliniko-sync"),
        (f"/internal/credentials/{law}/clio", "clio-gateway"),
        (f"/internal/credentials/{law}/clio/webhook-secrets/99", "webhook-ingest"),
        (f"/internal/credentials/{law}/clio/webhook-secrets", "clio-gateway"),
    ]
    for path, who in allowed:
        r = await client.get(path, headers=service(who))
        assert r.status_code == 200, (path, who, r.text)
    denied = [
        (f"/internal/credentials/{clinic}/cliniko", "clio-gateway"),
        (f"/internal/credentials/{clinic}/cliniko", "projector"),
        (f"/internal/credentials/{law}/clio", "cliniko-sync"),
        (f"/internal/credentials/{law}/clio", "webhook-ingest"),
        (f"/internal/credentials/{law}/clio/webhook-secrets/99", "cliniko-sync"),
    ]
    for path, who in denied:
        r = await client.get(path, headers=service(who))
        assert r.status_code == 403, (path, who, r.text)
        assert who in r.json()["error"]["message"]
    # The admin gets metadata, never plaintext.
    r = await client.get(f"/internal/credentials/{clinic}/cliniko", headers=admin())
    assert r.status_code == 403
    # Only the gateway writes webhook secrets.
    w = await client.put(
        f"/internal/credentials/{law}/clio/webhook-secrets/100",
        json={"secret": "abcdefgh"},
        headers=service("webhook-ingest"),
    )
    assert w.status_code == 403
    audit = (await client.get("/admin/audit", params={"org": clinic}, headers=admin())).json()["entries"]
    reads = [(e["actor"], e["outcome"]) for e in audit if e["action"] == "credential.read"]
    assert ("cliniko-sync", "ok") in reads
    assert ("clio-gateway", "denied") in reads and ("admin", "denied") in reads


async def test_orgs_for_a_provider(client: httpx.AsyncClient, cliniko_sandbox: str) -> None:
    clinic, law, _ = await setup_everything(client, cliniko_sandbox)
    r = await client.get("/internal/orgs", params={"provider": "cliniko"}, headers=service("cliniko-sync"))
    assert r.status_code == 200
    orgs = {o["org_id"]: o["status"] for o in r.json()["orgs"]}
    assert orgs[clinic] == "valid" and law not in orgs
    r = await client.get("/internal/orgs", params={"provider": "clio"}, headers=service("clio-gateway"))
    assert law in {o["org_id"] for o in r.json()["orgs"]}
    bad = await client.get("/internal/orgs", params={"provider": "xero"}, headers=service("clio-gateway"))
    assert bad.status_code == 422 and "cliniko, clio" in bad.json()["error"]["message"]


async def test_one_orgs_status_for_a_provider_without_the_list_or_a_secret(
    client: httpx.AsyncClient, cliniko_sandbox: str
) -> None:
    # What a sync request's check reads: one org's row for one provider, or a 404 saying which is missing.
    clinic, law, secrets = await setup_everything(client, cliniko_sandbox)
    bare = new_org("bare")  # in the registry, no credentials
    assert (await client.post("/admin/orgs", json={"id": bare}, headers=admin())).status_code == 201
    r = await client.get(
        f"/internal/orgs/{clinic}", params={"provider": "cliniko"}, headers=service("projector")
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"org_id": clinic, "provider": "cliniko", "status": "valid"}
    r = await client.get(
        f"/internal/orgs/{law}", params={"provider": "CLIO"}, headers=service("cliniko-sync")
    )
    assert r.status_code == 200 and r.json()["status"] == "valid", r.text
    assert all(secret not in r.text for secret in secrets)
    for org, provider, kind in [
        (clinic, "clio", "no_credentials"),  # the other provider's org
        (law, "cliniko", "no_credentials"),
        (bare, "cliniko", "no_credentials"),
        (new_org("ghost"), "cliniko", "unknown_org"),
    ]:
        r = await client.get(f"/internal/orgs/{org}", params={"provider": provider}, headers=admin())
        assert r.status_code == 404, (org, provider, r.text)
        assert r.json()["error"]["type"] == kind and org in r.json()["error"]["message"], r.text
    uuid_org = str(uuid.uuid4())
    await client.put(
        f"/admin/orgs/{uuid_org}/credentials/cliniko",
        json={"api_key": DEMO_KEY, "api_url": cliniko_sandbox, "validate": False},
        headers=admin(),
    )
    r = await client.get(
        f"/internal/orgs/{uuid_org.upper()}", params={"provider": "cliniko"}, headers=admin()
    )
    assert r.status_code == 200 and r.json()["org_id"] == uuid_org, r.text
    for path, params, words in [
        ("/internal/orgs/no%20spaces", {"provider": "cliniko"}, "org id"),
        (f"/internal/orgs/{clinic}", {"provider": "xero"}, "cliniko, clio"),
        (f"/internal/orgs/{clinic}", {}, "provider"),
    ]:
        r = await client.get(path, params=params, headers=service("cliniko-sync"))
        assert r.status_code == 422 and words in r.json()["error"]["message"], (path, r.text)
    assert (await client.get(f"/internal/orgs/{clinic}", params={"provider": "cliniko"})).status_code == 401


async def _walk(client: httpx.AsyncClient, provider: str, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    params: dict[str, str | int] = {"provider": provider, "limit": limit}
    while True:
        r = await client.get("/internal/orgs", params=params, headers=service("cliniko-sync"))
        assert r.status_code == 200, r.text
        pages.append([o["org_id"] for o in r.json()["orgs"]])
        if r.json()["next_after"] is None:
            return pages
        assert r.json()["next_after"] == pages[-1][-1]
        params["after"] = r.json()["next_after"]


async def test_orgs_for_a_provider_come_in_pages_that_together_hold_every_org(
    client: httpx.AsyncClient, cliniko_sandbox: str
) -> None:
    for _ in range(5):
        await client.put(
            f"/admin/orgs/{new_org('paged')}/credentials/cliniko",
            json={"api_key": DEMO_KEY, "api_url": cliniko_sandbox, "validate": False},
            headers=admin(),
        )
    # A caller from before paging (no limit, no after) still gets every org of a small install, and
    # the cursor field, null: the default page is that large.
    old = await client.get("/internal/orgs", params={"provider": "cliniko"}, headers=service("cliniko-sync"))
    assert old.status_code == 200 and old.json()["next_after"] is None, old.text
    everything = [o["org_id"] for o in old.json()["orgs"]]
    assert len(everything) > 4
    pages = await _walk(client, "cliniko", 2)
    assert all(len(page) <= 2 for page in pages) and len(pages) >= 3
    assert [org for page in pages for org in page] == everything  # each once, in order, none skipped
    # A full first page of an old-style call carries the cursor to the rest.
    first = await client.get(
        "/internal/orgs", params={"provider": "cliniko", "limit": 2}, headers=service("cliniko-sync")
    )
    assert first.json()["next_after"] == everything[1]
    for bad in ({"limit": 0}, {"limit": 100_000}):
        r = await client.get("/internal/orgs", params={"provider": "cliniko", **bad}, headers=admin())
        assert r.status_code == 422 and "limit" in r.text, r.text


async def test_one_org_from_the_registry_with_its_providers_and_no_secret(
    client: httpx.AsyncClient, cliniko_sandbox: str
) -> None:
    clinic, law, secrets = await setup_everything(client, cliniko_sandbox)
    named = new_org("named")
    await client.post("/admin/orgs", json={"id": named, "name": "A Clinic"}, headers=admin())
    r = await client.get(f"/admin/orgs/{clinic}", headers=admin())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == clinic and body["created_at"]
    assert body["credentials"] == [{"provider": "cliniko", "kind": "api_key", "name": "", "status": "valid"}]
    r = await client.get(f"/admin/orgs/{law}", headers=admin())
    assert {(c["provider"], c["kind"]) for c in r.json()["credentials"]} == {
        ("clio", "oauth_tokens"),
        ("clio", "webhook_secret"),
    }
    assert r.json()["clio_region"]
    for page in (r, await client.get(f"/admin/orgs/{clinic}", headers=admin())):
        assert all(secret not in page.text for secret in secrets)
        assert "ciphertext" not in page.text and "hint" not in page.text
    r = await client.get(f"/admin/orgs/{named}", headers=admin())
    assert r.status_code == 200 and r.json()["name"] == "A Clinic" and r.json()["credentials"] == []
    ghost = new_org("ghost")
    r = await client.get(f"/admin/orgs/{ghost}", headers=admin())
    assert r.status_code == 404 and r.json()["error"]["type"] == "unknown_org", r.text
    assert ghost in r.json()["error"]["message"]
    r = await client.get("/admin/orgs/no%20spaces", headers=admin())
    assert r.status_code == 422 and "org id" in r.json()["error"]["message"], r.text
    assert (await client.get(f"/admin/orgs/{clinic}", headers=service("clio-gateway"))).status_code == 401


async def test_bad_input_gets_a_clear_4xx_and_writes_nothing(
    client: httpx.AsyncClient, services: Services
) -> None:
    org = new_org()
    cases = [
        ("PUT", f"/admin/orgs/{org}/credentials/xero", {"api_key": DEMO_KEY}, 422, "unknown provider 'xero'"),
        ("PUT", "/admin/orgs/bad%20org/credentials/cliniko", {"api_key": DEMO_KEY}, 422, "org id"),
        ("PUT", f"/admin/orgs/{org}/credentials/cliniko", {}, 422, "api_key is required"),
        (
            "PUT",
            f"/admin/orgs/{org}/credentials/cliniko",
            {"api_key": DEMO_KEY, "pasword": "x"},
            422,
            "pasword",
        ),
        ("PUT", f"/admin/orgs/{org}/credentials/cliniko", {"api_key": 12}, 422, "api_key"),
        ("PUT", f"/admin/orgs/{org}/credentials/clio", {"api_key": DEMO_KEY}, 422, "OAuth"),
        ("POST", f"/admin/orgs/{org}/credentials/cliniko/validate", None, 404, "no cliniko"),
        ("DELETE", f"/admin/orgs/{org}/credentials/cliniko", None, 404, "no cliniko"),
        ("POST", "/admin/orgs", {"id": "has space"}, 422, "org id"),
        ("POST", "/admin/orgs", {"id": "ok-org", "clio_region": "mars"}, 422, "region"),
    ]
    for method, path, body, status, words in cases:
        r = await client.request(method, path, json=body, headers=admin())
        assert r.status_code == status, (path, r.text)
        assert words in r.json()["error"]["message"], (path, r.text)
        assert DEMO_KEY not in r.text
    big = await client.put(
        f"/admin/orgs/{org}/credentials/cliniko",
        content=b'{"api_key": "' + b"a" * 20_000 + b'"}',
        headers={**admin(), "Content-Type": "application/json"},
    )
    assert big.status_code == 413 and "exceeds" in big.json()["error"]["message"]
    listed = await client.get(f"/admin/orgs/{org}/credentials", headers=admin())
    assert listed.json()["credentials"] == []
    orgs = (await client.get("/admin/orgs", params={"limit": 1000}, headers=admin())).json()["orgs"]
    assert org not in {o["id"] for o in orgs}


async def test_orgs_can_be_created_and_listed(client: httpx.AsyncClient) -> None:
    org = new_org("firm")
    r = await client.post(
        "/admin/orgs", json={"id": org, "name": "A Firm", "clio_region": "ca"}, headers=admin()
    )
    assert r.status_code == 201 and r.json()["clio_region"] == "CA"
    again = await client.post("/admin/orgs", json={"id": org}, headers=admin())
    assert again.status_code == 200 and again.json()["name"] == "A Firm"
    page = (await client.get("/admin/orgs", params={"limit": 1000}, headers=admin())).json()
    assert org in {o["id"] for o in page["orgs"]}
    # UUID org ids are canonical whatever their spelling.
    upper = "0B7E6F3C-1D2E-4F5A-8B9C-0D1E2F3A4B5C"
    r = await client.post("/admin/orgs", json={"id": upper}, headers=admin())
    assert r.json()["id"] == upper.lower()


async def test_webhook_secrets_round_trip(client: httpx.AsyncClient) -> None:
    org = new_org("law")
    for hook, secret in (("1", "first-secret-123"), ("2", "second-secret-456")):
        r = await client.put(
            f"/internal/credentials/{org}/clio/webhook-secrets/{hook}",
            json={"secret": secret},
            headers=service("clio-gateway"),
        )
        assert (r.status_code == 200 and r.json()["hint"] == "…-123") or r.json()["hint"] == "…-456"
    all_ = await client.get(
        f"/internal/credentials/{org}/clio/webhook-secrets", headers=service("webhook-ingest")
    )
    assert all_.json()["secrets"] == {"1": "first-secret-123", "2": "second-secret-456"}
    d = await client.delete(
        f"/internal/credentials/{org}/clio/webhook-secrets/1", headers=service("clio-gateway")
    )
    assert d.status_code == 204
    one = await client.get(
        f"/internal/credentials/{org}/clio/webhook-secrets/1", headers=service("webhook-ingest")
    )
    assert one.status_code == 404


async def test_admin_token_constant_is_what_the_app_uses() -> None:
    assert ADMIN == "admin-test-token"


async def test_secrets_stay_out_of_the_logs(
    client: httpx.AsyncClient, cliniko_sandbox: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    import structlog

    from practice_sync_common.logging import configure_logging, get_logger

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("credentials", "DEBUG", json=True)
    try:
        _, _, secrets = await setup_everything(client, cliniko_sandbox)
        # Whatever a handler might log about these values, the registry scrubs them.
        get_logger("test").warning("about", value=secrets[0], text=f"token {secrets[1]} and {secrets[2]}")
        out = capsys.readouterr().out
    finally:
        # configure_logging bound the captured stdout; later tests must not write to it.
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    assert "[REDACTED]" in out
    for secret in secrets:
        assert secret not in out


async def test_audit_provider_filter_is_checked_like_the_credentials_listing(
    client: httpx.AsyncClient, cliniko_sandbox: str
) -> None:
    clinic, law, _ = await setup_everything(client, cliniko_sandbox)
    for path in ("/admin/audit", "/admin/credentials"):
        bad = await client.get(path, params={"provider": "bogus"}, headers=admin())
        assert bad.status_code == 422, (path, bad.text)
        assert bad.json()["error"] == {
            "type": "invalid",
            "message": "unknown provider 'bogus'; expected one of: cliniko, clio",
        }
    # The same spellings are accepted by both.
    audit = await client.get("/admin/audit", params={"provider": " CLIO ", "org": law}, headers=admin())
    assert audit.status_code == 200, audit.text
    entries = audit.json()["entries"]
    assert entries and {e["provider"] for e in entries} == {"clio"}
    listed = await client.get(
        "/admin/credentials", params={"provider": " CLIO ", "org": law}, headers=admin()
    )
    assert listed.status_code == 200 and {c["provider"] for c in listed.json()["credentials"]} == {"clio"}
    # No provider: no filter.
    everything = await client.get("/admin/audit", params={"org": clinic}, headers=admin())
    assert everything.status_code == 200 and everything.json()["entries"]
