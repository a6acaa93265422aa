"""The credentials service: encrypted per-tenant provider credentials, key rotation, Clio OAuth."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from practice_sync_common.runtime import ServiceRuntime
from practice_sync_credentials.settings import Settings

SCHEMA = "credentials"
VERSIONS = Path(__file__).parent / "migrations" / "versions"


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = ServiceRuntime(
        name="credentials",
        settings=settings or Settings(),
        schema=SCHEMA,
        versions_dir=VERSIONS,
        with_broker=False,
    )
    return runtime.app(description="encrypted per-tenant provider credentials, key rotation, Clio OAuth")
