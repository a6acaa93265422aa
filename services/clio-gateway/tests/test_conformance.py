"""Clio passes the shared connector conformance suite, against the session's Clio sandbox.

Accounts (testing_stack.CLIO_ACCOUNTS, Clio pages of 200): `conf-empty` (0 contacts), `conf-one`
(120: one page), `conf-many` (1,010: six pages). Every account of the suite is a new org connected to
one of them by OAuth through credentials. What the connector produced for an org is `contact.synced`
folded by contact id (the topic read from before the suite started); the ground truth is the
sandbox's export.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest

from practice_sync_cli.testing_stack import SERVICE_TOKENS, Stack
from practice_sync_clio_gateway.service.sync import ContactSync
from practice_sync_clio_gateway.testing import ContactTail, connect, export, sandbox, wait_run
from practice_sync_common.sync_runs import SyncRun
from practice_sync_common.testing.conformance import Account, ConnectorAdapter, ConnectorConformance

PAGE = 200  # the session gateway's CLIO_PAGE_LIMIT


def emails(contact: Mapping[str, Any]) -> list[str]:
    found = [contact.get("primary_email_address")]
    found += [e.get("address") for e in contact.get("email_addresses") or []]
    return sorted({e.strip().lower() for e in found if isinstance(e, str) and e.strip()})


class ClioAdapter(ConnectorAdapter):
    page_size = PAGE

    def __init__(self, stack: Stack, tail: ContactTail) -> None:
        self.stack = stack
        self.tail = tail

    @property
    def sync(self) -> ContactSync:
        sync: ContactSync = self.stack.apps["clio-gateway"].state.contact_sync
        return sync

    def _gw(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.stack.urls["clio-gateway"], headers=self.stack.admin_headers(), timeout=30
        )

    async def new_account(self, pages: float) -> Account:
        user = "conf-empty" if pages == 0 else "conf-one" if pages <= 1 else "conf-many"
        org = await connect(self.stack, "conf", user)
        async with httpx.AsyncClient(base_url=self.stack.urls["credentials"]) as c:
            r = await c.get(
                f"/internal/credentials/{org}/clio",
                headers={"Authorization": f"Bearer {SERVICE_TOKENS['clio-gateway']}"},
            )
            assert r.status_code == 200, r.text
        return Account(org_id=org, handle=user, secret=r.json()["access_token"])

    async def _request(self, account: Account, mode: str) -> str:
        async with self._gw() as gw:
            r = await gw.post("/admin/syncs", json={"org_id": account.org_id, "mode": mode})
            assert r.status_code == 202, r.text
            return str(r.json()["run_id"])

    async def _run(self, run_id: str | UUID) -> SyncRun:
        async with self._gw() as gw:
            return SyncRun.model_validate(await wait_run(gw, str(run_id), timeout_s=90))

    async def run_sync(self, account: Account, mode: str = "auto") -> SyncRun:
        return await self._run(await self._request(account, mode))

    async def sync_until_killed(self, account: Account, after_pages: int) -> UUID:
        await self.set_faults({"latency_ms": 150})
        run_id = await self._request(account, "full")
        async with self._gw() as gw:
            while (await gw.get(f"/admin/syncs/{run_id}")).json()["progress"]["pages"] < after_pages:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            loop = self.sync.loop
            assert loop is not None
            loop.call_soon_threadsafe(self.sync.kill, UUID(run_id))
            await self.set_faults({})
            await asyncio.sleep(0.3)
            run = SyncRun.model_validate((await gw.get(f"/admin/syncs/{run_id}")).json())
        assert run.status == "running" and run.checkpoint is not None, run
        return UUID(run_id)

    async def resume(self, account: Account, run_id: UUID) -> SyncRun:
        # What a restarted process does: the old worker is gone, so any running run is stale.
        loop = self.sync.loop
        assert loop is not None
        await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self.sync.resume_stale(timedelta(0)), loop)
        )
        return await self._run(run_id)

    async def synced(self, account: Account, run: SyncRun) -> Mapping[str, Any]:
        state = await self.tail.of(account.org_id)
        return {cid: {"etag": d["etag"], "emails": sorted(d["emails"])} for cid, d in state.items()}

    async def ground_truth(self, account: Account) -> Mapping[str, Any]:
        return {
            str(c["id"]): {"etag": c["etag"], "emails": emails(c)}
            for c in await export(self.stack, account.handle)
        }

    async def change_records(self, account: Account, count: int) -> None:
        for c in (await export(self.stack, account.handle))[-count:]:
            r = await sandbox(
                self.stack,
                "PATCH",
                f"/accounts/{account.handle}/contacts/{c['id']}",
                json={"last_name": f"Changed{c['id']}"},
            )
            assert r.status_code == 200, r.text

    async def break_auth(self, account: Account) -> None:
        # The firm disconnected the app in Clio: the grant (access and refresh token) is revoked.
        async with httpx.AsyncClient(base_url=self.stack.urls["clio-sandbox"]) as c:
            r = await c.post("/oauth/deauthorize", headers={"Authorization": f"Bearer {account.secret}"})
            assert r.is_success, r.text

    async def set_faults(self, faults: Mapping[str, Any]) -> None:
        if faults:
            r = await sandbox(self.stack, "POST", "/faults", json=dict(faults))
        else:
            r = await sandbox(self.stack, "DELETE", "/faults")
        assert r.is_success, r.text

    async def provider_requests(self, account: Account) -> int:
        stats = (await sandbox(self.stack, "GET", "/stats")).json()
        return int(stats["accounts"].get(account.handle, {}).get("requests", 0))


@pytest.fixture(scope="module")
async def contact_tail(stack: Stack, clio_gateway_service: str) -> AsyncIterator[ContactTail]:
    # A limit well above the documented 50/min keeps the suite fast; the gateway's budget follows it
    # from X-RateLimit-Limit after its first response (that correction is part of what runs here).
    r = await sandbox(stack, "POST", "/rate_limit", json={"limit": 6000, "window_s": 60})
    assert r.is_success, r.text
    tail = await ContactTail(stack.kafka_bootstrap).start()
    yield tail
    await tail.stop()
    await sandbox(stack, "POST", "/rate_limit", json={"limit": 50, "window_s": 60})


class TestClioConformance(ConnectorConformance):
    @pytest.fixture
    def connector(
        self, stack: Stack, clio_gateway_service: str, contact_tail: ContactTail
    ) -> ConnectorAdapter:
        return ClioAdapter(stack, contact_tail)
