"""Helpers for this service's tests (and other services' tests that need a credentials app).

No sandbox import here: the sandboxes are not a dependency of the service.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from pydantic import SecretStr

from practice_sync_credentials.domain.keyring import generate_key_entry
from practice_sync_credentials.main import create_app
from practice_sync_credentials.service.context import Services
from practice_sync_credentials.settings import Settings

ADMIN = "admin-test-token"
TOKENS = {
    "cliniko-sync": "cs-token-123456",
    "clio-gateway": "gw-token-123456",
    "webhook-ingest": "wi-token-123456",
    "projector": "pj-token-123456",
}
K1 = generate_key_entry("k1")
K2 = generate_key_entry("k2")
DEMO_KEY = "sandboxdemoclinic0001-au1"
OTHER_KEY = "sandboxotherclinic002-au2"
CALLBACK = "http://credentials.test/oauth/clio/callback"


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


def service(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


def new_org(prefix: str = "org") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "credentials_keyring": SecretStr(K1),
        "PRACTICE_SYNC_ADMIN_TOKEN": SecretStr(ADMIN),
        "PRACTICE_SYNC_SERVICE_TOKENS": SecretStr(",".join(f"{k}:{v}" for k, v in TOKENS.items())),
        "clio_client_id": "sandbox-clio-client",
        "clio_client_secret": SecretStr("sandbox-clio-secret"),
        "clio_redirect_uri": CALLBACK,
        "clio_refresh_interval_s": 0,
        "clio_refresh_min_interval_s": 0,
        "provider_timeout_s": 3.0,
        "max_body_bytes": 16_384,
        "credentials_allow_private_urls": True,  # the sandboxes listen on loopback
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """The app with its lifespan (migrations, ring check) and an in-process HTTP client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://credentials.test") as client:
            yield client, app.state.services


async def connect_clio(client: httpx.AsyncClient, org: str) -> dict[str, Any]:
    """Run the OAuth flow: start, the sandbox's auto-approving authorize, our callback."""
    start = await client.get("/oauth/clio/start", params={"org_id": org}, headers=admin())
    assert start.status_code == 200, start.text
    async with httpx.AsyncClient() as outside:
        authorize = await outside.get(start.json()["authorize_url"])
    assert authorize.status_code == 302, authorize.text
    location = httpx.URL(authorize.headers["location"])
    assert str(location).startswith(CALLBACK)
    done = await client.get("/oauth/clio/callback", params=dict(location.params))
    assert done.status_code == 200, done.text
    result: dict[str, Any] = done.json()
    return result
