"""`/oauth/authorize`, `/oauth/token`, `/oauth/deauthorize`: the authorization-code grant, auto-approved."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from practice_sync_sandbox.clio.config import ALL_SCOPES
from practice_sync_sandbox.clio.errors import ClioJSON, invalid_token_response
from practice_sync_sandbox.clio.gate import bearer
from practice_sync_sandbox.clio.oauth import OAuthError
from practice_sync_sandbox.clio.state import ClioSandbox


def _oauth_error(exc: OAuthError) -> ClioJSON:
    return ClioJSON(
        {"error": exc.error, "error_description": exc.description},
        status_code=exc.status,
        headers={"Cache-Control": "no-store"},
    )


def _with_params(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def parse_scopes(raw: str | None, allowed: tuple[str, ...]) -> frozenset[str]:
    if not raw:
        return frozenset(allowed)
    wanted = {s for s in raw.replace(",", " ").split() if s}
    bases = {s.split(":")[0] for s in wanted}
    unknown = bases - set(ALL_SCOPES)
    if unknown:
        raise OAuthError("invalid_scope", f"Unknown scope(s): {', '.join(sorted(unknown))}")
    return frozenset(wanted)


def oauth_router(sb: ClioSandbox) -> APIRouter:
    router = APIRouter(prefix="/oauth")
    oauth = sb.oauth

    @router.get("/authorize")
    async def authorize(request: Request) -> Response:
        q = request.query_params
        client_id, redirect_uri, state = q.get("client_id"), q.get("redirect_uri") or "", q.get("state")
        if client_id != sb.config.client_id:
            return _oauth_error(OAuthError("invalid_client", "Unknown client_id"))
        if not oauth.redirect_allowed(redirect_uri):
            # Never redirect to an unregistered URI: the error is shown to the user instead.
            return _oauth_error(
                OAuthError("invalid_request", f"redirect_uri {redirect_uri!r} is not registered")
            )
        extra = {"state": state} if state is not None else {}
        if q.get("response_type") != "code":
            return RedirectResponse(
                _with_params(redirect_uri, {"error": "unsupported_response_type", **extra}), 302
            )
        hint = q.get("login_hint") or q.get("user_id")
        account = sb.account(hint) if hint else next(iter(sb.accounts.values()), None)
        if account is None:
            return _oauth_error(OAuthError("invalid_request", f"No sandbox user matches {hint!r}"))
        declined = oauth.decline or q.get("sandbox_decline", "").lower() in ("1", "true")
        if declined:
            if q.get("redirect_on_decline", "").lower() == "true":
                return RedirectResponse(_with_params(redirect_uri, {"error": "access_denied", **extra}), 302)
            return ClioJSON({"error": "access_denied", "error_description": "The user declined access"}, 403)
        try:
            scopes = parse_scopes(q.get("scope"), sb.config.app_scopes)
        except OAuthError as exc:
            return RedirectResponse(_with_params(redirect_uri, {"error": exc.error, **extra}), 302)
        code = oauth.issue_code(account.user.id, client_id, redirect_uri, scopes)
        return RedirectResponse(_with_params(redirect_uri, {"code": code, **extra}), 302)

    @router.post("/token")
    async def token(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return _oauth_error(OAuthError("invalid_client", "Malformed Basic credentials", 401))
        try:
            if client_secret is None:
                raise OAuthError("invalid_client", "client_secret is required", 401)
            oauth.check_client(client_id, client_secret)
            assert client_id is not None
            grant_type = form.get("grant_type")
            if grant_type == "authorization_code":
                if not form.get("code"):
                    raise OAuthError("invalid_request", "code is required")
                access, grant = oauth.exchange_code(form["code"], client_id, form.get("redirect_uri"))
                refresh: str | None = grant.refresh_token
            elif grant_type == "refresh_token":
                if not form.get("refresh_token"):
                    raise OAuthError("invalid_request", "refresh_token is required")
                access, grant = oauth.refresh(form["refresh_token"], client_id)
                # Manage refresh tokens are not rotated and the response reportedly omits them.
                refresh = grant.refresh_token if sb.config.refresh_response_includes_refresh_token else None
            else:
                raise OAuthError("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        except OAuthError as exc:
            return _oauth_error(exc)
        body: dict[str, object] = {
            "access_token": access.token,
            "token_type": "bearer",
            "expires_in": round(access.expires_at - sb.clock.time()),
        }
        if refresh is not None:
            body["refresh_token"] = refresh
        return ClioJSON(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    @router.post("/deauthorize")
    async def deauthorize(request: Request) -> Response:
        raw = bearer(request)
        if raw is None:
            form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
            raw = form.get("token") or form.get("access_token")
        token = oauth.valid_token(raw)
        if token is None:
            return invalid_token_response()
        oauth.revoke(token)
        return ClioJSON({})

    return router
