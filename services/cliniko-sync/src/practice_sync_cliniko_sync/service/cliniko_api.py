"""The Cliniko client: the shared provider client configured as Cliniko wants to be called."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from practice_sync_cliniko_sync.settings import Settings
from practice_sync_common.logging import secrets
from practice_sync_common.provider_http import (
    BackoffPolicy,
    JsonPathNext,
    ProviderClient,
    RateBudget,
    read_ahead,
)
from practice_sync_common.provider_http.budget import BudgetRegistry

NEXT = JsonPathNext("links", "next")


class Budgets:
    """One proactive budget per API key for the whole process, so concurrent runs share it."""

    def __init__(self, settings: Settings) -> None:
        self._registry = BudgetRegistry(lambda: RateBudget(settings.cliniko_rate_limit_per_min, 60.0))

    def for_key(self, api_key: str) -> RateBudget:
        return self._registry.for_credential(hashlib.sha256(api_key.encode()).hexdigest())


def make_client(settings: Settings, budgets: Budgets, api_key: str) -> ProviderClient:
    secrets.add(api_key)
    return ProviderClient(
        budget=budgets.for_key(api_key),
        headers={"Accept": "application/json", "User-Agent": settings.cliniko_user_agent},
        # Cliniko: the key is the username, the password is empty.
        auth=httpx.BasicAuth(api_key, ""),
        policy=BackoffPolicy(
            max_attempts=settings.provider_max_attempts, base_s=settings.provider_backoff_base_s
        ),
    )


def cliniko_time(value: datetime) -> str:
    """A filter value in Cliniko's UTC form, whole seconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def list_url(api_url: str, resource: str, filters: list[str], per_page: int, sort: str | None = None) -> str:
    params: list[tuple[str, str]] = [("q[]", f) for f in filters]
    params.append(("per_page", str(per_page)))
    if sort:
        params.append(("sort", sort))
    return f"{api_url.rstrip('/')}/{resource}?{urlencode(params)}"


# Class ids per `/attendees?q[]=appointment_id:=…` request. Cliniko ids are 19-digit strings: 50 of
# them with their URL-encoded commas (`%2C`) are ~1,100 characters, and with the host, the `*`
# filters and `per_page` the URL stays under 2,000, the length every proxy and server passes
# (100 ids would be ~2,300). Fewer ids per URL would cost more requests: each batch ends on a part page.
CLASS_BATCH = 50
# Attendees are fetched with these so cancelled and archived places are seen (spec §9.3, §9.5).
ATTENDEE_STARS = ("cancelled_at:*", "archived_at:*")


def class_batches(class_ids: Iterable[str], size: int = CLASS_BATCH) -> list[list[str]]:
    """The classes in id order (numeric: ids are 64-bit integers as text), `size` per batch.

    A full run's checkpoint names a batch by its index, so the order must be the same on resume;
    the benchmark's floor uses this too.
    """
    ordered = sorted(set(class_ids), key=int)
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


def class_attendees_url(api_url: str, class_ids: list[str], per_page: int) -> str:
    return list_url(
        api_url, "attendees", ["appointment_id:=" + ",".join(class_ids), *ATTENDEE_STARS], per_page
    )


Page = tuple[dict[str, Any], str | None]


async def pages_from(client: ProviderClient, url: str, ahead: int = 2) -> AsyncGenerator[Page, None]:
    """Each page's body and the next link (None on the last page), read `ahead` pages ahead."""
    async for _, body in read_ahead(client.pages(url, NEXT), ahead):
        yield body, NEXT.next_url(body)
