"""Set-based writes of one org's slice of a snapshot batch, and the snapshot_complete rule.

Straight on asyncpg connections (`lane.Lane`), not through a session: the
snapshot path overlaps its parsing with these statements, and a session needs several event-loop
turns before a statement leaves, which the parsing would hold up (services/projector/README.md).
Every function runs with the RLS role and `app.org_id` set, and filters on the org too. Rows travel
as arrays through `unnest`, so a batch costs a handful of statements, not one per row.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from asyncpg import Connection  # type: ignore[import-untyped]

from practice_sync_projector.service.matching import ContactRef, PatientKey


class PatientRow(NamedTuple):
    """One active_patients row as the projector writes it (contact decided): a `snapshot_row`."""

    cliniko_patient_id: str
    contact_id: uuid.UUID
    link_method: str
    run_id: uuid.UUID
    recent_appointment_count: int
    upcoming_appointment_count: int
    total_appointment_count: int
    last_appointment_date: datetime | None
    recent_appointments: str  # JSON text
    upcoming_appointments: str  # JSON text
    search_date_from: date
    search_date_to: date


_CANDIDATE_COLUMNS = """id, email, normalized_name, cliniko_patient_id, cliniko_match_method,
    deleted_at IS NOT NULL AS deleted, source, clio_id, first_name, last_name, phone, created_at"""
# Three index lookups whose arms carry the columns themselves: one OR'ed predicate, or a join back to
# contacts by id, makes the planner walk the whole org. With statistics from a small table the
# planner still prefers the org prefix alone, so `refresh_statistics` keeps them true during bulk
# loads, and seqscans stay off for these lookups (`lane.Lane`).
_CANDIDATES = f"""
    SELECT {_CANDIDATE_COLUMNS} FROM public.contacts
    WHERE organization_id = $1 AND cliniko_patient_id = ANY($2::text[])
    UNION
    SELECT {_CANDIDATE_COLUMNS} FROM public.contacts
    WHERE organization_id = $1 AND email = ANY($3::text[])
    UNION
    SELECT {_CANDIDATE_COLUMNS} FROM public.contacts
    WHERE organization_id = $1 AND normalized_name = ANY($4::text[])
    ORDER BY created_at, id
"""  # noqa: S608 - the only interpolation is a constant column list


async def load_candidates(
    conn: Connection, org: str, pids: list[str], emails: list[str], names: list[str]
) -> list[ContactRef]:
    rows = await conn.fetch(_CANDIDATES, org, pids, emails, names)
    return [ContactRef(*row[:-1]) for row in rows]


async def refresh_statistics(conn: Connection) -> None:
    """ANALYZE contacts, whose lookups depend on it (as the owner, outside the RLS role); it samples.

    Only the looked-up columns, from a small sample: the plans need the table's size and roughly how
    selective each key is, and a full sample of every column cost ~10% of a bulk load (measured).
    """
    async with conn.transaction():
        await conn.execute("SET LOCAL default_statistics_target = 10")
        await conn.execute(
            "ANALYZE public.contacts (organization_id, cliniko_patient_id, email, normalized_name)"
        )


_CLAIM = (
    "INSERT INTO projector.processed_events (consumer, event_id) "
    "SELECT $1, e FROM unnest($2::uuid[]) AS e ON CONFLICT DO NOTHING RETURNING event_id"
)


async def claim(conn: Connection, consumer: str, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """The ids of `ids` this consumer sees for the first time, claimed in the caller's transaction."""
    return {row[0] for row in await conn.fetch(_CLAIM, consumer, ids)}


async def link_contacts(conn: Connection, org: str, links: list[tuple[uuid.UUID, str, str]]) -> None:
    if not links:
        return
    await conn.execute(
        """
        UPDATE public.contacts c
        SET cliniko_patient_id = u.pid, cliniko_match_method = u.method, updated_at = now()
        FROM unnest($2::uuid[], $3::text[], $4::text[]) AS u(id, pid, method)
        WHERE c.organization_id = $1 AND c.id = u.id
        """,
        org,
        [x[0] for x in links],
        [x[1] for x in links],
        [x[2] for x in links],
    )


async def refresh_contacts(
    conn: Connection, org: str, rows: list[tuple[uuid.UUID, PatientKey]], runs: list[uuid.UUID]
) -> None:
    """Cliniko-made contacts take their patients' latest fields; `runs[i]` is the run of the message
    `rows[i]` comes from. Not from a message of a run first seen before the run that wrote the
    patient's row: that message is superseded, its row is not written, and neither are its fields."""
    if not rows:
        return
    await conn.execute(
        """
        UPDATE public.contacts c
        SET first_name = u.first, last_name = u.last, name = u.name, normalized_name = u.nname,
            email = u.email, emails = u.emails::jsonb, phone = u.phone, phones = u.phones::jsonb,
            updated_at = now()
        FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::text[], $9::text[], $10::text[], $11::uuid[])
             AS u(id, first, last, name, nname, email, phone, emails, phones, run)
        WHERE c.organization_id = $1 AND c.id = u.id AND c.source = 'cliniko' AND c.clio_id IS NULL
          AND NOT EXISTS (
              SELECT 1 FROM public.active_patients a
              JOIN projector.snapshot_runs newer
                ON newer.organization_id = a.organization_id AND newer.run_id = a.run_id
              WHERE a.organization_id = $1 AND a.contact_id = c.id
                AND newer.seq > (SELECT seq FROM projector.snapshot_runs
                                 WHERE organization_id = $1 AND run_id = u.run))
        """,
        org,
        *_contact_columns(rows),
        [json.dumps([r[1].email] if r[1].email else []) for r in rows],
        [json.dumps([r[1].phone] if r[1].phone else []) for r in rows],
        runs,
    )


def _contact_columns(contacts: list[tuple[uuid.UUID, PatientKey]]) -> list[list[Any]]:
    """A contact's columns from its patient, one list each: id, first, last, display and
    normalized name, email, phone."""
    return [
        [c[0] for c in contacts],
        [c[1].first_name for c in contacts],
        [c[1].last_name for c in contacts],
        [_display(c[1]) for c in contacts],
        [c[1].normalized_name for c in contacts],
        [c[1].email for c in contacts],
        [c[1].phone for c in contacts],
    ]


_INSERT_CONTACTS = """
    INSERT INTO public.contacts (id, organization_id, first_name, last_name, name,
        normalized_name, email, emails, phone, phones, source, cliniko_patient_id,
        cliniko_match_method)
    SELECT c.id, $1, c.first_name, c.last_name, c.name, c.normalized_name, c.email,
           CASE WHEN c.email IS NULL OR c.email = '' THEN '[]'::jsonb
                ELSE jsonb_build_array(c.email) END,
           c.phone,
           CASE WHEN c.phone IS NULL OR c.phone = '' THEN '[]'::jsonb
                ELSE jsonb_build_array(c.phone) END,
           'cliniko', c.cliniko_patient_id, 'created'
    FROM unnest($2::projector.new_contact[]) AS c
"""


async def insert_contacts(conn: Connection, org: str, created: list[tuple[uuid.UUID, PatientKey]]) -> None:
    # One array of rows (migration 0004 says why); emails/phones are built by the server.
    await conn.execute(
        _INSERT_CONTACTS,
        org,
        [
            (
                cid,
                k.first_name,
                k.last_name,
                _display(k),
                k.normalized_name,
                k.email,
                k.phone,
                k.cliniko_patient_id,
            )
            for cid, k in created
        ],
    )


# A chunk's rows upserted and the runs first seen noted, in one statement: one round trip, so one
# chance fewer to wait on the parsing that overlaps it. No event ids are claimed: a row is a pure
# function of its message, so writing it again changes nothing, and what a claim cannot do the guard
# below does: a row of a run first seen *before* the one that wrote the patient's row never replaces
# it, even if its event was never seen (a dead letter sent back, say). Claiming cost a third of the
# statement (measured: 26 → 20 µs of database CPU a row). A run first seen in this very statement is
# not visible to the guard yet, and it is the newest: it writes.
_UPSERT_PATIENTS = """
    WITH runs AS (
        INSERT INTO projector.snapshot_runs (organization_id, run_id)
        SELECT $1, r FROM unnest($2::uuid[]) WITH ORDINALITY AS u(r, ord)
        ORDER BY ord
        ON CONFLICT DO NOTHING
    ), written AS (
        INSERT INTO public.active_patients AS a (organization_id, cliniko_patient_id, contact_id,
            link_method, run_id, recent_appointment_count, upcoming_appointment_count,
            total_appointment_count, last_appointment_date, recent_appointments,
            upcoming_appointments, search_date_from, search_date_to)
        SELECT $1, u.cliniko_patient_id, u.contact_id, u.link_method, u.run_id,
               u.recent_appointment_count, u.upcoming_appointment_count, u.total_appointment_count,
               u.last_appointment_date, u.recent_appointments::jsonb, u.upcoming_appointments::jsonb,
               u.search_date_from, u.search_date_to
        FROM unnest($3::projector.snapshot_row[]) AS u
        ON CONFLICT (organization_id, cliniko_patient_id) DO UPDATE SET
            contact_id = EXCLUDED.contact_id,
            link_method = EXCLUDED.link_method,
            run_id = EXCLUDED.run_id,
            recent_appointment_count = EXCLUDED.recent_appointment_count,
            upcoming_appointment_count = EXCLUDED.upcoming_appointment_count,
            total_appointment_count = EXCLUDED.total_appointment_count,
            last_appointment_date = EXCLUDED.last_appointment_date,
            recent_appointments = EXCLUDED.recent_appointments,
            upcoming_appointments = EXCLUDED.upcoming_appointments,
            search_date_from = EXCLUDED.search_date_from,
            search_date_to = EXCLUDED.search_date_to,
            updated_at = now()
        WHERE a.run_id = EXCLUDED.run_id OR NOT EXISTS (
            SELECT 1 FROM projector.snapshot_runs newer
            WHERE newer.organization_id = $1 AND newer.run_id = a.run_id
              AND newer.seq > (SELECT seq FROM projector.snapshot_runs
                               WHERE organization_id = $1 AND run_id = EXCLUDED.run_id))
        RETURNING 1
    )
    SELECT count(*) FROM written
"""


async def prefer_generic_plans(conn: Connection) -> None:
    """For the rest of the transaction, let Postgres reuse generic plans (until `complete_snapshot`).

    Each row's foreign-key check is a cached query of its own. The pool's connections force a custom
    plan for every statement (practice_sync_common.db), which meant planning that check again for
    every row written: a third of the rows' cost (measured: 35 → 26 µs a row). Its generic plan, a
    primary-key probe, is as good as any custom one.
    """
    await conn.execute("SET LOCAL plan_cache_mode = auto")


async def upsert_patients(
    conn: Connection, org: str, rows: list[PatientRow], run_ids: list[uuid.UUID]
) -> int:
    """Upsert the rows and note the runs (`run_ids` in the order first seen); how many were written
    (the others belong to runs older than the rows they met)."""
    return int(await conn.fetchval(_UPSERT_PATIENTS, org, run_ids, rows))


async def note_runs(conn: Connection, org: str, run_ids: list[uuid.UUID]) -> None:
    """Remember the order in which runs were first seen (their `seq`); `run_ids` in message order."""
    await conn.execute(
        """
        INSERT INTO projector.snapshot_runs (organization_id, run_id)
        SELECT $1, r FROM unnest($2::uuid[]) WITH ORDINALITY AS u(r, ord)
        ORDER BY ord
        ON CONFLICT DO NOTHING
        """,
        org,
        run_ids,
    )


@dataclass(frozen=True)
class CompleteOutcome:
    expected: int
    seen: int
    deleted: int

    @property
    def complete(self) -> bool:
        return self.seen == self.expected


async def complete_snapshot(conn: Connection, org: str, run_id: uuid.UUID, expected: int) -> CompleteOutcome:
    """Apply `snapshot_complete`: shrink the org's rows to the run only if the run arrived whole.

    "Whole" means the rows still carrying this run id number exactly the announced count. Fewer means
    messages are missing or a newer run already overwrote some rows: either way nothing is deleted.
    Only rows of runs first seen *before* this one are deleted, so a late complete of an old run
    never removes a newer run's rows.
    """
    # Back to the pool's custom plans: these statements run once a snapshot, on a table that may
    # have grown from empty since a generic plan was made.
    await conn.execute("SET LOCAL plan_cache_mode TO DEFAULT")
    await note_runs(conn, org, [run_id])
    seen = int(
        await conn.fetchval(
            "SELECT count(*) FROM public.active_patients WHERE organization_id = $1 AND run_id = $2",
            org,
            run_id,
        )
    )
    deleted = 0
    if seen == expected:
        status = await conn.execute(
            """
            DELETE FROM public.active_patients a
            WHERE a.organization_id = $1 AND a.run_id <> $2
              AND NOT EXISTS (
                  SELECT 1 FROM projector.snapshot_runs newer
                  WHERE newer.organization_id = $1 AND newer.run_id = a.run_id
                    AND newer.seq > (SELECT seq FROM projector.snapshot_runs
                                     WHERE organization_id = $1 AND run_id = $2))
            """,
            org,
            run_id,
        )
        deleted = int(status.split()[-1])  # "DELETE <n>"
    await conn.execute(
        """
        UPDATE projector.snapshot_runs
        SET expected_count = $3, seen_count = $4, deleted_count = $5, status = $6,
            completed_at = clock_timestamp()
        WHERE organization_id = $1 AND run_id = $2
        """,
        org,
        run_id,
        expected,
        seen,
        deleted,
        "complete" if seen == expected else "partial",
    )
    await prefer_generic_plans(conn)
    return CompleteOutcome(expected, seen, deleted)


def _display(p: PatientKey) -> str | None:
    joined = " ".join(x.strip() for x in (p.first_name, p.last_name) if x and x.strip())
    return joined or None
