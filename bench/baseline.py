"""The projector's baseline, as both benchmarks that compare with it take it: the median of a few runs.

One run of `plain_batched_insert` is a poor denominator on a shared 2-CPU machine: over ten runs of
the same code, data and table sizes its rate ranged 31,000-43,000 rows/s, and the database's CPU per
row for the same statements 25-32 µs (session 7), so the ratio moved with whichever moment the one
run fell on. Each run here writes the same rows for a fresh org into the same tables, one after the
other; the median is the figure and every run is reported beside it.
"""

from __future__ import annotations

import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass

RUNS = 3


@dataclass(frozen=True)
class Baseline:
    rates: list[float]  # rows/s of each run, in the order run
    metered: list[float]  # what `meter` grew by over each run's timed part

    @property
    def rows_per_s(self) -> float:
        return statistics.median(self.rates)

    @property
    def median_metered(self) -> float:
        return statistics.median(self.metered)

    def describe(self) -> str:
        return f"median of {len(self.rates)} runs: " + ", ".join(f"{r:,.0f}" for r in self.rates)


async def plain_insert(
    db_url: str,
    n: int,
    *,
    with_contacts: bool = False,
    runs: int = RUNS,
    meter: Callable[[], float] | None = None,
) -> Baseline:
    """`runs` plain batched inserts of `n` snapshot rows (`benchmarking.plain_batched_insert`)."""
    from practice_sync_projector.benchmarking import patient_envelopes, plain_batched_insert

    dsn = db_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    rates, metered = [], []
    for _ in range(runs):
        org = f"baseline-{uuid.uuid4().hex[:8]}"
        timing = await plain_batched_insert(
            dsn, org, patient_envelopes(org, max(1, n)), meter=meter, with_contacts=with_contacts
        )
        rates.append(timing.rows_per_s)
        metered.append(timing.metered)
    return Baseline(rates, metered)
