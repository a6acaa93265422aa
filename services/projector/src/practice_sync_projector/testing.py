"""Test helpers: build snapshot events, publish them, wait for the projector to apply them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from faststream.kafka import KafkaBroker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from practice_sync_common import topics
from practice_sync_common.broker import publish
from practice_sync_common.events import (
    ActivePatient,
    ActivePatientsComputed,
    AppointmentSummary,
    ContactSynced,
    Envelope,
    SnapshotComplete,
    envelope,
)

T = TypeVar("T")


def patient(
    run_id: uuid.UUID,
    pid: str,
    first: str | None = None,
    last: str | None = None,
    email: str | None = None,
    *,
    total: int = 1,
    last_date: datetime | None = None,
) -> ActivePatient:
    when = last_date or datetime(2025, 1, 10, 9, tzinfo=UTC)
    return ActivePatient(
        run_id=run_id,
        cliniko_patient_id=pid,
        first_name=first,
        last_name=last,
        email=email,
        recent_appointment_count=1,
        upcoming_appointment_count=0,
        total_appointment_count=total,
        last_appointment_date=when,
        recent_appointments=[
            AppointmentSummary(id=f"a-{pid}", starts_at=when, ends_at=when + timedelta(hours=1))
        ],
        search_date_from=date(2024, 11, 11),
        search_date_to=date(2025, 1, 10),
    )


def complete(run_id: uuid.UUID, count: int) -> SnapshotComplete:
    return SnapshotComplete(run_id=run_id, count=count)


def snapshot_event(org: str, msg: ActivePatient | SnapshotComplete) -> Envelope[ActivePatientsComputed]:
    return envelope("active_patients.computed", "tests", org, ActivePatientsComputed(message=msg))


async def send(
    broker: KafkaBroker, org: str, *messages: ActivePatient | SnapshotComplete
) -> list[Envelope[ActivePatientsComputed]]:
    events = [snapshot_event(org, m) for m in messages]
    for ev in events:
        await publish(broker, topics.ACTIVE_PATIENTS_COMPUTED, ev)
    return events


def contact_event(
    org: str,
    clio_id: str,
    action: str = "created",
    *,
    first: str | None = "Ada",
    last: str | None = "Lovelace",
    emails: list[str] | None = None,
    etag: str | None = None,
    updated_at: datetime | None = None,
) -> Envelope[ContactSynced]:
    data = ContactSynced.model_validate(
        {
            "action": action,
            "provider": "clio",
            "provider_id": clio_id,
            "etag": etag,
            "first_name": first,
            "last_name": last,
            "emails": emails or [],
            "provider_updated_at": updated_at,
        }
    )
    return envelope("contact.synced", "tests", org, data)


async def wait_for(probe: Callable[[], Awaitable[T | None]], within_s: float = 30.0) -> T:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        value = await probe()
        if value is not None:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the projector did not get there in time")
        await asyncio.sleep(0.05)


async def fetch(engine: AsyncEngine, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Query as the connecting (super)user: the tests' view, which bypasses RLS on purpose."""
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(text(sql), params)).mappings().all()]


async def wait_run(
    engine: AsyncEngine, org: str, run_id: uuid.UUID, within_s: float = 30.0
) -> dict[str, Any]:
    """Wait until the projector has applied this run's snapshot_complete; returns its bookkeeping."""

    async def probe() -> dict[str, Any] | None:
        rows = await fetch(
            engine,
            "SELECT * FROM projector.snapshot_runs WHERE organization_id = :org AND run_id = :run "
            "AND completed_at IS NOT NULL",
            org=org,
            run=run_id,
        )
        return rows[0] if rows else None

    return await wait_for(probe, within_s)


async def patients_of(engine: AsyncEngine, org: str) -> dict[str, dict[str, Any]]:
    rows = await fetch(
        engine,
        "SELECT a.*, c.source, c.clio_id, c.email AS contact_email, c.cliniko_match_method "
        "FROM public.active_patients a JOIN public.contacts c ON c.id = a.contact_id "
        "WHERE a.organization_id = :org",
        org=org,
    )
    return {r["cliniko_patient_id"]: r for r in rows}
