"""Bounded retries, then the dead-letter topic: as broker middleware, written once for every consumer.

FastStream has no DLQ of its own, and on Kafka a rejected message is committed like an acked one, so a
handler that gives up must hand the message to `<topic>.dlq` itself or it is lost. The original bytes,
key and headers travel unchanged; the error rides along in headers.

Batch subscribers (`batch=True`) are covered too: their raw message is a tuple of records, and a batch
that still fails after its retries is dead-lettered record by record (each with its own bytes, key,
headers, partition and offset), so nothing in it is lost. A batch handler that can tell which records
are bad (e.g. one that does not parse) should dead-letter just those with `dead_letter_records` and
handle the rest, rather than fail the whole batch.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker
from pydantic import ValidationError

from practice_sync_common import topics
from practice_sync_common.logging import get_logger, secrets
from practice_sync_common.metrics import DEAD_LETTERED, EVENTS_CONSUMED, HANDLER_RETRIES

log = get_logger(__name__)


class PermanentError(Exception):
    """A failure retrying cannot fix (bad data): goes to the DLQ without further attempts."""


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_s: float = 0.2
    max_backoff_s: float = 5.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_backoff_s, self.backoff_s * (2 ** (attempt - 1))))


def _headers_of(raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in getattr(raw, "headers", None) or ():
        out[k] = v.decode(errors="replace") if isinstance(v, bytes) else str(v)
    return out


class DeadLetterMiddlewareFactory:
    """Builds the per-message middleware; holds the broker so the DLQ publish needs no globals."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.broker: KafkaBroker | None = None

    def attach(self, broker: KafkaBroker) -> None:
        self.broker = broker

    def __call__(self, msg: Any, /, *, context: Any) -> BaseMiddleware:
        return _DeadLetterMiddleware(msg, context=context, factory=self)


class _DeadLetterMiddleware(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: Any, factory: DeadLetterMiddlewareFactory) -> None:
        super().__init__(msg, context=context)
        self.factory = factory

    async def consume_scope(self, call_next: Callable[[Any], Awaitable[Any]], msg: Any) -> Any:
        raw = msg.raw_message
        topic = _topic_of(raw)
        policy = self.factory.policy
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await call_next(msg)
                EVENTS_CONSUMED.labels(topic, "ok").inc()
                return result
            except asyncio.CancelledError:
                raise
            except (PermanentError, ValidationError) as exc:
                await self._dead_letter(msg, topic, exc, attempt)
                return None
            except Exception as exc:
                if attempt > policy.max_retries:
                    await self._dead_letter(msg, topic, exc, attempt)
                    return None
                HANDLER_RETRIES.labels(topic).inc()
                log.warning(
                    "handler failed, retrying", topic=topic, attempt=attempt, error=secrets.scrub(repr(exc))
                )
                await asyncio.sleep(policy.delay(attempt))

    async def _dead_letter(self, msg: Any, topic: str, exc: BaseException, attempts: int) -> None:
        broker = self.factory.broker
        if broker is None:
            raise RuntimeError("DeadLetterMiddlewareFactory.attach(broker) was never called") from exc
        raw = msg.raw_message
        if isinstance(raw, tuple):
            await dead_letter_records(broker, raw, exc, attempts)
            return
        await _publish_dead(broker, msg.body, raw, topic, exc, attempts)


def _topic_of(raw: Any) -> str:
    first = raw[0] if isinstance(raw, tuple) and raw else raw
    return str(getattr(first, "topic", "unknown"))


async def dead_letter_records(
    broker: KafkaBroker, records: tuple[Any, ...] | list[Any], exc: BaseException, attempts: int = 1
) -> None:
    """Send raw Kafka records (e.g. the bad ones of a batch) to their topic's DLQ, one by one."""
    for record in records:
        await _publish_dead(broker, record.value or b"", record, _topic_of(record), exc, attempts)


async def _publish_dead(
    broker: KafkaBroker, body: Any, raw: Any, topic: str, exc: BaseException, attempts: int
) -> None:
    headers = _headers_of(raw)
    error = secrets.scrub(f"{type(exc).__name__}: {exc}")[:2000]
    headers.update(
        {
            "x-dlq-original-topic": topic,
            "x-dlq-original-partition": str(getattr(raw, "partition", "")),
            "x-dlq-original-offset": str(getattr(raw, "offset", "")),
            "x-dlq-error-type": type(exc).__name__,
            "x-dlq-error": error,
            "x-dlq-attempts": str(attempts),
            "x-dlq-trace": secrets.scrub("".join(traceback.format_exception(exc))[-3000:]),
        }
    )
    # The offset is committed once we return, so the DLQ write must succeed first: keep trying
    # (blocking this partition) rather than drop the message.
    delay = 0.5
    while True:
        try:
            await broker.publish(
                body, topic=topics.dlq(topic), key=getattr(raw, "key", None), headers=headers
            )
            break
        except asyncio.CancelledError:
            raise
        except Exception as publish_exc:  # pragma: no cover - exercised only when the broker is down
            log.error(
                "dead-letter publish failed, retrying",
                topic=topic,
                error=secrets.scrub(repr(publish_exc)),
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
    DEAD_LETTERED.labels(topic).inc()
    EVENTS_CONSUMED.labels(topic, "dead_lettered").inc()
    log.error("message dead-lettered", topic=topic, attempts=attempts, error=error)
