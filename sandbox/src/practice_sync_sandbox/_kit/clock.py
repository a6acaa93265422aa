"""A movable clock, so tests can age data and tokens without sleeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class SandboxClock:
    """Wall time plus an offset the control API can move forward or pin.

    `frozen_at` pins the clock (deterministic responses for a seed); otherwise it runs with real time,
    which the rate limiter and token expiry need.
    """

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen: float | None = frozen_at.timestamp() if frozen_at else None

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def time(self) -> float:
        with self._lock:
            base = self._frozen if self._frozen is not None else time.time()
            return base + self._offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._offset += seconds
        return self.now()

    def set(self, when: datetime) -> datetime:
        with self._lock:
            base = self._frozen if self._frozen is not None else time.time()
            self._offset = when.timestamp() - base
        return self.now()

    def freeze(self, frozen: bool) -> None:
        with self._lock:
            current = (self._frozen if self._frozen is not None else time.time()) + self._offset
            self._offset = 0.0
            self._frozen = current if frozen else None
            if not frozen:
                self._offset = current - time.time()


def iso_z(ts: datetime | None) -> str | None:
    """UTC ISO-8601 with a trailing Z and whole seconds, as both providers print it."""
    if ts is None:
        return None
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
