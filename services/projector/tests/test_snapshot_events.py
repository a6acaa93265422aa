"""The projector's lean snapshot parse must accept, reject and re-serialize exactly like common's model."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from practice_sync_common.events import ActivePatientsComputed, AppointmentSummary, Envelope
from practice_sync_projector.benchmarking import complete_envelope, patient_envelopes
from practice_sync_projector.service.snapshot_events import appointments_json, parse_snapshot_event

MODEL = Envelope[ActivePatientsComputed]
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
    parsed = parse_snapshot_event(raw)
    assert parsed["org_id"] == expected.org_id
    if "id" in record:  # else both draw a random one
        assert parsed["id"] == expected.id
    message = parsed["data"]["message"]
    assert message["type"] == expected.data.message.type
    if message["type"] == "active_patient":
        model = TypeAdapter(list[AppointmentSummary])
        wanted = expected.data.message.recent_appointments  # type: ignore[union-attr]
        assert appointments_json(message["recent_appointments"]) == model.dump_json(wanted).decode()
