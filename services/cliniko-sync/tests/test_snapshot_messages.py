"""A snapshot message built as plain data is, byte for byte, the event the contract's models give.

`active_patient_event` skips the pydantic models for speed, so these hold it to them: every field,
its order and its formatting (datetimes in UTC and in other offsets, dates, UUIDs, None, non-ASCII
text, empty lists, group visits), and the envelope around it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from practice_sync_cliniko_sync.domain.rules import ActiveRow, PatientInfo, Visit
from practice_sync_cliniko_sync.service.snapshot_messages import active_patient_event
from practice_sync_common import topics
from practice_sync_common.events import (
    ActivePatient,
    ActivePatientsComputed,
    AppointmentSummary,
    Envelope,
)

RUN = uuid.UUID("5d0c3f0e-8f7a-4d55-9a43-0b8b1f3c2a10")
AEST = timezone(timedelta(hours=10))


def _visit(n: int, at: datetime, kind: str = "individual", ends: bool = True) -> Visit:
    return Visit(
        id=str(1_000_000_000_000 + n),
        patient_id="ignored",
        starts_at=at,
        ends_at=at + timedelta(minutes=45) if ends else None,
        practitioner=None if n % 2 else "77",
        appointment_type="12",
        business=None,
        kind=kind,  # type: ignore[arg-type]
    )


CASES = {
    "recent and upcoming, UTC": (
        ActiveRow(
            "100200300400500",
            recent=[_visit(1, datetime(2026, 10, 1, 9, 30, tzinfo=UTC))],
            upcoming=[_visit(2, datetime(2026, 12, 1, 9, 0, 0, 120, tzinfo=UTC), "group")],
            total=17,
            search_date_from=date(2026, 9, 23),
            search_date_to=date(2026, 11, 22),
        ),
        PatientInfo("Zoë", "Ó'Brien-Łukasz", "zoe@example.com", "+61 400 000 000", archived=False),
    ),
    "no contact details, other offset, no end": (
        ActiveRow(
            "7",
            recent=[
                _visit(3, datetime(2026, 11, 22, 23, 59, 59, tzinfo=AEST), ends=False),
                _visit(4, datetime(2026, 9, 23, 0, 0, tzinfo=AEST), "group"),
            ],
            upcoming=[],
            total=2,
            search_date_from=date(2026, 9, 23),
            search_date_to=date(2026, 11, 22),
        ),
        PatientInfo(None, None, None, None, archived=False),
    ),
}


def _through_models(
    org: str, row: ActiveRow, info: PatientInfo, like: Envelope[ActivePatientsComputed]
) -> bytes:
    summaries = [
        AppointmentSummary(
            id=v.id,
            starts_at=v.starts_at,
            ends_at=v.ends_at,
            practitioner=v.practitioner,
            appointment_type=v.appointment_type,
            business=v.business,
            kind=v.kind,
        )
        for v in (*row.recent, *row.upcoming)
    ]
    assert row.search_date_from is not None and row.search_date_to is not None
    message = ActivePatient(
        run_id=RUN,
        cliniko_patient_id=row.patient_id,
        first_name=info.first_name,
        last_name=info.last_name,
        email=info.email,
        phone=info.phone,
        recent_appointment_count=len(row.recent),
        upcoming_appointment_count=len(row.upcoming),
        total_appointment_count=row.total,
        last_appointment_date=row.last_appointment_date,
        recent_appointments=summaries[: len(row.recent)],
        upcoming_appointments=summaries[len(row.recent) :],
        search_date_from=row.search_date_from,
        search_date_to=row.search_date_to,
    )
    event = Envelope[ActivePatientsComputed](
        id=like.id,  # the two differ only in what is drawn fresh per event
        occurred_at=like.occurred_at,
        type=topics.ACTIVE_PATIENTS_COMPUTED,
        source="cliniko-sync",
        org_id=org,
        correlation_id=RUN,
        data=ActivePatientsComputed(message=message),
    )
    return event.model_dump_json().encode()


@pytest.mark.parametrize("case", CASES)
def test_a_snapshot_message_is_the_models_event_byte_for_byte(case: str) -> None:
    row, info = CASES[case]
    wire = active_patient_event("org-ü.1", RUN, row, info)

    parsed = Envelope[ActivePatientsComputed].model_validate_json(wire)

    assert wire == _through_models("org-ü.1", row, info, parsed)
    assert isinstance(parsed.data.message, ActivePatient)
    assert parsed.data.message.cliniko_patient_id == row.patient_id


def test_each_message_gets_its_own_event_id() -> None:
    row, info = CASES["no contact details, other offset, no end"]
    ids = {
        Envelope[ActivePatientsComputed].model_validate_json(active_patient_event("o", RUN, row, info)).id
        for _ in range(3)
    }
    assert len(ids) == 3


def test_a_row_without_its_search_window_is_refused() -> None:
    row = ActiveRow("9", total=1)
    with pytest.raises(ValueError, match="active patient 9 has no search window"):
        active_patient_event("o", RUN, row, PatientInfo(None, None, None, None, archived=False))


@pytest.mark.parametrize("org", ["", "x" * 129])
def test_an_org_id_the_envelope_would_refuse_is_refused(org: str) -> None:
    row, info = CASES["no contact details, other offset, no end"]
    with pytest.raises(ValueError, match="org_id must be 1-128 characters"):
        active_patient_event(org, RUN, row, info)
