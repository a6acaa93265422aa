"""Accepting one sync request: check the org, write the queued run, publish `sync.requested`.

Every HTTP route that queues a connector's sync goes through here (the shared admin router, the Clio
seed's `POST /clio/sync/contacts`), so they all refuse the same orgs with the same answers and leave
the same rows behind: a refused request leaves none, a request the broker did not take leaves its
run `failed` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import uuid4

from fastapi import HTTPException, status
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from practice_sync_common import topics
from practice_sync_common.broker import publish
from practice_sync_common.db import unit_of_work
from practice_sync_common.events import Provider, SyncRequested, envelope
from practice_sync_common.logging import get_logger, secrets
from practice_sync_common.org_ids import InvalidOrgId, canonical_org_id
from practice_sync_common.sync_runs.org_check import OrgCheck, OrgRefused
from practice_sync_common.sync_runs.repository import RetryRule, SyncRunRepository
from practice_sync_common.sync_runs.schemas import SyncMode, SyncRequestAccepted, is_all_orgs

log = get_logger(__name__)


@dataclass(frozen=True)
class SyncIntake:
    """One connector's intake: its provider, runs, event source and org check (built in its main)."""

    provider: Provider
    repository: SyncRunRepository
    source: str
    org_check: OrgCheck

    async def submit(
        self,
        sessions: async_sessionmaker[AsyncSession],
        broker: KafkaBroker,
        org_id: str,
        mode: SyncMode,
        *,
        reason: str = "admin",
    ) -> SyncRequestAccepted:
        """Queue a run (or, for `"*"`, the fan-out); HTTPException 404/409/503 when it cannot be."""
        run_id = uuid4()
        all_orgs = is_all_orgs(org_id)
        if not all_orgs:
            try:
                # The credentials service's spelling: a run, its events and the rows they make are
                # found under it whichever spelling of a UUID org the request used.
                org_id = canonical_org_id(org_id)
            except InvalidOrgId as exc:
                raise HTTPException(422, str(exc)) from exc
            # Before the row: a refused request must leave nothing behind. "*" is not checked: the
            # connector fans out over the credentials service's list of its orgs, the list the
            # check reads.
            try:
                await self.org_check(self.provider, org_id)
            except OrgRefused as exc:
                raise HTTPException(exc.status, exc.message) from exc
            async with unit_of_work(sessions) as s:
                await self.repository.create(
                    s, run_id=run_id, org_id=org_id, provider=self.provider, mode=mode, reason=reason
                )
        event = envelope(
            "sync.requested",
            self.source,
            org_id,
            SyncRequested(provider=self.provider, mode=mode, run_id=run_id, reason=reason),
            correlation_id=run_id,
        )
        try:
            await publish(broker, topics.SYNC_REQUESTED, event)
        except Exception as exc:
            log.warning("could not publish sync.requested", error=secrets.scrub(repr(exc)))
            if not all_orgs:
                async with unit_of_work(sessions) as s:
                    await self.repository.fail(
                        s,
                        run_id,
                        "the sync request could not be published",
                        rule=RetryRule(),
                        retryable=False,
                    )
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "the broker did not accept the sync request; try again"
            ) from exc
        return SyncRequestAccepted(
            run_id=run_id, org_id=org_id, provider=self.provider, mode=mode, all_orgs=all_orgs
        )
