"""For throughput benchmarks: realistic snapshot events and the "plain batched insert" baseline.

`bench/projector_throughput.py` (and the Cliniko benchmark) compare the projector's rows/s, consuming
these events from the topic, with `plain_batched_insert` writing the same rows straight into
`public.active_patients` with asyncpg `executemany`, 1,000 rows per transaction: the cheapest
ordinary way to load those rows, with no Kafka, parsing, matching or contacts.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg  # type: ignore[import-untyped]

from practice_sync_common.events import (
    ActivePatient,
    ActivePatientsComputed,
    AppointmentSummary,
    Envelope,
    SnapshotComplete,
    envelope,
)

FIRST = ["Ava", "Liam", "Mia", "Noah", "Zoe", "Omar", "Ines", "Kenji", "Lea", "Ravi", "Sofia", "Tom"]
LAST = ["Smith", "Nguyen", "Garcia", "Brown", "Kaur", "Rossi", "Tanaka", "Okafor", "Muller", "Silva"]
PRACTITIONERS = ["Dr Jane Hart", "Dr Ken Ito", "Sam Physio", "Alex Osteo"]
TYPES = ["Initial consult", "Follow-up", "Group pilates", "Hydrotherapy"]


def patient_envelopes(
    org: str, n: int, run_id: uuid.UUID | None = None, seed: int = 7, now: datetime | None = None
) -> list[Envelope[ActivePatientsComputed]]:
    """`n` ActivePatient events of one run, as cliniko-sync would publish them (1-3 recent, 0-2 upcoming)."""
    rng = random.Random(seed)
    run = run_id or uuid.uuid4()
    now = now or datetime(2025, 6, 1, 12, tzinfo=UTC)
    out = []
    for i in range(n):
        recent = [
            _appointment(rng, f"{i}-r{k}", now - timedelta(days=rng.randint(1, 59)))
            for k in range(rng.randint(1, 3))
        ]
        upcoming = [
            _appointment(rng, f"{i}-u{k}", now + timedelta(days=rng.randint(1, 40)))
            for k in range(rng.randint(0, 2))
        ]
        first, last = rng.choice(FIRST), rng.choice(LAST)
        msg = ActivePatient(
            run_id=run,
            cliniko_patient_id=str(1_000_000 + i),
            first_name=first,
            last_name=f"{last}{i}",
            email=f"{first.lower()}.{last.lower()}{i}@example.com" if rng.random() < 0.8 else None,
            phone=f"+61 4{rng.randint(10_000_000, 99_999_999)}",
            recent_appointment_count=len(recent),
            upcoming_appointment_count=len(upcoming),
            total_appointment_count=len(recent) + len(upcoming) + rng.randint(0, 30),
            last_appointment_date=max(a.starts_at for a in recent),
            recent_appointments=recent,
            upcoming_appointments=upcoming,
            search_date_from=(now - timedelta(days=60)).date(),
            search_date_to=now.date(),
        )
        out.append(envelope("active_patients.computed", "bench", org, ActivePatientsComputed(message=msg)))
    return out


def complete_envelope(org: str, run_id: uuid.UUID, count: int) -> Envelope[ActivePatientsComputed]:
    msg = SnapshotComplete(run_id=run_id, count=count)
    return envelope("active_patients.computed", "bench", org, ActivePatientsComputed(message=msg))


def _appointment(rng: random.Random, aid: str, starts: datetime) -> AppointmentSummary:
    return AppointmentSummary(
        id=aid,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=45),
        practitioner=rng.choice(PRACTITIONERS),
        appointment_type=rng.choice(TYPES),
        business="Main St Clinic",
        kind="group" if rng.random() < 0.1 else "individual",
    )


class InsertTiming(NamedTuple):
    rows_per_s: float
    metered: float  # how much `meter` grew over the timed part (0 without a meter)


_CONTACT_INSERT = """
    INSERT INTO public.contacts (id, organization_id, first_name, last_name, name, normalized_name,
        email, emails, phone, phones, source, cliniko_patient_id, cliniko_match_method)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10::jsonb, 'cliniko', $11, 'created')
"""
_ACTIVE_PATIENT_INSERT = """
    INSERT INTO public.active_patients (organization_id, contact_id, cliniko_patient_id,
        recent_appointment_count, upcoming_appointment_count, total_appointment_count,
        last_appointment_date, recent_appointments, upcoming_appointments,
        search_date_from, search_date_to, run_id, link_method)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11, $12, 'created')
"""


async def plain_batched_insert(
    dsn: str,
    org: str,
    events: list[Envelope[ActivePatientsComputed]],
    batch: int = 1000,
    meter: Callable[[], float] | None = None,
    with_contacts: bool = False,
) -> InsertTiming:
    """Insert the events' rows for `org` with asyncpg `executemany`; the timed part's rows/s.

    By default only the active_patients insert is timed: contacts for the rows (the table's foreign
    key needs them) are made first, untimed. `with_contacts` times each batch's contacts (as the
    projector makes them on a first load) and active_patients rows together, in one transaction.
    `dsn` is a plain postgresql:// URL. `meter` (say, the database's CPU seconds) is read just
    before and after the timed part.
    """
    patients = [e.data.message for e in events if isinstance(e.data.message, ActivePatient)]
    contact_ids = [uuid.uuid4() for _ in patients]
    contacts = [_contact_row(org, cid, p) for cid, p in zip(contact_ids, patients, strict=True)]
    rows = [_active_patient_row(org, cid, p) for cid, p in zip(contact_ids, patients, strict=True)]
    conn = await asyncpg.connect(dsn)
    try:
        if not with_contacts:
            await conn.executemany(_CONTACT_INSERT, contacts)
        metered = meter() if meter is not None else 0.0
        started = time.perf_counter()
        for i in range(0, len(rows), batch):
            async with conn.transaction():
                if with_contacts:
                    await conn.executemany(_CONTACT_INSERT, contacts[i : i + batch])
                await conn.executemany(_ACTIVE_PATIENT_INSERT, rows[i : i + batch])
        elapsed = time.perf_counter() - started
        metered = meter() - metered if meter is not None else 0.0
    finally:
        await conn.close()
    return InsertTiming(len(rows) / elapsed, metered)


def _contact_row(org: str, contact_id: uuid.UUID, p: ActivePatient) -> tuple[Any, ...]:
    name = " ".join(x for x in (p.first_name, p.last_name) if x) or None
    return (
        contact_id,
        org,
        p.first_name,
        p.last_name,
        name,
        name.lower() if name else None,
        p.email,
        json.dumps([p.email] if p.email else []),
        p.phone,
        json.dumps([p.phone] if p.phone else []),
        p.cliniko_patient_id,
    )


def _active_patient_row(org: str, contact_id: uuid.UUID, p: ActivePatient) -> tuple[Any, ...]:
    return (
        org,
        contact_id,
        p.cliniko_patient_id,
        p.recent_appointment_count,
        p.upcoming_appointment_count,
        p.total_appointment_count,
        p.last_appointment_date,
        json.dumps([a.model_dump(mode="json") for a in p.recent_appointments]),
        json.dumps([a.model_dump(mode="json") for a in p.upcoming_appointments]),
        p.search_date_from,
        p.search_date_to,
        p.run_id,
    )
