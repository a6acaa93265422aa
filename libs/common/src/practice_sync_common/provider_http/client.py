"""One provider HTTP client: budgeted, retrying, paginating. Connectors configure it, never fork it."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pydantic_core

from practice_sync_common.logging import get_logger, secrets
from practice_sync_common.provider_http.budget import RateBudget
from practice_sync_common.provider_http.errors import (
    MalformedResponse,
    ProviderAuthError,
    ProviderRequestError,
    ProviderUnavailable,
)
from practice_sync_common.provider_http.paginate import Paginator
from practice_sync_common.provider_http.retry import BackoffPolicy, int_header, wait_from_headers

log = get_logger(__name__)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@dataclass
class ClientStats:
    requests: int = 0
    throttled: int = 0
    server_errors: int = 0
    transport_errors: int = 0
    malformed: int = 0
    budget_wait_s: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)


# Called on a 401 once per request; returns fresh headers (e.g. a refreshed bearer token) or None.
Reauth = Callable[[], Awaitable[Mapping[str, str] | None]]


class ProviderClient:
    def __init__(
        self,
        *,
        budget: RateBudget,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        policy: BackoffPolicy | None = None,
        timeout: float = 30.0,
        on_unauthorized: Reauth | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.budget = budget
        self.policy = policy or BackoffPolicy()
        self.stats = ClientStats()
        # The provider's clock, from the `Date` of its latest answer (None until one carries it).
        self.provider_time: datetime | None = None
        self._on_unauthorized = on_unauthorized
        self._rng = rng or random.Random()
        self._http = httpx.AsyncClient(
            headers=dict(headers or {}),
            auth=auth,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ProviderClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def request(
        self, method: str, url: str, *, expect_json: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """The provider's answer (2xx/3xx) after budget, retries and re-auth; with `expect_json`, a
        2xx body that is not JSON is retried like a transport failure, then `MalformedResponse`."""
        response, _ = await self._exchange(method, url, expect_json, kwargs)
        return response

    async def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        # The body as parsed once, while checking it is JSON: a crawl's pages are large, and
        # decoding each twice was a third of the sync's CPU (py-spy, session 10).
        _, body = await self._exchange("GET", url, True, {"params": params})
        return body

    async def _exchange(
        self, method: str, url: str, expect_json: bool, kwargs: dict[str, Any]
    ) -> tuple[httpx.Response, Any]:
        method = method.upper()
        failures = throttles = 0
        reauthed = False
        while True:
            self.stats.budget_wait_s += await self.budget.acquire()
            self.stats.requests += 1
            try:
                response = await self._http.request(method, url, **kwargs)
                body = None
                if expect_json and response.status_code < 300 and response.status_code != 204:
                    await response.aread()
                    try:
                        body = pydantic_core.from_json(response.content)
                    except ValueError as exc:  # what json.loads refuses, it refuses (and bad UTF-8)
                        self.stats.malformed += 1
                        raise MalformedResponse(
                            f"{method} {_path(url)} answered {response.status_code} "
                            "with a body that is not JSON"
                        ) from exc
            except (httpx.TimeoutException, httpx.TransportError, MalformedResponse) as exc:
                if not isinstance(exc, MalformedResponse):
                    self.stats.transport_errors += 1
                failures += 1
                if method not in IDEMPOTENT or failures >= self.policy.max_attempts:
                    if isinstance(exc, MalformedResponse):
                        raise
                    raise ProviderUnavailable(f"{method} {_path(url)} failed: {type(exc).__name__}") from exc
                await asyncio.sleep(self.policy.delay(failures, self._rng))
                continue
            status = response.status_code
            self.provider_time = _date_header(response) or self.provider_time
            self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
            self.budget.observe(
                int_header(response, "X-RateLimit-Limit"),
                int_header(response, "X-RateLimit-Remaining"),
                _float_header(response, "X-RateLimit-Reset"),
            )
            if status == 429:
                self.stats.throttled += 1
                throttles += 1
                if throttles > self.policy.max_throttled:
                    raise ProviderUnavailable(
                        f"{method} {_path(url)} still throttled after {throttles} tries", 429
                    )
                wait = wait_from_headers(response)
                if wait is None:
                    wait = self.policy.delay(throttles, self._rng)
                wait += self._rng.uniform(0, self.policy.jitter_s)
                log.info("provider throttled us; waiting", wait_s=round(wait, 2), path=_path(url))
                self.budget.pause_until(time.time() + wait)
                continue
            if status == 401 and self._on_unauthorized is not None and not reauthed:
                reauthed = True
                fresh = await self._on_unauthorized()
                if fresh:
                    for name, value in fresh.items():
                        secrets.add(value)
                        self._http.headers[name] = value
                    continue
            if status >= 500:
                self.stats.server_errors += 1
                failures += 1
                if method not in IDEMPOTENT or failures >= self.policy.max_attempts:
                    raise ProviderUnavailable(
                        f"{method} {_path(url)} answered {status} {failures} times", status
                    )
                await asyncio.sleep(self.policy.delay(failures, self._rng))
                continue
            if status in (401, 403):
                raise ProviderAuthError(
                    f"{method} {_path(url)} was refused ({status}): {_brief(response)}", status
                )
            if status >= 400:
                raise ProviderRequestError(
                    f"{method} {_path(url)} answered {status}: {_brief(response)}", status
                )
            return response, body

    async def pages(
        self,
        url: str,
        paginator: Paginator,
        params: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[tuple[str, Any]]:
        """Yields (the url fetched, its body) for each page, following the provider's next link.

        The url lets a caller checkpoint after each page and resume from the next link later.
        """
        next_url: str | None = url
        next_params = params
        while next_url:
            body = await self.get_json(next_url, next_params)
            yield next_url, body
            next_url = paginator.next_url(body)
            next_params = None  # the next link carries the query


def _float_header(response: httpx.Response, name: str) -> float | None:
    raw = response.headers.get(name)
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _date_header(response: httpx.Response) -> datetime | None:
    raw = response.headers.get("Date")
    try:
        when = parsedate_to_datetime(raw) if raw else None
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _path(url: str) -> str:
    # Never log query strings: they can carry nonces or tokens.
    return httpx.URL(url).path


def _brief(response: httpx.Response) -> str:
    text = response.text[:300] if response.content else ""
    return secrets.scrub(text.replace("\n", " "))
