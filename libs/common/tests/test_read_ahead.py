"""read_ahead: a paged source read ahead of its caller, in order, never further than asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing

import pytest

from practice_sync_common.provider_http import read_ahead


class Source:
    """Pages 0..n-1, each fetch taking a little while; records how far it has been read."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.fetched = 0
        self.running = 0  # fetches in progress at once: a cursor source must be read serially

    async def pages(self) -> AsyncIterator[int]:
        for page in range(self.n):
            self.running += 1
            assert self.running == 1
            await asyncio.sleep(0.002)
            self.running -= 1
            if page == self.fail_at:
                raise RuntimeError(f"page {page} failed")
            self.fetched += 1
            yield page


@pytest.mark.parametrize("ahead", [0, 1, 2, 3])
async def test_pages_arrive_in_order_and_never_further_ahead_than_asked(ahead: int) -> None:
    source = Source(12)
    got = []
    async for page in read_ahead(source.pages(), ahead):
        await asyncio.sleep(0.02)  # slow work: the source has all the time it needs to run ahead
        assert source.fetched - (page + 1) <= ahead
        got.append(page)
    assert got == list(range(12))


async def test_the_next_page_is_fetched_while_the_caller_works() -> None:
    source = Source(3)
    async with aclosing(read_ahead(source.pages(), 1)) as pages:
        assert await anext(pages) == 0
        await asyncio.sleep(0.02)
        assert source.fetched == 2  # page 1 arrived during the work on page 0, and no more


async def test_a_failing_page_raises_where_it_falls() -> None:
    source = Source(6, fail_at=3)
    got = []
    with pytest.raises(RuntimeError, match="page 3 failed"):
        async for page in read_ahead(source.pages(), 2):
            got.append(page)
    assert got == [0, 1, 2]


async def test_closing_stops_the_reading() -> None:
    source = Source(100)
    async with aclosing(read_ahead(source.pages(), 2)) as pages:
        await anext(pages)
    fetched = source.fetched
    await asyncio.sleep(0.05)
    assert source.fetched == fetched <= 3
