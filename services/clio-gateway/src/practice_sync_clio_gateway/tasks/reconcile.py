"""The scheduled job: for every connected Clio org, keep the custom action and the webhook alive
(renewing before expiry, replacing after a gap with a backfill), run a first sync for new orgs,
and resume sync runs a dead process left behind."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select

from practice_sync_clio_gateway.repository.tables import sync_state
from practice_sync_clio_gateway.service import custom_actions, webhooks
from practice_sync_clio_gateway.service.context import Gateway
from practice_sync_clio_gateway.service.sync import ContactSync
from practice_sync_common.db import unit_of_work
from practice_sync_common.logging import get_logger, secrets

log = get_logger(__name__)


async def reconcile_org(gw: Gateway, org: str) -> None:
    await custom_actions.ensure(gw, org)
    await webhooks.ensure(gw, org)
    async with unit_of_work(gw.sessions) as s:
        synced = (await s.execute(select(sync_state.c.org_id).where(sync_state.c.org_id == org))).first()
    if synced is None:
        async with unit_of_work(gw.sessions) as s:
            active = await gw.runs.active_for_org(s, org)
        if active is None:
            await webhooks.request_backfill(gw, org, "first sync")


async def reconcile_all(gw: Gateway, sync: ContactSync) -> None:
    await sync.resume_stale()
    for org in await gw.clio.credentials.clio_orgs():
        try:
            await reconcile_org(gw, org)
        except Exception as exc:
            log.warning("reconcile failed for an org", org=org, error=secrets.scrub(repr(exc)))


class Reconciler:
    def __init__(self, gw: Gateway, sync: ContactSync) -> None:
        self.gw, self.sync = gw, sync
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            try:
                await reconcile_all(self.gw, self.sync)
            except Exception as exc:
                log.warning("reconcile round failed", error=secrets.scrub(repr(exc)))
            await asyncio.sleep(self.gw.settings.reconcile_interval_s)

    async def start(self) -> None:
        if self.gw.settings.reconcile_interval_s > 0:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
