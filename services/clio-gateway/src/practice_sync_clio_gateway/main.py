"""The clio-gateway service: Clio contacts sync, custom actions, webhook subscriptions."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from practice_sync_clio_gateway.clio.client import ClioSessions
from practice_sync_clio_gateway.clio.credentials import CredentialsClient
from practice_sync_clio_gateway.endpoints import admin, launch, seed
from practice_sync_clio_gateway.repository.tables import sync_runs
from practice_sync_clio_gateway.service import events
from practice_sync_clio_gateway.service.context import Gateway
from practice_sync_clio_gateway.service.publishing import ContactPublisher
from practice_sync_clio_gateway.service.sync import ContactSync
from practice_sync_clio_gateway.settings import Settings
from practice_sync_clio_gateway.tasks.reconcile import Reconciler
from practice_sync_common import topics
from practice_sync_common.broker import consumer_options
from practice_sync_common.events import Envelope, SyncRequested, WebhookReceived
from practice_sync_common.runtime import ServiceRuntime
from practice_sync_common.sync_runs import (
    CredentialsOrgCheck,
    SyncIntake,
    SyncRunRepository,
    sync_admin_router,
)

SCHEMA = "clio"
VERSIONS = Path(__file__).parent / "migrations" / "versions"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    runtime = ServiceRuntime(
        name="clio-gateway", settings=settings, schema=SCHEMA, versions_dir=VERSIONS, with_broker=True
    )
    broker = runtime.require_broker()
    credentials = CredentialsClient(settings.credentials_url, settings.service_token.get_secret_value())
    runs = SyncRunRepository(sync_runs)
    contacts_out = ContactPublisher(settings)
    gw = Gateway(settings, runtime.sessions, broker, ClioSessions(credentials, settings), runs, contacts_out)
    sync = ContactSync(gw)
    reconciler = Reconciler(gw, sync)
    # Both routes that queue syncs (the admin one and the seed's) refuse orgs without a Clio grant.
    intake = SyncIntake("clio", runs, "clio-gateway", CredentialsOrgCheck.from_settings(settings))

    @broker.subscriber(topics.SYNC_REQUESTED, **consumer_options(settings, "clio-gateway.sync"))
    async def on_sync_requested(event: Envelope[SyncRequested]) -> None:
        await sync.on_requested(event)

    @broker.subscriber(
        topics.WEBHOOK_RECEIVED, **consumer_options(settings, "clio-gateway.webhooks", live=True)
    )
    async def on_webhook(event: Envelope[WebhookReceived]) -> None:
        await events.handle(gw, event)

    runtime.startup.extend([contacts_out.start, reconciler.start])
    runtime.shutdown.extend([credentials.aclose, sync.stop, reconciler.stop, contacts_out.stop])
    app = runtime.app(
        routers=[
            admin.router,
            launch.router,
            seed.router,
            sync_admin_router(intake),
        ],
        description="Clio contacts sync, custom actions, webhook subscriptions",
    )
    app.state.gateway = gw
    app.state.sync_intake = intake
    app.state.contact_sync = sync
    return app
