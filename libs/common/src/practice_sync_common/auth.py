"""Bearer-token auth: the admin token for operators, one token per calling service internally."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from practice_sync_common.settings import CommonSettings

_bearer = HTTPBearer(auto_error=False)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def _token(creds: HTTPAuthorizationCredentials | None) -> str:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    return creds.credentials


def is_admin_token(settings: CommonSettings, token: str) -> bool:
    """Whether `token` is the configured admin token; never true while none is configured."""
    expected = settings.admin_token.get_secret_value()
    return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


def require_admin(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
    token = _token(creds)
    settings: CommonSettings = request.app.state.settings
    if not settings.admin_token.get_secret_value():
        raise _unauthorized("the admin API is disabled: PRACTICE_SYNC_ADMIN_TOKEN is not set on this service")
    if not is_admin_token(settings, token):
        raise _unauthorized("invalid admin token")
    return "admin"


def require_service(*allowed: str) -> Callable[..., str]:
    """A dependency that admits only the named services (by their own token), or the admin."""

    def dependency(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
        token = _token(creds)
        settings = request.app.state.settings
        if is_admin_token(settings, token):
            return "admin"
        for known, name in settings.service_token_map().items():
            if hmac.compare_digest(token.encode(), known.encode()):
                if allowed and name not in allowed:
                    raise HTTPException(status.HTTP_403_FORBIDDEN, f"service '{name}' may not call this")
                return str(name)
        raise _unauthorized("invalid service token")

    return dependency
