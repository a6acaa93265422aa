"""The cliniko-sync service: Cliniko active-patient computation."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from practice_sync_cliniko_sync.settings import Settings
from practice_sync_common.runtime import ServiceRuntime

SCHEMA = "cliniko"
VERSIONS = Path(__file__).parent / "migrations" / "versions"


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = ServiceRuntime(
        name="cliniko-sync",
        settings=settings or Settings(),
        schema=SCHEMA,
        versions_dir=VERSIONS,
        with_broker=True,
    )
    return runtime.app(description="Cliniko active-patient computation")
