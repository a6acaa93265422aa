"""Cliniko's time formats: UTC `YYYY-MM-DDTHH:MM:SSZ` and `YYYY-MM-DD`, stored as epoch seconds / ordinals."""

from __future__ import annotations

from datetime import UTC, date, datetime

from .table import NULL

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def fmt_ts(ts: int) -> str | None:
    if ts == NULL:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
