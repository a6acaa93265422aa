"""Backoff with full jitter, and reading the provider's own "wait until" headers."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx


@dataclass(frozen=True)
class BackoffPolicy:
    max_attempts: int = 6  # for 5xx, timeouts and malformed bodies
    max_throttled: int = 20  # 429s tolerated for one request before giving up
    base_s: float = 0.5
    max_s: float = 30.0
    jitter_s: float = 0.5  # added after a provider-given wait, so replicas don't return in lockstep

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        cap = min(self.max_s, self.base_s * (2 ** max(0, attempt - 1)))
        return (rng or random).uniform(0, cap)


def wait_from_headers(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait as the provider says: Retry-After (seconds or date), else X-RateLimit-Reset."""
    now = time.time() if now is None else now
    retry_after = response.headers.get("Retry-After")
    if retry_after:
        value = retry_after.strip()
        if value.isdigit():
            return float(value)
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - now)
        except (TypeError, ValueError):
            pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - now)
        except ValueError:
            return None
    return None


def int_header(response: httpx.Response, name: str) -> int | None:
    raw = response.headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw))
    except ValueError:
        return None
