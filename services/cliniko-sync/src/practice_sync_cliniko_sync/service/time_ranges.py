"""A full run's list of individual appointments cut into `starts_at` ranges, one chain each.

Cliniko's lists are chains of `links.next`: one page's link is known only once the page before it
has come, so one chain runs at one page per round trip, whatever the budget allows. Ranges of
`starts_at` are independent lists (a filter pair per range, spec §3), so several can be read at once.
Equal spans of time, not equal counts: finding count-equal cuts would cost count requests, and
more ranges than chains even out a clinic whose bookings are not spread evenly.
"""

from __future__ import annotations

from datetime import datetime

from practice_sync_cliniko_sync.service.cliniko_api import cliniko_time

# Ranges per chain read at once: a chain that ends early takes the next range waiting.
RANGES_PER_CHAIN = 4

Range = list[str | None]  # [from (>=), before (<)]: None is the part's own bound


def cut(lo: datetime, hi: datetime, pages: int, *, chains: int, min_pages: int) -> list[Range]:
    """[lo, hi) cut into up to `chains * RANGES_PER_CHAIN` ranges of `min_pages` pages or more
    (a multiple of `chains` when there are more ranges than chains).

    The first range is open below and the last open above, so a record outside [lo, hi) when the
    bounds were read (booked meanwhile) is still in one of them. A single range is the whole part.
    """
    n = max(1, min(pages // max(min_pages, 1), chains * RANGES_PER_CHAIN))
    if n > chains:
        # A whole number of ranges a chain: one range more would be read alone at the end.
        n -= n % chains
    if n == 1 or chains <= 1 or hi <= lo:
        return [[None, None]]
    cuts = sorted({cliniko_time(lo + (hi - lo) * k / n) for k in range(1, n)})
    bounds: list[str | None] = [None, *cuts, None]
    return [[bounds[k], bounds[k + 1]] for k in range(len(bounds) - 1)]


def filters(bounds: Range) -> list[str]:
    """The `q[]` filters of one range."""
    start, before = bounds
    out = []
    if start is not None:
        out.append(f"starts_at:>={start}")
    if before is not None:
        out.append(f"starts_at:<{before}")
    return out
