"""Encryption at rest: nothing readable in the database, rows bound to their tenant, key ring checks,
rotation with rewrap while reads go on, and the legacy Fernet import."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time

import httpx
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet
from pydantic import SecretStr

from practice_sync_common.db import unit_of_work
from practice_sync_credentials.domain.keyring import KeyRingError, generate_key_entry
from practice_sync_credentials.main import KeyRingMismatch, create_app
from practice_sync_credentials.repository import credentials as cred_repo
from practice_sync_credentials.service import clio
from practice_sync_credentials.service import credentials as cred_service
from practice_sync_credentials.service.context import Services
from practice_sync_credentials.service.errors import SecretUnreadable
from practice_sync_credentials.testing import (
    DEMO_KEY,
    K1,
    K2,
    OTHER_KEY,
    admin,
    connect_clio,
    make_settings,
    new_org,
    running,
    service,
)


async def dump_schema(services: Services) -> str:
    """Every text-like column of every table in the schema, as text: what a pg_dump would show."""
    out: list[str] = []
    async with unit_of_work(services.sessions) as session:
        cols = (
            await session.execute(
                sa.text(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = 'credentials' ORDER BY table_name, ordinal_position"
                )
            )
        ).all()
        for table, column in cols:
            values = await session.execute(sa.text(f'SELECT "{column}"::text FROM credentials."{table}"'))
            out.extend(str(v[0]) for v in values.all())
    return "\n".join(out)


async def test_no_plaintext_secret_in_the_database(
    client: httpx.AsyncClient, services: Services, cliniko_sandbox: str
) -> None:
    clinic, law = new_org("clinic"), new_org("law")
    await client.put(
        f"/admin/orgs/{clinic}/credentials/cliniko",
        json={"api_key": DEMO_KEY, "api_url": cliniko_sandbox},
        headers=admin(),
    )
    await connect_clio(client, law)
    tokens = (await client.get(f"/internal/credentials/{law}/clio", headers=service("clio-gateway"))).json()
    hook_secret = "whsec-" + "s3cr3t" * 6
    put = await client.put(
        f"/internal/credentials/{law}/clio/webhook-secrets/4711",
        json={"secret": hook_secret},
        headers=service("clio-gateway"),
    )
    assert put.status_code == 200, put.text
    async with unit_of_work(services.sessions) as session:
        row = await cred_repo.get(session, law, "clio", "oauth_tokens")
    assert row is not None
    refresh_token = services.vault.open(clio.ref(law), row.ciphertext)["refresh_token"]
    secrets_ = [DEMO_KEY, DEMO_KEY.removesuffix("-au1"), tokens["access_token"], refresh_token, hook_secret]
    dump = await dump_schema(services)
    assert "v1:k1:" in dump  # the rows are there, sealed
    for secret in secrets_:
        assert secret not in dump
        assert base64.b64encode(secret.encode()).decode() not in dump


async def test_ciphertext_copied_to_another_org_fails_to_open(
    client: httpx.AsyncClient, services: Services
) -> None:
    a, b = new_org("a"), new_org("b")
    for org, key in ((a, DEMO_KEY), (b, OTHER_KEY)):
        r = await client.put(
            f"/admin/orgs/{org}/credentials/cliniko",
            json={"api_key": key, "validate": False},
            headers=admin(),
        )
        assert r.status_code == 200
    async with unit_of_work(services.sessions) as session:
        await session.execute(
            sa.text(
                "UPDATE credentials.credentials SET ciphertext = "
                "(SELECT ciphertext FROM credentials.credentials WHERE organization_id = :a) "
                "WHERE organization_id = :b"
            ),
            {"a": a, "b": b},
        )
    with pytest.raises(SecretUnreadable, match="authentication failed"):
        await cred_service.read_cliniko(services, "cliniko-sync", b)
    r = await client.get(f"/internal/credentials/{b}/cliniko", headers=service("cliniko-sync"))
    assert r.status_code == 500
    assert r.json()["error"]["type"] == "secret_unreadable"
    assert b in r.json()["error"]["message"] and DEMO_KEY not in r.text
    # The original row is untouched.
    ok = await client.get(f"/internal/credentials/{a}/cliniko", headers=service("cliniko-sync"))
    assert ok.json()["api_key"] == DEMO_KEY


def test_missing_or_malformed_ring_fails_when_the_app_is_built(database_url: str) -> None:
    with pytest.raises(KeyRingError, match="empty"):
        create_app(make_settings(database_url, credentials_keyring=SecretStr("")))
    with pytest.raises(KeyRingError, match="base64"):
        create_app(make_settings(database_url, credentials_keyring=SecretStr("k1:not*base64")))
    with pytest.raises(KeyRingError, match="32"):
        create_app(make_settings(database_url, credentials_keyring=SecretStr("k1:" + "A" * 20)))


def test_the_process_exits_at_start_with_a_clear_message(database_url: str) -> None:
    env = {**os.environ, "CREDENTIALS_KEYRING": "", "DATABASE_URL": database_url, "HTTP_PORT": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "practice_sync_credentials"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "CREDENTIALS_KEYRING" in proc.stderr and "empty" in proc.stderr


async def test_a_ring_that_cannot_open_the_rows_fails_at_start(fresh_database: str) -> None:
    org = new_org()
    async with running(make_settings(fresh_database)) as (client, _):
        await client.put(
            f"/admin/orgs/{org}/credentials/cliniko",
            json={"api_key": DEMO_KEY, "validate": False},
            headers=admin(),
        )
    other_k1 = generate_key_entry("k1")  # same kid, other key material
    app = create_app(make_settings(fresh_database, credentials_keyring=SecretStr(other_k1)))
    with pytest.raises(KeyRingMismatch, match="does not open"):
        async with app.router.lifespan_context(app):
            pass
    await app.state.runtime.engine.dispose()
    app = create_app(make_settings(fresh_database, credentials_keyring=SecretStr(K2)))
    with pytest.raises(KeyRingMismatch, match="has no key 'k1'"):
        async with app.router.lifespan_context(app):
            pass
    await app.state.runtime.engine.dispose()


async def test_rotation_rewraps_every_row_while_reads_continue(fresh_database: str) -> None:
    keys = {new_org(f"rot{i}"): f"rotationclinic{i:06d}-au1" for i in range(25)}
    async with running(make_settings(fresh_database)) as (client, _):
        for org, key in keys.items():
            r = await client.put(
                f"/admin/orgs/{org}/credentials/cliniko",
                json={"api_key": key, "validate": False},
                headers=admin(),
            )
            assert r.status_code == 200
        hook_org = next(iter(keys))
        await client.put(
            f"/internal/credentials/{hook_org}/clio/webhook-secrets/77",
            json={"secret": "webhook-secret-77-abcdef"},
            headers=service("clio-gateway"),
        )

    both = make_settings(fresh_database, credentials_keyring=SecretStr(f"{K1},{K2}"))
    async with running(both) as (client, _):
        before = (await client.get("/admin/keys", headers=admin())).json()
        assert before["current_kid"] == "k2"
        assert {k["kid"]: k["rows"] for k in before["keys"]} == {"k1": 26, "k2": 0}
        assert all(len(k["fingerprint"]) == 16 for k in before["keys"])

        reads_ok = 0

        async def read_all() -> None:
            nonlocal reads_ok
            for org, key in keys.items():
                r = await client.get(f"/internal/credentials/{org}/cliniko", headers=service("cliniko-sync"))
                assert r.status_code == 200, r.text
                assert r.json()["api_key"] == key
                reads_ok += 1

        started = await client.post("/admin/keys/rewrap", params={"batch_size": 4}, headers=admin())
        assert started.status_code == 202 and started.json()["state"] == "running"
        await asyncio.gather(read_all(), read_all())
        for _ in range(200):
            progress = (await client.get("/admin/keys/rewrap", headers=admin())).json()
            if progress["state"] != "running":
                break
            await asyncio.sleep(0.02)
        assert progress["state"] == "done", progress
        assert progress["rewrapped"] == 26 and progress["remaining"] == 0 and progress["failed"] == 0
        assert reads_ok == 50
        after = (await client.get("/admin/keys", headers=admin())).json()
        assert {k["kid"]: k["rows"] for k in after["keys"]} == {"k1": 0, "k2": 26}
        again = await client.post("/admin/keys/rewrap", params={"wait": "true"}, headers=admin())
        assert again.status_code == 200 and again.json()["rewrapped"] == 0
        audit = (await client.get("/admin/audit", params={"action": "key.rewrap"}, headers=admin())).json()
        assert audit["entries"][0]["outcome"] == "done"

    # The old key can now leave the ring: everything still opens with the new one alone.
    async with running(make_settings(fresh_database, credentials_keyring=SecretStr(K2))) as (client, _):
        await read_all()
        secrets = await client.get(
            f"/internal/credentials/{hook_org}/clio/webhook-secrets/77", headers=service("webhook-ingest")
        )
        assert secrets.json()["secrets"] == {"77": "webhook-secret-77-abcdef"}


async def test_legacy_import_is_all_or_nothing(database_url: str) -> None:
    fernet_key = Fernet.generate_key()
    f = Fernet(fernet_key)
    settings = make_settings(database_url, credentials_encryption_key=SecretStr(fernet_key.decode()))
    as_string, as_object, as_clio = new_org("legacy"), new_org("legacy"), new_org("legacy")
    rows = [
        # The seed stored either a JSON string holding an object, or the object itself.
        {
            "org_id": as_string,
            "provider": "cliniko",
            "ciphertext": f.encrypt(json.dumps(json.dumps({"api_key": DEMO_KEY})).encode()).decode(),
        },
        {
            "org_id": as_object,
            "provider": "cliniko",
            "ciphertext": f.encrypt(
                json.dumps({"api_key": OTHER_KEY, "api_url": "http://x.test/v1"}).encode()
            ).decode(),
        },
        {
            "org_id": as_clio,
            "provider": "clio",
            "ciphertext": f.encrypt(
                json.dumps(
                    {
                        "access_token": "legacy-access-0123456789",
                        "refresh_token": "legacy-refresh-0123456789",
                        "expires_at": 1999999999,
                    }
                ).encode()
            ).decode(),
        },
    ]
    wrong = Fernet(Fernet.generate_key()).encrypt(b'{"api_key": "x"}').decode()
    async with running(settings) as (client, _):
        bad = await client.post(
            "/admin/import/legacy",
            json={"rows": [*rows, {"org_id": new_org(), "provider": "cliniko", "ciphertext": wrong}]},
            headers=admin(),
        )
        assert bad.status_code == 422, bad.text
        message = bad.json()["error"]["message"]
        assert message.startswith("row 3") and "CREDENTIALS_ENCRYPTION_KEY" in message
        for org in (as_string, as_object, as_clio):
            listed = await client.get(f"/admin/orgs/{org}/credentials", headers=admin())
            assert listed.json()["credentials"] == []
        unknown = await client.post(
            "/admin/import/legacy",
            json={"rows": [{**rows[0], "provider": "xero"}]},
            headers=admin(),
        )
        assert unknown.status_code == 422 and "unknown provider" in unknown.json()["error"]["message"]

        ok = await client.post("/admin/import/legacy", json={"rows": rows}, headers=admin())
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"imported": 3}
        a = await client.get(f"/internal/credentials/{as_string}/cliniko", headers=service("cliniko-sync"))
        assert a.json()["api_key"] == DEMO_KEY and a.json()["api_url"] == "https://api.au1.cliniko.com/v1"
        b = await client.get(f"/internal/credentials/{as_object}/cliniko", headers=service("cliniko-sync"))
        assert b.json()["api_key"] == OTHER_KEY and b.json()["api_url"] == "http://x.test/v1"
        listed = (await client.get(f"/admin/orgs/{as_clio}/credentials", headers=admin())).json()
        assert listed["credentials"][0]["kind"] == "oauth_tokens"
        assert listed["credentials"][0]["expires_at"].startswith("2033")

    async with running(make_settings(database_url)) as (client, _):
        r = await client.post("/admin/import/legacy", json={"rows": rows}, headers=admin())
        assert r.status_code == 503 and "CREDENTIALS_ENCRYPTION_KEY" in r.json()["error"]["message"]


async def test_legacy_import_checks_its_input_before_the_server_configuration(database_url: str) -> None:
    f = Fernet(Fernet.generate_key())
    org = new_org("legacy")
    good = {"org_id": org, "provider": "cliniko", "ciphertext": f.encrypt(b'{"api_key": "x"}').decode()}
    malformed = [
        ([], "no rows to import"),
        ([{**good, "org_id": "bad org"}], "row 0: org id must be"),
        ([good, {**good, "provider": "xero"}], "row 1 (org "),
        ([good, {**good, "provider": "xero"}], "unknown provider 'xero'; expected one of: cliniko, clio"),
        ([{**good, "ciphertext": "not a token!"}], "row 0 (org "),
        ([{**good, "ciphertext": "gAAAAAB"}], "legacy token is corrupt"),
        ([good, good], f"row 1: a second cliniko credential for org {org!r}"),
    ]
    # No CREDENTIALS_ENCRYPTION_KEY, or one that is not a Fernet key: the input is still judged first.
    for key in ("", "not-a-fernet-key"):
        settings = make_settings(database_url, credentials_encryption_key=SecretStr(key))
        async with running(settings) as (client, _):
            for rows, words in malformed:
                r = await client.post("/admin/import/legacy", json={"rows": rows}, headers=admin())
                assert r.status_code == 422, (key, rows, r.text)
                assert r.json()["error"]["type"] == "invalid"
                assert words in r.json()["error"]["message"], (key, rows, r.text)
                assert "nothing was imported" in r.json()["error"]["message"] or not rows
                assert good["ciphertext"] not in r.text
            # Valid input: now the configuration is what is wrong, and it says so.
            r = await client.post("/admin/import/legacy", json={"rows": [good]}, headers=admin())
            assert r.status_code == 503, r.text
            assert r.json()["error"]["type"] == "not_configured"
            assert "CREDENTIALS_ENCRYPTION_KEY" in r.json()["error"]["message"]
            assert key not in r.json()["error"]["message"] or not key
            listed = await client.get(f"/admin/orgs/{org}/credentials", headers=admin())
            assert listed.json()["credentials"] == []


async def legacy_clio_row(f: Fernet, org: str, clio_sandbox: str, **extra: str) -> dict[str, str]:
    """A seed row of Clio tokens the sandbox really issued: tokens and epoch expiry, as the seed kept them."""
    async with httpx.AsyncClient() as c:
        minted = await c.post(f"{clio_sandbox}/_sandbox/tokens", json={})
    assert minted.status_code == 200, minted.text
    payload = {
        "access_token": minted.json()["access_token"],
        "refresh_token": minted.json()["refresh_token"],
        "expires_at": int(time.time()) + minted.json()["expires_in"],
        **extra,
    }
    return {"org_id": org, "provider": "clio", "ciphertext": f.encrypt(json.dumps(payload).encode()).decode()}


async def org_region(client: httpx.AsyncClient, org: str) -> str | None:
    """The org's `clio_region` as `GET /admin/orgs` lists it (one page starting just before it)."""
    r = await client.get("/admin/orgs", params={"after": org[:-1], "limit": 5}, headers=admin())
    assert r.status_code == 200, r.text
    found = [o["clio_region"] for o in r.json()["orgs"] if o["id"] == org]
    assert found, f"{org} is not listed"
    region: str | None = found[0]
    return region


async def who_am_i(api_url: str, token: str) -> int:
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{api_url}/users/who_am_i", headers={"Authorization": f"Bearer {token}"})
    return r.status_code


async def test_an_imported_clio_credential_works_like_an_oauth_one(
    database_url: str, clio_sandbox: str
) -> None:
    fernet_key = Fernet.generate_key()
    settings = make_settings(
        database_url, clio_base_url=clio_sandbox, credentials_encryption_key=SecretStr(fernet_key.decode())
    )
    imported, connected = new_org("legacy"), new_org("law")
    row = await legacy_clio_row(Fernet(fernet_key), imported, clio_sandbox)
    async with running(settings) as (client, _):
        ok = await client.post("/admin/import/legacy", json={"rows": [row]}, headers=admin())
        assert ok.status_code == 200, ok.text
        # The gateway gets the region's API base, and the token works there.
        r = await client.get(f"/internal/credentials/{imported}/clio", headers=service("clio-gateway"))
        assert r.status_code == 200, r.text
        assert (r.json()["api_url"], r.json()["region"]) == (f"{clio_sandbox}/api/v4", "US")
        assert await who_am_i(r.json()["api_url"], r.json()["access_token"]) == 200
        # The service's own health check of the credential goes through it too.
        checked = await client.post(f"/admin/orgs/{imported}/credentials/clio/validate", headers=admin())
        assert checked.status_code == 200, checked.text
        assert checked.json()["status"] == "valid", checked.json()
        # And the refresh goes to the region's OAuth host; the new token works as well.
        refreshed = await client.post(
            f"/internal/credentials/{imported}/clio/refresh", headers=service("clio-gateway")
        )
        assert refreshed.status_code == 200, refreshed.text
        assert refreshed.json()["access_token"] != r.json()["access_token"]
        assert await who_am_i(refreshed.json()["api_url"], refreshed.json()["access_token"]) == 200
        # The same metadata as a credential the OAuth callback made, and the org placed in its region.
        await connect_clio(client, connected)
        meta = {}
        for org in (imported, connected):
            listed = (await client.get(f"/admin/orgs/{org}/credentials", headers=admin())).json()
            meta[org] = listed["credentials"][0]["metadata"]
        assert meta[imported] == {**meta[connected], "imported": True}
        assert await org_region(client, imported) == "US"
        audit = (await client.get("/admin/audit", params={"org": imported}, headers=admin())).json()
        assert any(
            e["action"] == "org.create" and e["actor"] == "admin" and "legacy import" in e["detail"]
            for e in audit["entries"]
        ), audit


async def test_a_legacy_clio_payload_names_its_region_or_api_url(database_url: str) -> None:
    fernet_key = Fernet.generate_key()
    f = Fernet(fernet_key)
    # No CLIO_BASE_URL override: the regional hosts. Nothing here calls Clio (the tokens are not due).
    settings = make_settings(
        database_url,
        clio_base_url=None,
        credentials_allow_private_urls=False,
        credentials_encryption_key=SecretStr(fernet_key.decode()),
    )

    def row(org: str, **extra: str) -> dict[str, str]:
        tokens = {"access_token": "legacy-access-0123456789", "refresh_token": "legacy-refresh-0123456789"}
        payload = {**tokens, "expires_at": 1999999999, **extra}
        return {
            "org_id": org,
            "provider": "clio",
            "ciphertext": f.encrypt(json.dumps(payload).encode()).decode(),
        }

    eu, ca, plain = new_org("legacy"), new_org("legacy"), new_org("legacy")
    async with running(settings) as (client, _):
        # An org an admin placed in CA before the import: the tokens' region wins, as with OAuth.
        made = await client.post("/admin/orgs", json={"id": plain, "clio_region": "ca"}, headers=admin())
        assert made.status_code == 201, made.text
        refused = [
            (row(eu, region="mars"), "unknown Clio region"),
            (row(eu, region="US", api_url="https://eu.app.clio.com/api/v4"), "does not match its api_url"),
            (row(eu, api_url="http://eu.app.clio.com/api/v4"), "Clio API URL must use https"),
        ]
        for bad, words in refused:
            r = await client.post("/admin/import/legacy", json={"rows": [row(ca), bad]}, headers=admin())
            assert r.status_code == 422, r.text
            assert r.json()["error"]["message"].startswith("row 1") and words in r.json()["error"]["message"]
        for org in (eu, ca):
            assert (await client.get(f"/admin/orgs/{org}/credentials", headers=admin())).json()[
                "credentials"
            ] == []

        rows = [row(eu, region="eu"), row(ca, api_url="https://ca.app.clio.com/api/v4"), row(plain)]
        ok = await client.post("/admin/import/legacy", json={"rows": rows}, headers=admin())
        assert ok.status_code == 200, ok.text
        expected = {
            eu: ("EU", "https://eu.app.clio.com/api/v4"),
            ca: ("CA", "https://ca.app.clio.com/api/v4"),
            plain: ("US", "https://app.clio.com/api/v4"),
        }
        for org, (region, api_url) in expected.items():
            r = await client.get(f"/internal/credentials/{org}/clio", headers=service("clio-gateway"))
            assert r.status_code == 200, r.text
            assert (r.json()["region"], r.json()["api_url"]) == (region, api_url)
            assert await org_region(client, org) == region
        audit = (await client.get("/admin/audit", params={"org": plain}, headers=admin())).json()["entries"]
        assert any(e["action"] == "org.update" and "CA -> US" in e["detail"] for e in audit), audit


async def test_clio_rows_imported_without_an_api_url_still_get_one(
    database_url: str, clio_sandbox: str
) -> None:
    """Rows an earlier import stored carry only `{"region": "US", "imported": true}`: the internal API
    derives the API base from the region (as the refresh already did for the OAuth host), never ''."""
    fernet_key = Fernet.generate_key()
    settings = make_settings(
        database_url, clio_base_url=clio_sandbox, credentials_encryption_key=SecretStr(fernet_key.decode())
    )
    old, broken = new_org("legacy"), new_org("legacy")
    rows = [await legacy_clio_row(Fernet(fernet_key), org, clio_sandbox) for org in (old, broken)]
    async with running(settings) as (client, services):
        ok = await client.post("/admin/import/legacy", json={"rows": rows}, headers=admin())
        assert ok.status_code == 200, ok.text
        async with unit_of_work(services.sessions) as session:
            for org, meta in ((old, {"region": "US", "imported": True}), (broken, {"region": "XX"})):
                await session.execute(
                    sa.text(
                        "UPDATE credentials.credentials SET meta = CAST(:m AS jsonb) "
                        "WHERE organization_id = :o AND provider = 'clio'"
                    ),
                    {"m": json.dumps(meta), "o": org},
                )
        r = await client.get(f"/internal/credentials/{old}/clio", headers=service("clio-gateway"))
        assert r.status_code == 200, r.text
        assert (r.json()["api_url"], r.json()["region"]) == (f"{clio_sandbox}/api/v4", "US")
        assert await who_am_i(r.json()["api_url"], r.json()["access_token"]) == 200
        checked = await client.post(f"/admin/orgs/{old}/credentials/clio/validate", headers=admin())
        assert checked.status_code == 200 and checked.json()["status"] == "valid", checked.text
        # A region nobody knows cannot be turned into a host: a clear refusal, not an empty URL.
        bad = await client.get(f"/internal/credentials/{broken}/clio", headers=service("clio-gateway"))
        assert bad.status_code == 500, bad.text
        assert bad.json()["error"]["type"] == "stored_credential_invalid"
        assert "unknown region 'XX'" in bad.json()["error"]["message"]
