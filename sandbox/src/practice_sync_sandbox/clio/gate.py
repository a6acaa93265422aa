"""What stands before every `/api/v4` call: bearer check, rate window, API version, faults, accounting."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from practice_sync_sandbox._kit.ratelimit import RateDecision
from practice_sync_sandbox.clio.errors import ClioError, ClioJSON, invalid_token_response
from practice_sync_sandbox.clio.oauth import AccessToken
from practice_sync_sandbox.clio.state import ClioSandbox

API_PREFIX = "/api/v4"
_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")
FORCED_RETRY_AFTER_S = 1


def endpoint_key(method: str, path: str) -> str:
    path = path.removesuffix(".json")
    return f"{method} {_ID_SEGMENT.sub('/{id}', path)}"


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def rate_headers(d: RateDecision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(d.limit),
        "X-RateLimit-Remaining": str(d.remaining),
        "X-RateLimit-Reset": str(d.reset_at),
    }


def throttled(retry_after: int) -> ClioJSON:
    return ClioError(
        429,
        "RateLimited",
        f"Rate limit exceeded. Retry in {retry_after} seconds.",
        {"Retry-After": str(retry_after)},
    ).response()


class CutResponse(Response):
    """Announces the full length, sends half the body, then stops: the client sees a cut connection."""

    def __init__(self, body: bytes, status_code: int, headers: dict[str, str]) -> None:
        super().__init__(content=body, status_code=status_code, headers=headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send(
            {
                "type": "http.response.body",
                "body": self.body[: max(1, len(self.body) // 2)],
                "more_body": True,
            }
        )


async def _body_of(response: Response) -> bytes:
    chunks = [chunk async for chunk in response.body_iterator]  # type: ignore[attr-defined]
    return b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks)


def install_gate(app: FastAPI, sb: ClioSandbox) -> None:
    cfg = sb.config

    @app.middleware("http")
    async def gate(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not request.url.path.startswith(API_PREFIX):
            return await call_next(request)
        now = sb.clock.time()
        raw = bearer(request)
        token: AccessToken | None = sb.oauth.valid_token(raw)
        account = sb.accounts[token.user_id].spec.slug if token else "unauthenticated"
        decision = sb.limiter.hit(token.token if token else f"anonymous:{raw}", now)
        version = request.headers.get("x-api-version", "").strip() or cfg.default_api_version
        response: Response
        if token is None:
            response = invalid_token_response()
        elif not decision.allowed:
            response = throttled(decision.retry_after)
        elif version not in cfg.api_versions:
            response = ClioError(
                410, "InvalidApiVersion", f"API version {version} is invalid or no longer supported"
            ).response()
        else:
            response = await _serve(request, call_next, token, version)
        response.headers.update(rate_headers(decision))
        if response.status_code < 400:
            response.headers["X-API-VERSION"] = version
        sb.ledger.record(account, endpoint_key(request.method, request.url.path), response.status_code, now)
        return response

    async def _serve(
        request: Request,
        call_next: Callable[[Request], Awaitable[Response]],
        token: AccessToken,
        version: str,
    ) -> Response:
        fault = sb.faults.next()
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.kind == "throttle":
            return throttled(FORCED_RETRY_AFTER_S)
        if fault.kind == "server_error":
            return ClioError(fault.status, "ServerError", "Injected server error").response()
        request.state.token = token
        request.state.api_version = version
        response = await call_next(request)
        if fault.kind in ("malformed", "cut"):
            body = await _body_of(response)
            headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
            if fault.kind == "cut":
                return CutResponse(body, response.status_code, headers)
            # Valid JSON would let a broken parser pass; a truncated document with a 200 must not.
            return Response(body[: max(1, len(body) // 2)], response.status_code, headers)
        return response
