"""The checks every /v1 request passes, in Cliniko's order as far as it is known: User-Agent,
Accept, Basic auth, rate limit; then injected faults, then the route. Each request is recorded in
the ledger under its account and endpoint."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from .._kit.ratelimit import RateDecision
from .http import json_response, state_of

# `Name (email@example.com)`: some name, then a contact address in parentheses
USER_AGENT = re.compile(r"^\s*\S.*\(\s*[^\s@()]+@[^\s@()]+\.[^\s@()]+\s*\)\s*$")
_SHARD_HOST = re.compile(r"^api\.([a-z]{2}\d{1,2})\.", re.IGNORECASE)
_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")
_JSON_ACCEPT = ("application/json", "application/*", "*/*", "application/vnd.api+json")
UNAUTHENTICATED = "(unauthenticated)"

CallNext = Callable[[Request], Awaitable[Response]]


def endpoint_label(request: Request) -> str:
    return f"{request.method} {_ID_SEGMENT.sub('/{id}', request.url.path)}"


def _accepts_json(accept: str | None) -> bool:
    if accept is None or not accept.strip():
        return True
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return any(k in _JSON_ACCEPT or k.endswith("+json") for k in kinds)


def _rate_headers(d: RateDecision, retry_after: bool, info: bool) -> dict[str, str]:
    headers = {"X-RateLimit-Reset": str(d.reset_at)}
    if retry_after:
        headers["Retry-After"] = str(d.retry_after)
    if info:
        headers["X-RateLimit-Limit"] = str(d.limit)
        headers["X-RateLimit-Remaining"] = str(d.remaining)
    return headers


def _injected_error(status: int) -> Response:
    if status == 422:
        return json_response(
            {"message": "Validation Failed", "errors": {"base": "injected by the sandbox"}}, 422
        )
    if status < 500:
        return json_response({"message": f"injected {status}"}, status)
    if status == 500:
        return json_response({"message": "Internal Server Error"}, 500)
    # 502/503 come from the proxies in front of the app: HTML, not JSON
    names = {502: "502 Bad Gateway", 503: "503 Service Unavailable", 504: "504 Gateway Timeout"}
    text = names.get(status, str(status))
    return HTMLResponse(f"<html><body><h1>{text}</h1></body></html>", status_code=status)


async def _body(response: Response) -> bytes:
    if isinstance(response, StreamingResponse) or not hasattr(response, "body"):
        chunks = [c if isinstance(c, bytes) else str(c).encode() async for c in response.body_iterator]  # type: ignore[attr-defined]
        return b"".join(chunks)
    return bytes(response.body)


def _cut(body: bytes, response: Response) -> Response:
    """Declares the full length, sends half, then fails: the client sees the connection drop mid-body."""

    async def half() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        raise ConnectionAbortedError("sandbox fault: connection cut mid-body")

    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    headers["content-length"] = str(len(body))
    return StreamingResponse(half(), status_code=response.status_code, headers=headers)


async def guard(request: Request, call_next: CallNext) -> Response:
    path = request.url.path
    if not (path == "/v1" or path.startswith("/v1/")):
        return await call_next(request)
    state = state_of(request)
    cfg = state.config
    now = time.time()
    label = endpoint_label(request)

    if cfg.require_user_agent and not USER_AGENT.match(request.headers.get("user-agent", "")):
        state.ledger.record(UNAUTHENTICATED, label, cfg.user_agent_status, now)
        return PlainTextResponse("Requires a user agent", status_code=cfg.user_agent_status)
    if not _accepts_json(request.headers.get("accept")) or (
        cfg.require_accept_header and not request.headers.get("accept")
    ):
        state.ledger.record(UNAUTHENTICATED, label, 406, now)
        return json_response({"message": "Not Acceptable: this API only serves application/json"}, 406)
    slot = state.authenticate(request.headers.get("authorization"))
    shard_host = _SHARD_HOST.match(request.headers.get("host", ""))
    if (
        slot is not None
        and cfg.shard_host_check
        and shard_host
        and shard_host.group(1).lower() != slot.spec.shard
    ):
        slot = None  # a key used on another shard's host is unknown there
    if slot is None:
        state.ledger.record(UNAUTHENTICATED, label, 401, now)
        return PlainTextResponse(
            "HTTP Basic: Access denied.\n",
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="Application"'},
        )
    account = slot.key
    decision = state.limiter.hit(account, now)
    rate_headers = _rate_headers(decision, cfg.retry_after_header, cfg.rate_limit_info_headers)
    if not decision.allowed:
        state.ledger.record(account, label, 429, now)
        return PlainTextResponse("Retry later\n", status_code=429, headers=rate_headers)

    fault = state.faults.next()
    if fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
    if fault.kind == "throttle":
        state.ledger.record(account, label, 429, now)
        return PlainTextResponse("Retry later\n", status_code=429, headers=rate_headers)
    if fault.kind == "server_error":
        state.ledger.record(account, label, fault.status, now)
        return _injected_error(fault.status)

    request.state.account = slot
    # A list route spoils a record only in a body that reaches the client whole (routes.list_response).
    request.state.fault = fault
    response = await call_next(request)
    if cfg.rate_limit_info_headers:
        response.headers.update(rate_headers)
    state.ledger.record(account, label, response.status_code, now)
    if fault.kind in ("malformed", "cut") and response.status_code == 200:
        body = await _body(response)
        if fault.kind == "cut":
            return _cut(body, response)
        kept = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(body[: max(1, len(body) // 2)] + b"<<garbled", 200, headers=kept)
    return response
