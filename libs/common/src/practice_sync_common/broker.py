"""The FastStream Kafka broker every service uses, and the one way events are published."""

from __future__ import annotations

from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from practice_sync_common import topics
from practice_sync_common.dead_letter import DeadLetterMiddlewareFactory, RetryPolicy
from practice_sync_common.events import Envelope
from practice_sync_common.metrics import EVENTS_PUBLISHED
from practice_sync_common.settings import CommonSettings


def make_broker(settings: CommonSettings, *, retry: RetryPolicy | None = None) -> KafkaBroker:
    dlq = DeadLetterMiddlewareFactory(
        retry or RetryPolicy(settings.consumer_max_retries, settings.consumer_retry_backoff_s)
    )
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
        client_id=settings.service_name,
        middlewares=(dlq,),
        logger=None,
    )
    dlq.attach(broker)
    return broker


def consumer_options(settings: CommonSettings, group_id: str, *, live: bool = False) -> dict[str, Any]:
    """Subscriber options shared by all consumers: commit after handling, start at the beginning.

    `live` marks a consumer on the latency-sensitive path (a webhook's way to the read model).
    """
    from faststream import AckPolicy

    return {
        "group_id": group_id,
        "auto_offset_reset": "earliest",
        "ack_policy": AckPolicy.ACK,
        "session_timeout_ms": settings.kafka_session_timeout_ms,
        "heartbeat_interval_ms": settings.kafka_heartbeat_interval_ms,
        "fetch_max_wait_ms": (
            settings.kafka_live_fetch_max_wait_ms if live else settings.kafka_fetch_max_wait_ms
        ),
    }


async def publish(broker: KafkaBroker, topic: str, event: Envelope[Any] | BaseModel) -> None:
    """Publish an envelope keyed by its org, waiting for acks=all before returning."""
    key = event.org_id.encode() if isinstance(event, Envelope) else None
    await broker.publish(
        event.model_dump_json().encode(), topic=topic, key=key, headers={"content-type": "application/json"}
    )
    EVENTS_PUBLISHED.labels(topic).inc()


async def ensure_topics(
    bootstrap: str, partitions: int = topics.DEFAULT_PARTITIONS, names: tuple[str, ...] = topics.ALL_TOPICS
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(n, partitions, 1) for n in names if n not in existing]
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()


async def broker_reachable(broker: KafkaBroker) -> bool:
    try:
        return bool(await broker.ping(timeout=2.0))
    except Exception:
        return False
