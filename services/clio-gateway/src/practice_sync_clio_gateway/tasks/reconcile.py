"""The scheduled job: for every connected Clio org, keep the custom action and the webhook alive
(renewing before expiry, replacing after a gap with a backfill), run a first sync for new orgs,
and resume sync runs a dead process left behind."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from practice_sync_clio_gateway.repository.tables import sync_state
from practice_sync_clio_gateway.service import custom_actions, webhooks
from practice_sync_clio_gateway.service.context import Gateway
from practice_sync_clio_gateway.service.sync import ContactSync
from practice_sync_common.db import unit_of_work
from practice_sync_common.logging import get_logger, secrets
from practice_sync_common.periodic import Periodic

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


def due(done: set[str], connected: list[str]) -> list[str]:
    """The connected orgs not reconciled yet, now counted as done; `done` forgets orgs that left.

    An org leaves the list when it disconnects or its grant must be reconnected; forgetting it makes
    its reconnection a new org, reconciled within seconds. Kept, a reconnected org whose reconcile
    had failed on the dead grant waited for the next full round (five minutes by default) with no
    webhook and no custom action.
    """
    done.intersection_update(connected)
    fresh = [org for org in connected if org not in done]
    done.update(fresh)
    return fresh


async def reconcile_all(gw: Gateway, sync: ContactSync, done: set[str] | None = None) -> None:
    await sync.resume_stale()
    orgs = await gw.clio.credentials.clio_orgs()
    if done is not None:
        due(done, orgs)
    for org in orgs:
        try:
            await reconcile_org(gw, org)
        except Exception as exc:
            log.warning("reconcile failed for an org", org=org, error=secrets.scrub(repr(exc)))


async def reconcile_new(gw: Gateway, done: set[str]) -> None:
    """Orgs connected since the last round (not reconciled by this process yet) are set up now."""
    # Tried once now either way; a failure is retried by the next full round, not every few seconds.
    for org in due(done, await gw.clio.credentials.clio_orgs()):
        try:
            await reconcile_org(gw, org)
        except Exception as exc:
            log.warning("reconcile failed for a new org", org=org, error=secrets.scrub(repr(exc)))


class Reconciler:
    """A full round every `reconcile_interval_s`; between rounds, every `reconcile_new_orgs_interval_s`,
    orgs connected since are reconciled at once (so a fresh connection, e.g. `make up`'s demo-law,
    gets its custom action, webhook and first sync within seconds, not at the next round)."""

    def __init__(self, gw: Gateway, sync: ContactSync) -> None:
        self.gw, self.sync = gw, sync
        self.reconciled: set[str] = set()
        self._next_round: float | None = None  # loop time of the next full round
        settings = gw.settings
        # The short cadence is the loop's own (a failed round waits it too); full rounds are counted
        # off by `_next_round`. No full rounds configured: no loop at all.
        step = settings.reconcile_new_orgs_interval_s or settings.reconcile_interval_s
        self._periodic = Periodic(
            "reconcile round", self._round, step if settings.reconcile_interval_s > 0 else 0
        )

    async def _round(self) -> float:
        """A full round when one is due, else the new orgs; returns the wait until the next call."""
        settings = self.gw.settings
        now = asyncio.get_running_loop().time()
        if self._next_round is None or now >= self._next_round:
            self._next_round = now + settings.reconcile_interval_s
            await reconcile_all(self.gw, self.sync, self.reconciled)
        elif settings.reconcile_new_orgs_interval_s > 0:
            await reconcile_new(self.gw, self.reconciled)
        return min(self._periodic.interval_s, self._next_round - asyncio.get_running_loop().time())

    async def start(self) -> None:
        await self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
