"""Reading a paged source a little ahead of the caller: the next page's fetch overlaps this page's work.

A crawl is otherwise fetch latency + write latency per page, and cannot use a high allowance. The
source is still read one page at a time (cursor paging needs page n's link to ask for page n+1) and
its rate budget paces every fetch as before. A kill loses at most the pages read ahead, which a
resumed run reads again from its checkpoint: connectors count them in their `reread_pages`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable
from typing import TypeVar

T = TypeVar("T")


async def read_ahead(source: AsyncIterable[T], ahead: int = 1) -> AsyncGenerator[T, None]:
    """`source`'s items in order, with at most `ahead` fetched beyond the one the caller holds.

    `ahead` <= 0 reads nothing ahead. An error of the source reaches the caller when it gets to that
    point; closing the generator (use `contextlib.aclosing`) stops the reading.
    """
    if ahead <= 0:
        async for item in source:
            yield item
        return
    permits = asyncio.Semaphore(ahead)  # one per item fetched but not yet taken by the caller
    fetched: asyncio.Queue[tuple[T] | Exception | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            items = aiter(source)
            while True:
                await permits.acquire()
                try:
                    item = await anext(items)
                except StopAsyncIteration:
                    fetched.put_nowait(None)
                    return
                fetched.put_nowait((item,))
        except Exception as exc:
            fetched.put_nowait(exc)

    task = asyncio.create_task(pump())
    try:
        while (got := await fetched.get()) is not None:
            if isinstance(got, Exception):
                raise got
            permits.release()  # the caller holds this one now: the next may be fetched
            yield got[0]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
