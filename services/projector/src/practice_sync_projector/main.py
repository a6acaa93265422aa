"""The projector service: read models contacts and active_patients, and their read API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from practice_sync_common.runtime import ServiceRuntime
from practice_sync_projector.endpoints import read_api
from practice_sync_projector.repository.tables import SCHEMA
from practice_sync_projector.service.contacts import ContactProjector
from practice_sync_projector.service.snapshot import SnapshotProjector
from practice_sync_projector.settings import Settings
from practice_sync_projector.tasks.consumers import register

VERSIONS = Path(__file__).parent / "migrations" / "versions"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(
        name="projector",
        settings=settings,
        schema=SCHEMA,
        versions_dir=VERSIONS,
        with_broker=True,
    )
    snapshots = SnapshotProjector(runtime.engine)
    runtime.shutdown.append(snapshots.close)
    register(runtime.require_broker(), settings, snapshots, ContactProjector(runtime.sessions))
    app = runtime.app(routers=[read_api.router], description="read models contacts and active_patients")
    app.state.sessions = runtime.sessions
    return app
