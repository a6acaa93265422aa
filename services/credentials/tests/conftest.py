"""Shared fixtures: the credentials app in-process (lifespan run), sandboxes over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from practice_sync_common.testing.databases import create_database
from practice_sync_credentials.service.context import Services
from practice_sync_credentials.testing import CALLBACK, DEMO_KEY, OTHER_KEY, make_settings, running
from practice_sync_sandbox._kit.runner import ServerThread


@pytest.fixture(scope="session")
def cliniko_sandbox() -> Iterator[str]:
    from practice_sync_sandbox.cliniko.app import create_app as cliniko_app
    from practice_sync_sandbox.cliniko.config import ClinikoSandboxConfig

    config = ClinikoSandboxConfig(
        api_keys=[f"{DEMO_KEY}=5:5", f"{OTHER_KEY}=3:3"], patients=5, appointments=5, eager=False
    )
    with ServerThread(cliniko_app(config)) as server:
        yield f"{server.url}/v1"


@pytest.fixture(scope="session")
def clio_sandbox() -> Iterator[str]:
    from practice_sync_sandbox.clio.app import create_app as clio_app
    from practice_sync_sandbox.clio.config import fast_config

    with ServerThread(clio_app(fast_config(redirect_uris=[CALLBACK], token_ttl_s=3600))) as server:
        yield server.url


@pytest.fixture(scope="session")
async def app(database_url: str, clio_sandbox: str) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    async with running(make_settings(database_url, clio_base_url=clio_sandbox)) as pair:
        yield pair


@pytest.fixture
def client(app: tuple[httpx.AsyncClient, Services]) -> httpx.AsyncClient:
    return app[0]


@pytest.fixture
def services(app: tuple[httpx.AsyncClient, Services]) -> Services:
    return app[1]


@pytest.fixture
async def fresh_database(database_url: str) -> str:
    """A database of its own, for tests that change every row (rotation) or need an empty one."""
    return await create_database(database_url, "cred")


@pytest.fixture(scope="module")
def fresh_database_module(database_url: str) -> str:
    # Sync on purpose: the app using it runs on a server thread's own event loop.
    return asyncio.run(create_database(database_url, "cred"))
