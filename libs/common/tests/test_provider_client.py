"""The shared provider client against a small provider over real HTTP (fixed-window limit, faults)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from practice_sync_common.provider_http import (
    BackoffPolicy,
    JsonPathNext,
    MalformedResponse,
    ProviderAuthError,
    ProviderClient,
    ProviderUnavailable,
    RateBudget,
)
from practice_sync_sandbox._kit.ratelimit import FixedWindowLimiter
from practice_sync_sandbox._kit.runner import ServerThread

FAST = BackoffPolicy(max_attempts=4, base_s=0.01, max_s=0.05, jitter_s=0.01)


@dataclass
class Script:
    limiter: FixedWindowLimiter = field(default_factory=lambda: FixedWindowLimiter(1000, 60))
    fail_next: list[int] = field(default_factory=list)  # statuses to answer before succeeding
    malformed_next: int = 0
    token: str = "good"
    hits: int = 0
    throttled: int = 0
    info_headers: bool = True  # Clio sends Limit/Remaining on every answer; Cliniko does not


def make_app(script: Script) -> FastAPI:
    app = FastAPI()

    @app.get("/items")
    async def items(request: Request, page: int = 1) -> Response:
        script.hits += 1
        decision = script.limiter.hit("k", time.time())
        headers = {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": str(decision.reset_at),
        }
        if not decision.allowed:
            script.throttled += 1
            return JSONResponse(
                {"error": "slow down"}, 429, headers={"X-RateLimit-Reset": str(decision.reset_at)}
            )
        if not script.info_headers:
            headers = {}
        if request.headers.get("Authorization") != f"Bearer {script.token}":
            return JSONResponse({"error": "invalid_token"}, 401)
        if script.fail_next:
            return JSONResponse({"error": "boom"}, script.fail_next.pop(0))
        if script.malformed_next:
            script.malformed_next -= 1
            return Response(b'{"items": [1, 2', media_type="application/json")
        base = str(request.base_url).rstrip("/")
        body: dict[str, object] = {"items": [page * 10 + i for i in range(3)], "links": {}}
        if page < 3:
            body["links"] = {"next": f"{base}/items?page={page + 1}"}
        return JSONResponse(body, headers=headers)

    @app.get("/dated")
    async def dated(date: str = "") -> Response:
        return JSONResponse({}, headers={"Date": date} if date else {})

    return app


@pytest.fixture
def provider() -> Iterator[tuple[str, Script]]:
    script = Script()
    with ServerThread(make_app(script)) as server:
        yield server.url, script


def client(token: str = "good", limit: int = 1000, window: float = 60.0, **kw: object) -> ProviderClient:
    return ProviderClient(
        budget=RateBudget(limit, window), headers={"Authorization": f"Bearer {token}"}, policy=FAST, **kw
    )  # type: ignore[arg-type]


async def test_pages_follow_the_next_link_to_the_end(provider: tuple[str, Script]) -> None:
    url, _ = provider
    async with client() as c:
        pages = [body["items"] async for _, body in c.pages(f"{url}/items", JsonPathNext("links", "next"))]
    assert pages == [[10, 11, 12], [20, 21, 22], [30, 31, 32]]
    assert c.stats.requests == 3


async def test_budget_stays_under_a_fixed_window_limit(provider: tuple[str, Script]) -> None:
    url, script = provider
    script.limiter.configure(limit=20, window_s=1.0)
    async with client(limit=20, window=1.0) as c:
        for _ in range(45):
            await c.get_json(f"{url}/items")
    assert script.throttled == 0
    assert c.stats.throttled == 0


async def test_429_waits_for_the_provider_then_succeeds(provider: tuple[str, Script]) -> None:
    url, script = provider
    script.limiter.configure(limit=2, window_s=1.0)
    script.info_headers = False
    # Our budget believes in a far higher limit, so the provider has to push back.
    async with client(limit=1000) as c:
        for _ in range(5):
            await c.get_json(f"{url}/items")
    assert c.stats.throttled >= 1
    assert script.throttled == c.stats.throttled


async def test_5xx_burst_is_retried(provider: tuple[str, Script]) -> None:
    url, script = provider
    script.fail_next = [500, 502, 503]
    async with client() as c:
        body = await c.get_json(f"{url}/items")
    assert body["items"] == [10, 11, 12]
    assert c.stats.server_errors == 3


async def test_persistent_5xx_ends_in_provider_unavailable(provider: tuple[str, Script]) -> None:
    url, script = provider
    script.fail_next = [503] * 10
    async with client() as c:
        with pytest.raises(ProviderUnavailable, match="503"):
            await c.get_json(f"{url}/items")
    assert script.hits == FAST.max_attempts


async def test_malformed_body_is_retried_then_reported(provider: tuple[str, Script]) -> None:
    url, script = provider
    script.malformed_next = 1
    async with client() as c:
        assert (await c.get_json(f"{url}/items"))["items"] == [10, 11, 12]
    script.malformed_next = 10
    async with client() as c:
        with pytest.raises(MalformedResponse, match="not JSON"):
            await c.get_json(f"{url}/items")


async def test_401_reauthenticates_once(provider: tuple[str, Script]) -> None:
    url, script = provider
    script.token = "fresh-token-abcdef"
    calls = 0

    async def refresh() -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"Authorization": "Bearer fresh-token-abcdef"}

    async with client(token="stale", on_unauthorized=refresh) as c:
        assert (await c.get_json(f"{url}/items"))["items"]
    assert calls == 1


async def test_401_without_recovery_is_an_auth_error(provider: tuple[str, Script]) -> None:
    url, _ = provider
    async with client(token="wrong") as c:
        with pytest.raises(ProviderAuthError) as err:
            await c.get_json(f"{url}/items")
    assert err.value.status == 401
    assert "wrong" not in str(err.value)


async def test_unreachable_provider_is_unavailable() -> None:
    async with client() as c:
        with pytest.raises(ProviderUnavailable):
            await c.get_json("http://127.0.0.1:1/items")
        assert isinstance(c.stats.transport_errors, int) and c.stats.transport_errors == FAST.max_attempts


async def test_budget_never_exceeds_a_fixed_window() -> None:
    """Simulated clock: over ten windows the bucket puts at most `limit` requests in each."""
    now = [0.0]

    async def advance(seconds: float) -> None:
        now[0] += seconds

    budget = RateBudget(100, 60.0, clock=lambda: now[0], wall=lambda: now[0], sleep=advance)
    sent: list[float] = []
    while now[0] < 600:
        await budget.acquire()
        sent.append(now[0])
    per_window: dict[int, int] = {}
    for t in sent:
        per_window[int(t // 60)] = per_window.get(int(t // 60), 0) + 1
    assert max(per_window.values()) <= 100
    assert min(per_window[k] for k in range(9)) >= 90  # and it uses most of the allowance


async def test_exhausted_remaining_header_pauses_until_reset() -> None:
    now = [1000.0]

    async def advance(seconds: float) -> None:
        now[0] += seconds

    budget = RateBudget(50, 60.0, clock=lambda: now[0], wall=lambda: now[0], sleep=advance)
    await budget.acquire()
    budget.observe(limit=50, remaining=0, reset_epoch=1030.0)
    await budget.acquire()
    assert now[0] >= 1030.0


async def test_provider_time_is_the_latest_date_header(provider: tuple[str, Script]) -> None:
    # The provider's own clock, for marks that must not depend on ours (cliniko-sync's full runs).
    url, _ = provider
    async with client() as c:
        assert c.provider_time is None
        await c.get_json(f"{url}/dated", params={"date": "Sun, 01 Jun 2025 10:00:00 GMT"})
        assert c.provider_time == datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
        await c.get_json(f"{url}/dated")  # an answer without a Date keeps the last one seen
        await c.get_json(f"{url}/dated", params={"date": "not a date"})
        assert c.provider_time == datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
        await c.get_json(f"{url}/dated", params={"date": "Sun, 01 Jun 2025 10:00:07 GMT"})
        assert c.provider_time == datetime(2025, 6, 1, 10, 0, 7, tzinfo=UTC)
