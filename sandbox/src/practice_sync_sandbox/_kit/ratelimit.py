"""Fixed-window request limiter per account, as both providers document a per-minute allowance."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # epoch seconds when the current window ends
    retry_after: int  # whole seconds until reset, at least 1


class FixedWindowLimiter:
    """Counts requests per key in windows aligned to `window_s`.

    A fixed window is the stricter reading of "N per minute": a client that paces itself to N per
    60 s never sees a 429, while a burst of N+1 inside one window does.
    """

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def configure(self, limit: int | None = None, window_s: float | None = None) -> None:
        with self._lock:
            if limit is not None:
                self.limit = limit
            if window_s is not None:
                self.window_s = window_s
            self._windows.clear()

    def hit(self, key: str, now: float) -> RateDecision:
        with self._lock:
            start = math.floor(now / self.window_s) * self.window_s
            w_start, count = self._windows.get(key, (start, 0))
            if w_start != start:
                w_start, count = start, 0
            reset = w_start + self.window_s
            allowed = count < self.limit
            if allowed:
                count += 1
            self._windows[key] = (w_start, count)
            return RateDecision(
                allowed=allowed,
                limit=self.limit,
                remaining=max(0, self.limit - count),
                reset_at=math.ceil(reset),
                retry_after=max(1, math.ceil(reset - now)),
            )
