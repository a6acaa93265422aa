"""Publishing `webhook.received` with acks=all, and knowing when we cannot.

A plain aiokafka producer (the hot path needs nothing of FastStream's publish machinery: the
envelope is already JSON bytes). It is started lazily and restarted after a failed start, so an
ingest that came up while the broker was away answers 503 (the provider retries) and recovers
without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaProducer

from practice_sync_common import topics
from practice_sync_common.logging import get_logger
from practice_sync_common.metrics import EVENTS_PUBLISHED
from practice_sync_webhook_ingest.settings import Settings

log = get_logger(__name__)
_HEADERS = [("content-type", b"application/json")]


class PublishFailed(Exception):
    pass


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self._published = EVENTS_PUBLISHED.labels(topics.WEBHOOK_RECEIVED)

    async def start(self) -> None:
        try:
            await self._ensure()
        except PublishFailed as exc:
            # Not fatal: deliveries get 503 until the broker is back.
            log.warning("broker not reachable at start; will retry on the next delivery", error=str(exc))

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def ready(self) -> bool:
        if self._producer is None:
            return False
        try:
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 2.0)
        except Exception:
            return False
        return True

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is not None:
                return self._producer
            producer = AIOKafkaProducer(
                bootstrap_servers=self._settings.kafka_bootstrap_servers,
                acks="all",
                enable_idempotence=self._settings.kafka_enable_idempotence,
                client_id=self._settings.service_name,
                # The producer's own deadline for a message (metadata wait, buffer space, delivery):
                # past it the send fails and the delivery gets 503. One timer per produce request,
                # not one per delivery (an asyncio.timeout per delivery showed in the profile).
                request_timeout_ms=int(self._settings.publish_timeout_s * 1000),
            )
            try:
                await asyncio.wait_for(producer.start(), self._settings.publish_timeout_s)
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise PublishFailed(f"broker start failed: {type(exc).__name__}") from exc
            self._producer = producer
            return producer

    async def publish_raw(self, key: bytes, value: bytes) -> None:
        """One `webhook.received` message (already JSON), keyed by org; returns once acks=all."""
        producer = await self._ensure()
        try:
            sent = await producer.send(topics.WEBHOOK_RECEIVED, value, key=key, headers=_HEADERS)
            await sent
        except Exception as exc:
            raise PublishFailed(f"publish failed: {type(exc).__name__}") from exc
        self._published.inc()
