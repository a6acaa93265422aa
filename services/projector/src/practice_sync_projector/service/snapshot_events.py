"""The `active_patients.computed` wire format as the projector reads it: typed dicts, not models.

Same fields, constraints and defaults as `Envelope[ActivePatientsComputed]` in common's events, so a
record either model would reject is rejected here too (and dead-lettered). Stricter only where the
read models cannot hold what the event model allows: counts past Postgres `integer`, NUL characters
(refused in `text` and `jsonb`), strings too long for the indexes they land in, and org ids the read
API can never be asked for. A record like that used to fail its whole batch in the database, and
the batch's valid records went to the DLQ with it; refused here, it goes there alone, with a reason.
Validating into dicts costs less than half of building the nested models: the snapshot path parses
every record of a bulk load, and the appointment lists are only written back out as JSON.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

from pydantic import Field, TypeAdapter
from typing_extensions import TypedDict

from practice_sync_common.events import ORG_ID_PATTERN, utcnow

INT_MAX = 2**31 - 1  # the read models' count columns are Postgres `integer`
_NO_NUL = r"^[^\x00]*$"  # Postgres text and jsonb refuse U+0000
# Short enough that (org id, value) fits a btree index entry (2,704 bytes) even at 4 bytes a character.
STRING_MAX = 255
EMAIL_MAX = 320  # RFC 5321: 64 + 1 + 255

Count = Annotated[int, Field(ge=0, le=INT_MAX)]
Str = Annotated[str, Field(max_length=STRING_MAX, pattern=_NO_NUL)]
Key = Annotated[str, Field(min_length=1, max_length=STRING_MAX, pattern=_NO_NUL)]
OptStr = Annotated[str | None, Field(default=None, max_length=STRING_MAX, pattern=_NO_NUL)]


class Appointment(TypedDict):
    id: Str
    starts_at: datetime
    ends_at: Annotated[datetime | None, Field(default=None)]
    practitioner: OptStr
    appointment_type: OptStr
    business: OptStr
    kind: Annotated[Literal["individual", "group"], Field(default="individual")]


class Patient(TypedDict):
    type: Literal["active_patient"]
    run_id: UUID
    cliniko_patient_id: Key
    first_name: OptStr
    last_name: OptStr
    email: Annotated[str | None, Field(default=None, max_length=EMAIL_MAX, pattern=_NO_NUL)]
    phone: OptStr
    recent_appointment_count: Count
    upcoming_appointment_count: Count
    total_appointment_count: Count
    last_appointment_date: Annotated[datetime | None, Field(default=None)]
    recent_appointments: Annotated[list[Appointment], Field(default_factory=list)]
    upcoming_appointments: Annotated[list[Appointment], Field(default_factory=list)]
    search_date_from: date
    search_date_to: date


class Complete(TypedDict):
    type: Literal["snapshot_complete"]
    run_id: UUID
    count: Count


class _Data(TypedDict):
    message: Annotated[Patient | Complete, Field(discriminator="type")]


class SnapshotEvent(TypedDict):
    id: Annotated[UUID, Field(default_factory=uuid4)]
    type: str
    schema_version: Annotated[int, Field(default=1)]
    source: str
    # The one org-id rule (the read API's too): anything else could be written but never read.
    org_id: Annotated[str, Field(min_length=1, max_length=128, pattern=f"^{ORG_ID_PATTERN}$")]
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
