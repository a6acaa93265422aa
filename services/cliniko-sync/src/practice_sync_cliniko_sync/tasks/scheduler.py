"""Asks for a sync of every Cliniko org at a fixed interval (the fan-out happens in the consumer)."""

from __future__ import annotations

import asyncio

from practice_sync_cliniko_sync.service.sync_run import SOURCE, Deps
from practice_sync_common import topics
from practice_sync_common.broker import publish
from practice_sync_common.events import ALL_ORGS, SyncRequested, envelope
from practice_sync_common.logging import get_logger, secrets

log = get_logger(__name__)


class Scheduler:
    def __init__(self, deps: Deps) -> None:
        self.d = deps
        self._task: asyncio.Task[None] | None = None

    async def tick(self) -> None:
        data = SyncRequested(provider="cliniko", mode="auto", reason="schedule")
        await publish(
            self.d.broker, topics.SYNC_REQUESTED, envelope("sync.requested", SOURCE, ALL_ORGS, data)
        )

    async def _loop(self, interval: float) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:
                log.warning("scheduled sync request failed", error=secrets.scrub(repr(exc)))
            await asyncio.sleep(interval)

    async def start(self) -> None:
        interval = self.d.settings.schedule_interval_s
        if interval > 0:
            self._task = asyncio.create_task(self._loop(interval))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
