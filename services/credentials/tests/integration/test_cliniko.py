"""Cliniko keys: shape checks, shard/URL derivation, validation against the sandbox over HTTP."""

from __future__ import annotations

import httpx

from practice_sync_common.embedded.procs import free_port
from practice_sync_credentials.testing import DEMO_KEY, admin, new_org


async def test_valid_key_is_stored_and_validated(client: httpx.AsyncClient, cliniko_sandbox: str) -> None:
    org = new_org()
    r = await client.put(
        f"/admin/orgs/{org}/credentials/cliniko",
        json={"api_key": DEMO_KEY, "api_url": cliniko_sandbox},
        headers=admin(),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "valid", body
    assert "patients" in body["status_message"]
    assert body["api_url"] == cliniko_sandbox
    assert body["metadata"]["shard"] == "au1"
    assert body["hint"] == "…-au1"
    assert body["last_validated_at"] is not None
    assert DEMO_KEY not in r.text


async def test_shard_and_url_are_derived_from_the_key(client: httpx.AsyncClient) -> None:
    org = new_org()
    r = await client.put(
        f"/admin/orgs/{org}/credentials/cliniko",
        json={"api_key": "abcdefghijklmnopqrstuvwx-uk2", "validate": False},
        headers=admin(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["api_url"] == "https://api.uk2.cliniko.com/v1"
    assert r.json()["status"] == "unvalidated"


async def test_a_key_cliniko_refuses_is_not_stored_and_a_working_one_stays(
    client: httpx.AsyncClient, cliniko_sandbox: str
) -> None:
    org = new_org()
    good = await client.put(
        f"/admin/orgs/{org}/credentials/cliniko",
        json={"api_key": DEMO_KEY, "api_url": cliniko_sandbox},
        headers=admin(),
    )
    assert good.json()["status"] == "valid"
    r = await client.put(
        f"/admin/orgs/{org}/credentials/cliniko",
        json={"api_key": "notarealkeyatall0000-au1", "api_url": cliniko_sandbox},
        headers=admin(),
    )
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert "refused" in message and "401" in message and "not stored" in message
    assert "notarealkeyatall0000" not in r.text
    kept = await client.get("/admin/credentials", params={"org": org}, headers=admin())
    [row] = [c for c in kept.json()["credentials"] if c["provider"] == "cliniko"]
    assert (row["status"], row["hint"]) == ("valid", good.json()["hint"])
    audit = await client.get("/admin/audit", params={"org": org}, headers=admin())
    assert ("credential.validate", "invalid_key") in [
        (e["action"], e["outcome"]) for e in audit.json()["entries"]
    ]


async def test_unreachable_provider_is_recorded(client: httpx.AsyncClient) -> None:
    org = new_org()
    r = await client.put(
        f"/admin/orgs/{org}/credentials/cliniko",
        json={"api_key": DEMO_KEY, "api_url": f"http://127.0.0.1:{free_port()}/v1"},
        headers=admin(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "unreachable"
    assert "cannot reach Cliniko" in r.json()["status_message"]


async def test_validate_endpoint_rechecks_and_audits(client: httpx.AsyncClient, cliniko_sandbox: str) -> None:
    org = new_org()
    await client.put(
        f"/admin/orgs/{org}/credentials/cliniko",
        json={"api_key": DEMO_KEY, "api_url": cliniko_sandbox, "validate": False},
        headers=admin(),
    )
    r = await client.post(f"/admin/orgs/{org}/credentials/cliniko/validate", headers=admin())
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "valid"
    audit = await client.get("/admin/audit", params={"org": org}, headers=admin())
    actions = [(e["action"], e["outcome"]) for e in audit.json()["entries"]]
    assert ("credential.validate", "valid") in actions
    assert ("credential.write", "ok") in actions
    assert ("org.create", "ok") in actions


async def test_malformed_keys_are_refused_and_nothing_is_written(client: httpx.AsyncClient) -> None:
    org = new_org()
    cases = {
        "has space-au1": "whitespace",
        "short-au1": "too short",
        "abcdefghijklmnop-zz": "shard",
        "abcd$efghijklmnop-au1": "characters",
    }
    for key, words in cases.items():
        r = await client.put(f"/admin/orgs/{org}/credentials/cliniko", json={"api_key": key}, headers=admin())
        assert r.status_code == 422, (key, r.text)
        assert words in r.json()["error"]["message"], r.text
        assert key not in r.text
    bad_url = await client.put(
        f"/admin/orgs/{org}/credentials/cliniko",
        json={"api_key": DEMO_KEY, "api_url": "ftp://x"},
        headers=admin(),
    )
    assert bad_url.status_code == 422 and "http" in bad_url.json()["error"]["message"]
    listed = await client.get(f"/admin/orgs/{org}/credentials", headers=admin())
    assert listed.json()["credentials"] == []
    orgs = await client.get("/admin/orgs", params={"limit": 1000}, headers=admin())
    assert org not in [o["id"] for o in orgs.json()["orgs"]]
