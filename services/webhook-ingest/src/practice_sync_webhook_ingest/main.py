"""The webhook-ingest service: verifies provider webhooks and publishes them before answering."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp

from practice_sync_common.runtime import ServiceRuntime
from practice_sync_webhook_ingest.endpoints.webhooks import WebhookFastPath, router
from practice_sync_webhook_ingest.service.publisher import Publisher
from practice_sync_webhook_ingest.service.secrets_cache import WebhookSecrets
from practice_sync_webhook_ingest.settings import Settings

SCHEMA = "webhook_ingest"
VERSIONS = Path(__file__).parent / "migrations" / "versions"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # The broker is ours, not the runtime's: a failed start must leave the service answering 503
    # (the provider retries) instead of refusing to boot.
    runtime = ServiceRuntime(
        name="webhook-ingest",
        settings=settings,
        schema=SCHEMA,
        versions_dir=VERSIONS,
        with_broker=False,
    )
    publisher = Publisher(settings)
    http = httpx.AsyncClient(
        base_url=settings.credentials_url,
        headers={"Authorization": f"Bearer {settings.service_token.get_secret_value()}"},
        timeout=5.0,
    )
    webhook_secrets = WebhookSecrets(
        http,
        ttl_s=settings.webhook_secret_ttl_s,
        refetch_min_s=settings.webhook_secret_refetch_min_s,
        max_stale_s=settings.webhook_secret_max_stale_s,
    )
    runtime.startup.append(publisher.start)
    runtime.shutdown.extend([publisher.stop, webhook_secrets.close, http.aclose])
    app = runtime.app(
        routers=[router], description="verifies provider webhooks and publishes them before answering"
    )
    app.state.publisher = publisher
    app.state.webhook_secrets = webhook_secrets

    # In front of the whole middleware stack, Starlette's error layer included: deliveries skip
    # every generic layer (see endpoints/webhooks.py); everything else goes through them as usual.
    build_stack = app.build_middleware_stack

    def fast_path_first() -> ASGIApp:
        return WebhookFastPath(build_stack(), max_bytes=settings.max_body_bytes)

    app.build_middleware_stack = fast_path_first  # type: ignore[method-assign]

    @app.get("/readyz/broker", tags=["health"])
    async def broker_ready() -> JSONResponse:
        ok = await publisher.ready()
        return JSONResponse({"broker": "ok" if ok else "unreachable"}, 200 if ok else 503)

    return app
