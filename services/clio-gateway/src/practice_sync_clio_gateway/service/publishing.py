"""Publishing `contact.synced`: envelopes keyed by org, a page at a time, as whole record batches
(`practice_sync_common.batch_publisher`), acks=all."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from practice_sync_common import topics
from practice_sync_common.batch_publisher import KeyedBatchPublisher
from practice_sync_common.events import ContactSynced, envelope
from practice_sync_common.settings import CommonSettings

SOURCE = "clio-gateway"


class ContactPublisher:
    def __init__(self, settings: CommonSettings) -> None:
        self._out = KeyedBatchPublisher(settings, "contacts")

    async def start(self) -> None:
        await self._out.start()

    async def stop(self) -> None:
        await self._out.stop()

    async def publish(
        self, org: str, events: list[ContactSynced], correlation_id: UUID | None = None
    ) -> None:
        """Returns once every event is acknowledged (acks=all); raises if any is not."""
        await (await self.send(org, events, correlation_id))

    async def send(
        self, org: str, events: list[ContactSynced], correlation_id: UUID | None = None
    ) -> asyncio.Future[list[Any]]:
        """Queue the events; the future completes when all are acknowledged (see KeyedBatchPublisher)."""
        values = (
            envelope(topics.CONTACT_SYNCED, SOURCE, org, e, correlation_id).model_dump_json().encode()
            for e in events
        )
        return await self._out.send(topics.CONTACT_SYNCED, org.encode(), values)
