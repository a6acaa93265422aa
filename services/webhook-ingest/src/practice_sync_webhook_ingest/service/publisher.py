"""Publishing `webhook.received` with acks=all, and knowing when we cannot.

The broker is started lazily and restarted after a failed start, so an ingest that came up while
the broker was away answers 503 (the provider retries) and recovers without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib

from faststream.kafka import KafkaBroker

from practice_sync_common import topics
from practice_sync_common.broker import broker_reachable, make_broker
from practice_sync_common.events import Envelope, WebhookReceived
from practice_sync_common.logging import get_logger
from practice_sync_common.metrics import EVENTS_PUBLISHED
from practice_sync_webhook_ingest.settings import Settings

log = get_logger(__name__)


class PublishFailed(Exception):
    pass


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._broker: KafkaBroker | None = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        try:
            await self._ensure()
        except PublishFailed as exc:
            # Not fatal: deliveries get 503 until the broker is back.
            log.warning("broker not reachable at start; will retry on the next delivery", error=str(exc))

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.stop()
            self._broker = None

    async def ready(self) -> bool:
        return self._broker is not None and await broker_reachable(self._broker)

    async def _ensure(self) -> KafkaBroker:
        if self._broker is not None:
            return self._broker
        async with self._lock:
            if self._broker is not None:
                return self._broker
            broker = make_broker(self._settings)
            try:
                await asyncio.wait_for(broker.start(), self._settings.publish_timeout_s)
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await broker.stop()
                raise PublishFailed(f"broker start failed: {type(exc).__name__}") from exc
            self._broker = broker
            return broker

    async def publish(self, event: Envelope[WebhookReceived]) -> None:
        broker = await self._ensure()
        try:
            await asyncio.wait_for(
                broker.publish(
                    event.model_dump_json().encode(),
                    topic=topics.WEBHOOK_RECEIVED,
                    key=event.key(),
                    headers={"content-type": "application/json"},
                ),
                self._settings.publish_timeout_s,
            )
        except Exception as exc:
            raise PublishFailed(f"publish failed: {type(exc).__name__}") from exc
        EVENTS_PUBLISHED.labels(topics.WEBHOOK_RECEIVED).inc()
