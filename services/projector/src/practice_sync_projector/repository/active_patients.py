"""Set-based writes of one org's slice of a snapshot batch, and the snapshot_complete rule.

Every function runs inside `org_scope` (RLS role and app.org_id set) and filters on the org too.
Rows travel as arrays through `unnest`, so a batch costs a handful of statements, not one per row.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from practice_sync_projector.service.matching import ContactRef, PatientKey


class PatientRow(NamedTuple):
    """One active_patients row as the projector writes it (contact decided), in `upsert_patients` order."""

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


# upsert_patients' array parameters, one per PatientRow field, in order.
_PATIENT_PARAMS = (
    "pid",
    "contact",
    "method",
    "run",
    "recent",
    "upcoming",
    "total",
    "last",
    "recent_j",
    "upcoming_j",
    "dfrom",
    "dto",
)

_CANDIDATE_COLUMNS = """id, email, normalized_name, cliniko_patient_id, cliniko_match_method,
    deleted_at IS NOT NULL AS deleted, source, clio_id, first_name, last_name, phone, created_at"""


async def load_candidates(
    session: AsyncSession, org: str, pids: list[str], emails: list[str], names: list[str]
) -> list[ContactRef]:
    # Three index lookups whose arms carry the columns themselves: one OR'ed predicate, or a join
    # back to contacts by id, makes the planner walk the whole org. With statistics from a small
    # table the planner still prefers the org prefix alone, so `refresh_statistics` keeps them true
    # during bulk loads, and seqscans stay off for these lookups.
    await session.execute(text("SET LOCAL enable_seqscan = off"))
    result = await session.execute(
        text(
            f"""
            SELECT {_CANDIDATE_COLUMNS} FROM public.contacts
            WHERE organization_id = :org AND cliniko_patient_id = ANY(CAST(:pids AS text[]))
            UNION
            SELECT {_CANDIDATE_COLUMNS} FROM public.contacts
            WHERE organization_id = :org AND email = ANY(CAST(:emails AS text[]))
            UNION
            SELECT {_CANDIDATE_COLUMNS} FROM public.contacts
            WHERE organization_id = :org AND normalized_name = ANY(CAST(:names AS text[]))
            ORDER BY created_at, id
            """  # noqa: S608 - the only interpolation is a constant column list
        ),
        {"org": org, "pids": pids, "emails": emails, "names": names},
    )
    return [ContactRef(*row[:-1]) for row in result.all()]


async def refresh_statistics(session: AsyncSession) -> None:
    """ANALYZE contacts, whose lookups depend on it (as the owner, outside the RLS role); it samples.

    Only the looked-up columns, from a small sample: the plans need the table's size and roughly how
    selective each key is, and a full sample of every column cost ~10% of a bulk load (measured).
    """
    await session.execute(text("SET LOCAL default_statistics_target = 10"))
    await session.execute(
        text("ANALYZE public.contacts (organization_id, cliniko_patient_id, email, normalized_name)")
    )


async def insert_contacts(
    session: AsyncSession, org: str, created: list[tuple[uuid.UUID, PatientKey]]
) -> None:
    if not created:
        return
    ids, first, last, name, nname, email, phone, pid = [], [], [], [], [], [], [], []
    for contact_id, p in created:
        ids.append(contact_id)
        first.append(p.first_name)
        last.append(p.last_name)
        name.append(_display(p))
        nname.append(p.normalized_name)
        email.append(p.email)
        phone.append(p.phone)
        pid.append(p.cliniko_patient_id)
    # emails/phones are built by the server: json.dumps per row was most of this function's client time.
    await session.execute(
        text(
            """
            INSERT INTO public.contacts (id, organization_id, first_name, last_name, name,
                normalized_name, email, emails, phone, phones, source, cliniko_patient_id,
                cliniko_match_method)
            SELECT u.id, :org, u.first, u.last, u.name, u.nname, u.email,
                   CASE WHEN u.email IS NULL OR u.email = '' THEN '[]'::jsonb
                        ELSE jsonb_build_array(u.email) END,
                   u.phone,
                   CASE WHEN u.phone IS NULL OR u.phone = '' THEN '[]'::jsonb
                        ELSE jsonb_build_array(u.phone) END,
                   'cliniko', u.pid, 'created'
            FROM unnest(CAST(:id AS uuid[]), CAST(:first AS text[]), CAST(:last AS text[]),
                        CAST(:name AS text[]), CAST(:nname AS text[]), CAST(:email AS text[]),
                        CAST(:phone AS text[]), CAST(:pid AS text[]))
                 AS u(id, first, last, name, nname, email, phone, pid)
            """
        ),
        {
            "org": org,
            "id": ids,
            "first": first,
            "last": last,
            "name": name,
            "nname": nname,
            "email": email,
            "phone": phone,
            "pid": pid,
        },
    )


async def link_contacts(session: AsyncSession, org: str, links: list[tuple[uuid.UUID, str, str]]) -> None:
    if not links:
        return
    await session.execute(
        text(
            """
            UPDATE public.contacts c
            SET cliniko_patient_id = u.pid, cliniko_match_method = u.method, updated_at = now()
            FROM unnest(CAST(:ids AS uuid[]), CAST(:pids AS text[]), CAST(:methods AS text[]))
                 AS u(id, pid, method)
            WHERE c.organization_id = :org AND c.id = u.id
            """
        ),
        {
            "org": org,
            "ids": [x[0] for x in links],
            "pids": [x[1] for x in links],
            "methods": [x[2] for x in links],
        },
    )


async def refresh_contacts(session: AsyncSession, org: str, rows: list[tuple[uuid.UUID, PatientKey]]) -> None:
    if not rows:
        return
    cols = _columns(
        rows,
        id=lambda r: r[0],
        first=lambda r: r[1].first_name,
        last=lambda r: r[1].last_name,
        name=lambda r: _display(r[1]),
        nname=lambda r: r[1].normalized_name,
        email=lambda r: r[1].email,
        emails=lambda r: json.dumps([r[1].email] if r[1].email else []),
        phone=lambda r: r[1].phone,
        phones=lambda r: json.dumps([r[1].phone] if r[1].phone else []),
    )
    await session.execute(
        text(
            """
            UPDATE public.contacts c
            SET first_name = u.first, last_name = u.last, name = u.name, normalized_name = u.nname,
                email = u.email, emails = u.emails::jsonb, phone = u.phone, phones = u.phones::jsonb,
                updated_at = now()
            FROM unnest(CAST(:id AS uuid[]), CAST(:first AS text[]), CAST(:last AS text[]),
                        CAST(:name AS text[]), CAST(:nname AS text[]), CAST(:email AS text[]),
                        CAST(:emails AS text[]), CAST(:phone AS text[]), CAST(:phones AS text[]))
                 AS u(id, first, last, name, nname, email, emails, phone, phones)
            WHERE c.organization_id = :org AND c.id = u.id AND c.source = 'cliniko' AND c.clio_id IS NULL
            """
        ),
        {"org": org, **cols},
    )


async def upsert_patients(session: AsyncSession, org: str, rows: list[PatientRow]) -> None:
    if not rows:
        return
    cols = dict(zip(_PATIENT_PARAMS, (list(c) for c in zip(*rows, strict=True)), strict=True))
    await session.execute(
        text(
            """
            INSERT INTO public.active_patients AS a (organization_id, cliniko_patient_id, contact_id,
                link_method, run_id, recent_appointment_count, upcoming_appointment_count,
                total_appointment_count, last_appointment_date, recent_appointments,
                upcoming_appointments, search_date_from, search_date_to)
            SELECT :org, u.pid, u.contact, u.method, u.run, u.recent, u.upcoming, u.total, u.last,
                   u.recent_j::jsonb, u.upcoming_j::jsonb, u.dfrom, u.dto
            FROM unnest(CAST(:pid AS text[]), CAST(:contact AS uuid[]), CAST(:method AS text[]),
                        CAST(:run AS uuid[]), CAST(:recent AS int[]), CAST(:upcoming AS int[]),
                        CAST(:total AS int[]), CAST(:last AS timestamptz[]), CAST(:recent_j AS text[]),
                        CAST(:upcoming_j AS text[]), CAST(:dfrom AS date[]), CAST(:dto AS date[]))
                 AS u(pid, contact, method, run, recent, upcoming, total, last, recent_j, upcoming_j,
                      dfrom, dto)
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
            """
        ),
        {"org": org, **cols},
    )


async def note_runs(session: AsyncSession, org: str, run_ids: list[uuid.UUID]) -> None:
    """Remember the order in which runs were first seen (their `seq`); `run_ids` in message order."""
    await session.execute(
        text(
            """
            INSERT INTO projector.snapshot_runs (organization_id, run_id)
            SELECT :org, r FROM unnest(CAST(:runs AS uuid[])) WITH ORDINALITY AS u(r, ord)
            ORDER BY ord
            ON CONFLICT DO NOTHING
            """
        ),
        {"org": org, "runs": run_ids},
    )


@dataclass(frozen=True)
class CompleteOutcome:
    expected: int
    seen: int
    deleted: int

    @property
    def complete(self) -> bool:
        return self.seen == self.expected


async def complete_snapshot(
    session: AsyncSession, org: str, run_id: uuid.UUID, expected: int
) -> CompleteOutcome:
    """Apply `snapshot_complete`: shrink the org's rows to the run only if the run arrived whole.

    "Whole" means the rows still carrying this run id number exactly the announced count. Fewer means
    messages are missing or a newer run already overwrote some rows: either way nothing is deleted.
    Only rows of runs first seen *before* this one are deleted, so a late complete of an old run
    never removes a newer run's rows.
    """
    await note_runs(session, org, [run_id])
    seen = int(
        (
            await session.execute(
                text(
                    "SELECT count(*) FROM public.active_patients"
                    " WHERE organization_id = :org AND run_id = :run"
                ),
                {"org": org, "run": run_id},
            )
        ).scalar_one()
    )
    deleted = 0
    if seen == expected:
        result = await session.execute(
            text(
                """
                DELETE FROM public.active_patients a
                WHERE a.organization_id = :org AND a.run_id <> :run
                  AND NOT EXISTS (
                      SELECT 1 FROM projector.snapshot_runs newer
                      WHERE newer.organization_id = :org AND newer.run_id = a.run_id
                        AND newer.seq > (SELECT seq FROM projector.snapshot_runs
                                         WHERE organization_id = :org AND run_id = :run))
                """
            ),
            {"org": org, "run": run_id},
        )
        deleted = int(getattr(result, "rowcount", 0) or 0)
    await session.execute(
        text(
            """
            UPDATE projector.snapshot_runs
            SET expected_count = :expected, seen_count = :seen, deleted_count = :deleted,
                status = :status, completed_at = clock_timestamp()
            WHERE organization_id = :org AND run_id = :run
            """
        ),
        {
            "org": org,
            "run": run_id,
            "expected": expected,
            "seen": seen,
            "deleted": deleted,
            "status": "complete" if seen == expected else "partial",
        },
    )
    return CompleteOutcome(expected, seen, deleted)


def _display(p: PatientKey) -> str | None:
    joined = " ".join(x.strip() for x in (p.first_name, p.last_name) if x and x.strip())
    return joined or None


def _columns(rows: list[Any], **getters: Any) -> dict[str, list[Any]]:
    return {name: [get(r) for r in rows] for name, get in getters.items()}
