"""Bearer-token auth: the admin token for operators, one token per calling service internally."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def _token(creds: HTTPAuthorizationCredentials | None) -> str:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    return creds.credentials


def require_admin(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
    expected: str = request.app.state.settings.admin_token.get_secret_value()
    if not hmac.compare_digest(_token(creds).encode(), expected.encode()):
        raise _unauthorized("invalid admin token")
    return "admin"


def require_service(*allowed: str) -> Callable[..., str]:
    """A dependency that admits only the named services (by their own token), or the admin."""

    def dependency(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:
        token = _token(creds)
        settings = request.app.state.settings
        if hmac.compare_digest(token.encode(), settings.admin_token.get_secret_value().encode()):
            return "admin"
        for known, name in settings.service_token_map().items():
            if hmac.compare_digest(token.encode(), known.encode()):
                if allowed and name not in allowed:
                    raise HTTPException(status.HTTP_403_FORBIDDEN, f"service '{name}' may not call this")
                return str(name)
        raise _unauthorized("invalid service token")

    return dependency
