"""Publishing `contact.synced`, a page at a time, on a plain aiokafka producer (acks=all).

A page's events share one key (the org), so they share one partition: they are packed into record
batches built here and handed over whole, one future per batch. Per-message `send` (a future, a
partition lookup and an accumulator append each) and FastStream's publish path before it cost more
than the rest of a page's work (`bench/clio_sync.py`). The partition is the one the default
partitioner gives the key, as for `practice_sync_common.broker.publish`, so every event of an org
stays in order on one partition whichever path sent it.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from practice_sync_common import topics
from practice_sync_common.events import ContactSynced, envelope
from practice_sync_common.metrics import EVENTS_PUBLISHED
from practice_sync_common.settings import CommonSettings

SOURCE = "clio-gateway"
_HEADERS = [("content-type", b"application/json")]
# A 200-contact page of envelopes (~130 KB) fits in one batch; well under brokers' 1 MB default.
_BATCH_BYTES = 512 * 1024
_PARTITIONER = DefaultPartitioner()


class ContactPublisher:
    def __init__(self, settings: CommonSettings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._counter = EVENTS_PUBLISHED.labels(topics.CONTACT_SYNCED)

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=self._settings.kafka_enable_idempotence,
            client_id=f"{self._settings.service_name}.contacts",
            max_batch_size=_BATCH_BYTES,
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def publish(
        self, org: str, events: list[ContactSynced], correlation_id: UUID | None = None
    ) -> None:
        """Returns once every event is acknowledged (acks=all); raises if any is not."""
        await (await self.send(org, events, correlation_id))

    async def send(
        self, org: str, events: list[ContactSynced], correlation_id: UUID | None = None
    ) -> asyncio.Future[list[Any]]:
        """Hand the events to the producer; the returned future completes when all are acknowledged.

        Lets a sync go on with its next page while this one's acks travel. The events are queued in
        the producer (in order, per partition) when this returns, so a later `send` cannot overtake.
        """
        if not events:
            return asyncio.gather()
        if self._producer is None:
            raise RuntimeError("the contact publisher is not started")
        producer = self._producer
        key = org.encode()
        partitions = sorted(await producer.partitions_for(topics.CONTACT_SYNCED))
        partition = _PARTITIONER(key, partitions, partitions)
        pending = []
        batch = producer.create_batch()
        for e in events:
            value = envelope("contact.synced", SOURCE, org, e, correlation_id).model_dump_json().encode()
            if batch.append(key=key, value=value, timestamp=None, headers=_HEADERS) is None:
                pending.append(await producer.send_batch(batch, topics.CONTACT_SYNCED, partition=partition))
                batch = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None, headers=_HEADERS) is None:
                    raise ValueError(f"a contact.synced event of {len(value)} bytes exceeds a record batch")
        pending.append(await producer.send_batch(batch, topics.CONTACT_SYNCED, partition=partition))
        acks = asyncio.gather(*pending)
        acks.add_done_callback(lambda f: self._count(f, len(events)))
        return acks

    def _count(self, acks: asyncio.Future[list[Any]], n: int) -> None:
        if not acks.cancelled() and acks.exception() is None:
            self._counter.inc(n)
