"""What a service is made of at run time: settings, engine, broker, migrations, its HTTP face.

Services configure this; they do not re-implement startup, shutdown or readiness.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

import uvicorn
from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from practice_sync_common.app_factory import Hook, create_service_app
from practice_sync_common.broker import make_broker
from practice_sync_common.db import make_engine, make_sessionmaker
from practice_sync_common.idempotency import ClaimsPruner, processed_events_table
from practice_sync_common.logging import configure_logging, secrets
from practice_sync_common.migrations import upgrade_to_head
from practice_sync_common.settings import CommonSettings


class ServiceRuntime:
    def __init__(
        self,
        *,
        name: str,
        settings: CommonSettings,
        schema: str,
        versions_dir: Path,
        with_broker: bool = True,
    ) -> None:
        self.name = name
        self.settings = settings
        secrets.add(*settings.secret_values())  # configured secrets are scrubbed like fetched ones
        self.schema = schema
        self.versions_dir = versions_dir
        self.engine: AsyncEngine = make_engine(settings.database_url, application_name=name)
        self.sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine)
        self.broker: KafkaBroker | None = make_broker(settings) if with_broker else None
        self.startup: list[Hook] = []
        self.shutdown: list[Hook] = []
        # A service with a broker consumes, and every consumer keeps its claims in its schema's
        # processed_events table: prune them past the retention.
        self.pruner: ClaimsPruner | None = None
        if with_broker and settings.claims_retention_h > 0:
            self.pruner = ClaimsPruner(
                self.sessions,
                processed_events_table(MetaData(), schema),
                timedelta(hours=settings.claims_retention_h),
                settings.claims_prune_interval_s,
            )

    async def migrate(self) -> None:
        await upgrade_to_head(self.settings.database_url, self.versions_dir, self.schema)

    def require_broker(self) -> KafkaBroker:
        if self.broker is None:
            raise RuntimeError(f"{self.name} runs without a broker")
        return self.broker

    def app(self, routers: Sequence[APIRouter] = (), description: str = "") -> FastAPI:
        startup: list[Hook] = [self.migrate]
        shutdown: list[Hook] = [self.engine.dispose]
        if self.broker is not None:
            startup.append(self._start_broker)
            shutdown.append(self.broker.stop)
        startup.extend(self.startup)
        shutdown.extend(self.shutdown)
        if self.pruner is not None:
            startup.append(self.pruner.start)
            shutdown.insert(0, self.pruner.stop)
        app = create_service_app(
            name=self.name,
            settings=self.settings,
            engine=self.engine,
            broker=self.broker,
            routers=routers,
            on_startup=startup,
            on_shutdown=shutdown,
            description=description,
        )
        app.state.runtime = self
        return app

    async def _start_broker(self) -> None:
        assert self.broker is not None
        await self.broker.start()


def serve(create_app: Callable[[], FastAPI], settings: CommonSettings) -> None:
    """Entry point of `python -m practice_sync_<service>`."""
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    app = create_app()
    # Everything built so far (modules, models, the app) lives as long as the process. Frozen, the
    # collector's full passes stop re-scanning it each time a busy consumer's garbage triggers one:
    # on the projector's bulk load that rescanning cost ~20% of the time (bench/projector_throughput).
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=5,
    )
