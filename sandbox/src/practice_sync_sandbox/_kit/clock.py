"""A movable clock, so tests can age data and tokens without sleeping."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send


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


class ClockDateHeader:
    """ASGI middleware: every response's `Date` is the sandbox clock's, as a provider's is its own.

    A client may read the provider's time from `Date` (cliniko-sync caps a full run's high-water
    marks with it), so a moved or frozen sandbox clock must show there. Uvicorn's own `Date` (real
    time) is switched off by the runner (`date_header=False`).
    """

    def __init__(self, app: ASGIApp, clock: SandboxClock) -> None:
        self.app = app
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_date(message: Message) -> None:
            if message["type"] == "http.response.start":
                stamp = format_datetime(self.clock.now(), usegmt=True).encode()
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                message = {**message, "headers": [*headers, (b"date", stamp)]}
            await send(message)

        await self.app(scope, receive, send_with_date)
