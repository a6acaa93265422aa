"""Which orgs a connector syncs: one org, checked before anything is queued, and every org, for `"*"`.

A request for an org the connector cannot serve used to be accepted (202) and fail in the worker a
moment later. Whether it can is known at once, by the credentials service: an org is syncable by a
connector when it holds the org's primary credential for that provider (Cliniko API key, Clio OAuth
grant) and will hand it out. `GET /internal/orgs/{org}?provider=` answers that for one org (its
status, or 404), and `GET /internal/orgs?provider=` pages through the same rows for the `"*"`
fan-out (`connected_orgs`), so a single-org request is accepted for the same orgs a fan-out would
sync. Reading that metadata rather than the secret: the check never receives a plaintext, writes no
`credential.read` audit entry, and never triggers a Clio token refresh.
"""

from __future__ import annotations

from typing import Protocol

import httpx

from practice_sync_common.events import Provider
from practice_sync_common.logging import get_logger
from practice_sync_common.org_ids import InvalidOrgId, canonical_org_id
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
# The credentials service's 404s that answer for the org; any other 404 (a route an older credentials
# service lacks) says nothing about it, so it is not taken for "no credentials".
NO_SUCH_ROW = frozenset({"unknown_org", "no_credentials"})
# The fan-out's page of `GET /internal/orgs` (the service's default): a few requests for thousands of orgs.
ORG_PAGE = 1000


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
        try:
            org = canonical_org_id(org_id)
        except InvalidOrgId:
            org = None  # the org-id rule refuses it, so it names no org credentials holds
        async with httpx.AsyncClient(base_url=self._url, headers=self._headers, timeout=self._timeout_s) as c:
            status = await self._status(c, provider, org)
            if status == REFUSED_STATUS:
                raise OrgRefused(
                    409,
                    f"org {org_id} must reconnect {NAMES[provider]} (its {CREDENTIAL[provider]} was "
                    f"revoked or has expired); {how_to_store(provider, org_id)}, then request the "
                    "sync again",
                )
            if status is not None:
                return
            # Only a refusal asks a second time: which words fit depends on the other provider's row.
            other = OTHER[provider]
            if await self._status(c, other, org) is not None:
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

    async def _status(self, c: httpx.AsyncClient, provider: Provider, org: str | None) -> str | None:
        """The status of `org`'s `provider` credential, None when it has none; 503 when that cannot be
        known. One org's row is read, never the list of every org."""
        if org is None:
            return None
        unavailable = "credentials service unavailable ({why}); nothing was queued, try again"
        try:
            r = await c.get(f"/internal/orgs/{org}", params={"provider": provider})
        except httpx.HTTPError as exc:
            # Its type names the failure (ConnectError, ReadTimeout), as in the other credentials callers.
            log.warning("org check: credentials unreachable", error=type(exc).__name__)
            raise OrgRefused(503, unavailable.format(why=type(exc).__name__)) from exc
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code == 404 and _error_type(body) in NO_SUCH_ROW:
            return None
        status = body.get("status") if r.is_success and isinstance(body, dict) else None
        if not isinstance(status, str):
            why = f"it answered {r.status_code}" if not r.is_success else "its answer was unreadable"
            log.warning("org check: no org status from credentials", status=r.status_code)
            raise OrgRefused(503, unavailable.format(why=why))
        return status


def _error_type(body: object) -> object:
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("type") if isinstance(error, dict) else None


class OrgListUnreadable(Exception):
    """A page of the credentials service's org list that is not one (a caller reports it as that
    service being unavailable, as for any other answer it cannot use)."""


async def connected_orgs(http: httpx.AsyncClient, provider: Provider, page_size: int = ORG_PAGE) -> list[str]:
    """Every org a `"*"` fan-out for `provider` syncs: all pages of `GET /internal/orgs`, minus the
    orgs that must reconnect (the same orgs a single-org request is accepted for).

    `http` carries the credentials URL and the caller's service token. Raises `httpx.HTTPError`
    when a page cannot be fetched or is refused (`HTTPStatusError`), `OrgListUnreadable` for an
    answer that is no page; never a partial list.
    """
    orgs: list[str] = []
    after: str | None = None
    while True:
        params: dict[str, str | int] = {"provider": provider, "limit": page_size}
        if after is not None:
            params["after"] = after
        r = await http.get("/internal/orgs", params=params)
        r.raise_for_status()
        try:
            body = r.json()
            page = body["orgs"]
            orgs.extend(str(o["org_id"]) for o in page if o.get("status") != REFUSED_STATUS)
            # A credentials service from before paging sends no cursor: its one answer was every org.
            cursor = body.get("next_after")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise OrgListUnreadable(f"credentials' {provider} org list was unreadable ({exc!r})") from exc
        if cursor is None:
            return orgs
        if not isinstance(cursor, str) or not page or cursor == after:
            # Asking again with it would repeat the same page forever.
            raise OrgListUnreadable(f"credentials' {provider} org list gave a cursor that does not advance")
        after = cursor
