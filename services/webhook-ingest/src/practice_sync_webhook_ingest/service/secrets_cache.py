"""The orgs' Clio webhook secrets, fetched from credentials and kept for a short time.

A delivery signed with a secret we do not hold yet (a subscription made seconds ago) triggers one
refetch, so a new secret works immediately; refetches per org are spaced so that forged deliveries
cannot turn into a stream of credential reads.

Secrets older than the TTL are refreshed in the background while deliveries go on with the ones held,
for up to `max_stale_s` more: otherwise, at every expiry, each delivery to that org would wait for the
one credentials read (and a short credentials outage would turn into 503s at once). Past that bound a
delivery waits for a fresh read, and gets 503 if credentials cannot answer.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from practice_sync_common.logging import get_logger, secrets

log = get_logger(__name__)


class SecretsUnavailable(Exception):
    """Credentials could not be asked; the delivery must be retried later (503)."""


@dataclass
class _Entry:
    secrets: dict[str, bytes]
    fetched_at: float


class WebhookSecrets:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        ttl_s: float,
        refetch_min_s: float,
        max_stale_s: float = 0.0,
        provider: str = "clio",
    ) -> None:
        self._http = http
        self._ttl_s = ttl_s
        self._refetch_min_s = refetch_min_s
        self._max_stale_s = max_stale_s
        self._provider = provider
        self._cache: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    async def get(self, org: str) -> dict[str, bytes]:
        entry = self._cache.get(org)
        if entry is None:
            return await self._fetch(org, since=None)
        age = time.monotonic() - entry.fetched_at
        if age < self._ttl_s:
            return entry.secrets
        if age < self._ttl_s + self._max_stale_s:
            self._refresh_behind(org, entry.fetched_at)
            return entry.secrets
        return await self._fetch(org, since=entry.fetched_at)

    def _refresh_behind(self, org: str, since: float) -> None:
        """One background read per org at a time; a failure leaves the held secrets to age out."""
        running = self._refreshing.get(org)
        if running is not None and not running.done():
            return

        async def refresh() -> None:
            # Whatever went wrong (credentials away, an answer that is not JSON), no delivery is
            # waiting on this task to hear of it: say so here, and the held secrets age out.
            try:
                await self._fetch(org, since=since)
            except Exception as exc:
                log.warning(
                    "could not refresh the webhook secrets; using the ones held",
                    error=f"{type(exc).__name__}: {exc}",
                )

        self._refreshing[org] = asyncio.create_task(refresh())

    async def close(self) -> None:
        """Wait out the background refreshes (at shutdown, before the HTTP client closes)."""
        running = [t for t in self._refreshing.values() if not t.done()]
        await asyncio.gather(*running, return_exceptions=True)

    async def refetch(self, org: str) -> dict[str, bytes] | None:
        """Fresh secrets after a mismatch, or None when they were fetched too recently to ask again."""
        entry = self._cache.get(org)
        if entry is not None and time.monotonic() - entry.fetched_at < self._refetch_min_s:
            return None
        return await self._fetch(org, since=entry.fetched_at if entry else None)

    async def _fetch(self, org: str, since: float | None) -> dict[str, bytes]:
        lock = self._locks.setdefault(org, asyncio.Lock())
        async with lock:
            entry = self._cache.get(org)
            # Another request fetched while we waited for the lock: use its answer.
            fresh_enough = entry is not None and time.monotonic() - entry.fetched_at < self._ttl_s
            if entry is not None and fresh_enough and (since is None or entry.fetched_at > since):
                return entry.secrets
            try:
                response = await self._http.get(
                    f"/internal/credentials/{org}/{self._provider}/webhook-secrets"
                )
            except httpx.HTTPError as exc:
                raise SecretsUnavailable(f"credentials unreachable: {type(exc).__name__}") from exc
            if response.status_code == 404:
                found: dict[str, str] = {}
            elif response.is_success:
                found = dict(response.json().get("secrets") or {})
            else:
                log.warning("credentials refused the webhook secrets read", status=response.status_code)
                raise SecretsUnavailable(f"credentials answered {response.status_code}")
            secrets.add(*found.values())
            keys = {wid: value.encode() for wid, value in found.items()}
            self._cache[org] = _Entry(keys, time.monotonic())
            return keys
