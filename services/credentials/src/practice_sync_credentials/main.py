"""The credentials service: encrypted per-tenant provider credentials, key rotation, Clio OAuth."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from practice_sync_common.app_factory import error_body
from practice_sync_common.logging import get_logger
from practice_sync_common.runtime import ServiceRuntime
from practice_sync_credentials.domain.errors import CredentialsDomainError
from practice_sync_credentials.domain.keyring import KeyRing
from practice_sync_credentials.endpoints import admin_credentials, admin_keys, admin_orgs, internal, oauth
from practice_sync_credentials.repository.tables import SCHEMA
from practice_sync_credentials.service.context import Services
from practice_sync_credentials.service.errors import ServiceError
from practice_sync_credentials.service.refresher import Refresher
from practice_sync_credentials.service.rotation import KeyRingMismatch, RewrapJobs, verify_ring
from practice_sync_credentials.service.vault import Vault
from practice_sync_credentials.settings import Settings

VERSIONS = Path(__file__).parent / "migrations" / "versions"
log = get_logger(__name__)

__all__ = ["SCHEMA", "KeyRingMismatch", "create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app. Raises ``KeyRingError`` when CREDENTIALS_KEYRING is missing or malformed.

    The ring is parsed here rather than on first use so a bad ring stops the process before it
    listens; the lifespan then checks the ring against what the database holds.
    """
    settings = settings or Settings()
    ring = KeyRing.parse(settings.credentials_keyring.get_secret_value())
    runtime = ServiceRuntime(
        name="credentials", settings=settings, schema=SCHEMA, versions_dir=VERSIONS, with_broker=False
    )
    http = httpx.AsyncClient(timeout=settings.provider_timeout_s, follow_redirects=False)
    services = Services(
        settings=settings, sessions=runtime.sessions, vault=Vault(ring), http=http, rewrap_jobs=RewrapJobs()
    )
    refresher = Refresher(services)

    async def check_ring() -> None:
        try:
            await verify_ring(services)
        except KeyRingMismatch as exc:
            log.error("key ring does not match the database", reason=str(exc))
            raise
        log.info("key ring loaded", kids=list(ring.kids), current=ring.current.kid)

    async def stop_jobs() -> None:
        assert services.rewrap_jobs is not None
        await services.rewrap_jobs.stop()

    runtime.startup += [check_ring, refresher.start]
    runtime.shutdown += [http.aclose, refresher.stop, stop_jobs]
    app = runtime.app(
        routers=[
            admin_orgs.router,
            admin_credentials.router,
            admin_keys.router,
            oauth.router,
            internal.router,
        ],
        description="encrypted per-tenant provider credentials, key rotation, Clio OAuth",
    )
    app.state.services = services
    app.state.refresher = refresher

    async def service_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        return JSONResponse(error_body(exc.type, exc.message), exc.status)

    async def domain_error(_: Request, exc: Exception) -> JSONResponse:
        # Domain messages are written to be shown: they name the problem, never the secret.
        return JSONResponse(error_body("invalid", str(exc)), 422)

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(CredentialsDomainError, domain_error)
    return app
