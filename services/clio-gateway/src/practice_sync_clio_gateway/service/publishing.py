"""Publishing `contact.synced`, a page at a time (the producer batches concurrent sends)."""

from __future__ import annotations

import asyncio
from uuid import UUID

from faststream.kafka import KafkaBroker

from practice_sync_common import topics
from practice_sync_common.broker import publish
from practice_sync_common.events import ContactSynced, envelope

SOURCE = "clio-gateway"


async def publish_contacts(
    broker: KafkaBroker, org: str, events: list[ContactSynced], correlation_id: UUID | None = None
) -> None:
    await asyncio.gather(
        *(
            publish(broker, topics.CONTACT_SYNCED, envelope("contact.synced", SOURCE, org, e, correlation_id))
            for e in events
        )
    )
