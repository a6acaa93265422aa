"""Org read tokens are keyed by a configured secret; with none configured, no token is valid."""

from __future__ import annotations

import base64
import hashlib
import hmac

import httpx
from fastapi import Depends, FastAPI
from pydantic import SecretStr

from practice_sync_projector.endpoints.auth import read_token, require_org_reader
from practice_sync_projector.settings import Settings


def _app(settings: Settings) -> FastAPI:
    app = FastAPI()
    app.state.settings = settings

    @app.get("/orgs/{org}/probe")
    async def probe(org: str = Depends(require_org_reader)) -> dict[str, str]:
        return {"org": org}

    return app


async def _status(settings: Settings, org: str, token: str) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(settings)), base_url="http://t") as c:
        return (await c.get(f"/orgs/{org}/probe", headers={"Authorization": f"Bearer {token}"})).status_code


async def test_a_token_keyed_by_nothing_is_refused() -> None:
    bare = Settings(database_url="postgresql+asyncpg://u@127.0.0.1:1/none")
    assert read_token(bare, "org-a") is None
    # What anyone could compute if an unset admin token still keyed the read tokens:
    key = hmac.new(b"", b"practice-sync projector read tokens", hashlib.sha256).digest()
    mac = hmac.new(key, b"org-a", hashlib.sha256).digest()
    forged = "pso_" + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert await _status(bare, "org-a", forged) == 403


async def test_a_configured_secret_keys_the_tokens_per_org() -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://u@127.0.0.1:1/none",
        projector_read_token_secret=SecretStr("s3cret"),
    )
    token = read_token(settings, "org-a")
    assert token is not None
    assert await _status(settings, "org-a", token) == 200
    assert await _status(settings, "org-b", token) == 403


async def test_an_org_id_no_org_can_have_is_refused() -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://u@127.0.0.1:1/none",
        projector_read_token_secret=SecretStr("s3cret"),
    )
    for org in ("bad%20org", "-x"):
        assert await _status(settings, org, "anything") == 422
