"""Clio OAuth: authorize (start), code exchange (callback), refresh, revoke, and a health check."""

from __future__ import annotations

import hashlib
import secrets as token_gen
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from practice_sync_common.db import unit_of_work
from practice_sync_common.logging import get_logger
from practice_sync_credentials.domain.clio_tokens import (
    ClioRegion,
    ClioTokenError,
    ClioTokenSet,
    UnknownClioRegion,
    merge_refresh,
    needs_refresh,
    oauth_base_url,
    parse_region,
)
from practice_sync_credentials.domain.providers import Kind, Provider, Status
from practice_sync_credentials.domain.redaction import mask
from practice_sync_credentials.repository import audit as audit_repo
from practice_sync_credentials.repository import credentials as cred_repo
from practice_sync_credentials.repository import oauth_states
from practice_sync_credentials.repository import orgs as org_repo
from practice_sync_credentials.repository.credentials import CredentialRow
from practice_sync_credentials.service.audit import record_alone
from practice_sync_credentials.service.context import Services
from practice_sync_credentials.service.errors import (
    Invalid,
    NeedsReauth,
    NotConfigured,
    NotFound,
    ProviderUnavailable,
    ServiceError,
    StoredCredentialInvalid,
)
from practice_sync_credentials.service.vault import SecretRef

log = get_logger(__name__)
PROVIDER = Provider.CLIO.value
KIND = Kind.OAUTH_TOKENS.value


class OAuthRejected(ServiceError):
    """Clio answered the token endpoint with an OAuth error (invalid_grant, invalid_client, ...)."""

    status = 400
    type = "oauth_rejected"

    def __init__(self, error: str, description: str) -> None:
        super().__init__(
            f"Clio refused the token request: {error}" + (f" ({description})" if description else "")
        )
        self.error = error


@dataclass(frozen=True, slots=True)
class StartedFlow:
    authorize_url: str
    expires_at: datetime
    region: str


def base_url(services: Services, region: str) -> str:
    override = services.settings.clio_base_url
    return override.rstrip("/") if override else oauth_base_url(region)


def credential_meta(
    services: Services, region: str | ClioRegion, api_url: str | None = None
) -> dict[str, str]:
    """The meta of a Clio credential for ``region``: what the OAuth callback and the legacy import store.

    ``oauth_base_url`` is the region's host (or the ``CLIO_BASE_URL`` override); ``api_url`` is its
    ``/api/v4`` unless an explicit one is given (already validated by the caller).
    """
    chosen = parse_region(region)
    base = base_url(services, chosen)
    return {"region": chosen.value, "oauth_base_url": base, "api_url": api_url or f"{base}/api/v4"}


def stored_meta(services: Services, row: CredentialRow) -> dict[str, str]:
    """The row's region, OAuth base and API base, each missing one derived from its region.

    Rows the legacy import wrote before it stored ``api_url`` and ``oauth_base_url`` carry only
    ``{"region": "US", "imported": true}``; their tokens are refreshed at the region's host already, so
    the API base is that host's too (exactly what ``credential_meta`` would have stored for them).
    """
    raw = row.meta.get("region") or "US"
    try:
        derived = credential_meta(services, str(raw))
    except UnknownClioRegion:
        raise StoredCredentialInvalid(
            f"the stored Clio credential of org {row.org_id!r} names an unknown region {str(raw)[:20]!r}; "
            "reconnect Clio (GET /oauth/clio/start)"
        ) from None
    return {name: str(row.meta.get(name) or value) for name, value in derived.items()}


async def settle_org(session: AsyncSession, actor: str, org_id: str, region: str, how: str) -> None:
    """The org exists and is in ``region``, as a Clio credential of that region is stored for it (audited)."""
    before = await org_repo.get(session, org_id)
    await org_repo.upsert(session, org_id, None, region)
    if before is None:
        await audit_repo.record(
            session,
            actor=actor,
            action="org.create",
            outcome="ok",
            org_id=org_id,
            detail=f"by {how} (region {region})",
        )
    elif before.clio_region != region:
        await audit_repo.record(
            session,
            actor=actor,
            action="org.update",
            outcome="ok",
            org_id=org_id,
            detail=f"clio_region {before.clio_region or 'unset'} -> {region} ({how})",
        )


def ref(org_id: str) -> SecretRef:
    return SecretRef(org_id, PROVIDER, KIND)


def _require_client(services: Services) -> tuple[str, str]:
    client_id = services.settings.clio_client_id
    client_secret = services.settings.clio_client_secret.get_secret_value()
    if not client_id or not client_secret:
        raise NotConfigured("Clio OAuth is not configured: set CLIO_CLIENT_ID and CLIO_CLIENT_SECRET")
    return client_id, client_secret


def _hash_state(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


async def start(services: Services, actor: str, org_id: str, region: str | None) -> StartedFlow:
    """Record a pending flow (single use, expiring) and build Clio's authorize URL.

    Nothing else is written: the org, its region and the tokens come with a successful callback, so an
    abandoned, declined or failed flow leaves no org behind (only the state, and the audit entry).
    """
    # The input first: an unknown region is a 422 whatever the configuration.
    asked = parse_region(region) if region else None
    client_id, _ = _require_client(services)
    now = services.now()
    state = token_gen.token_urlsafe(32)
    redirect_uri = services.settings.clio_redirect_uri
    async with unit_of_work(services.sessions) as session:
        chosen = asked or await _default_region(services, session, org_id, now)
        expires_at = now + timedelta(seconds=services.settings.oauth_state_ttl_s)
        await oauth_states.add(
            session,
            state_hash=_hash_state(state),
            org_id=org_id,
            provider=PROVIDER,
            region=chosen.value,
            redirect_uri=redirect_uri,
            expires_at=expires_at,
        )
        await audit_repo.record(
            session,
            actor=actor,
            action="oauth.start",
            outcome="ok",
            org_id=org_id,
            provider=PROVIDER,
            detail=f"region {chosen.value}",
        )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            # Clio's own sample sends this so a declined consent still comes back to us.
            "redirect_on_decline": "true",
        }
    )
    return StartedFlow(f"{base_url(services, chosen)}/oauth/authorize?{query}", expires_at, chosen.value)


async def _default_region(
    services: Services, session: AsyncSession, org_id: str, now: datetime
) -> ClioRegion:
    """No region asked for: the org's newest pending flow's (a retry of it), else the org's, else the default.

    The org's region only changes when a flow completes, so a pending flow's region stands in for it
    until then, as when start wrote it onto the org; once that flow expires, the org's own applies again.
    """
    pending = await oauth_states.latest_region(session, org_id, PROVIDER, now)
    if pending is not None:
        return parse_region(pending)
    org = await org_repo.get(session, org_id)
    return parse_region((org.clio_region if org else None) or services.settings.clio_default_region)


async def callback(
    services: Services, code: str | None, state: str | None, error: str | None
) -> CredentialRow:
    if not state:
        raise Invalid("the callback has no 'state'; start the flow again with GET /oauth/clio/start")
    async with unit_of_work(services.sessions) as session:
        pending = await oauth_states.consume(session, _hash_state(state), services.now())
    if pending is None:
        await record_alone(
            services,
            actor="oauth-callback",
            action="oauth.callback",
            outcome="denied",
            provider=PROVIDER,
            detail="unknown or expired state",
        )
        raise Invalid("unknown, used or expired OAuth state; start the flow again with GET /oauth/clio/start")
    org_id = pending.org_id
    if error or not code:
        reason = error or "no code"
        await record_alone(
            services,
            actor="oauth-callback",
            action="oauth.callback",
            outcome="declined",
            org_id=org_id,
            provider=PROVIDER,
            detail=reason[:100],
        )
        raise Invalid(f"Clio did not authorize the app ({reason[:100]}); nothing was stored")
    client_id, client_secret = _require_client(services)
    base = base_url(services, pending.region)
    try:
        response = await token_request(
            services,
            base,
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": pending.redirect_uri,
            },
        )
        tokens = ClioTokenSet.from_response(response, services.now())
    except (ServiceError, ClioTokenError) as exc:
        message = (
            exc.message if isinstance(exc, ServiceError) else f"unusable token response from Clio: {exc}"
        )
        await record_alone(
            services,
            actor="oauth-callback",
            action="oauth.callback",
            outcome="error",
            org_id=org_id,
            provider=PROVIDER,
            detail=message,
        )
        if isinstance(exc, ServiceError):
            raise
        raise ProviderUnavailable(message) from None
    meta = credential_meta(services, pending.region)
    async with unit_of_work(services.sessions) as session:
        # Only now, with tokens in hand, does the org exist (or move to the region they belong to).
        await settle_org(session, "oauth-callback", org_id, meta["region"], "a completed Clio OAuth flow")
        row = await cred_repo.upsert(
            session,
            org_id=org_id,
            provider=PROVIDER,
            kind=KIND,
            name="",
            ciphertext=services.vault.seal(ref(org_id), tokens.to_secret_fields()),
            key_id=services.vault.current_kid,
            status=Status.VALID.value,
            status_message="connected through OAuth",
            hint=mask(tokens.access_token),
            meta=meta,
            expires_at=tokens.expires_at,
            validated=True,
            refreshed=True,
        )
        await audit_repo.record(
            session,
            actor="oauth-callback",
            action="oauth.callback",
            outcome="ok",
            org_id=org_id,
            provider=PROVIDER,
            kind=KIND,
            detail=f"tokens stored (region {pending.region})",
        )
    return row


async def token_request(services: Services, base: str, form: dict[str, str]) -> dict[str, Any]:
    url = f"{base}/oauth/token"
    try:
        r = await services.http.post(
            url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=services.settings.provider_timeout_s,
        )
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"cannot reach Clio at {base}: {type(exc).__name__}") from None
    try:
        body = r.json()
    except ValueError:
        body = None
    if r.status_code == 200 and isinstance(body, dict):
        return body
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        description = body.get("error_description")
        raise OAuthRejected(body["error"], description[:200] if isinstance(description, str) else "")
    raise ProviderUnavailable(f"Clio's token endpoint at {base} answered {r.status_code}")


@dataclass(frozen=True, slots=True)
class Current:
    row: CredentialRow
    tokens: ClioTokenSet
    # The row's region, oauth_base_url and api_url, never empty (see `stored_meta`).
    meta: dict[str, str]


async def current(services: Services, org_id: str, *, refresh_within: timedelta | None = None) -> Current:
    """The stored tokens, refreshed first when they expire within ``refresh_within``."""
    async with unit_of_work(services.sessions) as session:
        row = await cred_repo.get(session, org_id, PROVIDER, KIND)
    if row is None:
        raise NotFound(f"org {org_id!r} has no Clio connection; run the OAuth flow (GET /oauth/clio/start)")
    if row.status == Status.NEEDS_REAUTH:
        raise NeedsReauth(f"org {org_id!r} must reconnect Clio: {row.status_message}")
    tokens = ClioTokenSet.from_secret_fields(services.vault.open(ref(org_id), row.ciphertext))
    if refresh_within is not None and needs_refresh(tokens, services.now(), refresh_within):
        return await refresh(services, "system", org_id, force=False)
    return Current(row, tokens, stored_meta(services, row))


async def refresh(services: Services, actor: str, org_id: str, *, force: bool = True) -> Current:
    """Trade the refresh token for a new access token; one refresh per org at a time (row lock).

    ``force=False`` returns tokens that another caller refreshed moments ago instead of refreshing again.
    """
    client_id, client_secret = _require_client(services)
    failure: ServiceError | None = None
    result: Current | None = None
    async with unit_of_work(services.sessions) as session:
        row = await cred_repo.get(session, org_id, PROVIDER, KIND, for_update=True)
        if row is None:
            raise NotFound(
                f"org {org_id!r} has no Clio connection; run the OAuth flow (GET /oauth/clio/start)"
            )
        if row.status == Status.NEEDS_REAUTH:
            raise NeedsReauth(f"org {org_id!r} must reconnect Clio: {row.status_message}")
        tokens = ClioTokenSet.from_secret_fields(services.vault.open(ref(org_id), row.ciphertext))
        now = services.now()
        recent = row.refreshed_at is not None and (now - row.refreshed_at).total_seconds() < (
            services.settings.clio_refresh_min_interval_s
        )
        meta = stored_meta(services, row)
        if recent and not force:
            return Current(row, tokens, meta)
        base = meta["oauth_base_url"]
        try:
            response = await token_request(
                services,
                base,
                {
                    "client_id": client_id,
                    "client_secret": client_secret,
                    "grant_type": "refresh_token",
                    "refresh_token": tokens.refresh_token,
                },
            )
            new = merge_refresh(tokens, response, now)
        except OAuthRejected as exc:
            if exc.error == "invalid_grant":
                message = (
                    "Clio rejected the refresh token (invalid_grant): the app was disconnected or the grant "
                    f"revoked; reconnect with `practice-sync credentials set --org {org_id} --provider clio`"
                )
                await cred_repo.set_status(session, row.id, Status.NEEDS_REAUTH.value, message)
                failure = NeedsReauth(message)
            else:
                await cred_repo.set_status(session, row.id, Status.ERROR.value, exc.message)
                failure = exc
            await audit_repo.record(
                session,
                actor=actor,
                action="credential.refresh",
                outcome=exc.error,
                org_id=org_id,
                provider=PROVIDER,
                kind=KIND,
                detail=failure.message,
            )
        except (ProviderUnavailable, ClioTokenError) as exc:
            message = exc.message if isinstance(exc, ServiceError) else f"unusable refresh response: {exc}"
            failure = ProviderUnavailable(message)
            await audit_repo.record(
                session,
                actor=actor,
                action="credential.refresh",
                outcome="error",
                org_id=org_id,
                provider=PROVIDER,
                kind=KIND,
                detail=message,
            )
        else:
            await cred_repo.update_secret(
                session,
                row.id,
                ciphertext=services.vault.seal(ref(org_id), new.to_secret_fields()),
                key_id=services.vault.current_kid,
                hint=mask(new.access_token),
                meta=row.meta,
                expires_at=new.expires_at,
                status=Status.VALID.value,
                status_message="refreshed",
                refreshed=True,
            )
            await audit_repo.record(
                session,
                actor=actor,
                action="credential.refresh",
                outcome="ok",
                org_id=org_id,
                provider=PROVIDER,
                kind=KIND,
            )
            fresh = await cred_repo.get(session, org_id, PROVIDER, KIND)
            assert fresh is not None
            result = Current(fresh, new, stored_meta(services, fresh))
    # Raised after the commit, so the health status and audit entry stay recorded.
    if failure is not None:
        raise failure
    assert result is not None
    return result


async def revoke(services: Services, row: CredentialRow, tokens: ClioTokenSet) -> tuple[bool, str]:
    """Best effort: `POST /oauth/deauthorize` with the access token. Never blocks a delete."""
    try:
        base = stored_meta(services, row)["oauth_base_url"]
    except StoredCredentialInvalid as exc:
        return False, f"not revoked at Clio: {exc.message}"
    try:
        r = await services.http.post(
            f"{base}/oauth/deauthorize",
            headers={"Authorization": f"Bearer {tokens.access_token}", "Accept": "application/json"},
            timeout=services.settings.provider_timeout_s,
        )
    except httpx.HTTPError as exc:
        return False, f"could not reach Clio to revoke: {type(exc).__name__}"
    if r.status_code < 300:
        return True, "revoked at Clio"
    if r.status_code == 401:
        return True, "the token was already invalid at Clio"
    return False, f"Clio answered {r.status_code} to the revoke"


async def check(services: Services, actor: str, org_id: str) -> tuple[Status, str]:
    """Health check: `GET {api_url}/users/who_am_i` with the access token, refreshing once on a 401."""
    try:
        cur = await current(services, org_id, refresh_within=timedelta(minutes=5))
    except NeedsReauth as exc:
        return Status.NEEDS_REAUTH, exc.message
    except StoredCredentialInvalid as exc:
        return Status.ERROR, exc.message
    for attempt in range(2):
        api_url = cur.meta["api_url"]
        try:
            r = await services.http.get(
                f"{api_url}/users/who_am_i",
                params={"fields": "id,name"},
                headers={"Authorization": f"Bearer {cur.tokens.access_token}", "Accept": "application/json"},
                timeout=services.settings.provider_timeout_s,
            )
        except httpx.HTTPError as exc:
            return Status.UNREACHABLE, f"cannot reach Clio at {api_url}: {type(exc).__name__}"
        if r.status_code == 200:
            return Status.VALID, "Clio accepted the access token"
        if r.status_code == 401 and attempt == 0:
            try:
                cur = await refresh(services, actor, org_id, force=True)
            except NeedsReauth as exc:
                return Status.NEEDS_REAUTH, exc.message
            except ServiceError as exc:
                return Status.UNREACHABLE, exc.message
            continue
        if r.status_code == 403:
            return (
                Status.FORBIDDEN,
                "Clio refused the request (403): check the app's scopes and the user's role",
            )
        if r.status_code >= 500:
            return Status.UNREACHABLE, f"Clio answered {r.status_code}; try again later"
        return Status.ERROR, f"Clio answered {r.status_code} to who_am_i"
    return Status.INVALID_KEY, "Clio rejected a freshly refreshed access token"
