"""A full run's list cut into `starts_at` ranges: every moment in exactly one range, sized by pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from practice_sync_cliniko_sync.service.cliniko_api import cliniko_time
from practice_sync_cliniko_sync.service.time_ranges import RANGES_PER_CHAIN, cut, filters

LO = datetime(2021, 12, 1, 8, 30, 15, tzinfo=UTC)
HI = datetime(2026, 10, 7, 0, 0, 0, tzinfo=UTC)


def _owner(ranges: list[list[str | None]], moment: datetime) -> list[int]:
    at = cliniko_time(moment)
    return [
        k
        for k, (start, before) in enumerate(ranges)
        if (start is None or at >= start) and (before is None or at < before)
    ]


def test_every_moment_falls_in_exactly_one_range_even_outside_the_bounds_read() -> None:
    ranges = cut(LO, HI, 4750, chains=4, min_pages=50)
    assert len(ranges) == 4 * RANGES_PER_CHAIN
    assert ranges[0][0] is None and ranges[-1][1] is None  # open at both ends
    step = (HI - LO) / 997
    moments = [LO - timedelta(days=400), HI + timedelta(days=30), *(LO + step * k for k in range(998))]
    for moment in moments:
        assert len(_owner(ranges, moment)) == 1, moment


def test_ranges_are_equal_spans_of_whole_seconds() -> None:
    ranges = cut(LO, HI, 4750, chains=4, min_pages=50)
    cuts = [datetime.fromisoformat(str(r[0]).replace("Z", "+00:00")) for r in ranges[1:]]
    spans = [b - a for a, b in zip([LO, *cuts], [*cuts, HI], strict=True)]
    assert max(spans) - min(spans) <= timedelta(seconds=2)
    assert all(c.microsecond == 0 for c in cuts)


def test_a_small_list_or_one_chain_is_not_cut() -> None:
    assert cut(LO, HI, 99, chains=4, min_pages=50) == [[None, None]]  # each cut costs a part page
    assert cut(LO, HI, 4750, chains=1, min_pages=50) == [[None, None]]
    assert cut(HI, LO, 4750, chains=4, min_pages=50) == [[None, None]]
    assert len(cut(LO, HI, 150, chains=4, min_pages=50)) == 3  # fewer ranges than chains


def test_more_ranges_than_chains_come_in_whole_rounds() -> None:
    # 5 ranges for 4 chains would leave the fifth read alone at the end: 4 instead.
    assert len(cut(LO, HI, 285, chains=4, min_pages=50)) == 4
    assert len(cut(LO, HI, 450, chains=4, min_pages=50)) == 8
    assert len(cut(LO, HI, 450, chains=3, min_pages=50)) == 9


def test_a_span_of_a_few_seconds_gives_no_empty_or_repeated_bound() -> None:
    ranges = cut(LO, LO + timedelta(seconds=3), 4750, chains=4, min_pages=50)
    bounds = [r[0] for r in ranges[1:]]
    assert bounds == sorted(set(bounds)) and len(bounds) <= 3


def test_filters_name_only_the_bounds_a_range_has() -> None:
    assert filters([None, None]) == []
    assert filters([None, "2024-01-01T00:00:00Z"]) == ["starts_at:<2024-01-01T00:00:00Z"]
    assert filters(["2024-01-01T00:00:00Z", "2024-03-01T00:00:00Z"]) == [
        "starts_at:>=2024-01-01T00:00:00Z",
        "starts_at:<2024-03-01T00:00:00Z",
    ]
