"""The FastAPI face every service shares: health, readiness, metrics, JSON errors, body limits."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from practice_sync_common.broker import broker_reachable
from practice_sync_common.db import ping, refused_by_postgres
from practice_sync_common.logging import get_logger, secrets
from practice_sync_common.metrics import HTTP_LATENCY, HTTP_REQUESTS
from practice_sync_common.settings import CommonSettings

log = get_logger(__name__)
Hook = Callable[[], Awaitable[None]]


def error_body(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, **extra}}


class BodyLimit:
    """Refuses bodies over the limit before a handler reads them (413), chunked ones included."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _too_large(self.max_bytes, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _BodyTooLarge:
            await _too_large(self.max_bytes, send)


class RequestMetrics:
    """Counts and times every request by route template.

    Plain ASGI rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware costs several
    times a small handler's own work, and every service pays it on every request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)


class _BodyTooLarge(Exception):
    pass


async def _too_large(limit: int, send: Send) -> None:
    body = JSONResponse(error_body("payload_too_large", f"request body exceeds {limit} bytes"), 413)
    await body({"type": "http"}, _noop_receive, send)


def refused_value(exc: DBAPIError) -> bool:
    """Whether the database refused a value the statement carried (`db.refused_by_postgres`): the
    request's fault, a 400; anything else stays a 500."""
    orig = exc.orig
    return refused_by_postgres(orig.__cause__ if orig is not None and orig.__cause__ is not None else orig)


async def _noop_receive() -> Message:
    return {"type": "http.disconnect"}


def create_service_app(
    *,
    name: str,
    settings: CommonSettings,
    engine: AsyncEngine | None,
    broker: KafkaBroker | None,
    routers: Sequence[APIRouter] = (),
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
    description: str = "",
) -> FastAPI:
    """Every service's HTTP face. Startup hooks run in order (migrate, then start the broker, ...)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for hook in on_startup:
            await hook()
        log.info("service started", port=settings.http_port)
        try:
            yield
        finally:
            for hook in reversed(on_shutdown):
                try:
                    await hook()
                except Exception as exc:
                    log.warning("shutdown hook failed", error=secrets.scrub(repr(exc)))

    app = FastAPI(title=f"practice-sync {name}", description=description, lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.broker = broker

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        if engine is not None:
            try:
                await ping(engine)
                checks["database"] = "ok"
            except Exception as exc:
                checks["database"] = f"unreachable: {type(exc).__name__}"
        if broker is not None:
            checks["broker"] = "ok" if await broker_reachable(broker) else "unreachable"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ready, "service": name, "checks": checks}, 200 if ready else 503)

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {
            400: "bad_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            409: "conflict",
            413: "payload_too_large",
            422: "invalid",
            503: "unavailable",
        }
        return JSONResponse(
            error_body(kind.get(exc.status_code, "error"), str(exc.detail)),
            exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                # loc is ("body", position); json's own reason names no value, so it can be shown.
                position = err.get("loc", ("body", "?"))[-1]
                reason = (err.get("ctx") or {}).get("error", "")
                problems.append(
                    f"body: not valid JSON at character {position}" + (f": {reason}" if reason else "")
                )
                continue
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
        # Never echo the offending input back: it may be a secret.
        return JSONResponse(error_body("invalid", "; ".join(problems), fields=problems), 422)

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if not refused_value(exc):
            return await unexpected(request, exc)
        # Postgres refused a value the request carried (a number past 64 bits, a NUL character, text
        # that is not the date it claims to be, one too long to index): the request's fault, not the
        # service's. The driver's message may quote the value, so it is logged (scrubbed), not returned.
        log.info("request value refused by the database", error=secrets.scrub(str(exc.orig)))
        message = (
            "a value in this request is out of range, too long or malformed (a number too large, a NUL"
            " character?)"
        )
        return JSONResponse(error_body("invalid", message), 400)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", error=secrets.scrub(repr(exc)))
        return JSONResponse(error_body("internal", "internal error; see the service log"), 500)

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetrics)
    for router in routers:
        app.include_router(router)
    return app
