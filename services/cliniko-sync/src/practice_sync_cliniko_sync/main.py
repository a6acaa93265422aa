"""The cliniko-sync service: Cliniko active-patient computation."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from practice_sync_cliniko_sync import SOURCE
from practice_sync_cliniko_sync.repository.tables import SCHEMA, sync_runs
from practice_sync_cliniko_sync.service.cliniko_api import Budgets
from practice_sync_cliniko_sync.service.clock import Clock
from practice_sync_cliniko_sync.service.sync_run import Deps
from practice_sync_cliniko_sync.settings import Settings
from practice_sync_cliniko_sync.tasks.consumer import subscribe
from practice_sync_cliniko_sync.tasks.scheduler import Scheduler
from practice_sync_cliniko_sync.tasks.worker import Worker
from practice_sync_common.batch_publisher import KeyedBatchPublisher
from practice_sync_common.runtime import ServiceRuntime
from practice_sync_common.sync_runs import (
    CredentialsOrgCheck,
    SyncIntake,
    SyncRunRepository,
    sync_admin_router,
)

VERSIONS = Path(__file__).parent / "migrations" / "versions"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(
        name="cliniko-sync", settings=settings, schema=SCHEMA, versions_dir=VERSIONS, with_broker=True
    )
    runs = SyncRunRepository(sync_runs)
    clock = Clock()
    snapshots_out = KeyedBatchPublisher(settings, "snapshots")
    deps = Deps(
        settings,
        runtime.sessions,
        runtime.require_broker(),
        runs,
        Budgets(settings),
        clock.now,
        snapshots_out,
    )
    worker = Worker(deps)
    scheduler = Scheduler(deps)
    subscribe(runtime.require_broker(), deps, worker)
    runtime.startup += [snapshots_out.start, worker.start, scheduler.start]
    runtime.shutdown += [scheduler.stop, worker.stop, snapshots_out.stop]
    # A request for an org without Cliniko credentials is refused before anything is queued.
    intake = SyncIntake("cliniko", runs, SOURCE, CredentialsOrgCheck.from_settings(settings))
    app = runtime.app(
        routers=[sync_admin_router(intake)],
        description="Cliniko active-patient computation",
    )
    app.state.worker = worker
    app.state.clock = clock
    return app
