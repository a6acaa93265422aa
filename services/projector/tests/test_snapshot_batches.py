"""How one batch is projected: chunk after chunk, on the snapshot consumer's three connections.

These call `SnapshotProjector.project` with raw records, as the consumer does, against the stack's
Postgres (migrated by the running service), with chunks of one record so that a batch of a few
records already spans several chunks, each matched while the one before is written.
"""

from __future__ import annotations

import json
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from practice_sync_common.db import make_engine
from practice_sync_projector.service.snapshot import SnapshotProjector
from practice_sync_projector.testing import complete, fetch, patient, patients_of, snapshot_event


def _org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


def _raw(org: str, *messages: object) -> list[bytes]:
    return [snapshot_event(org, m).model_dump_json().encode() for m in messages]  # type: ignore[arg-type]


async def _clio_contact(db: AsyncEngine, org: str, email: str) -> uuid.UUID:
    async with db.begin() as conn:
        made = await conn.execute(
            text(
                "INSERT INTO public.contacts (id, organization_id, first_name, last_name, name,"
                " normalized_name, email, source, clio_id) VALUES (gen_random_uuid(), :o, 'Clio', 'Person',"
                " 'Clio Person', 'clio person', :e, 'clio', :c) RETURNING id"
            ),
            {"o": org, "e": email, "c": uuid.uuid4().hex},
        )
        return made.scalar_one()  # type: ignore[no-any-return]


async def test_a_later_chunk_sees_what_an_earlier_one_decided(
    projector_service: str, db: AsyncEngine
) -> None:
    # The batch's lookups read committed data while its own links are not committed yet: the second
    # patient's lookup still shows the Clio contact unlinked, but the first patient has it now.
    org, run = _org(), uuid.uuid4()
    clio = await _clio_contact(db, org, "shared@x.io")
    projector = SnapshotProjector(db, chunk=1)
    try:
        outcome = await projector.project(
            _raw(
                org,
                patient(run, "1", "Ann", "One", "shared@x.io"),
                patient(run, "2", "Bea", "Two", "shared@x.io"),
                patient(run, "1", "Ann", "One", "shared@x.io", total=7),  # again, later: one contact
                complete(run, 2),
            )
        )
    finally:
        await projector.close()
    assert outcome.rejected == [] and outcome.completes[0][2].complete
    rows = await patients_of(db, org)
    assert rows["1"]["contact_id"] == clio and rows["1"]["link_method"] == "email"
    assert rows["1"]["total_appointment_count"] == 7
    assert rows["2"]["contact_id"] != clio and rows["2"]["link_method"] == "created"
    contacts = await fetch(
        db, "SELECT cliniko_patient_id AS pid FROM public.contacts WHERE organization_id = :o", o=org
    )
    assert sorted(c["pid"] for c in contacts) == ["1", "2"]


async def test_a_batch_refused_after_its_contacts_were_made_leaves_one_contact_each(
    projector_service: str, db: AsyncEngine
) -> None:
    # New contacts are committed on their own connection before their chunk's rows are written. A
    # batch that then fails is projected again (by the consumer, record by record): the contacts made
    # the first time are found by patient id, not made twice.
    org, run = _org(), uuid.uuid4()
    good = json.loads(_raw(org, patient(run, "ok", "Oli", "Ok", "oli@x.io"))[0])
    bad = json.loads(_raw(org, patient(run, "bad", "Bo", "Bad"))[0])
    bad["data"]["message"]["last_appointment_date"] = "0001-01-01T00:00:00+14:00"  # the driver refuses it
    values = [json.dumps(good).encode(), json.dumps(bad).encode()]
    projector = SnapshotProjector(db, chunk=2)
    try:
        try:
            await projector.project(values)
        except Exception as exc:  # what the consumer catches to go record by record
            assert "invalid input" in str(exc)
        else:
            raise AssertionError("the batch should have been refused")
        outcome = await projector.project(values[:1])  # the lane was given back and is made again
    finally:
        await projector.close()
    assert outcome.rows == 1
    contacts = await fetch(
        db,
        "SELECT cliniko_patient_id AS pid, count(*) AS n FROM public.contacts WHERE organization_id = :o"
        " GROUP BY 1",
        o=org,
    )
    assert {c["pid"]: c["n"] for c in contacts} == {"ok": 1, "bad": 1}
    assert set(await patients_of(db, org)) == {"ok"}


async def test_connections_go_back_to_the_pool_as_they_came(projector_service: str, db: AsyncEngine) -> None:
    # The lane runs two of its connections as the RLS role, pointed at an org, for as long as it holds
    # them. Given back, none of that may stay with a connection the next user gets from the pool.
    engine = make_engine(db.url.render_as_string(hide_password=False), pool_size=3)
    org, run = _org(), uuid.uuid4()
    projector = SnapshotProjector(engine, chunk=1)
    try:
        await projector.project(_raw(org, patient(run, "1", "Pat", "One"), patient(run, "2", "Pat", "Two")))
        await projector.close()
        checked_out = [await engine.connect() for _ in range(3)]
        try:
            for conn in checked_out:
                raw = (await conn.get_raw_connection()).driver_connection
                row = await raw.fetchrow(
                    "SELECT current_user = session_user AS own_role,"
                    " coalesce(current_setting('app.org_id', true), '') AS org,"
                    " current_setting('enable_seqscan') AS seqscan"
                )
                assert dict(row) == {"own_role": True, "org": "", "seqscan": "on"}
        finally:
            for conn in checked_out:
                await conn.close()
        assert set(await patients_of(engine, org)) == {"1", "2"}  # and they did the work
    finally:
        await engine.dispose()


async def test_a_row_of_an_older_run_never_replaces_a_newer_runs(
    projector_service: str, db: AsyncEngine
) -> None:
    # Rows are upserted without claiming their event ids. An old run's message that arrives after a
    # newer run wrote the patient (a dead letter sent back, say: its event id was never seen) must
    # not bring the old figures back, nor the old name to the contact Cliniko made; a later message
    # of the newer run still writes.
    org, old, new = _org(), uuid.uuid4(), uuid.uuid4()
    projector = SnapshotProjector(db)
    try:
        await projector.project(_raw(org, patient(old, "1", "Ann", "One", total=1)))
        await projector.project(_raw(org, patient(new, "1", "Ann", "Renamed", total=2), complete(new, 1)))
        stale = await projector.project(_raw(org, patient(old, "1", "Ann", "Stale", total=3)))
        kept = (await patients_of(db, org))["1"]
        names = await fetch(db, "SELECT last_name FROM public.contacts WHERE organization_id = :o", o=org)
        again = await projector.project(_raw(org, patient(new, "1", "Ann", "Renamed", total=4)))
    finally:
        await projector.close()
    assert (stale.rows, stale.superseded) == (0, 1)
    assert (kept["run_id"], kept["total_appointment_count"]) == (new, 2)
    assert [n["last_name"] for n in names] == ["Renamed"]
    assert (again.rows, again.superseded) == (1, 0)
    row = (await patients_of(db, org))["1"]
    assert (row["run_id"], row["total_appointment_count"]) == (new, 4)
