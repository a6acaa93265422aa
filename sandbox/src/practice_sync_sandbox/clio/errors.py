"""Clio's error shapes and the JSON response class every Clio route answers with."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import Response

INVALID_TOKEN_DESCRIPTION = (
    "The access token provided is expired, revoked, malformed or invalid for other reasons."
)


def dump(content: Any) -> bytes:
    # Compact, key order as built, non-ASCII kept: a seed must give byte-identical bodies.
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ClioJSON(Response):
    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return dump(content)


class ClioError(Exception):
    """A generic Clio error: `{"error":{"type":…,"message":…}}` with an HTTP status."""

    def __init__(self, status: int, type_: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.headers = headers or {}

    def response(self) -> ClioJSON:
        body = {"error": {"type": self.type, "message": self.message}}
        return ClioJSON(body, status_code=self.status, headers=self.headers)


def bad_request(message: str) -> ClioError:
    return ClioError(400, "BadRequest", message)


def not_found(what: str, ident: object) -> ClioError:
    return ClioError(404, "RecordNotFound", f"{what} {ident} could not be found")


def forbidden(message: str) -> ClioError:
    return ClioError(403, "Forbidden", message)


def unprocessable(message: str, type_: str = "ValidationError") -> ClioError:
    return ClioError(422, type_, message)


def invalid_token_response(headers: dict[str, str] | None = None) -> ClioJSON:
    body = {"error": "invalid_token", "error_description": INVALID_TOKEN_DESCRIPTION}
    return ClioJSON(body, status_code=401, headers=headers or {})
