"""Cliniko sandbox fixtures: small accounts served over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from practice_sync_sandbox._kit.runner import ServerThread
from practice_sync_sandbox.cliniko.app import create_app
from practice_sync_sandbox.cliniko.config import ClinikoSandboxConfig

KEY = "MS0xMjM0NTY3ODk-au1"
OTHER_KEY = "c2Vjb25kY2xpbmlj-uk2"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
UA = "practice-sync tests (dev@example.com)"


def make_config(**overrides: Any) -> ClinikoSandboxConfig:
    values: dict[str, Any] = {
        "seed": 7,
        "api_keys": [f"{KEY}=300:2000", f"{OTHER_KEY}=40:100"],
        "now": NOW,
        "frozen": True,
    }
    values.update(overrides)
    return ClinikoSandboxConfig(**values)


def api_client(url: str, key: str = KEY, **kw: Any) -> httpx.Client:
    headers = {"User-Agent": UA, "Accept": "application/json", **kw.pop("headers", {})}
    return httpx.Client(base_url=url, auth=(key, ""), headers=headers, timeout=30, **kw)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    """A shared read-mostly server; tests that change data use `fresh_server`."""
    with ServerThread(create_app(make_config())) as s:
        yield s


@pytest.fixture
def fresh_server() -> Iterator[ServerThread]:
    with ServerThread(create_app(make_config())) as s:
        yield s


@pytest.fixture(scope="module")
def api(server: ServerThread) -> Iterator[httpx.Client]:
    with api_client(server.url) as c:
        yield c


@pytest.fixture(scope="module")
def export(server: ServerThread) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/_sandbox/accounts/{KEY}/export", timeout=60)
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


def crawl(client: httpx.Client, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every item of a list, following `links.next` as a client should."""
    items: list[dict[str, Any]] = []
    r = client.get(path, params=params)
    name = path.rstrip("/").split("/")[-1]
    while True:
        assert r.status_code == 200, r.text
        body = r.json()
        items.extend(body[name])
        nxt = body["links"].get("next")
        if not nxt:
            return items
        r = client.get(nxt)
