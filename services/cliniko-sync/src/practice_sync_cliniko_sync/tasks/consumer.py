"""`sync.requested` → a run (one org), or one request per Cliniko org (`*`)."""

from __future__ import annotations

import uuid

import httpx
from faststream.kafka import KafkaBroker

from practice_sync_cliniko_sync import SOURCE
from practice_sync_cliniko_sync.service.sync_run import Deps
from practice_sync_cliniko_sync.tasks.worker import Worker
from practice_sync_common import topics
from practice_sync_common.broker import consumer_options, publish
from practice_sync_common.db import unit_of_work
from practice_sync_common.events import ALL_ORGS, Envelope, SyncRequested, envelope
from practice_sync_common.settings import CommonSettings
from practice_sync_common.sync_runs.org_check import ORG_PAGE, connected_orgs

GROUP = "cliniko-sync"


async def cliniko_orgs(settings: CommonSettings, page_size: int = ORG_PAGE) -> list[str]:
    """Every org a `"*"` request fans out to, every page of credentials' list followed: a fan-out
    that stopped at the first would leave the later orgs unsynced without a word."""
    token = settings.service_token.get_secret_value()
    async with httpx.AsyncClient(
        base_url=settings.credentials_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as http:
        return await connected_orgs(http, "cliniko", page_size)


async def handle(deps: Deps, worker: Worker, event: Envelope[SyncRequested]) -> None:
    req = event.data
    if req.provider != "cliniko":
        return
    if event.org_id == ALL_ORGS:
        for org in await cliniko_orgs(deps.settings):
            # Derived ids: a redelivered fan-out asks for the same runs again, not new ones.
            run_id = uuid.uuid5(event.id, org)
            data = SyncRequested(provider="cliniko", mode=req.mode, run_id=run_id, reason=req.reason)
            await publish(
                deps.broker, topics.SYNC_REQUESTED, envelope("sync.requested", SOURCE, org, data, run_id)
            )
        return
    run_id = req.run_id or uuid.uuid5(event.id, event.org_id)
    async with unit_of_work(deps.sessions) as s:
        if req.reason == "schedule" and await deps.runs.active_for_org(s, event.org_id) is not None:
            return  # the scheduler never piles a run onto one still going
        await deps.runs.create(
            s, run_id=run_id, org_id=event.org_id, provider="cliniko", mode=req.mode, reason=req.reason
        )
    await worker.start_run(run_id)


def subscribe(broker: KafkaBroker, deps: Deps, worker: Worker) -> None:
    @broker.subscriber(topics.SYNC_REQUESTED, **consumer_options(deps.settings, GROUP))
    async def on_sync_requested(event: Envelope[SyncRequested]) -> None:
        await handle(deps, worker, event)
