"""Response helpers shared by the API and control routes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import msgspec
from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from .state import SandboxState

NOT_FOUND_HTML = """<!DOCTYPE html>
<html>
<head>
  <title>Cliniko - 404</title>
</head>
<body>
  <h1>The page you were looking for doesn't exist.</h1>
  <p>You may have mistyped the address or the page may have moved.</p>
</body>
</html>
"""


_ENCODER = msgspec.json.Encoder()


def dumps(obj: Any) -> bytes:
    # Compact UTF-8, as json.dumps(ensure_ascii=False, separators=(",", ":")) writes it. A list page
    # is ~135 KB: msgspec encodes it in 0.23 ms, pydantic_core.to_json in 0.59 ms (session 12).
    return _ENCODER.encode(obj)


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        dumps(obj), status_code=status, media_type="application/json; charset=utf-8", headers=headers
    )


def not_found() -> Response:
    return HTMLResponse(NOT_FOUND_HTML, status_code=404)


def validation_failed(errors: Mapping[str, str]) -> Response:
    return json_response({"message": "Validation Failed", "errors": dict(errors)}, 422)


def state_of(request: Request) -> SandboxState:
    state: SandboxState = request.app.state.sandbox
    return state


def origin(request: Request) -> str:
    """Scheme and host the client used (or the configured base), so links lead back here."""
    configured = state_of(request).config.base_url
    if configured:
        return configured.rstrip("/")
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}"


def api_base(request: Request) -> str:
    return origin(request) + "/v1"


def query_string(pairs: list[tuple[str, str]]) -> str:
    # `q[]` stays readable; values are escaped so `>=`, `?` and `%` survive a round trip
    return "&".join(f"{k}={quote(v, safe=':,*')}" for k, v in pairs)
