"""The projector service: read models contacts and active_patients."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from practice_sync_common.runtime import ServiceRuntime
from practice_sync_projector.settings import Settings

SCHEMA = "projector"
VERSIONS = Path(__file__).parent / "migrations" / "versions"


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = ServiceRuntime(
        name="projector",
        settings=settings or Settings(),
        schema=SCHEMA,
        versions_dir=VERSIONS,
        with_broker=True,
    )
    return runtime.app(description="read models contacts and active_patients")
