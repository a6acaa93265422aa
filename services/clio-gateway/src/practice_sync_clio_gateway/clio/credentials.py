"""The credentials service's internal API, as the gateway uses it (its own service token)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import httpx

from practice_sync_common.logging import secrets
from practice_sync_common.provider_http import ProviderAuthError
from practice_sync_common.sync_runs.org_check import ORG_PAGE, OrgListUnreadable, connected_orgs, how_to_store


class CredentialsUnavailable(Exception):
    pass


class NeedsReauth(Exception):
    """The org's Clio grant is gone (revoked, or never connected): a person must reconnect it."""


def must_reconnect(org: str, exc: NeedsReauth | ProviderAuthError, then: str) -> str:
    """What a person reads when Clio will not take the org's grant: why, and the command that fixes
    it (the same advice the sync intake gives when it refuses such an org), then `then`.

    A 403 is a grant Clio knows but that may not do this (a scope the app was not granted, or the
    Clio user's role): reconnecting as a user who may is the fix there. Everything else here (a
    401 the one refresh did not cure, credentials' own `needs_reauth`) is a revoked or expired
    grant. Whose words the refusal was follows, for whoever debugs it: Clio's, or the credentials
    service's when it already knew; they never carry a token (the shared client scrubs registered
    secrets from them).
    """
    if isinstance(exc, ProviderAuthError) and exc.status == 403:
        why = (
            "Clio refused its grant access (the grant lacks a scope, or the Clio user's role does "
            "not permit it); reconnect it as a Clio user who may: "
        )
    else:
        why = "its Clio OAuth grant was revoked or has expired; "
    said = "credentials said" if isinstance(exc, NeedsReauth) else "Clio said"
    return f"org {org} must reconnect Clio: {why}{how_to_store('clio', org)}, then {then} ({said}: {exc})"


@dataclass(frozen=True)
class ClioToken:
    org_id: str
    access_token: str = field(repr=False)  # a printed token (a log line, a traceback) must not show it
    api_url: str
    expires_at: datetime | None

    @property
    def host(self) -> str:
        """The regional host: `subject_url`s from Clio are paths under it (`/api/v4/...`)."""
        return self.api_url.removesuffix("/").removesuffix("/api/v4")


class CredentialsClient:
    def __init__(self, base_url: str, service_token: str, timeout_s: float = 10.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {service_token}"},
            timeout=timeout_s,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise CredentialsUnavailable(f"credentials unreachable: {type(exc).__name__}") from exc

    def _token(self, org: str, r: httpx.Response) -> ClioToken:
        if r.status_code in (404, 409):
            raise NeedsReauth(f"org {org} has no usable Clio connection ({r.status_code})")
        if not r.is_success:
            raise CredentialsUnavailable(f"credentials answered {r.status_code} for org {org}")
        body = r.json()
        if body.get("status") == "needs_reauth" or not body.get("access_token"):
            raise NeedsReauth(f"org {org} must reconnect Clio")
        secrets.add(body["access_token"])
        expires = body.get("expires_at")
        return ClioToken(
            org_id=org,
            access_token=body["access_token"],
            api_url=body["api_url"],
            expires_at=datetime.fromisoformat(expires) if expires else None,
        )

    async def clio_token(self, org: str) -> ClioToken:
        return self._token(org, await self._call("GET", f"/internal/credentials/{org}/clio"))

    async def refresh_clio_token(self, org: str) -> ClioToken:
        return self._token(org, await self._call("POST", f"/internal/credentials/{org}/clio/refresh"))

    async def clio_orgs(self, page_size: int = ORG_PAGE) -> list[str]:
        """Every connected Clio org (all pages of credentials' list; none must reconnect), or
        CredentialsUnavailable: never a partial list, which would leave the later orgs unsynced."""
        try:
            return await connected_orgs(self._http, "clio", page_size)
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            raise CredentialsUnavailable(f"credentials answered {status} listing Clio orgs") from exc
        except httpx.HTTPError as exc:
            raise CredentialsUnavailable(f"credentials unreachable: {type(exc).__name__}") from exc
        except OrgListUnreadable as exc:
            raise CredentialsUnavailable(str(exc)) from exc

    async def put_webhook_secret(self, org: str, webhook_id: str, secret: str) -> None:
        r = await self._call(
            "PUT", f"/internal/credentials/{org}/clio/webhook-secrets/{webhook_id}", json={"secret": secret}
        )
        if not r.is_success:
            raise CredentialsUnavailable(f"storing the webhook secret failed ({r.status_code})")

    async def delete_webhook_secret(self, org: str, webhook_id: str) -> None:
        r = await self._call("DELETE", f"/internal/credentials/{org}/clio/webhook-secrets/{webhook_id}")
        if not r.is_success and r.status_code != 404:
            raise CredentialsUnavailable(f"deleting the webhook secret failed ({r.status_code})")
