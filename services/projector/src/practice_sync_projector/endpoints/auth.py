"""Who may read an org's read models: the admin token, or that org's read token.

A read token is `pso_` + base64url(HMAC-SHA256(secret, org id)): stateless, valid for exactly one
org, minted by the admin through `POST /orgs/{org}/read-token`. The secret is the setting
PROJECTOR_READ_TOKEN_SECRET, or (empty) one derived from the admin token; changing it revokes
every read token at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from practice_sync_common.auth import is_admin_token
from practice_sync_common.org_ids import OrgPath
from practice_sync_projector.settings import Settings

_bearer = HTTPBearer(auto_error=False)
PREFIX = "pso_"


def _secret(settings: Settings) -> bytes | None:
    """The key of the read tokens; None when neither it nor the admin token is configured (a key
    derived from nothing would let anyone mint a token for any org)."""
    configured = settings.projector_read_token_secret.get_secret_value()
    if configured:
        return configured.encode()
    admin = settings.admin_token.get_secret_value().encode()
    if not admin:
        return None
    return hmac.new(admin, b"practice-sync projector read tokens", hashlib.sha256).digest()


def read_token(settings: Settings, org: str) -> str | None:
    """The org's read token, or None while read tokens cannot be made (no secret configured)."""
    secret = _secret(settings)
    if secret is None:
        return None
    mac = hmac.new(secret, org.encode(), hashlib.sha256).digest()
    return PREFIX + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def require_org_reader(
    request: Request,
    org: OrgPath,
    creds: HTTPAuthorizationCredentials | None = Depends(_bearer),
) -> str:
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <admin or org read token>'")
    settings: Settings = request.app.state.settings
    if is_admin_token(settings, creds.credentials):
        return org
    expected = read_token(settings, org)
    if expected is not None and hmac.compare_digest(creds.credentials.encode(), expected.encode()):
        return org
    if creds.credentials.startswith(PREFIX):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this read token is not valid for org '{org}'")
    raise _unauthorized("invalid token")
