"""Publishing `contact.synced`, a page at a time, on a plain aiokafka producer (acks=all).

A page's events are all handed to the producer first and then awaited together, so they travel in
a few produce requests instead of one await per event; FastStream's per-message publish path cost
more than the rest of a page's work (`bench/clio_sync.py`). Keyed by org, JSON envelopes, as
`practice_sync_common.broker.publish` sends them.
"""

from __future__ import annotations

import asyncio
from uuid import UUID

from aiokafka import AIOKafkaProducer

from practice_sync_common import topics
from practice_sync_common.events import ContactSynced, envelope
from practice_sync_common.metrics import EVENTS_PUBLISHED
from practice_sync_common.settings import CommonSettings

SOURCE = "clio-gateway"
_HEADERS = [("content-type", b"application/json")]


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
        if not events:
            return
        if self._producer is None:
            raise RuntimeError("the contact publisher is not started")
        key = org.encode()
        pending = [
            await self._producer.send(
                topics.CONTACT_SYNCED,
                envelope("contact.synced", SOURCE, org, e, correlation_id).model_dump_json().encode(),
                key=key,
                headers=_HEADERS,
            )
            for e in events
        ]
        await asyncio.gather(*pending)
        self._counter.inc(len(events))
