"""OAuth state: the registered app, authorization codes, grants (refresh tokens) and access tokens."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from practice_sync_sandbox._kit.clock import SandboxClock
from practice_sync_sandbox.clio.config import ClioSandboxConfig

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def is_loopback_url(url: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return host in LOOPBACK_HOSTS or host.startswith("127.")


@dataclass
class AuthCode:
    code: str
    user_id: int
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    expires_at: float


@dataclass
class Grant:
    refresh_token: str
    user_id: int
    client_id: str
    scopes: frozenset[str]
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    user_id: int
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    grant: Grant | None = None
    revoked: bool = False


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass
class OAuthState:
    config: ClioSandboxConfig
    clock: SandboxClock
    token_ttl_s: int = 0
    decline: bool = False
    codes: dict[str, AuthCode] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, AccessToken] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.token_ttl_s = self.token_ttl_s or self.config.token_ttl_s
        self.decline = self.config.decline_authorizations

    def redirect_allowed(self, uri: str) -> bool:
        if uri in self.config.redirect_uris:
            return True
        return self.config.allow_loopback_redirects and is_loopback_url(uri) and uri.startswith("http")

    def check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != self.config.client_id or (
            client_secret is not None and not secrets.compare_digest(client_secret, self.config.client_secret)
        ):
            raise OAuthError("invalid_client", "Client authentication failed", 401)

    def issue_code(self, user_id: int, client_id: str, redirect_uri: str, scopes: frozenset[str]) -> str:
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = AuthCode(
                code,
                user_id,
                client_id,
                redirect_uri,
                scopes,
                self.clock.time() + self.config.auth_code_ttl_s,
            )
        return code

    def exchange_code(self, code: str, client_id: str, redirect_uri: str | None) -> tuple[AccessToken, Grant]:
        with self._lock:
            entry = self.codes.pop(code, None)  # single use: gone even if the rest fails
        if entry is None or entry.expires_at <= self.clock.time():
            raise OAuthError("invalid_grant", "The authorization code is invalid, expired or already used")
        if entry.client_id != client_id:
            raise OAuthError("invalid_grant", "The authorization code was issued to another client")
        if redirect_uri is not None and redirect_uri != entry.redirect_uri:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization request")
        grant = Grant(secrets.token_urlsafe(32), entry.user_id, client_id, entry.scopes)
        with self._lock:
            self.grants[grant.refresh_token] = grant
        return self.mint_access(grant), grant

    def refresh(self, refresh_token: str, client_id: str) -> tuple[AccessToken, Grant]:
        grant = self.grants.get(refresh_token)
        if grant is None or grant.revoked or grant.client_id != client_id:
            raise OAuthError("invalid_grant", "The refresh token is invalid or revoked")
        return self.mint_access(grant), grant

    def mint_access(self, grant: Grant, ttl_s: int | None = None) -> AccessToken:
        token = AccessToken(
            secrets.token_urlsafe(32),
            grant.user_id,
            grant.client_id,
            grant.scopes,
            self.clock.time() + (ttl_s if ttl_s is not None else self.token_ttl_s),
            grant,
        )
        with self._lock:
            self.tokens[token.token] = token
        return token

    def mint_grant(
        self, user_id: int, scopes: frozenset[str], ttl_s: int | None = None
    ) -> tuple[AccessToken, Grant]:
        grant = Grant(secrets.token_urlsafe(32), user_id, self.config.client_id, scopes)
        with self._lock:
            self.grants[grant.refresh_token] = grant
        return self.mint_access(grant, ttl_s), grant

    def valid_token(self, raw: str | None) -> AccessToken | None:
        token = self.tokens.get(raw or "")
        if token is None or token.revoked or (token.grant is not None and token.grant.revoked):
            return None
        if token.expires_at <= self.clock.time():
            return None
        return token

    def revoke(self, token: AccessToken) -> None:
        # Deauthorizing disconnects the app: every token of the grant stops working, refresh included.
        with self._lock:
            token.revoked = True
            if token.grant is not None:
                token.grant.revoked = True
                for other in self.tokens.values():
                    if other.grant is token.grant:
                        other.revoked = True
