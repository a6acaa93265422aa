"""`POST /admin/syncs` refuses at once, with nothing queued, an org cliniko-sync cannot sync (no
Cliniko credentials, or credentials for Clio only); `practice-sync sync request` shows why and exits
non-zero. A run can still fail later for what only Cliniko can say (a key it refuses): the
conformance suite's auth-failure test."""

from __future__ import annotations

import uuid

import httpx
import pytest
from typer.testing import CliRunner

from practice_sync_cli.main import app
from practice_sync_cli.testing_stack import ADMIN_TOKEN, SERVICE_TOKENS, Stack, offline_cliniko_org
from practice_sync_cliniko_sync.tasks.consumer import cliniko_orgs
from practice_sync_clio_gateway.testing import connect
from practice_sync_common.settings import CommonSettings


def _client(stack: Stack) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.urls["cliniko-sync"], headers=stack.admin_headers(), timeout=30)


async def test_an_org_without_cliniko_credentials_is_refused_with_404(
    stack: Stack, cliniko_sync_service: str
) -> None:
    unknown = f"ghost-{uuid.uuid4().hex[:8]}"
    bare = f"bare-{uuid.uuid4().hex[:8]}"  # known to credentials, but no credential stored
    async with httpx.AsyncClient(base_url=stack.urls["credentials"], headers=stack.admin_headers()) as c:
        assert (await c.post("/admin/orgs", json={"id": bare})).status_code == 201
    async with _client(stack) as c:
        for org in (unknown, bare):
            r = await c.post("/admin/syncs", json={"org_id": org, "mode": "full"})
            assert r.status_code == 404, r.text
            message = r.json()["error"]["message"]
            assert org in message and "Cliniko" in message, message
            assert f"practice-sync credentials set --org {org} --provider cliniko" in message
            assert (await c.get("/admin/syncs", params={"org_id": org})).json()["runs"] == []


async def test_a_clio_org_is_refused_with_409_naming_both_providers(
    stack: Stack, cliniko_sync_service: str, clio_sandbox: str
) -> None:
    org = await connect(stack, "cs-clio", "conf-empty")
    async with _client(stack) as c:
        r = await c.post("/admin/syncs", json={"org_id": org, "mode": "auto"})
        assert r.status_code == 409, r.text
        message = r.json()["error"]["message"]
        assert org in message and "Clio" in message and "Cliniko" in message, message
        assert "--provider clio" in message
        assert (await c.get("/admin/syncs", params={"org_id": org})).json()["runs"] == []


def test_the_cli_shows_the_refusal_and_exits_non_zero(
    stack: Stack, cliniko_sync_service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = f"ghost-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("CLINIKO_SYNC_URL", cliniko_sync_service)
    monkeypatch.setenv("PRACTICE_SYNC_ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.delenv("COLUMNS", raising=False)  # piped output: the message is not wrapped
    out = CliRunner().invoke(app, ["sync", "request", "--org", org, "--provider", "cliniko"])
    assert out.exit_code != 0, out.output
    assert "queued" not in out.output
    assert "404" in out.output and org in out.output, out.output
    assert f"practice-sync credentials set --org {org} --provider cliniko" in out.output, out.output


async def test_a_fan_out_over_more_orgs_than_one_page_lists_every_one(
    stack: Stack, cliniko_sync_service: str
) -> None:
    """`"*"` reaches every Cliniko org however many pages credentials' list takes, each org once."""
    new = [await offline_cliniko_org(stack) for _ in range(3)]
    settings = CommonSettings(**stack.common_settings("cliniko-sync"))
    token = {"Authorization": f"Bearer {SERVICE_TOKENS['cliniko-sync']}"}
    async with httpx.AsyncClient(base_url=stack.urls["credentials"], headers=token) as http:
        r = await http.get("/internal/orgs", params={"provider": "cliniko", "limit": 5000})
    every = [o["org_id"] for o in r.json()["orgs"] if o["status"] != "needs_reauth"]
    assert len(every) > 2
    paged = await cliniko_orgs(settings, page_size=2)
    assert set(new) <= set(paged) and paged == every, (new, paged)
