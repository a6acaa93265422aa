"""A proactive request budget per credential: pace below the provider's limit instead of meeting 429s.

The providers count requests in fixed 60-second windows. A token bucket with a small burst, refilled
at `safety` x limit / window, can never put more than `safety x limit + burst` requests in any window,
so it stays under a fixed-window limit while using most of it. Response headers correct the seeded
limit (the provider may change it) and an exhausted `Remaining` pauses until `Reset`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class RateBudget:
    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        *,
        safety: float = 0.95,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError("a rate budget needs a limit of at least 1 request per window")
        self.window_s = window_s
        self.safety = safety
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._set_limit(limit, burst)
        self._tokens = float(self.burst)
        self._last = clock()
        self._paused_until_wall = 0.0

    def _set_limit(self, limit: int, burst: int | None = None) -> None:
        self.limit = limit
        headroom = max(1, int(limit * (1 - self.safety)))
        self.burst = max(1, min(burst if burst is not None else max(1, limit // 50), headroom))
        self.rate = self.safety * limit / self.window_s  # tokens per second

    async def acquire(self) -> float:
        """Wait for a request slot; returns the seconds spent waiting."""
        waited = 0.0
        async with self._lock:
            while True:
                pause = self._paused_until_wall - self._wall()
                if pause > 0:
                    await self._sleep(pause)
                    waited += pause
                    continue
                now = self._clock()
                self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
                self._last = now
                # The epsilon stops float rounding from asking for sleeps too small to move the clock.
                if self._tokens >= 1.0 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return waited
                delay = (1.0 - self._tokens) / self.rate
                await self._sleep(delay)
                waited += delay

    def observe(self, limit: int | None, remaining: int | None, reset_epoch: float | None) -> None:
        """Correct the budget from the provider's own headers."""
        if limit is not None and limit > 0 and limit != self.limit:
            self._set_limit(limit)
            self._tokens = min(self._tokens, float(self.burst))
        if remaining is not None and remaining <= 0 and reset_epoch is not None:
            self.pause_until(reset_epoch)

    def pause_until(self, wall_epoch: float) -> None:
        self._paused_until_wall = max(self._paused_until_wall, wall_epoch)
        self._tokens = 0.0


class BudgetRegistry:
    """One budget per credential fingerprint, so every sync of a tenant shares the same allowance."""

    def __init__(self, factory: Callable[[], RateBudget]) -> None:
        self._factory = factory
        self._budgets: dict[str, RateBudget] = {}

    def for_credential(self, fingerprint: str) -> RateBudget:
        budget = self._budgets.get(fingerprint)
        if budget is None:
            budget = self._budgets[fingerprint] = self._factory()
        return budget
