"""The service's notion of now: the system clock, or a pinned instant (demos and edge tests)."""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    def __init__(self) -> None:
        self._pinned: datetime | None = None

    def now(self) -> datetime:
        return self._pinned or datetime.now(UTC).replace(microsecond=0)

    def pin(self, at: datetime | None) -> None:
        self._pinned = at.astimezone(UTC) if at else None
