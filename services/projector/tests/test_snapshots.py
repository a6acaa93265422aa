"""active_patients.computed through the real broker into Postgres: matching, replace rules, isolation."""

from __future__ import annotations

import asyncio
import uuid

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from practice_sync_common import topics
from practice_sync_common.broker import publish
from practice_sync_projector.testing import (
    complete,
    contact_event,
    fetch,
    patient,
    patients_of,
    send,
    wait_for,
    wait_run,
)


def _org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


async def _clio_contact(
    producer: KafkaBroker, db: AsyncEngine, org: str, clio_id: str, **kw: object
) -> uuid.UUID:
    await publish(producer, topics.CONTACT_SYNCED, contact_event(org, clio_id, **kw))  # type: ignore[arg-type]

    async def probe() -> uuid.UUID | None:
        rows = await fetch(
            db, "SELECT id FROM public.contacts WHERE organization_id=:o AND clio_id=:c", o=org, c=clio_id
        )
        return rows[0]["id"] if rows else None

    return await wait_for(probe)


async def test_each_matching_rule_links_and_records_how(
    projector_service: str, producer: KafkaBroker, db: AsyncEngine
) -> None:
    org = _org()
    by_email = await _clio_contact(
        producer, db, org, "c1", first="Mia", last="Wong", emails=["Mia.Wong@Example.com"]
    )
    by_name = await _clio_contact(producer, db, org, "c2", first="José", last="Núñez", emails=[])
    await _clio_contact(producer, db, org, "c3", first="Sam", last="Lee", emails=["sam1@x.io"])
    await _clio_contact(producer, db, org, "c4", first="Sam", last="Lee", emails=["sam2@x.io"])
    run = uuid.uuid4()
    await send(
        producer,
        org,
        patient(run, "1", "Mia", "Wong", "  MIA.wong@example.COM "),  # email: case and spaces ignored
        patient(run, "2", "jose", "nunez"),  # unique normalized name
        patient(run, "3", "Sam", "Lee"),  # two contacts named Sam Lee: ambiguous, so a new contact
        patient(run, "4", "Zed", "Nobody", "zed@nowhere.io"),  # no match at all
        complete(run, 4),
    )
    await wait_run(db, org, run)
    rows = await patients_of(db, org)
    assert (rows["1"]["contact_id"], rows["1"]["link_method"]) == (by_email, "email")
    assert (rows["2"]["contact_id"], rows["2"]["link_method"]) == (by_name, "name")
    assert rows["3"]["link_method"] == "created" and rows["3"]["source"] == "cliniko"
    assert rows["4"]["link_method"] == "created" and rows["4"]["contact_email"] == "zed@nowhere.io"
    contacts = await fetch(db, "SELECT count(*) AS n FROM public.contacts WHERE organization_id=:o", o=org)
    assert contacts[0]["n"] == 6  # four from Clio, two created for patients 3 and 4

    # Next run: patient 1 changed email, patient 4 changed name: both stay on their contact (by id).
    run2 = uuid.uuid4()
    await send(
        producer,
        org,
        patient(run2, "1", "Mia", "Wong", "new@example.com"),
        patient(run2, "2", "jose", "nunez"),
        patient(run2, "3", "Sam", "Lee"),
        patient(run2, "4", "Zed", "Renamed", "zed@nowhere.io"),
        complete(run2, 4),
    )
    await wait_run(db, org, run2)
    again = await patients_of(db, org)
    assert {p: r["contact_id"] for p, r in again.items()} == {p: r["contact_id"] for p, r in rows.items()}
    assert again["1"]["link_method"] == "email"  # how the link was first made is kept
    renamed = await fetch(db, "SELECT name FROM public.contacts WHERE id=:i", i=rows["4"]["contact_id"])
    assert renamed[0]["name"] == "Zed Renamed"  # Cliniko owns the contacts it created
    count = await fetch(db, "SELECT count(*) AS n FROM public.contacts WHERE organization_id=:o", o=org)
    assert count[0]["n"] == 6


async def test_complete_snapshot_shrinks_partial_or_missing_never_does(
    projector_service: str, producer: KafkaBroker, db: AsyncEngine
) -> None:
    org = _org()
    run1 = uuid.uuid4()
    await send(producer, org, *(patient(run1, p, "P", p) for p in ("a", "b", "c")), complete(run1, 3))
    await wait_run(db, org, run1)
    assert set(await patients_of(db, org)) == {"a", "b", "c"}

    # A partial run: the complete announces 3 rows but only 2 arrived. Nothing is removed.
    run2 = uuid.uuid4()
    await send(producer, org, patient(run2, "a", "P", "a"), patient(run2, "b", "P", "b"), complete(run2, 3))
    bookkeeping = await wait_run(db, org, run2)
    assert (bookkeeping["status"], bookkeeping["seen_count"]) == ("partial", 2)
    assert set(await patients_of(db, org)) == {"a", "b", "c"}

    # A run whose complete never comes: its rows are upserted, the table is not shrunk.
    run3 = uuid.uuid4()
    await send(producer, org, patient(run3, "a", "P", "a"))

    async def a_in_run3() -> bool | None:
        rows = await patients_of(db, org)
        return True if rows["a"]["run_id"] == run3 else None

    await wait_for(a_in_run3)
    assert set(await patients_of(db, org)) == {"a", "b", "c"}

    # A whole run: exactly its rows remain.
    run4 = uuid.uuid4()
    await send(producer, org, patient(run4, "b", "P", "b"), patient(run4, "d", "P", "d"), complete(run4, 2))
    done = await wait_run(db, org, run4)
    assert (done["status"], done["deleted_count"]) == ("complete", 2)
    rows = await patients_of(db, org)
    assert set(rows) == {"b", "d"} and {r["run_id"] for r in rows.values()} == {run4}

    # An empty complete run means no patient is active any more.
    run5 = uuid.uuid4()
    await send(producer, org, complete(run5, 0))
    await wait_run(db, org, run5)
    assert await patients_of(db, org) == {}


async def test_stale_complete_of_an_old_run_keeps_the_new_runs_rows(
    projector_service: str, producer: KafkaBroker, db: AsyncEngine
) -> None:
    org = _org()
    old, new = uuid.uuid4(), uuid.uuid4()
    # The old run's rows, then a newer run's rows, then the old run's complete arrives late.
    await send(
        producer,
        org,
        patient(old, "x", "P", "x"),
        patient(old, "y", "P", "y"),
        patient(new, "z", "P", "z"),
        complete(old, 2),
    )
    await wait_run(db, org, old)
    assert set(await patients_of(db, org)) == {"x", "y", "z"}
    # And a complete whose run has been overwritten by a newer run is partial: nothing goes.
    await send(producer, org, patient(new, "x", "P", "x"), complete(old, 2))
    await asyncio.sleep(0)
    await send(producer, org, complete(new, 2))
    await wait_run(db, org, new)
    assert set(await patients_of(db, org)) == {"x", "z"}


async def test_redelivered_events_are_applied_once(
    projector_service: str, producer: KafkaBroker, db: AsyncEngine
) -> None:
    org = _org()
    run = uuid.uuid4()
    events = await send(producer, org, patient(run, "1", "Ann", "Ito", "ann@x.io"), complete(run, 1))
    applied = await wait_run(db, org, run)
    first = await patients_of(db, org)
    # The same envelopes again (same ids), as after a consumer crash before its commit.
    for ev in events:
        await publish(producer, topics.ACTIVE_PATIENTS_COMPUTED, ev)
    marker = uuid.uuid4()
    await send(producer, org, patient(marker, "1", "Ann", "Ito", "ann@x.io"), complete(marker, 1))
    await wait_run(db, org, marker)
    contacts = await fetch(db, "SELECT count(*) AS n FROM public.contacts WHERE organization_id=:o", o=org)
    assert contacts[0]["n"] == 1
    assert (await patients_of(db, org))["1"]["contact_id"] == first["1"]["contact_id"]
    # The replayed complete was not applied again (it is claimed): its run's record is untouched.
    runs = await fetch(
        db, "SELECT run_id, completed_at FROM projector.snapshot_runs WHERE organization_id = :o", o=org
    )
    assert {r["run_id"]: r["completed_at"] for r in runs}[run] == applied["completed_at"]


async def test_two_orgs_with_the_same_patient_ids_stay_apart(
    projector_service: str, producer: KafkaBroker, db: AsyncEngine
) -> None:
    one, two = _org(), _org()
    r1, r2 = uuid.uuid4(), uuid.uuid4()
    await send(producer, one, patient(r1, "100", "One", "Person", "same@x.io", total=5), complete(r1, 1))
    await send(producer, two, patient(r2, "100", "Two", "Person", "same@x.io", total=9), complete(r2, 1))
    await wait_run(db, one, r1)
    await wait_run(db, two, r2)
    a, b = (await patients_of(db, one))["100"], (await patients_of(db, two))["100"]
    assert (a["total_appointment_count"], b["total_appointment_count"]) == (5, 9)
    assert a["contact_id"] != b["contact_id"]
    # An empty complete for org two removes org two's rows only.
    r3 = uuid.uuid4()
    await send(producer, two, complete(r3, 0))
    await wait_run(db, two, r3)
    assert set(await patients_of(db, one)) == {"100"} and await patients_of(db, two) == {}
