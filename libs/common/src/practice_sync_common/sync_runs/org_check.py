"""Whether a connector can sync an org, decided before anything is queued.

A request for an org the connector cannot serve used to be accepted (202) and fail in the worker a
moment later. Whether it can is known at once, by the credentials service: an org is syncable by a
connector when it holds the org's primary credential for that provider (Cliniko API key, Clio OAuth
grant) and will hand it out. `GET /internal/orgs?provider=` lists exactly those rows with their
status — the rows the worker's own secret read finds, and the list the `"*"` fan-out walks, so a
single-org request is accepted for the same orgs a fan-out would sync (the check asks for its one
org's row, `&org_id=`, not the whole list). Listing rather than reading
the secret: the check never receives a plaintext, writes no `credential.read` audit entry, and never
triggers a Clio token refresh.
"""

from __future__ import annotations

import uuid
from typing import Protocol

import httpx

from practice_sync_common.events import Provider
from practice_sync_common.logging import get_logger
from practice_sync_common.settings import CommonSettings

log = get_logger(__name__)

NAMES: dict[Provider, str] = {"cliniko": "Cliniko", "clio": "Clio"}
OTHER: dict[Provider, Provider] = {"cliniko": "clio", "clio": "cliniko"}
OWNERS: dict[Provider, str] = {"cliniko": "cliniko-sync", "clio": "clio-gateway"}
CREDENTIAL: dict[Provider, str] = {"cliniko": "Cliniko API key", "clio": "Clio OAuth grant"}
# The one status under which the credentials service refuses to hand the credential out (409): only
# a person reconnecting fixes it. Other statuses (a key Cliniko refused last time, an unreachable
# Cliniko) are stale guesses the worker re-tests for itself, so they do not block a request.
REFUSED_STATUS = "needs_reauth"


class OrgRefused(Exception):
    """The request cannot be served now: `status` is the HTTP answer, `message` says why and what to do.

    Messages name orgs and providers only, never a secret (they reach API callers and logs).
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class OrgCheck(Protocol):
    async def __call__(self, provider: Provider, org_id: str) -> None:
        """Return when `provider`'s connector can sync `org_id` now; raise `OrgRefused` otherwise."""
        ...


def how_to_store(provider: Provider, org_id: str) -> str:
    """What to do about it: the CLI command that gives the org `provider` credentials."""
    command = f"`practice-sync credentials set --org {org_id} --provider {provider}`"
    return f"connect it with {command} (OAuth)" if provider == "clio" else f"store its API key with {command}"


def canonical(org_id: str) -> str:
    """The credentials service's spelling of an org id: a UUID in any case is stored lowercase."""
    try:
        return str(uuid.UUID(org_id))
    except ValueError:
        return org_id


class CredentialsOrgCheck:
    """The `OrgCheck` every connector uses: asks the credentials service with the service's own token.

    One short-lived HTTP client per check: the admin route is rare, and a client kept open would be
    bound to the event loop that first used it.
    """

    def __init__(self, credentials_url: str, service_token: str, timeout_s: float = 10.0) -> None:
        self._url = credentials_url
        self._headers = {"Authorization": f"Bearer {service_token}"}
        self._timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> CredentialsOrgCheck:
        return cls(settings.credentials_url, settings.service_token.get_secret_value())

    async def __call__(self, provider: Provider, org_id: str) -> None:
        org = canonical(org_id)
        async with httpx.AsyncClient(base_url=self._url, headers=self._headers, timeout=self._timeout_s) as c:
            status = (await self._orgs(c, provider, org)).get(org)
            if status == REFUSED_STATUS:
                raise OrgRefused(
                    409,
                    f"org {org_id} must reconnect {NAMES[provider]} (its {CREDENTIAL[provider]} was "
                    f"revoked or has expired); {how_to_store(provider, org_id)}, then request the "
                    "sync again",
                )
            if status is not None:
                return
            other = OTHER[provider]
            if org in await self._orgs(c, other, org):
                raise OrgRefused(
                    409,
                    f"org {org_id} has {NAMES[other]} credentials, not {NAMES[provider]} ones: "
                    f"{OWNERS[provider]} syncs {NAMES[provider]} orgs only; request its sync with "
                    f"`--provider {other}` ({OWNERS[other]}), or {how_to_store(provider, org_id)}",
                )
        raise OrgRefused(
            404,
            f"org {org_id} has no {NAMES[provider]} credentials (the credentials service does not know "
            f"the org, or holds no {CREDENTIAL[provider]} for it); {how_to_store(provider, org_id)}, "
            "then request the sync again",
        )

    async def _orgs(self, c: httpx.AsyncClient, provider: Provider, org: str) -> dict[str, str]:
        """{org id: status} of `org` if it has `provider` credentials (else {}); 503 when that cannot
        be known. The list is filtered to the one org: a check must not read every org's row."""
        unavailable = "credentials service unavailable ({why}); nothing was queued, try again"
        try:
            r = await c.get("/internal/orgs", params={"provider": provider, "org_id": org})
        except httpx.HTTPError as exc:
            # Its type names the failure (ConnectError, ReadTimeout), as in the other credentials callers.
            log.warning("org check: credentials unreachable", error=type(exc).__name__)
            raise OrgRefused(503, unavailable.format(why=type(exc).__name__)) from exc
        if r.status_code == 422:
            return {}  # an id the service's org-id rule refuses names no org it holds
        try:
            orgs = r.json()["orgs"] if r.is_success else None
            found = {str(o["org_id"]): str(o["status"]) for o in orgs} if isinstance(orgs, list) else None
        except (ValueError, KeyError, TypeError):
            found = None
        if found is None:
            why = f"it answered {r.status_code}" if not r.is_success else "its org list was unreadable"
            log.warning("org check: no org list from credentials", status=r.status_code)
            raise OrgRefused(503, unavailable.format(why=why))
        return found
