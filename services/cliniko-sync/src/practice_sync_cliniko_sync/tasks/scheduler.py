"""Asks for a sync of every Cliniko org at a fixed interval (the fan-out happens in the consumer)."""

from __future__ import annotations

from practice_sync_cliniko_sync import SOURCE
from practice_sync_cliniko_sync.service.sync_run import Deps
from practice_sync_common import topics
from practice_sync_common.broker import publish
from practice_sync_common.events import ALL_ORGS, SyncRequested, envelope
from practice_sync_common.periodic import Periodic


class Scheduler:
    def __init__(self, deps: Deps) -> None:
        self.d = deps
        self._periodic = Periodic("scheduled sync request", self.tick, deps.settings.schedule_interval_s)

    async def tick(self) -> None:
        data = SyncRequested(provider="cliniko", mode="auto", reason="schedule")
        await publish(
            self.d.broker, topics.SYNC_REQUESTED, envelope("sync.requested", SOURCE, ALL_ORGS, data)
        )

    async def start(self) -> None:
        await self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
