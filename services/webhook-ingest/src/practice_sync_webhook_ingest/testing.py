"""Test helpers shared by the Clio-side tests: watch a topic from now on, sign a delivery.

The watcher assigns itself every partition and starts at the end, so it joins no consumer group
(a group join costs seconds on the embedded broker) and sees only what happens after it started.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class TopicWatcher:
    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self.seen: list[dict[str, Any]] = []

    async def _poll(self, timeout_s: float) -> None:
        batches = await self._consumer.getmany(timeout_ms=int(timeout_s * 1000))
        for records in batches.values():
            for record in records:
                self.seen.append(json.loads(record.value))

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 15.0, count: int = 1
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while True:
            found = [e for e in self.seen if predicate(e)]
            if len(found) >= count:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"saw {len(found)} of {count} matching events in {timeout_s}s")
            await self._poll(min(0.2, left))

    async def settle(self, seconds: float) -> None:
        """Keep collecting for a while (to assert that something did NOT arrive)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            await self._poll(min(0.2, left))


@asynccontextmanager
async def from_now(bootstrap: str, topic: str) -> AsyncIterator[AIOKafkaConsumer]:
    """A consumer on every partition of `topic`, positioned at its end as of now (no group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = None
        for _ in range(50):
            partitions = consumer.partitions_for_topic(topic)
            if partitions:
                break
            await consumer.topics()
            await asyncio.sleep(0.1)
        assert partitions, f"topic {topic} does not exist"
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_end(*assigned)
        for tp in assigned:
            await consumer.position(tp)
        yield consumer
    finally:
        await consumer.stop()


@asynccontextmanager
async def watch(bootstrap: str, topic: str) -> AsyncIterator[TopicWatcher]:
    async with from_now(bootstrap, topic) as consumer:
        yield TopicWatcher(consumer)
