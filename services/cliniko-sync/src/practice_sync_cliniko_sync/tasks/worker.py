"""Runs sync runs as background tasks, so a long crawl never holds a broker partition hostage.

The durable run row is the work item: a request creates it, the worker claims it; a crash leaves it
running with a stale heartbeat and the periodic resume scan (here or in another replica) claims it
again and continues from its checkpoint. Runs of one org never overlap in this process.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta
from uuid import UUID

from practice_sync_cliniko_sync.service.sync_run import CredentialsMissing, Deps, RunExecutor
from practice_sync_common.db import unit_of_work
from practice_sync_common.dead_letter import PermanentError
from practice_sync_common.logging import get_logger, secrets
from practice_sync_common.periodic import Periodic
from practice_sync_common.provider_http import ProviderAuthError, ProviderRequestError
from practice_sync_common.sync_runs import RetryRule

log = get_logger(__name__)
# Retrying cannot fix these: a refused key, a request Cliniko rejects, data we cannot read.
FINAL = (CredentialsMissing, ProviderAuthError, ProviderRequestError, PermanentError)


class Worker:
    def __init__(self, deps: Deps) -> None:
        self.d = deps
        s = deps.settings
        self.rule = RetryRule(max_attempts=s.run_max_attempts, backoff_s=s.run_retry_backoff_s)
        self.stale_after = timedelta(seconds=s.run_stale_after_s)
        self.tasks: dict[UUID, asyncio.Task[None]] = {}
        self._org_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._slots = asyncio.Semaphore(s.max_concurrent_runs)
        self._scans = Periodic("resume scan", self._scan, s.resume_scan_interval_s)
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop the runs live on

    async def start_run(self, run_id: UUID, stale_after: timedelta | None = None) -> bool:
        if run_id in self.tasks:
            return False
        async with unit_of_work(self.d.sessions) as s:
            run = await self.d.runs.claim(s, run_id, stale_after=stale_after or self.stale_after)
        if run is None:
            return False
        task = asyncio.create_task(self._execute(run_id, run.org_id))
        self.tasks[run_id] = task
        task.add_done_callback(lambda _: self.tasks.pop(run_id, None))
        return True

    async def _execute(self, run_id: UUID, org_id: str) -> None:
        async with self._slots, self._org_locks[org_id]:
            async with unit_of_work(self.d.sessions) as s:
                run = await self.d.runs.get(s, run_id)
            assert run is not None
            executor = RunExecutor(self.d, run)
            try:
                counts = await executor.execute()
            except asyncio.CancelledError:
                raise  # a kill: the run stays "running" and is resumed from its checkpoint
            except Exception as exc:
                message = secrets.scrub(str(exc) or type(exc).__name__)
                log.warning("cliniko sync run failed", run_id=str(run_id), org_id=org_id, error=message)
                async with unit_of_work(self.d.sessions) as s:
                    await self.d.runs.fail(
                        s,
                        run_id,
                        message,
                        rule=self.rule,
                        progress=executor.progress,
                        retryable=not isinstance(exc, FINAL),
                    )
                return
            async with unit_of_work(self.d.sessions) as s:
                await self.d.runs.succeed(s, run_id, counts=counts, progress=executor.progress)
            log.info("cliniko sync run succeeded", run_id=str(run_id), org_id=org_id, **counts)

    def kill(self, run_id: UUID) -> None:
        """Stop a run as a crash would (used by tests and shutdown): no status change, checkpoint kept."""
        task = self.tasks.get(run_id)
        if task is not None:
            task.cancel()

    async def resume_scan(self, stale_after: timedelta | None = None) -> list[UUID]:
        """Claim what a restarted process must pick up: dead workers' runs, due retries, lost requests."""
        async with unit_of_work(self.d.sessions) as s:
            found = await self.d.runs.find_resumable(s, stale_after=stale_after or self.stale_after)
        started = []
        for run in found:
            if await self.start_run(run.run_id, stale_after):
                started.append(run.run_id)
        return started

    async def _scan(self) -> None:
        await self.resume_scan()

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self._scans.start()

    async def stop(self) -> None:
        await self._scans.stop()
        tasks = list(self.tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
