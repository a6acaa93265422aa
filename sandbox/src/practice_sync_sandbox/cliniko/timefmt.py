"""Cliniko's time formats: UTC `YYYY-MM-DDTHH:MM:SSZ` and `YYYY-MM-DD`, stored as epoch seconds / ordinals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache

from .table import NULL

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def fmt_ts(ts: int) -> str | None:
    # The day's text cached and the time of day looked up: a list page formats several hundred
    # times, and datetime + strftime, then an f-string of three `:02d` fields, were the sandbox's
    # largest cost per page (py-spy, sessions 10 and 12).
    if ts == NULL:
        return None
    day, secs = divmod(ts, 86400)
    return _day_text(day) + _TIME_OF_DAY[secs]


@lru_cache(maxsize=8192)
def _day_text(day: int) -> str:
    return date.fromordinal(day + _EPOCH_ORDINAL).isoformat()


# "THH:MM:SSZ" for every second of a day (86,400 short strings, about 5 MB)
_TIME_OF_DAY = [f"T{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]


def fmt_date(ordinal: int) -> str | None:
    if ordinal == NULL:
        return None
    return date.fromordinal(ordinal).isoformat()


def parse_ts(text: str) -> int:
    """ISO-8601 date-time (a `Z` or an offset; a bare date means its midnight UTC) to epoch seconds."""
    value = text.strip()
    if not value:
        raise ValueError("empty date-time")
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def parse_date(text: str) -> int:
    return date.fromisoformat(text.strip()).toordinal()


def day_of(ts: int) -> int:
    return ts // 86400 + _EPOCH_ORDINAL
