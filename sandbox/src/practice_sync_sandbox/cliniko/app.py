"""The Cliniko sandbox as a FastAPI app: /v1 for clients, /_sandbox for tests and benchmarks."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._kit.clock import ClockDateHeader
from . import control, routes
from .config import ClinikoSandboxConfig
from .guard import Guard
from .http import json_response, not_found
from .state import SandboxState


def create_app(config: ClinikoSandboxConfig | None = None) -> FastAPI:
    config = config or ClinikoSandboxConfig()
    state = SandboxState.create(config)
    if config.eager:
        for slot in state.slots.values():
            slot.account()
    app = FastAPI(
        title="Cliniko sandbox",
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = state
    app.add_middleware(ClockDateHeader, clock=state.clock)
    app.add_middleware(Guard)
    app.include_router(routes.router)
    app.include_router(control.router)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Cliniko answers unknown routes with its HTML 404 page; the control API stays JSON. A
        # known path with a method it lacks is an unknown route too: Rails routes by method and
        # path, so it has no 405.
        if exc.status_code in (404, 405) and not request.url.path.startswith("/_sandbox/"):
            return not_found()
        return json_response({"message": exc.detail}, exc.status_code)

    return app
