"""Request accounting the benchmarks read: per account and endpoint, 429s, the peak rate seen."""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any


class RequestLedger:
    """Records every request the sandbox serves.

    `peak_in_window` is the largest number of requests one account made inside any sliding window of
    `window_s` seconds: the figure a client's rate budget is judged by.
    """

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.by_account: Counter[str] = Counter()
            self.by_endpoint: Counter[tuple[str, str]] = Counter()
            self.by_status: Counter[tuple[str, int]] = Counter()
            self.throttled: Counter[str] = Counter()
            self._recent: dict[str, deque[float]] = {}
            self.peak_in_window: dict[str, int] = {}
            self.first_at: dict[str, float] = {}
            self.last_at: dict[str, float] = {}

    def record(self, account: str, endpoint: str, status: int, now: float) -> None:
        with self._lock:
            self.by_account[account] += 1
            self.by_endpoint[(account, endpoint)] += 1
            self.by_status[(account, status)] += 1
            if status == 429:
                self.throttled[account] += 1
            self.first_at.setdefault(account, now)
            self.last_at[account] = now
            recent = self._recent.setdefault(account, deque())
            recent.append(now)
            while recent and recent[0] <= now - self.window_s:
                recent.popleft()
            self.peak_in_window[account] = max(self.peak_in_window.get(account, 0), len(recent))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            accounts: dict[str, Any] = {}
            for account, total in self.by_account.items():
                accounts[account] = {
                    "requests": total,
                    "throttled_429": self.throttled.get(account, 0),
                    "peak_in_window": self.peak_in_window.get(account, 0),
                    "first_at": self.first_at.get(account),
                    "last_at": self.last_at.get(account),
                    "by_endpoint": {e: n for (a, e), n in self.by_endpoint.items() if a == account},
                    "by_status": {str(s): n for (a, s), n in self.by_status.items() if a == account},
                }
            return {"window_s": self.window_s, "accounts": accounts}
