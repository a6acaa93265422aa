"""The `active_patients.computed` wire format as the projector reads it.

Same fields, constraints and defaults as `Envelope[ActivePatientsComputed]` in common's events, so a
record either model would reject is rejected here too (and dead-lettered). Stricter only where the
read models cannot hold what the event model allows: counts past Postgres `integer`, NUL characters
(refused in `text` and `jsonb`), strings too long for the indexes they land in, and org ids the read
API can never be asked for. A record like that used to fail its whole batch in the database, and
the batch's valid records went to the DLQ with it; refused here, it goes there alone, with a reason.

Two parsers, one contract. The pydantic TypedDicts below are the contract and give the reasons a
refused record carries; msgspec Structs with the same constraints parse a bulk load's records in
about a third of the time (its parse was a quarter of the projector's own CPU). A record takes the
msgspec path only when that path can decide it exactly; anything it refuses, and any record with a
`\\u` escape (the only way JSON can spell NUL, or a lone surrogate, neither of which msgspec checks),
goes to pydantic, whose verdict stands. msgspec is stricter than pydantic's lax mode, never looser,
so the fast path never accepts what the contract refuses (tests/test_snapshot_events.py).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID, uuid4

import msgspec
from pydantic import Field, TypeAdapter
from typing_extensions import TypedDict

from practice_sync_common.events import ORG_ID_PATTERN, utcnow

INT_MAX = 2**31 - 1  # the read models' count columns are Postgres `integer`
_NO_NUL = r"^[^\x00]*$"  # Postgres text and jsonb refuse U+0000
# Short enough that (org id, value) fits a btree index entry (2,704 bytes) even at 4 bytes a character.
STRING_MAX = 255
EMAIL_MAX = 320  # RFC 5321: 64 + 1 + 255
ORG_ID_MAX = 128

# --- the contract (pydantic): decides every record the fast path cannot, and words the refusals --

Count = Annotated[int, Field(ge=0, le=INT_MAX)]
Str = Annotated[str, Field(max_length=STRING_MAX, pattern=_NO_NUL)]
Key = Annotated[str, Field(min_length=1, max_length=STRING_MAX, pattern=_NO_NUL)]
OptStr = Annotated[str | None, Field(default=None, max_length=STRING_MAX, pattern=_NO_NUL)]


class _Appointment(TypedDict):
    id: Str
    starts_at: datetime
    ends_at: Annotated[datetime | None, Field(default=None)]
    practitioner: OptStr
    appointment_type: OptStr
    business: OptStr
    kind: Annotated[Literal["individual", "group"], Field(default="individual")]


class _Patient(TypedDict):
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
    recent_appointments: Annotated[list[_Appointment], Field(default_factory=list)]
    upcoming_appointments: Annotated[list[_Appointment], Field(default_factory=list)]
    search_date_from: date
    search_date_to: date


class _Complete(TypedDict):
    type: Literal["snapshot_complete"]
    run_id: UUID
    count: Count


class _Data(TypedDict):
    message: Annotated[_Patient | _Complete, Field(discriminator="type")]


class _Event(TypedDict):
    id: Annotated[UUID, Field(default_factory=uuid4)]
    type: str
    schema_version: Annotated[int, Field(default=1)]
    source: str
    # The one org-id rule (the read API's too): anything else could be written but never read.
    org_id: Annotated[str, Field(min_length=1, max_length=ORG_ID_MAX, pattern=f"^{ORG_ID_PATTERN}$")]
    occurred_at: Annotated[datetime, Field(default_factory=utcnow)]
    correlation_id: Annotated[UUID | None, Field(default=None)]
    data: _Data


_contract = TypeAdapter(_Event)

# --- what the projector works with (msgspec): the same fields, constraints and defaults ----------

MStr = Annotated[str, msgspec.Meta(max_length=STRING_MAX)]
MOptStr = Annotated[str, msgspec.Meta(max_length=STRING_MAX)] | None
MCount = Annotated[int, msgspec.Meta(ge=0, le=INT_MAX)]


class Appointment(msgspec.Struct):
    id: MStr
    starts_at: datetime
    ends_at: datetime | None = None
    practitioner: MOptStr = None
    appointment_type: MOptStr = None
    business: MOptStr = None
    kind: Literal["individual", "group"] = "individual"


class Patient(msgspec.Struct, tag_field="type", tag="active_patient"):
    run_id: UUID
    cliniko_patient_id: Annotated[str, msgspec.Meta(min_length=1, max_length=STRING_MAX)]
    recent_appointment_count: MCount
    upcoming_appointment_count: MCount
    total_appointment_count: MCount
    search_date_from: date
    search_date_to: date
    first_name: MOptStr = None
    last_name: MOptStr = None
    email: Annotated[str, msgspec.Meta(max_length=EMAIL_MAX)] | None = None
    phone: MOptStr = None
    last_appointment_date: datetime | None = None
    recent_appointments: list[Appointment] = msgspec.field(default_factory=list)
    upcoming_appointments: list[Appointment] = msgspec.field(default_factory=list)


class Complete(msgspec.Struct, tag_field="type", tag="snapshot_complete"):
    run_id: UUID
    count: MCount


class Data(msgspec.Struct):
    message: Patient | Complete


class SnapshotEvent(msgspec.Struct):
    type: str
    source: str
    org_id: Annotated[str, msgspec.Meta(min_length=1, max_length=ORG_ID_MAX)]
    data: Data
    id: UUID = msgspec.field(default_factory=uuid4)
    schema_version: int = 1
    occurred_at: datetime = msgspec.field(default_factory=utcnow)
    correlation_id: UUID | None = None


class Head(msgspec.Struct):
    """What a batch needs of a record before parsing it: its id (a repeat in the batch is dropped)
    and its org (locked first)."""

    org_id: str
    id: UUID = msgspec.field(default_factory=uuid4)


_fast = msgspec.json.Decoder(SnapshotEvent)
_head = msgspec.json.Decoder(Head)
_appointments = msgspec.json.Encoder()
# `re.match` with `$` would let a trailing newline through; the contract's pattern does not.
_ORG_ID = re.compile(ORG_ID_PATTERN)


def parse_snapshot_event(value: bytes) -> SnapshotEvent:
    """The record, parsed; raises pydantic's ValidationError for a record that breaks the contract."""
    if b"\\u" not in value:
        try:
            event = _fast.decode(value)
        except msgspec.DecodeError:
            pass  # may still be valid to the contract's lax mode: it decides, below
        else:
            if _ORG_ID.fullmatch(event.org_id):
                return event
    return msgspec.convert(_contract.validate_json(value), SnapshotEvent)


def peek(value: bytes) -> Head | None:
    """The record's id and org, if they can be read; a record without them fails its full parse."""
    try:
        return _head.decode(value)
    except msgspec.DecodeError:
        return None


def appointments_json(appointments: list[Appointment]) -> str:
    return _appointments.encode(appointments).decode()
