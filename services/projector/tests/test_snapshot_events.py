"""The projector's lean snapshot parse must accept, reject and re-serialize exactly like common's model."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from pydantic import TypeAdapter, ValidationError

from practice_sync_common.events import ActivePatientsComputed, AppointmentSummary, Envelope
from practice_sync_projector.benchmarking import complete_envelope, patient_envelopes
from practice_sync_projector.service.snapshot_events import (
    SnapshotEvent,
    appointments_json,
    parse_snapshot_event,
)

MODEL = Envelope[ActivePatientsComputed]


def as_dict(event: SnapshotEvent) -> dict[str, Any]:
    return msgspec.to_builtins(event)  # type: ignore[no-any-return]


PATIENT = json.loads(patient_envelopes("org-a", 1)[0].model_dump_json())
COMPLETE = json.loads(complete_envelope("org-a", uuid.uuid4(), 3).model_dump_json())
BAD_VALUES = [None, -1, "", "x", [], {}, 1.5, "2025-01-01", "group"]
_MISSING = object()


def _variants() -> Iterator[tuple[str, dict[str, Any]]]:
    yield "patient", PATIENT
    yield "complete", COMPLETE
    message = PATIENT["data"]["message"]
    places: list[tuple[str, list[str | int]]] = [
        *((f"envelope.{k}", [k]) for k in PATIENT if k != "data"),
        *((f"message.{k}", ["data", "message", k]) for k in message),
        *(
            (f"appointment.{k}", ["data", "message", "recent_appointments", 0, k])
            for k in message["recent_appointments"][0]
        ),
        *((f"complete.{k}", ["data", "message", k]) for k in COMPLETE["data"]["message"]),
    ]
    for name, path in places:
        base = COMPLETE if name.startswith("complete.") else PATIENT
        for value in [*BAD_VALUES, "o" * 200, _MISSING]:
            variant = copy.deepcopy(base)
            parent = variant
            for step in path[:-1]:
                parent = parent[step]
            if value is _MISSING:
                del parent[path[-1]]
            else:
                parent[path[-1]] = value
            yield f"{name}={value!r}", variant


@pytest.mark.parametrize(("name", "record"), list(_variants()), ids=lambda x: x if isinstance(x, str) else "")
def test_lean_parse_agrees_with_the_event_model(name: str, record: dict[str, Any]) -> None:
    raw = json.dumps(record).encode()
    try:
        expected = MODEL.model_validate_json(raw)
    except ValidationError:
        with pytest.raises(ValidationError):
            parse_snapshot_event(raw)
        return
    got, want = as_dict(parse_snapshot_event(raw)), json.loads(expected.model_dump_json())
    for defaulted in ("id", "occurred_at"):  # each parser draws its own when the record has none
        if defaulted not in record:
            got.pop(defaulted), want.pop(defaulted)
    assert got == want
    message = got["data"]["message"]
    if message["type"] == "active_patient":
        model = TypeAdapter(list[AppointmentSummary])
        wanted = expected.data.message.recent_appointments  # type: ignore[union-attr]
        parsed = parse_snapshot_event(raw).data.message
        assert json.loads(appointments_json(parsed.recent_appointments)) == json.loads(  # type: ignore[union-attr]
            model.dump_json(wanted)
        )


def _patient_with(**changes: Any) -> bytes:
    record = copy.deepcopy(PATIENT)
    for name, value in changes.items():
        if name == "org_id":
            record["org_id"] = value
        else:
            record["data"]["message"][name] = value
    return json.dumps(record).encode()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"org_id": "org-a\n"}, "an org id with a trailing newline"),
        ({"first_name": "Ann\x00"}, "a NUL, which JSON spells \\u0000"),
        ({"total_appointment_count": 2**31}, "a count past Postgres integer"),
        ({"cliniko_patient_id": "x" * 256}, "a key past its index's length"),
        ({"last_name": "\ud800"}, "a lone surrogate"),
    ],
)
def test_what_the_read_models_cannot_hold_is_refused(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError):
        parse_snapshot_event(_patient_with(**changes))


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"total_appointment_count": "7"}, "total_appointment_count", 7),  # the contract is lax
        ({"recent_appointment_count": 2.0}, "recent_appointment_count", 2),
        ({"first_name": "Jos\u00e9"}, "first_name", "José"),  # escaped, so decided by the contract
    ],
)
def test_what_the_contract_accepts_the_projector_reads_the_same(
    changes: dict[str, Any], field: str, value: Any
) -> None:
    raw = _patient_with(**changes)
    if field == "first_name":
        raw = raw.replace("José".encode(), b"Jos\\u00e9")
    assert as_dict(parse_snapshot_event(raw))["data"]["message"][field] == value
