"""The sandbox's time formats are Cliniko's: `YYYY-MM-DDTHH:MM:SSZ` in UTC, null for no time."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from practice_sync_sandbox.cliniko.table import NULL
from practice_sync_sandbox.cliniko.timefmt import fmt_ts, parse_ts


def test_a_time_is_written_as_utc_seconds_with_a_z_whatever_its_day() -> None:
    edges = [0, 59, 3599, 86399, 86400, -86400, -86401, -1_000_000_000, 951_782_400, 253_402_300_799]
    rng = random.Random(5)
    for ts in edges + [rng.randint(-2_000_000_000, 4_000_000_000) for _ in range(20_000)]:
        if ts == NULL:
            continue
        expected = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert fmt_ts(ts) == expected
        assert parse_ts(expected) == ts


def test_no_time_is_null() -> None:
    assert fmt_ts(NULL) is None
