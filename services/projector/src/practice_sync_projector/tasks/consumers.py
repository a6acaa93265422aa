"""The projector's two subscribers, both batched for throughput: snapshots and contact changes."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from pydantic import ValidationError

from practice_sync_common import topics
from practice_sync_common.broker import consumer_options
from practice_sync_common.db import refused_by_postgres
from practice_sync_common.dead_letter import PermanentError, dead_letter_records
from practice_sync_common.logging import get_logger, secrets
from practice_sync_projector.service.contacts import ContactEvent, ContactProjector, unsupported
from practice_sync_projector.service.snapshot import SnapshotProjector
from practice_sync_projector.settings import Settings

log = get_logger(__name__)
SNAPSHOT_GROUP = "projector.active_patients"
CONTACTS_GROUP = "projector.contacts"
BATCH_POLL_MS = 20  # how long a batch poll waits for records, and FastStream's pause after an empty one


async def _raw_values(msg: StreamMessage[Any]) -> Any:
    # Each record is parsed once, by the projector, from bytes; FastStream's own json.loads would be waste.
    return [record.value or b"" for record in msg.raw_message]


async def _dead_letter_rejected(
    broker: KafkaBroker, records: Sequence[Any], rejected: list[tuple[int, Any]]
) -> None:
    for position, error in rejected:
        await dead_letter_records(broker, [records[position]], error)


async def _project_one_by_one(
    broker: KafkaBroker, snapshots: SnapshotProjector, records: Sequence[Any], values: list[bytes]
) -> None:
    """A batch Postgres refused a value of: find the record(s) alone, in order, and dead-letter them.

    Without this the whole batch would be retried and then dead-lettered, its valid records too.
    Each record is its own transaction here, so every one before and after the bad one is applied
    (a snapshot_complete still follows its rows; it finds the bad row missing and stays partial).
    """
    for record, value in zip(records, values, strict=True):
        try:
            outcome = await snapshots.project([value])
        except Exception as exc:
            if not refused_by_postgres(exc):
                raise  # not this record's data: the middleware retries the batch (idempotent)
            reason = f"Postgres refused a value of this record: {exc}"
            await dead_letter_records(broker, [record], PermanentError(secrets.scrub(reason)))
            continue
        await _dead_letter_rejected(broker, [record], outcome.rejected)


def register(
    broker: KafkaBroker, settings: Settings, snapshots: SnapshotProjector, contacts: ContactProjector
) -> None:
    @broker.subscriber(
        topics.ACTIVE_PATIENTS_COMPUTED,
        batch=True,
        max_records=settings.projector_batch_max_records,
        batch_timeout_ms=BATCH_POLL_MS,
        decoder=_raw_values,
        **{
            **consumer_options(settings, SNAPSHOT_GROUP),
            "fetch_max_wait_ms": settings.projector_snapshot_fetch_max_wait_ms,
            "max_partition_fetch_bytes": settings.projector_snapshot_partition_fetch_bytes,
        },
    )
    async def on_active_patients(values: list[bytes], message: KafkaMessage) -> None:
        records = message.raw_message
        started = time.perf_counter()
        # Any failure but a refused value raises: the middleware retries the whole batch
        # (idempotent), then dead-letters it record by record.
        try:
            outcome = await snapshots.project(values)
        except Exception as exc:
            if not refused_by_postgres(exc):
                raise
            log.warning("snapshot batch refused by Postgres; projecting it record by record")
            await _project_one_by_one(broker, snapshots, records, values)
        else:
            await _dead_letter_rejected(broker, records, outcome.rejected)
        log.debug(
            "snapshot batch projected", records=len(records), seconds=round(time.perf_counter() - started, 4)
        )

    @broker.subscriber(
        topics.CONTACT_SYNCED,
        batch=True,
        max_records=settings.projector_batch_max_records,
        # FastStream sleeps this long after an empty poll (200 ms by default): on the webhook path
        # that sleep was the largest part of a change's way to its row (bench/contact_latency.py).
        batch_timeout_ms=BATCH_POLL_MS,
        decoder=_raw_values,
        **consumer_options(settings, CONTACTS_GROUP),
    )
    async def on_contact_synced(values: list[bytes], message: KafkaMessage) -> None:
        # Batched: a sync's burst of changes lands in a few transactions instead of one per change.
        records = message.raw_message
        events: list[ContactEvent] = []
        bad: list[tuple[Any, Exception]] = []
        for record, value in zip(records, values, strict=True):
            try:
                event = ContactEvent.model_validate_json(value)
            except ValidationError as invalid:
                bad.append((record, invalid))
                continue
            problem = unsupported(event)
            if problem:
                bad.append((record, PermanentError(problem)))
            else:
                events.append(event)
        await contacts.project_many(events)
        for record, error in bad:
            await dead_letter_records(broker, [record], error)
