"""The clio-gateway service: Clio contacts sync, custom actions, webhook subscriptions."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from practice_sync_clio_gateway.settings import Settings
from practice_sync_common.runtime import ServiceRuntime

SCHEMA = "clio"
VERSIONS = Path(__file__).parent / "migrations" / "versions"


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = ServiceRuntime(
        name="clio-gateway",
        settings=settings or Settings(),
        schema=SCHEMA,
        versions_dir=VERSIONS,
        with_broker=True,
    )
    return runtime.app(description="Clio contacts sync, custom actions, webhook subscriptions")
