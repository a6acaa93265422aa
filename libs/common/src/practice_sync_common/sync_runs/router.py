"""The sync admin API every connector service mounts (admin bearer token on every route).

``POST /admin/syncs`` ``{"org_id": "acme" | "*", "mode": "auto" | "full" | "incremental"}``
    Publishes ``sync.requested`` (keyed by the org) and answers **202**
    ``{"run_id", "org_id", "provider", "mode", "status": "queued", "all_orgs"}``.
    For one org the queued run row is written first, so ``GET /admin/syncs/{run_id}`` finds it at
    once. For ``"*"`` the connector fans out to every org with credentials, each org getting a run
    of its own (listed by ``GET /admin/syncs``); the returned ``run_id`` then only identifies the
    request. 422 names a bad org id or mode; 503 when the broker does not take the request.
``GET /admin/syncs?org_id=&limit=``
    ``{"runs": [...]}``, newest first; ``limit`` 1-200 (default 20).
``GET /admin/syncs/{run_id}``
    One run: status (queued/running/succeeded/failed), attempt, ``progress`` (pages, records,
    requests, throttled_429, retries, phase, pages_total), ``counts``, ``checkpoint``, ``error``,
    ``requested_at``/``started_at``/``heartbeat_at``/``finished_at``/``next_retry_at``. 404 if unknown.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from practice_sync_common import topics
from practice_sync_common.auth import require_admin
from practice_sync_common.broker import publish
from practice_sync_common.db import unit_of_work
from practice_sync_common.events import Provider, SyncRequested, envelope
from practice_sync_common.logging import get_logger, secrets
from practice_sync_common.sync_runs.repository import RetryRule, SyncRunRepository
from practice_sync_common.sync_runs.schemas import (
    SyncRequestAccepted,
    SyncRequestIn,
    SyncRun,
    SyncRunList,
    is_all_orgs,
)

log = get_logger(__name__)


def sync_admin_router(*, provider: Provider, repository: SyncRunRepository, source: str) -> APIRouter:
    """The admin routes for one connector; sessions and broker come from `app.state.runtime`."""
    router = APIRouter(prefix="/admin/syncs", tags=["syncs"], dependencies=[Depends(require_admin)])

    def sessions(request: Request) -> async_sessionmaker[AsyncSession]:
        runtime: Any = request.app.state.runtime
        result: async_sessionmaker[AsyncSession] = runtime.sessions
        return result

    def broker(request: Request) -> KafkaBroker:
        result: KafkaBroker = request.app.state.runtime.require_broker()
        return result

    @router.post("", status_code=status.HTTP_202_ACCEPTED)
    async def request_sync(
        body: SyncRequestIn,
        db: async_sessionmaker[AsyncSession] = Depends(sessions),
        kafka: KafkaBroker = Depends(broker),
    ) -> SyncRequestAccepted:
        run_id = uuid4()
        all_orgs = is_all_orgs(body.org_id)
        if not all_orgs:
            async with unit_of_work(db) as s:
                await repository.create(
                    s, run_id=run_id, org_id=body.org_id, provider=provider, mode=body.mode, reason="admin"
                )
        event = envelope(
            "sync.requested",
            source,
            body.org_id,
            SyncRequested(provider=provider, mode=body.mode, run_id=run_id, reason="admin"),
            correlation_id=run_id,
        )
        try:
            await publish(kafka, topics.SYNC_REQUESTED, event)
        except Exception as exc:
            log.warning("could not publish sync.requested", error=secrets.scrub(repr(exc)))
            if not all_orgs:
                async with unit_of_work(db) as s:
                    await repository.fail(
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
            run_id=run_id, org_id=body.org_id, provider=provider, mode=body.mode, all_orgs=all_orgs
        )

    @router.get("")
    async def list_runs(
        org_id: str | None = Query(default=None, max_length=128),
        limit: int = Query(default=20, ge=1, le=200),
        db: async_sessionmaker[AsyncSession] = Depends(sessions),
    ) -> SyncRunList:
        async with unit_of_work(db) as s:
            return SyncRunList(runs=await repository.recent(s, org_id=org_id, limit=limit))

    @router.get("/{run_id}")
    async def get_run(run_id: UUID, db: async_sessionmaker[AsyncSession] = Depends(sessions)) -> SyncRun:
        async with unit_of_work(db) as s:
            run = await repository.get(s, run_id)
        if run is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no sync run {run_id}")
        return run

    return router
