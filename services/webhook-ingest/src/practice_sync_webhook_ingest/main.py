"""The webhook-ingest service: verifies provider webhooks and publishes them before answering."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from practice_sync_common.runtime import ServiceRuntime
from practice_sync_webhook_ingest.settings import Settings

SCHEMA = "webhook_ingest"
VERSIONS = Path(__file__).parent / "migrations" / "versions"


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = ServiceRuntime(
        name="webhook-ingest",
        settings=settings or Settings(),
        schema=SCHEMA,
        versions_dir=VERSIONS,
        with_broker=True,
    )
    return runtime.app(description="verifies provider webhooks and publishes them before answering")
