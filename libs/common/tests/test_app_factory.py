"""Every service's HTTP face, against the real Postgres and broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, Depends
from pydantic import BaseModel, SecretStr

from practice_sync_common.app_factory import create_service_app
from practice_sync_common.auth import require_admin, require_service
from practice_sync_common.broker import make_broker
from practice_sync_common.db import make_engine
from practice_sync_common.settings import CommonSettings


class Item(BaseModel):
    name: str
    count: int


def _router() -> APIRouter:
    r = APIRouter()

    @r.post("/admin/items", dependencies=[Depends(require_admin)])
    async def create(item: Item) -> Item:
        return item

    @r.get("/internal/thing")
    async def internal(caller: str = Depends(require_service("clio-gateway"))) -> dict[str, str]:
        return {"caller": caller}

    @r.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret-ish internals")

    return r


@pytest.fixture
async def client(database_url: str, kafka_bootstrap: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = CommonSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        max_body_bytes=2048,
        PRACTICE_SYNC_ADMIN_TOKEN=SecretStr("admin-t0ken"),
        PRACTICE_SYNC_SERVICE_TOKENS=SecretStr("clio-gateway:gw-token,projector:pj-token"),
    )
    engine = make_engine(settings.database_url)
    broker = make_broker(settings)
    await broker.connect()
    app = create_service_app(name="t", settings=settings, engine=engine, broker=broker, routers=[_router()])
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c
    await broker.stop()
    await engine.dispose()


async def test_health_readiness_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    metrics = await client.get("/metrics")
    assert 'practice_sync_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text
    assert 'practice_sync_http_requests_total{method="GET",route="/readyz",status="200"}' in metrics.text


async def test_readiness_fails_when_the_database_is_unreachable(kafka_bootstrap: str) -> None:
    settings = CommonSettings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none", kafka_bootstrap_servers=kafka_bootstrap
    )
    engine = make_engine(settings.database_url)
    app = create_service_app(name="t", settings=settings, engine=engine, broker=None)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["database"].startswith("unreachable")
    await engine.dispose()


async def test_admin_auth(client: httpx.AsyncClient) -> None:
    body = {"name": "a", "count": 1}
    missing = await client.post("/admin/items", json=body)
    assert missing.status_code == 401
    assert "bearer" in missing.json()["error"]["message"].lower()
    wrong = await client.post("/admin/items", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    ok = await client.post("/admin/items", json=body, headers={"Authorization": "Bearer admin-t0ken"})
    assert ok.status_code == 200


async def test_service_tokens_name_the_caller_and_are_scoped(client: httpx.AsyncClient) -> None:
    ok = await client.get("/internal/thing", headers={"Authorization": "Bearer gw-token"})
    assert ok.json() == {"caller": "clio-gateway"}
    other = await client.get("/internal/thing", headers={"Authorization": "Bearer pj-token"})
    assert other.status_code == 403
    assert "projector" in other.json()["error"]["message"]


async def test_bad_input_gets_a_json_4xx_that_names_the_problem(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/admin/items", json={"name": "a", "count": "many"}, headers={"Authorization": "Bearer admin-t0ken"}
    )
    assert r.status_code == 422
    assert "count" in r.json()["error"]["message"]
    assert "many" not in r.text  # input is not echoed back
    broken = await client.post(
        "/admin/items",
        content=b'{"name": "a", count: 1}',
        headers={"Authorization": "Bearer admin-t0ken", "Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    assert "not valid JSON at character 14" in broken.json()["error"]["message"], broken.text


async def test_oversized_body_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/admin/items",
        content=b"x" * 5000,
        headers={"Authorization": "Bearer admin-t0ken", "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert "2048" in r.json()["error"]["message"]


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/no/such/route")
    assert r.status_code == 404
    assert r.json()["error"]["type"] == "not_found"


async def test_unhandled_error_is_a_json_500_without_internals(client: httpx.AsyncClient) -> None:
    r = await client.get("/boom")
    assert r.status_code == 500
    assert "secret-ish" not in r.text
    assert r.json()["error"]["type"] == "internal"


async def test_without_an_admin_token_the_admin_api_is_shut(database_url: str, kafka_bootstrap: str) -> None:
    # No well-known default: a service started without PRACTICE_SYNC_ADMIN_TOKEN admits no admin.
    settings = CommonSettings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap)
    engine = make_engine(settings.database_url)
    app = create_service_app(name="t", settings=settings, engine=engine, broker=None, routers=[_router()])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for token in ("dev-admin-token", "change-me-admin", "x"):
            r = await c.post(
                "/admin/items", json={"name": "a", "count": 1}, headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 401
            assert "PRACTICE_SYNC_ADMIN_TOKEN is not set" in r.json()["error"]["message"]
            assert (
                await c.get("/internal/thing", headers={"Authorization": f"Bearer {token}"})
            ).status_code == 401
    await engine.dispose()


def _db_router(engine_url: str) -> APIRouter:
    r = APIRouter()

    @r.get("/lookup")
    async def lookup(n: int = 0, name: str = "", day: str = "2020-01-01") -> dict[str, int]:
        engine = make_engine(engine_url)
        try:
            async with engine.connect() as conn:
                from sqlalchemy import text

                row = await conn.execute(
                    text(
                        "SELECT CAST(:n AS bigint) + length(CAST(:name AS text))"
                        " + extract(day FROM CAST(CAST(:d AS text) AS date))"
                    ),
                    {"n": n, "name": name, "d": day},
                )
                return {"value": int(row.scalar_one())}
        finally:
            await engine.dispose()

    @r.post("/index")
    async def index(name: str) -> dict[str, int]:
        engine = make_engine(engine_url)
        try:
            async with engine.connect() as conn:
                from sqlalchemy import text

                await conn.execute(text("CREATE TEMP TABLE named (name text PRIMARY KEY)"))
                await conn.execute(text("INSERT INTO named VALUES (:name)"), {"name": name})
                return {"value": len(name)}
        finally:
            await engine.dispose()

    @r.get("/broken")
    async def broken() -> None:
        engine = make_engine(engine_url)
        try:
            async with engine.connect() as conn:
                from sqlalchemy import text

                # A bug of ours, not the request's: the wrong Python type for the parameter.
                await conn.execute(text("SELECT CAST(:n AS bigint)"), {"n": "seven"})
        finally:
            await engine.dispose()

    return r


async def test_values_the_database_refuses_are_the_requests_fault(database_url: str) -> None:
    settings = CommonSettings(database_url=database_url)
    engine = make_engine(settings.database_url)
    app = create_service_app(
        name="t", settings=settings, engine=engine, broker=None, routers=[_db_router(database_url)]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/lookup", params={"n": 1, "name": "ab"})).json() == {"value": 4}
        for params in ({"n": 2**63}, {"name": "a\x00b"}, {"day": "not-a-date"}):
            r = await c.get("/lookup", params=params)
            assert r.status_code == 400, (params, r.text)
            assert r.json()["error"]["type"] == "invalid"
            assert "not-a-date" not in r.text
        # Too long for its index (SQLSTATE 54000): the request's value again, not the service.
        assert (await c.post("/index", params={"name": "short"})).status_code == 200
        long = "".join(f"{i:x}" for i in range(3000))  # past a btree entry's ~2.7 kB, compressed or not
        r = await c.post("/index", params={"name": long})
        assert r.status_code == 400, r.text
        assert long[:100] not in r.text
        assert (await c.get("/broken")).status_code == 500
    await engine.dispose()
