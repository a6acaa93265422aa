"""Assembles the Clio sandbox: provider routes under `/oauth` and `/api/v4`, control API under `/_sandbox`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from practice_sync_sandbox._kit.clock import ClockDateHeader
from practice_sync_sandbox.clio.config import ClioSandboxConfig
from practice_sync_sandbox.clio.contacts import contacts_router
from practice_sync_sandbox.clio.control import control_router
from practice_sync_sandbox.clio.custom_actions import custom_actions_router
from practice_sync_sandbox.clio.delivery import Dispatcher
from practice_sync_sandbox.clio.errors import ClioError, ClioJSON
from practice_sync_sandbox.clio.gate import install_gate
from practice_sync_sandbox.clio.oauth_routes import oauth_router
from practice_sync_sandbox.clio.state import ClioSandbox
from practice_sync_sandbox.clio.users import users_router
from practice_sync_sandbox.clio.webhooks import webhook_router


def create_app(config: ClioSandboxConfig | None = None) -> FastAPI:
    config = config or ClioSandboxConfig()
    sb = ClioSandbox.build(config)
    dispatcher = Dispatcher(sb)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()

    app = FastAPI(title="Clio Manage API v4 sandbox", version="4.0.13", lifespan=lifespan)
    app.state.sandbox = sb
    app.state.dispatcher = dispatcher
    app.add_middleware(ClockDateHeader, clock=sb.clock)

    @app.exception_handler(ClioError)
    async def clio_error(_: Request, exc: ClioError) -> Response:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        status = 422 if request.url.path.startswith("/_sandbox") else 400
        return ClioJSON(
            {"error": {"type": "BadRequest", "message": f"{where}: {first.get('msg', 'invalid')}"}},
            status_code=status,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "RecordNotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HttpError")
        return ClioJSON({"error": {"type": kind, "message": str(exc.detail)}}, status_code=exc.status_code)

    install_gate(app, sb)
    app.include_router(oauth_router(sb))
    app.include_router(users_router(sb))
    app.include_router(contacts_router(sb, dispatcher))
    app.include_router(custom_actions_router(sb))
    app.include_router(webhook_router(sb, dispatcher))
    app.include_router(control_router(sb, dispatcher))
    return app
