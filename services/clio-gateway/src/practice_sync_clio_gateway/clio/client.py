"""The Clio Manage v4 client, on the shared provider client.

Bearer token from credentials (refreshed once on a 401), `X-API-VERSION` pinned, `fields` always
named, cursor paging with limit=200 following `meta.paging.next`, and a proactive budget per access
token seeded from the documented 50/min (corrected from `X-RateLimit-*` by the shared client).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from practice_sync_clio_gateway.clio.credentials import ClioToken, CredentialsClient, NeedsReauth
from practice_sync_clio_gateway.settings import Settings
from practice_sync_common.provider_http import (
    BackoffPolicy,
    JsonPathNext,
    MalformedResponse,
    ProviderClient,
    RateBudget,
)
from practice_sync_common.provider_http.budget import BudgetRegistry

NEXT = JsonPathNext("meta", "paging", "next")


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


_JSON_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number"}


def _kind(value: Any) -> str:
    """The JSON name of a decoded value's type (a message names what came, not Python's types)."""
    return "null" if value is None else _JSON_KINDS.get(type(value), "a number")


def _wrong_shape(method: str, url: str, body: Any, want: type) -> MalformedResponse:
    """Said like the shared client's "not JSON" malformation, so a run's error reads the same way.

    Valid JSON of the wrong shape got past the shared client's check and then failed deep in the
    sync as `internal error: AttributeError` (a list has no `.get`), or worse: an object without a
    `data` list read as an empty last page, which a full run takes for every contact deleted.
    """
    if not isinstance(body, dict):
        what = _kind(body)
    elif "data" not in body:
        what = "an object without data"
    else:
        what = f"an object whose data is {_kind(body['data'])}"
    expected, noun = ("a list", "page") if want is list else ("an object", "body")
    return MalformedResponse(
        f"{method} {httpx.URL(url).path} answered a malformed {noun}: JSON that is {what}, "
        f"not an object whose data is {expected}"
    )


def _data(method: str, url: str, body: Any, want: type) -> Any:
    """`body` when it is Clio's envelope `{"data": <want>, ...}`; MalformedResponse otherwise."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), want):
        raise _wrong_shape(method, url, body, want)
    return body


class ClioApi:
    """One org's Clio session. Budgets are shared per token across every session of that token."""

    def __init__(
        self,
        token: ClioToken,
        credentials: CredentialsClient,
        budgets: BudgetRegistry,
        settings: Settings,
        policy: BackoffPolicy | None = None,
    ) -> None:
        self.token = token
        self._credentials = credentials
        self._settings = settings
        self.http = ProviderClient(
            budget=budgets.for_credential(fingerprint(token.access_token)),
            headers={
                "Authorization": f"Bearer {token.access_token}",
                "X-API-VERSION": settings.clio_api_version,
                "Accept": "application/json",
            },
            policy=policy,
            timeout=settings.clio_timeout_s,
            on_unauthorized=self._reauth,
        )
        self._budgets = budgets

    async def _reauth(self) -> Mapping[str, str] | None:
        try:
            fresh = await self._credentials.refresh_clio_token(self.token.org_id)
        except NeedsReauth:
            return None
        self.token = fresh
        self.http.budget = self._budgets.for_credential(fingerprint(fresh.access_token))
        return {"Authorization": f"Bearer {fresh.access_token}"}

    async def aclose(self) -> None:
        await self.http.aclose()

    def url(self, path: str) -> str:
        return f"{self.token.api_url.rstrip('/')}/{path.lstrip('/')}"

    async def get(self, path: str, fields: str, **params: Any) -> dict[str, Any]:
        """`{"data": {...}}`: one record."""
        url = self.url(path)
        body = await self.http.get_json(url, {"fields": fields, **params})
        record: dict[str, Any] = _data("GET", url, body, dict)
        return record

    async def pages(
        self, path: str, fields: str, resume_url: str | None = None, **params: Any
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(url fetched, body) per page; `resume_url` continues a checkpointed walk.

        Every body is `{"data": [...], ...}`: anything else is a MalformedResponse.
        """
        if resume_url:
            walk = self.http.pages(resume_url, NEXT)
        else:
            query = {"fields": fields, "limit": self._settings.clio_page_limit, **params}
            walk = self.http.pages(self.url(path), NEXT, query)
        async for url, body in walk:
            yield url, _data("GET", url, body, list)

    async def create(self, path: str, data: dict[str, Any], fields: str) -> dict[str, Any]:
        url = self.url(path)
        r = await self.http.request("POST", url, params={"fields": fields}, json={"data": data})
        body: dict[str, Any] = _data("POST", url, r.json(), dict)["data"]
        return body

    async def patch(self, path: str, data: dict[str, Any], fields: str) -> dict[str, Any]:
        url = self.url(path)
        r = await self.http.request("PATCH", url, params={"fields": fields}, json={"data": data})
        body: dict[str, Any] = _data("PATCH", url, r.json(), dict)["data"]
        return body

    async def delete(self, path: str) -> None:
        await self.http.request("DELETE", self.url(path), expect_json=False)

    async def activate_webhook(self, webhook_id: int, secret: str) -> None:
        await self.http.request(
            "PUT",
            self.url(f"webhooks/{webhook_id}/activate"),
            expect_json=False,
            headers={"X-Hook-Secret": secret},
        )


class ClioSessions:
    """Opens ClioApi sessions per org with the process-wide budget registry."""

    def __init__(self, credentials: CredentialsClient, settings: Settings) -> None:
        self.credentials = credentials
        self.settings = settings
        limit = settings.clio_rate_limit
        self.budgets = BudgetRegistry(lambda: RateBudget(limit, 60.0))

    async def open(self, org: str, policy: BackoffPolicy | None = None) -> ClioApi:
        token = await self.credentials.clio_token(org)
        return ClioApi(token, self.credentials, self.budgets, self.settings, policy)
