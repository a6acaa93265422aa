"""The checks every /v1 request passes, in Cliniko's order as far as it is known: User-Agent,
Accept, Basic auth, rate limit; then injected faults, then the route. Each request is recorded in
the ledger under its account and endpoint."""

from __future__ import annotations

import asyncio
import re
import time

from fastapi import Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._kit.faults import Fault
from .._kit.ratelimit import RateDecision
from .http import json_response, state_of
from .state import AccountSlot

# `Name (email@example.com)`: some name, then a contact address in parentheses
USER_AGENT = re.compile(r"^\s*\S.*\(\s*[^\s@()]+@[^\s@()]+\.[^\s@()]+\s*\)\s*$")
_SHARD_HOST = re.compile(r"^api\.([a-z]{2}\d{1,2})\.", re.IGNORECASE)
_ID_SEGMENT = re.compile(r"/\d+(?=/|$)")
_JSON_ACCEPT = ("application/json", "application/*", "*/*", "application/vnd.api+json")
UNAUTHENTICATED = "(unauthenticated)"


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


def _cut(start: Message, body: bytes) -> list[Message]:
    """Declares the full length and sends half; the caller then fails, so the connection drops mid-body."""
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(body)).encode()))
    return [
        {**start, "headers": headers},
        {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True},
    ]


def _garbled(start: Message, body: bytes) -> list[Message]:
    garbled = body[: max(1, len(body) // 2)] + b"<<garbled"
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    headers.append((b"content-length", str(len(garbled)).encode()))
    return [{**start, "headers": headers}, {"type": "http.response.body", "body": garbled}]


class Guard:
    """ASGI middleware, not Starlette's `BaseHTTPMiddleware`: that one runs every response through a
    task group and a memory stream. With the worker-thread hop of sync routes it was about a sixth
    of the sandbox's CPU on a list page (py-spy, session 12)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if not (path == "/v1" or path.startswith("/v1/")):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        state = state_of(request)
        cfg = state.config
        now = time.time()
        label = endpoint_label(request)
        admitted = _admit(request, now, label)
        if isinstance(admitted, Response):
            await admitted(scope, receive, send)
            return
        slot, fault, rate_headers = admitted
        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.kind == "throttle":
            state.ledger.record(slot.key, label, 429, now)
            await PlainTextResponse("Retry later\n", status_code=429, headers=rate_headers)(
                scope, receive, send
            )
            return
        if fault.kind == "server_error":
            state.ledger.record(slot.key, label, fault.status, now)
            await _injected_error(fault.status)(scope, receive, send)
            return

        request.state.account = slot
        # A list route spoils a record only in a body that reaches the client whole (routes.list_response).
        request.state.fault = fault
        held = fault.kind in ("malformed", "cut")
        extra = [(k.lower().encode(), v.encode()) for k, v in rate_headers.items()]
        start: Message = {}
        body = bytearray()

        async def respond(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if cfg.rate_limit_info_headers:
                    message = {**message, "headers": [*message.get("headers", []), *extra]}
                start = message
                state.ledger.record(slot.key, label, message["status"], now)
                if not (held and message["status"] == 200):
                    await send(message)
                return
            if not (held and start.get("status") == 200):
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            for out in (_cut if fault.kind == "cut" else _garbled)(start, bytes(body)):
                await send(out)
            if fault.kind == "cut":
                raise ConnectionAbortedError("sandbox fault: connection cut mid-body")

        await self.app(scope, receive, respond)


def _admit(request: Request, now: float, label: str) -> Response | tuple[AccountSlot, Fault, dict[str, str]]:
    """The checks before the route, in Cliniko's order: a refusal, or the account, its fault and its
    rate headers."""
    state = state_of(request)
    cfg = state.config

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
    decision = state.limiter.hit(slot.key, now)
    rate_headers = _rate_headers(decision, cfg.retry_after_header, cfg.rate_limit_info_headers)
    if not decision.allowed:
        state.ledger.record(slot.key, label, 429, now)
        return PlainTextResponse("Retry later\n", status_code=429, headers=rate_headers)
    return slot, state.faults.next(), rate_headers
