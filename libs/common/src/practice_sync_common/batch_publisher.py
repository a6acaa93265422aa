"""Publishing many events of one key (an org) as whole record batches, acks=all.

Events of one key share a partition, so they can be packed into record batches here and handed to
the producer whole: one future per batch instead of one per event. A per-event `send` (a future, a
partition lookup and an accumulator append each), and FastStream's publish path before it, cost more
than the rest of a sync page's work (`bench/clio_sync.py`). The partition is the one aiokafka's
default partitioner gives the key — what `practice_sync_common.broker.publish` gets for it — so an
org's events stay in order on one partition whichever path sent them.

Bulk paths use this (a sync's pages, a snapshot); single events keep to `broker.publish`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from practice_sync_common.metrics import EVENTS_PUBLISHED
from practice_sync_common.settings import CommonSettings

_HEADERS = [("content-type", b"application/json")]
# A 200-contact page of envelopes (~130 KB) fits one batch; well under brokers' 1 MB default.
BATCH_BYTES = 512 * 1024
_PARTITIONER = DefaultPartitioner()


class KeyedBatchPublisher:
    def __init__(self, settings: CommonSettings, name: str) -> None:
        self._settings = settings
        self._name = name
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=self._settings.kafka_enable_idempotence,
            client_id=f"{self._settings.service_name}.{self._name}",
            max_batch_size=BATCH_BYTES,
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(self, topic: str, key: bytes, values: Iterable[bytes]) -> None:
        """Returns once every value is acknowledged (acks=all); raises if any is not."""
        await (await self.send(topic, key, values))

    async def send(self, topic: str, key: bytes, values: Iterable[bytes]) -> asyncio.Future[list[Any]]:
        """Queue the values, in order, on the key's partition; the future completes when all are acked.

        Lets a caller go on (e.g. with its next page) while the acks travel. A later `send` of the
        same key cannot overtake: its batches queue behind these on the same partition.
        """
        if self._producer is None:
            raise RuntimeError(f"the {self._name} publisher is not started")
        producer = self._producer
        partitions = sorted(await producer.partitions_for(topic))
        partition = _PARTITIONER(key, partitions, partitions)
        pending = []
        count = 0
        batch = producer.create_batch()
        for value in values:
            count += 1
            if batch.append(key=key, value=value, timestamp=None, headers=_HEADERS) is None:
                pending.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None, headers=_HEADERS) is None:
                    raise ValueError(f"an event of {len(value)} bytes does not fit a record batch")
        if count:
            pending.append(await producer.send_batch(batch, topic, partition=partition))
        acks = asyncio.gather(*pending)
        counter = EVENTS_PUBLISHED.labels(topic)
        acks.add_done_callback(lambda f: _count(f, counter, count))
        return acks


def _count(acks: asyncio.Future[list[Any]], counter: Any, n: int) -> None:
    if not acks.cancelled() and acks.exception() is None:
        counter.inc(n)
