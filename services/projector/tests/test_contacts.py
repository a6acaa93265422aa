"""contact.synced through the real broker: create, update, delete, ordering, Clio/Cliniko merge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from practice_sync_common import topics
from practice_sync_common.broker import publish
from practice_sync_projector.testing import complete, contact_event, fetch, patient, send, wait_for, wait_run

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)


def _org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


async def _contact(db: AsyncEngine, org: str, clio_id: str, etag: str) -> dict[str, Any]:
    """Wait until the contact's row carries `etag` (the marker of the last event applied)."""

    async def probe() -> dict[str, Any] | None:
        rows = await fetch(
            db, "SELECT * FROM public.contacts WHERE organization_id=:o AND clio_id=:c", o=org, c=clio_id
        )
        return rows[0] if rows and rows[0]["clio_etag"] == etag else None

    return await wait_for(probe)


async def test_create_update_delete_and_older_events_ignored(
    projector_service: str, producer: KafkaBroker, db: AsyncEngine
) -> None:
    org = _org()
    await publish(
        producer,
        topics.CONTACT_SYNCED,
        contact_event(org, "77", emails=[" Ada@Example.com "], etag="e1", updated_at=T0),
    )
    row = await _contact(db, org, "77", "e1")
    assert (row["email"], row["emails"], row["source"], row["clio_match_method"]) == (
        "ada@example.com",
        ["Ada@Example.com"],
        "clio",
        "created",
    )
    newer = contact_event(
        org, "77", first="Augusta", emails=["ada@example.com"], etag="e3", updated_at=T0 + timedelta(2)
    )
    older = contact_event(
        org, "77", first="Stale", emails=["old@example.com"], etag="e2", updated_at=T0 + timedelta(1)
    )
    await publish(producer, topics.CONTACT_SYNCED, newer)
    await publish(producer, topics.CONTACT_SYNCED, older)  # arrives late: must not win
    marker = contact_event(org, "marker", etag="m1")
    await publish(producer, topics.CONTACT_SYNCED, marker)
    await _contact(db, org, "marker", "m1")
    row = await _contact(db, org, "77", "e3")
    assert (row["first_name"], row["name"], row["normalized_name"]) == (
        "Augusta",
        "Augusta Lovelace",
        "augusta lovelace",
    )

    await publish(
        producer,
        topics.CONTACT_SYNCED,
        contact_event(org, "77", "deleted", etag="e4", updated_at=T0 + timedelta(3)),
    )
    row = await _contact(db, org, "77", "e4")
    assert row["deleted_at"] == T0 + timedelta(3)
    # An update older than the deletion does not bring it back; one row per Clio id throughout.
    await publish(
        producer, topics.CONTACT_SYNCED, contact_event(org, "77", etag="e5", updated_at=T0 + timedelta(2, 1))
    )
    await publish(producer, topics.CONTACT_SYNCED, contact_event(org, "marker", etag="m2"))
    await _contact(db, org, "marker", "m2")
    rows = await fetch(db, "SELECT * FROM public.contacts WHERE organization_id=:o AND clio_id='77'", o=org)
    assert len(rows) == 1 and rows[0]["clio_etag"] == "e4" and rows[0]["deleted_at"] is not None


async def test_delete_before_create_leaves_a_tombstone(
    projector_service: str, producer: KafkaBroker, db: AsyncEngine
) -> None:
    org = _org()
    await publish(
        producer,
        topics.CONTACT_SYNCED,
        contact_event(org, "9", "deleted", etag="d", updated_at=T0 + timedelta(1)),
    )
    await _contact(db, org, "9", "d")
    await publish(producer, topics.CONTACT_SYNCED, contact_event(org, "9", etag="c", updated_at=T0))
    await publish(producer, topics.CONTACT_SYNCED, contact_event(org, "marker", etag="m"))
    await _contact(db, org, "marker", "m")
    row = await _contact(db, org, "9", "d")
    assert row["deleted_at"] is not None


async def test_clio_contact_merges_into_the_contact_created_from_cliniko_by_email(
    projector_service: str, producer: KafkaBroker, db: AsyncEngine
) -> None:
    org = _org()
    run = uuid.uuid4()
    await send(producer, org, patient(run, "p1", "Kim", "Park", "kim@clinic.io"), complete(run, 1))
    await wait_run(db, org, run)
    await publish(
        producer,
        topics.CONTACT_SYNCED,
        contact_event(
            org, "c-55", first="Kimberly", last="Park", emails=["KIM@clinic.io"], etag="x1", updated_at=T0
        ),
    )
    row = await _contact(db, org, "c-55", "x1")
    rows = await fetch(db, "SELECT * FROM public.contacts WHERE organization_id=:o", o=org)
    assert len(rows) == 1  # one person, one row
    assert (
        row["source"],
        row["cliniko_patient_id"],
        row["cliniko_match_method"],
        row["clio_match_method"],
    ) == (
        "cliniko",
        "p1",
        "created",
        "email",
    )
    assert row["first_name"] == "Kimberly"  # Clio's data wins once it is linked
    # The next snapshot keeps the patient on the merged contact and does not overwrite Clio's fields.
    run2 = uuid.uuid4()
    await send(producer, org, patient(run2, "p1", "Kim", "Park", "kim@clinic.io"), complete(run2, 1))
    await wait_run(db, org, run2)
    after = await fetch(
        db,
        "SELECT a.contact_id, c.first_name FROM public.active_patients a"
        " JOIN public.contacts c ON c.id=a.contact_id WHERE a.organization_id=:o",
        o=org,
    )
    assert after == [{"contact_id": row["id"], "first_name": "Kimberly"}]


async def test_contact_from_an_unsupported_provider_goes_to_the_dlq(
    projector_service: str, producer: KafkaBroker, db: AsyncEngine, kafka_bootstrap: str
) -> None:
    from aiokafka import AIOKafkaConsumer

    org = _org()
    bad = contact_event(org, "1").model_copy(
        update={"data": contact_event(org, "1").data.model_copy(update={"provider": "cliniko"})}
    )
    dlq = AIOKafkaConsumer(
        topics.dlq(topics.CONTACT_SYNCED),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await dlq.start()
    try:
        await publish(producer, topics.CONTACT_SYNCED, bad)

        async def probe() -> dict[str, str] | None:
            for records in (await dlq.getmany(timeout_ms=300)).values():
                for r in records:
                    if org.encode() in (r.value or b""):
                        return {k: v.decode() for k, v in r.headers}
            return None

        headers = await wait_for(probe)
    finally:
        await dlq.stop()
    assert headers["x-dlq-error-type"] == "PermanentError" and "cliniko" in headers["x-dlq-error"]
