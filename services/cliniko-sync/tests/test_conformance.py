"""Cliniko passes the shared connector conformance suite."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
import pytest

from practice_sync_cli.testing_stack import Stack
from practice_sync_cliniko_sync.testing import (
    add_account,
    comparable,
    export,
    get_run,
    ground_truth,
    published,
    register_org,
    request_sync,
    sandbox,
    sync,
    wait_run,
)
from practice_sync_common.sync_runs import SyncRun
from practice_sync_common.testing.conformance import Account, ConnectorAdapter, ConnectorConformance

PER_PAGE = 10  # cliniko_sync_service's page size


class ClinikoAdapter(ConnectorAdapter):
    page_size = PER_PAGE
    reread_pages = 3  # the page in flight and the two `cliniko_api.pages_from` reads ahead

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    async def new_account(self, pages: float) -> Account:
        n = uuid.uuid4().hex[:10]
        key, org = f"c{n}key-au1", f"conf-{n}"
        # A full crawl reads the individual appointments page by page: size them in pages.
        appointments = round(pages * PER_PAGE)
        add_account(self.stack, key, max(1, appointments // 5) if appointments else 0, appointments)
        register_org(self.stack, org, key)
        return Account(org_id=org, handle=key, secret=key)

    async def run_sync(self, account: Account, mode: str = "auto") -> SyncRun:
        return await sync(self.stack, account.org_id, mode)

    async def sync_until_killed(self, account: Account, after_pages: int) -> UUID:
        worker = self.stack.apps["cliniko-sync"].state.worker
        await self.set_faults({"latency_ms": 150})
        run_id = await request_sync(self.stack, account.org_id, "full")
        while (await get_run(self.stack, run_id)).progress.pages < after_pages:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        worker.loop.call_soon_threadsafe(worker.kill, run_id)
        await self.set_faults({})
        await asyncio.sleep(0.2)
        run = await get_run(self.stack, run_id)
        assert run.status == "running" and run.checkpoint is not None
        return run_id

    async def resume(self, account: Account, run_id: UUID) -> SyncRun:
        from datetime import timedelta

        worker = self.stack.apps["cliniko-sync"].state.worker
        # What a restarted process does at start; the stale threshold is 0 as the old worker is gone.
        fut = asyncio.run_coroutine_threadsafe(worker.resume_scan(timedelta(0)), self._service_loop())
        await asyncio.wrap_future(fut)
        return await wait_run(self.stack, run_id)

    def _service_loop(self) -> asyncio.AbstractEventLoop:
        loop: asyncio.AbstractEventLoop = self.stack.apps["cliniko-sync"].state.worker.loop
        return loop

    async def synced(self, account: Account, run: SyncRun) -> Mapping[str, Any]:
        return comparable(await published(self.stack, account.org_id, run.run_id))

    async def ground_truth(self, account: Account) -> Mapping[str, Any]:
        runs = await self._last_run(account)
        return ground_truth(
            export(self.stack, account.handle), datetime.fromisoformat(runs.counts["window_now"])
        )

    async def _last_run(self, account: Account) -> SyncRun:
        async with httpx.AsyncClient(
            base_url=self.stack.urls["cliniko-sync"], headers=self.stack.admin_headers()
        ) as c:
            r = await c.get("/admin/syncs", params={"org_id": account.org_id, "limit": 1})
            return SyncRun.model_validate(r.json()["runs"][0])

    async def change_records(self, account: Account, count: int) -> None:
        data = export(self.stack, account.handle)
        live = [a for a in data["individual_appointments"] if not a["cancelled_at"] and not a["archived_at"]]
        with sandbox(self.stack) as c:
            for a in live[-count:]:
                r = c.post(
                    f"/accounts/{account.handle}/individual_appointments/{a['id']}/cancel",
                    json={"cancellation_reason": 50},
                )
                assert r.is_success, r.text

    async def break_auth(self, account: Account) -> None:
        wrong = "wrong" + account.handle  # well-formed, but no such account
        register_org(self.stack, account.org_id, wrong)
        account.secret = wrong

    async def set_faults(self, faults: Mapping[str, Any]) -> None:
        with sandbox(self.stack) as c:
            # Forced 429s name the window's end in X-RateLimit-Reset: a short window keeps waits short.
            window = 2 if faults.get("force_429") else 60
            c.post("/rate-limit", json={"limit": 200, "window_s": window}).raise_for_status()
            if faults:
                c.post("/faults", json=dict(faults)).raise_for_status()
            else:
                c.delete("/faults").raise_for_status()

    async def provider_requests(self, account: Account) -> int:
        with sandbox(self.stack) as c:
            acc = c.get("/stats").json()["accounts"].get(account.handle)
        return int(acc["requests"]) if acc else 0


class TestClinikoConformance(ConnectorConformance):
    @pytest.fixture
    def connector(self, stack: Stack, cliniko_sync_service: str) -> ConnectorAdapter:
        return ClinikoAdapter(stack)
