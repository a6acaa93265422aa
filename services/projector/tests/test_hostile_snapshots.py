"""Hostile `active_patients.computed` records: each one is dead-lettered with its reason, alone.

They parse as the event model allows, but Postgres cannot store them (a count past `integer`, a NUL
character, a key too long for its index) or no reader could ever ask for them (an org id the API
refuses). Sent in one record batch with valid records, only they may go to the DLQ: the valid rows
of the same batch are projected, and the snapshot stays whole.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy.ext.asyncio import AsyncEngine

from practice_sync_cli.testing_stack import Stack
from practice_sync_common import topics
from practice_sync_common.batch_publisher import KeyedBatchPublisher
from practice_sync_common.settings import CommonSettings
from practice_sync_projector.testing import complete, patient, patients_of, snapshot_event, wait_for, wait_run


@pytest.fixture
async def batches(stack: Stack) -> AsyncIterator[KeyedBatchPublisher]:
    publisher = KeyedBatchPublisher(
        CommonSettings(
            service_name="projector-tests",
            kafka_bootstrap_servers=stack.kafka_bootstrap,
            database_url=stack.database_url,
        ),
        "hostile",
    )
    await publisher.start()
    try:
        yield publisher
    finally:
        await publisher.stop()


def _record(org: str, run: uuid.UUID, pid: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(snapshot_event(org, patient(run, pid, "P", pid)).model_dump_json())
    message = body["data"]["message"]
    for name, value in changes.items():
        if name == "org_id":
            body["org_id"] = value
        elif name == "appointment_id":
            message["recent_appointments"][0]["id"] = value
        else:
            message[name] = value
    return body


def _hostile(org: str, run: uuid.UUID) -> dict[str, dict[str, Any]]:
    """Each record's name → the record; every one of them must be refused with a reason."""
    return {
        "total past integer": _record(org, run, "h1", total_appointment_count=2**31),
        "recent past integer": _record(org, run, "h2", recent_appointment_count=10**12),
        "NUL in a name": _record(org, run, "h3", first_name="Ann\x00e"),
        "NUL in an appointment id": _record(org, run, "h4", appointment_id="a\x00"),
        "patient id too long for its index": _record(org, run, secrets.token_hex(4000)),
        "org id the read API refuses": _record("no such/org", run, "h6"),
        # Valid to every parser, but before year 1 once in UTC: the driver cannot encode it, and
        # only the batch's fall-back to one record at a time finds it.
        "last date before year 1 in UTC": _record(
            org, run, "h7", last_appointment_date="0001-01-01T00:00:00+14:00"
        ),
        "complete count past integer": json.loads(
            snapshot_event(org, complete(uuid.uuid4(), 2**31)).model_dump_json()
        ),
    }


async def _dead_letters(kafka_bootstrap: str, markers: list[str], expected: int) -> list[dict[str, str]]:
    dlq = AIOKafkaConsumer(
        topics.dlq(topics.ACTIVE_PATIENTS_COMPUTED),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await dlq.start()
    found: list[dict[str, str]] = []
    try:

        async def probe() -> list[dict[str, str]] | None:
            for records in (await dlq.getmany(timeout_ms=300)).values():
                for r in records:
                    if any(m.encode() in (r.value or b"") for m in markers):
                        found.append({k: v.decode() for k, v in r.headers})
            return found if len(found) >= expected else None

        return await wait_for(probe, within_s=60)
    finally:
        await dlq.stop()


async def test_hostile_records_are_dead_lettered_alone_and_the_batch_is_projected(
    projector_service: str, batches: KeyedBatchPublisher, db: AsyncEngine, stack: Stack
) -> None:
    org = f"org-{uuid.uuid4().hex[:10]}"
    good, bad = uuid.uuid4(), uuid.uuid4()
    hostile = _hostile(org, bad)
    values = [
        json.dumps(_record(org, good, "g1")).encode(),
        *(json.dumps(r).encode() for r in hostile.values()),
        json.dumps(_record(org, good, "g2")).encode(),
        snapshot_event(org, complete(good, 2)).model_dump_json().encode(),
    ]
    # One record batch on one partition: the consumer gets the valid and hostile records together.
    await batches.publish(topics.ACTIVE_PATIENTS_COMPUTED, org.encode(), values)

    done = await wait_run(db, org, good, within_s=60)
    assert (done["status"], done["seen_count"]) == ("complete", 2)
    rows = await patients_of(db, org)
    assert set(rows) == {"g1", "g2"}

    dead = await _dead_letters(stack.kafka_bootstrap, [org, str(bad)], expected=len(hostile))
    assert len(dead) == len(hostile)
    # Refused as bad data (no retries), each with a reason, never as the batch's database failure.
    assert {d["x-dlq-error-type"] for d in dead} == {"ValidationError", "PermanentError"}
    assert all(d["x-dlq-attempts"] == "1" for d in dead)
    refused = [d["x-dlq-error"] for d in dead if d["x-dlq-error-type"] == "PermanentError"]
    assert len(refused) == 1 and "Postgres refused a value" in refused[0]
