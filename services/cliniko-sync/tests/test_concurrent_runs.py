"""Several sync requests for one org at once: they run one after another, the waiting ones show as
queued, and they do not hold up another org's run."""

from __future__ import annotations

import asyncio
import itertools
import uuid

from practice_sync_cli.testing_stack import Stack
from practice_sync_cliniko_sync.testing import (
    add_account,
    get_run,
    register_org,
    request_sync,
    sandbox,
    wait_run,
)

BURST = 5  # more than the service's MAX_CONCURRENT_RUNS (4)


async def test_a_burst_for_one_org_queues_behind_it_and_leaves_other_orgs_a_slot(
    stack: Stack, cliniko_sync_service: str
) -> None:
    n = uuid.uuid4().hex[:8]
    big_key, big = f"b{n}burst-au1", f"burst-{n}"
    small_key, small = f"s{n}small-au1", f"small-{n}"
    # Sized so the burst stays inside the sandbox's 200 requests a minute per key: ~30 a full run.
    add_account(stack, big_key, patients=40, appointments=200)
    add_account(stack, small_key, patients=5, appointments=10)  # a handful of requests
    register_org(stack, big, big_key)
    register_org(stack, small, small_key)
    with sandbox(stack) as c:  # every request slower, so a run of the big org takes a while
        c.post("/faults", json={"latency_ms": 40}).raise_for_status()
    try:
        await _burst(stack, big, small)
    finally:
        with sandbox(stack) as c:
            c.delete("/faults").raise_for_status()


async def _burst(stack: Stack, big: str, small: str) -> None:
    burst = [await request_sync(stack, big, "full") for _ in range(BURST)]
    other = await request_sync(stack, small, "full")

    # While one run of the org works, the others wait as what they are: queued.
    for _ in range(200):
        runs = [await get_run(stack, r) for r in burst]
        if any(r.status == "running" and r.progress.pages > 0 for r in runs):
            break
        await asyncio.sleep(0.05)
    statuses = sorted(r.status for r in runs)
    assert statuses == ["queued"] * (BURST - 1) + ["running"], statuses

    # The other org's run is not stuck behind the burst: it gets a slot while the first run still
    # works (waiting runs used to hold every slot, so it started only when the first one ended).
    # Start, not finish: which of two short runs ends first is up to the scheduler on a busy machine.
    small_run = await wait_run(stack, other, wait_s=60)
    assert small_run.status == "succeeded", small_run.error
    first = next(r for r in [await get_run(stack, r) for r in burst] if r.started_at is not None)
    assert small_run.started_at is not None
    assert first.finished_at is None or small_run.started_at < first.finished_at

    done = [await wait_run(stack, r, wait_s=180) for r in burst]
    assert [r.status for r in done] == ["succeeded"] * BURST, [r.error for r in done]
    # One after another: no two runs of the org overlapped.
    spans = sorted((r.started_at, r.finished_at) for r in done)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end is not None and start is not None and start >= end
