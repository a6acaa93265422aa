"""The Clio Manage v4 client, on the shared provider client.

Bearer token from credentials (refreshed once on a 401), `X-API-VERSION` pinned, `fields` always
named, cursor paging with limit=200 following `meta.paging.next`, and a proactive budget per access
token seeded from the documented 50/min (corrected from `X-RateLimit-*` by the shared client).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from practice_sync_clio_gateway.clio.credentials import ClioToken, CredentialsClient, NeedsReauth
from practice_sync_clio_gateway.settings import Settings
from practice_sync_common.provider_http import BackoffPolicy, JsonPathNext, ProviderClient, RateBudget
from practice_sync_common.provider_http.budget import BudgetRegistry

NEXT = JsonPathNext("meta", "paging", "next")


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


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
        body: dict[str, Any] = await self.http.get_json(self.url(path), {"fields": fields, **params})
        return body

    async def pages(
        self, path: str, fields: str, resume_url: str | None = None, **params: Any
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(url fetched, body) per page; `resume_url` continues a checkpointed walk."""
        if resume_url:
            async for page in self.http.pages(resume_url, NEXT):
                yield page
            return
        query = {"fields": fields, "limit": self._settings.clio_page_limit, **params}
        async for page in self.http.pages(self.url(path), NEXT, query):
            yield page

    async def create(self, path: str, data: dict[str, Any], fields: str) -> dict[str, Any]:
        r = await self.http.request("POST", self.url(path), params={"fields": fields}, json={"data": data})
        body: dict[str, Any] = r.json()["data"]
        return body

    async def patch(self, path: str, data: dict[str, Any], fields: str) -> dict[str, Any]:
        r = await self.http.request("PATCH", self.url(path), params={"fields": fields}, json={"data": data})
        body: dict[str, Any] = r.json()["data"]
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
