"""Runs sync runs as background tasks, so a long crawl never holds a broker partition hostage.

The durable run row is the work item: a request creates it, the worker claims it; a crash leaves it
running with a stale heartbeat and the periodic resume scan (here or in another replica) claims it
again and continues from its checkpoint.

Runs of one org never overlap: in this process they wait for the org's lock, and only then take a
concurrency slot and claim the run, so a run waiting behind its own org stays `queued` (what the
admin API shows) and holds no slot another org's run could use. Across processes the claim checks,
under an org-wide advisory lock, that no other run of the org is alive; if one is, the run stays
queued and a later resume scan picks it up.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from practice_sync_cliniko_sync.repository.tables import sync_runs
from practice_sync_cliniko_sync.service.sync_run import CredentialsMissing, Deps, RunExecutor
from practice_sync_common.db import unit_of_work
from practice_sync_common.dead_letter import PermanentError
from practice_sync_common.logging import get_logger, secrets
from practice_sync_common.periodic import Periodic
from practice_sync_common.provider_http import ProviderAuthError, ProviderRequestError
from practice_sync_common.sync_runs import RetryRule, SyncRun

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
        """Schedule a run (claimed once its org and a slot are free); False if unknown, finished or
        already scheduled here."""
        if run_id in self.tasks:
            return False
        async with unit_of_work(self.d.sessions) as s:
            run = await self.d.runs.get(s, run_id)
        if run is None or run.finished:
            return False
        task = asyncio.create_task(self._execute(run_id, run.org_id, stale_after or self.stale_after))
        self.tasks[run_id] = task
        task.add_done_callback(lambda _: self.tasks.pop(run_id, None))
        return True

    async def _claim(self, run_id: UUID, org_id: str, stale_after: timedelta) -> SyncRun | None:
        async with unit_of_work(self.d.sessions) as s:
            # One claim of an org at a time across processes, so two replicas cannot both see it idle.
            await s.execute(
                text("SELECT pg_advisory_xact_lock(hashtext('cliniko-sync:org:' || :org))"), {"org": org_id}
            )
            if await self._other_run_alive(s, run_id, org_id, stale_after):
                return None
            return await self.d.runs.claim(s, run_id, stale_after=stale_after)

    @staticmethod
    async def _other_run_alive(s: AsyncSession, run_id: UUID, org_id: str, stale_after: timedelta) -> bool:
        """Another run of the org is running with a live heartbeat (in another process: this one's
        runs of the org are behind its lock). Two runs over one mirror would corrupt it: a full
        run wipes the mirror under the other's crawl."""
        t = sync_runs
        alive = await s.execute(
            select(t.c.run_id)
            .where(
                t.c.org_id == org_id,
                t.c.run_id != run_id,
                t.c.status == "running",
                t.c.heartbeat_at >= datetime.now(UTC) - stale_after,  # the clock heartbeats use
            )
            .limit(1)
        )
        return alive.first() is not None

    async def _execute(self, run_id: UUID, org_id: str, stale_after: timedelta) -> None:
        # The org's lock before a slot: runs waiting behind their own org hold no slot.
        async with self._org_locks[org_id], self._slots:
            run = await self._claim(run_id, org_id, stale_after)
            if run is None:
                return  # finished, not due, or its org busy elsewhere: a later scan tries again
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
        """Schedule what a restarted process must pick up: dead workers' runs, due retries, lost requests."""
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
