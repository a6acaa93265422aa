"""pytest fixtures that run the platform's pieces for real, once per test session.

Every service runs under uvicorn on its own thread and loop, on a free loopback port, against the
session's embedded Postgres and broker, and talks to the others over HTTP exactly as in `make up`.
Consumers join their groups once per session (a join costs seconds on the embedded broker).
Each fixture is lazy: a test session starts only what its tests ask for.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from practice_sync_sandbox._kit.runner import ServerThread, free_port

ADMIN_TOKEN = "stack-admin-token"
SERVICE_TOKENS = {
    "webhook-ingest": "stack-wi-token-0001",
    "clio-gateway": "stack-cg-token-0001",
    "cliniko-sync": "stack-cs-token-0001",
    "projector": "stack-pj-token-0001",
}
# Two Cliniko accounts with overlapping id spaces are enough to prove tenant isolation.
CLINIKO_KEYS = ["stackclinicone001-au1", "stackclinictwo002-au2"]


@dataclass
class Stack:
    database_url: str
    kafka_bootstrap: str
    urls: dict[str, str] = field(default_factory=dict)
    apps: dict[str, Any] = field(default_factory=dict)
    sandbox_apps: dict[str, Any] = field(default_factory=dict)

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def common_settings(self, name: str) -> dict[str, Any]:
        return {
            "service_name": name,
            "database_url": self.database_url,
            "kafka_bootstrap_servers": self.kafka_bootstrap,
            "PRACTICE_SYNC_ADMIN_TOKEN": SecretStr(ADMIN_TOKEN),
            "PRACTICE_SYNC_SERVICE_TOKEN": SecretStr(SERVICE_TOKENS.get(name, "")),
            "credentials_url": self.urls.get("credentials", "http://127.0.0.1:1"),
            "log_json": True,
        }


_threads: list[ServerThread] = []


def start_service(stack: Stack, name: str, port: int | None = None, **overrides: Any) -> str:
    """Start service `name` (e.g. "cliniko-sync") with the stack's settings plus `overrides`."""
    module = f"practice_sync_{name.replace('-', '_')}"
    settings_cls = importlib.import_module(f"{module}.settings").Settings
    create_app = importlib.import_module(f"{module}.main").create_app
    settings = settings_cls(**{**stack.common_settings(name), **overrides})
    app = create_app(settings)
    server = ServerThread(app, port=port).start(timeout=60)
    _threads.append(server)
    stack.urls[name] = server.url
    stack.apps[name] = app
    return server.url


async def offline_cliniko_org(stack: Stack, org: str | None = None) -> str:
    """An org (new unless named) with a Cliniko key, not validated, whose API URL is a closed port: it
    passes the sync intake's org check, and a cliniko-sync run for it fails at once, calling no one."""
    org = org or f"org-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=stack.urls["credentials"], headers=stack.admin_headers()) as c:
        r = await c.put(
            f"/admin/orgs/{org}/credentials/cliniko",
            json={
                "api_key": f"k{uuid.uuid4().hex}-au1",
                "api_url": "http://127.0.0.1:1/v1",
                "validate": False,
            },
        )
        assert r.is_success, r.text
    return org


def _fresh_database(database_url: str) -> str:
    """A database of the stack's own, so other tests' rows (sealed with other key rings) are not in it."""
    import asyncio

    from practice_sync_common.testing.databases import create_database

    return asyncio.run(create_database(database_url, "stack"))


@pytest.fixture(scope="session")
def stack(database_url: str, kafka_bootstrap: str) -> Iterator[Stack]:
    s = Stack(_fresh_database(database_url), kafka_bootstrap)
    yield s
    for server in reversed(_threads):
        server.stop()
    _threads.clear()


@pytest.fixture(scope="session")
def cliniko_sandbox(stack: Stack) -> Iterator[str]:
    """The Cliniko sandbox with the stack's accounts (small by default); yields its /v1 URL."""
    from practice_sync_sandbox.cliniko.app import create_app
    from practice_sync_sandbox.cliniko.config import ClinikoSandboxConfig

    app = create_app(ClinikoSandboxConfig(api_keys=[f"{k}=60:400" for k in CLINIKO_KEYS], eager=True))
    with ServerThread(app) as server:
        stack.urls["cliniko-sandbox"] = server.url
        stack.sandbox_apps["cliniko"] = app
        yield f"{server.url}/v1"


# Clio accounts besides demo-law (25 contacts): (slug, user id, contacts). The clio-gateway's
# conformance suite uses the conf-* ones (page size 200), its webhook expiry test expiry-firm.
CLIO_ACCOUNTS = [
    ("conf-empty", 3001, 0),
    ("conf-one", 3002, 120),
    ("conf-many", 3003, 1010),
    ("expiry-firm", 3004, 10),
]


@pytest.fixture(scope="session")
def clio_sandbox(stack: Stack) -> Iterator[str]:
    from practice_sync_sandbox.clio.app import create_app
    from practice_sync_sandbox.clio.config import AccountSpec, fast_config

    extra = [
        AccountSpec(slug, uid, n, slug.title(), "User", f"user@{slug}.example")
        for slug, uid, n in CLIO_ACCOUNTS
    ]
    app = create_app(fast_config(token_ttl_s=3600, accounts=[AccountSpec(contacts=25), *extra]))
    with ServerThread(app) as server:
        stack.urls["clio-sandbox"] = server.url
        stack.sandbox_apps["clio"] = app
        yield server.url


@pytest.fixture(scope="session")
def credentials_service(stack: Stack, clio_sandbox: str) -> str:
    from practice_sync_credentials.domain.keyring import generate_key_entry

    port = free_port()
    return start_service(
        stack,
        "credentials",
        port=port,
        credentials_keyring=SecretStr(generate_key_entry("k1")),
        PRACTICE_SYNC_SERVICE_TOKENS=SecretStr(",".join(f"{k}:{v}" for k, v in SERVICE_TOKENS.items())),
        clio_client_id="sandbox-clio-client",
        clio_client_secret=SecretStr("sandbox-clio-secret"),
        clio_base_url=clio_sandbox,
        clio_redirect_uri=f"http://127.0.0.1:{port}/oauth/clio/callback",
        clio_refresh_interval_s=0,
        credentials_allow_private_urls=True,
    )


@pytest.fixture(scope="session")
def webhook_ingest_service(stack: Stack, credentials_service: str) -> str:
    """webhook-ingest on a free port, reading webhook secrets from the session's credentials."""
    return start_service(stack, "webhook-ingest", webhook_secret_refetch_min_s=0.0)


@pytest.fixture(scope="session")
def clio_gateway_service(stack: Stack, credentials_service: str, webhook_ingest_service: str) -> str:
    """clio-gateway with its consumers joined once; Clio webhooks point at the session's ingest."""
    from practice_sync_clio_gateway.testing import gateway_overrides

    port = free_port()
    return start_service(stack, "clio-gateway", port=port, **gateway_overrides(stack, port))


@pytest.fixture(scope="session")
def cliniko_sync_service(stack: Stack, credentials_service: str, cliniko_sandbox: str) -> str:
    """cliniko-sync with small pages (10 per page) so tests cross many pages on small accounts.

    Totals by history crawl: the conformance and edge-case suites size accounts in crawl pages.
    The per-patient way has its own test (services/cliniko-sync/tests/test_per_patient_totals.py).
    """
    return start_service(
        stack,
        "cliniko-sync",
        cliniko_per_page=10,
        run_stale_after_s=30,
        resume_scan_interval_s=1,
        run_retry_backoff_s=0.5,
        provider_backoff_base_s=0.05,
        cliniko_rate_limit_per_min=6000,
        cliniko_totals_method="history_crawl",
    )


@pytest.fixture(scope="session")
def projector_service(stack: Stack) -> str:
    """The projector with its two consumer groups joined once per session."""
    return start_service(stack, "projector")
