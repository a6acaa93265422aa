"""The sync admin API every connector service mounts (admin bearer token on every route).

``POST /admin/syncs`` ``{"org_id": "acme" | "*", "mode": "auto" | "full" | "incremental"}``
    Publishes ``sync.requested`` (keyed by the org) and answers **202**
    ``{"run_id", "org_id", "provider", "mode", "status": "queued", "all_orgs"}``.
    For one org the connector's org check runs first (``org_check.py``: the credentials service's
    list of orgs with this provider's credentials), and the request is refused with nothing
    queued or published when the org cannot be synced:
    **404** the org has no credentials for this provider (unknown org, or none stored); the message
    names the org, the provider and the ``practice-sync credentials set`` command that fixes it;
    **409** the org has credentials for the other provider only (the message names both), or its
    Clio grant is ``needs_reauth`` (a person must reconnect it);
    **503** the credentials service cannot be asked (unreachable, or an error answer): nothing is
    queued, try again.
    Then the queued run row is written, so ``GET /admin/syncs/{run_id}`` finds it at once. A run
    can still fail later for what only the provider can say (a key Cliniko refuses, a grant
    revoked in Clio since): that is the run's ``error``.
    For ``"*"`` there is no check: the connector fans out to every org with credentials, each org
    getting a run of its own (listed by ``GET /admin/syncs``); the returned ``run_id`` then only
    identifies the request. 422 names a bad org id or mode; 503 when the broker does not take the
    request (the run, if one was written, is then ``failed`` with that reason).
``GET /admin/syncs?org_id=&limit=``
    ``{"runs": [...]}``, newest first; ``limit`` 1-200 (default 20).
``GET /admin/syncs/{run_id}``
    One run: status (queued/running/succeeded/failed), attempt, ``progress`` (pages, records,
    requests, throttled_429, retries, phase, pages_total), ``counts``, ``checkpoint``, ``error``,
    ``requested_at``/``started_at``/``heartbeat_at``/``finished_at``/``next_retry_at``. 404 if unknown.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from practice_sync_common.auth import require_admin
from practice_sync_common.db import unit_of_work
from practice_sync_common.org_ids import optional_org_id_query
from practice_sync_common.sync_runs.intake import SyncIntake
from practice_sync_common.sync_runs.schemas import SyncRequestAccepted, SyncRequestIn, SyncRun, SyncRunList


def sync_admin_router(intake: SyncIntake) -> APIRouter:
    """The admin routes for one connector; sessions and broker come from `app.state.runtime`."""
    router = APIRouter(prefix="/admin/syncs", tags=["syncs"], dependencies=[Depends(require_admin)])
    repository = intake.repository

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
        return await intake.submit(db, kafka, body.org_id, body.mode, reason="admin")

    @router.get("")
    async def list_runs(
        org_id: str | None = Depends(optional_org_id_query),
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
