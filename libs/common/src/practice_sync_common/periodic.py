"""Background work repeated at an interval for the life of a service (sweeps, scans, schedules)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from practice_sync_common.logging import get_logger, secrets

log = get_logger(__name__)


class Periodic:
    """Runs `work` in the background from `start()` to `stop()`, then again every `interval_s`.

    A failing round is logged (secrets scrubbed) and the next runs as planned: a database or broker
    blip must not end the loop for the life of the process. `work` may return how many seconds to
    wait before the next round instead (a loop with two cadences); `interval_s` <= 0 never starts.
    """

    def __init__(self, name: str, work: Callable[[], Awaitable[float | None]], interval_s: float) -> None:
        self.name, self.work, self.interval_s = name, work, interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.interval_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            wait = self.interval_s
            try:
                asked = await self.work()
                if asked is not None:
                    wait = asked
            except Exception as exc:
                log.warning(f"{self.name} failed", error=secrets.scrub(repr(exc)))
            await asyncio.sleep(max(0.0, wait))
