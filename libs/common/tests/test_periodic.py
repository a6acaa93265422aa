"""Periodic: background rounds that survive their own failures and stop when told."""

from __future__ import annotations

import asyncio
import itertools

from practice_sync_common.periodic import Periodic


async def test_rounds_repeat_and_a_failing_round_does_not_end_the_loop() -> None:
    rounds = 0

    async def work() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 2:
            raise RuntimeError("database blip")

    periodic = Periodic("test rounds", work, 0.01)
    await periodic.start()
    await asyncio.sleep(0.2)
    await periodic.stop()
    assert rounds >= 5  # the second round failed; the loop went on
    stopped_at = rounds
    await asyncio.sleep(0.05)
    assert rounds == stopped_at


async def test_a_round_may_ask_for_its_own_wait() -> None:
    times: list[float] = []

    async def work() -> float:
        times.append(asyncio.get_running_loop().time())
        return 0.1  # ten times the interval

    periodic = Periodic("test waits", work, 0.01)
    await periodic.start()
    await asyncio.sleep(0.25)
    await periodic.stop()
    assert 2 <= len(times) <= 3
    assert all(b - a >= 0.09 for a, b in itertools.pairwise(times))


async def test_no_interval_no_loop() -> None:
    ran = False

    async def work() -> None:
        nonlocal ran
        ran = True

    periodic = Periodic("test off", work, 0)
    await periodic.start()
    await asyncio.sleep(0.02)
    await periodic.stop()
    assert not ran
