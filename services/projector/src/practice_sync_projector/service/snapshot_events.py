"""The `active_patients.computed` wire format as the projector reads it: typed dicts, not models.

Same fields, constraints and defaults as `Envelope[ActivePatientsComputed]` in common's events, so a
record either model would reject is rejected here too (and dead-lettered). Validating into dicts
costs less than half of building the nested models: the snapshot path parses every record of a
bulk load, and the appointment lists are only written back out as JSON.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from pydantic import Field, TypeAdapter
from typing_extensions import TypedDict

from practice_sync_common.events import utcnow


class Appointment(TypedDict):
    id: str
    starts_at: datetime
    ends_at: Annotated[datetime | None, Field(default=None)]
    practitioner: Annotated[str | None, Field(default=None)]
    appointment_type: Annotated[str | None, Field(default=None)]
    business: Annotated[str | None, Field(default=None)]
    kind: Annotated[Literal["individual", "group"], Field(default="individual")]


class Patient(TypedDict):
    type: Literal["active_patient"]
    run_id: UUID
    cliniko_patient_id: Annotated[str, Field(min_length=1)]
    first_name: Annotated[str | None, Field(default=None)]
    last_name: Annotated[str | None, Field(default=None)]
    email: Annotated[str | None, Field(default=None)]
    phone: Annotated[str | None, Field(default=None)]
    recent_appointment_count: Annotated[int, Field(ge=0)]
    upcoming_appointment_count: Annotated[int, Field(ge=0)]
    total_appointment_count: Annotated[int, Field(ge=0)]
    last_appointment_date: Annotated[datetime | None, Field(default=None)]
    recent_appointments: Annotated[list[Appointment], Field(default_factory=list)]
    upcoming_appointments: Annotated[list[Appointment], Field(default_factory=list)]
    search_date_from: date
    search_date_to: date


class Complete(TypedDict):
    type: Literal["snapshot_complete"]
    run_id: UUID
    count: Annotated[int, Field(ge=0)]


class _Data(TypedDict):
    message: Annotated[Patient | Complete, Field(discriminator="type")]


class SnapshotEvent(TypedDict):
    id: Annotated[UUID, Field(default_factory=uuid4)]
    type: str
    schema_version: Annotated[int, Field(default=1)]
    source: str
    org_id: Annotated[str, Field(min_length=1, max_length=128)]
    occurred_at: Annotated[datetime, Field(default_factory=utcnow)]
    correlation_id: Annotated[UUID | None, Field(default=None)]
    data: _Data


_event = TypeAdapter(SnapshotEvent)
_appointments = TypeAdapter(list[Appointment])


def parse_snapshot_event(value: bytes) -> SnapshotEvent:
    """Raises pydantic's ValidationError for a record that breaks the contract."""
    return _event.validate_json(value)


def appointments_json(appointments: list[Appointment]) -> str:
    return _appointments.dump_json(appointments).decode()
