"""One Cliniko account's records and every change the API or the control API can make to them.

Every change bumps the touched record's `updated_at` (strictly, even on a frozen clock) and the
account's `version`, which invalidates cached query results.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .config import AccountSpec
from .names import CANCELLATION_REASONS, GROUP_TYPE_ROWS, INDIVIDUAL_TYPE_ROWS
from .table import NULL, IdSpace, Table
from .timefmt import parse_date, parse_ts

PATIENT_COLUMNS = {
    "created_at": "q",
    "updated_at": "q",
    "archived_at": "q",
    "deleted_at": "q",
    "merged_at": "q",
    "merged_with": "i",
    "date_of_birth": "i",
    "first_name": "O",
    "last_name": "O",
    "preferred_first_name": "O",
    "email": "O",
    "old_reference_id": "O",
}
APPOINTMENT_COLUMNS = {
    "created_at": "q",
    "updated_at": "q",
    "starts_at": "q",
    "ends_at": "q",
    "cancelled_at": "q",
    "archived_at": "q",
    "deleted_at": "q",
    "patient": "i",
    "practitioner": "i",
    "business": "i",
    "appointment_type": "i",
    "repeated_from": "i",
    "cancellation_reason": "b",
    "did_not_arrive": "b",
    "patient_arrived": "b",
}
GROUP_COLUMNS = {
    "created_at": "q",
    "updated_at": "q",
    "starts_at": "q",
    "ends_at": "q",
    "archived_at": "q",
    "deleted_at": "q",
    "practitioner": "i",
    "business": "i",
    "appointment_type": "i",
    "repeated_from": "i",
    "max_attendees": "i",
}
ATTENDEE_COLUMNS = {
    "created_at": "q",
    "updated_at": "q",
    "cancelled_at": "q",
    "archived_at": "q",
    "deleted_at": "q",
    "appointment": "i",
    "patient": "i",
    "cancellation_reason": "b",
    "arrived": "b",
}
PRACTITIONER_COLUMNS = {
    "created_at": "q",
    "updated_at": "q",
    "first_name": "O",
    "last_name": "O",
    "title": "O",
    "designation": "O",
}
BUSINESS_COLUMNS = {"created_at": "q", "updated_at": "q", "business_name": "O", "city": "O"}
APPOINTMENT_TYPE_COLUMNS = {
    "created_at": "q",
    "updated_at": "q",
    "name": "O",
    "duration": "i",
    "max_attendees": "i",
    "category": "O",
    "color": "O",
}

# Patient fields kept outside the columns (not filterable): they start from `patient_details`.
PATIENT_EXTRA_FIELDS = (
    "title",
    "sex",
    "gender_identity",
    "pronouns",
    "address_1",
    "address_2",
    "address_3",
    "city",
    "state",
    "post_code",
    "country",
    "occupation",
    "notes",
    "time_zone",
    "accepted_privacy_policy",
    "accepted_email_marketing",
    "accepted_sms_marketing",
    "patient_phone_numbers",
)
PATIENT_TEXT_COLUMNS = ("first_name", "last_name", "preferred_first_name", "email", "old_reference_id")


class ValidationFailed(Exception):
    """Cliniko's 422 `{"message": "Validation Failed", "errors": {...}}`."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__(", ".join(f"{k} {v}" for k, v in errors.items()))
        self.errors = dict(errors)


class NotFound(Exception):
    pass


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


def id_space(seed: int, key: str, name: str, stride_scale: int = 1) -> IdSpace:
    h = _digest(seed, key, name)
    base = 1_100_000_000_000_000_000 + (h % 700_000_000_000_000_000)
    stride = (1_000 + (h >> 40) % 9_000) * stride_scale
    return IdSpace(base, stride)


class Account:
    def __init__(self, spec: AccountSpec, seed: int, anchor: int, clock: Callable[[], float]) -> None:
        self.spec = spec
        self.seed = seed
        self.anchor = anchor  # epoch seconds of "now" when the data were generated
        self.clock = clock
        self.lock = threading.RLock()
        self.version = 0
        self.detail_seed = f"{seed}:{spec.base_key}"
        key = spec.base_key
        # Individual and group appointments share one booking ID sequence, interleaved: booking row
        # r (2*i for individual i, 2*g+1 for group g) has ID base + stride*r.
        self.booking_ids = id_space(seed, key, "bookings")
        b = self.booking_ids
        self.patients = Table("patients", id_space(seed, key, "patients"), PATIENT_COLUMNS)
        self.appointments = Table(
            "individual_appointments", IdSpace(b.base, 2 * b.stride), APPOINTMENT_COLUMNS
        )
        self.groups = Table("group_appointments", IdSpace(b.base + b.stride, 2 * b.stride), GROUP_COLUMNS)
        # Attendees: every booking has them, a class one per patient and an individual appointment
        # exactly one (its patient's). Only class attendees are stored; an individual appointment's
        # is derived from the appointment. Interleaved like bookings: attendee row r is individual
        # appointment r//2's when r is even and stored attendee r//2 when odd; its ID is
        # base + stride*r.
        self.attendee_ids = id_space(seed, key, "attendees")
        att = self.attendee_ids
        self.attendees = Table("attendees", IdSpace(att.base + att.stride, 2 * att.stride), ATTENDEE_COLUMNS)
        self.practitioners = Table(
            "practitioners", id_space(seed, key, "practitioners"), PRACTITIONER_COLUMNS
        )
        self.businesses = Table("businesses", id_space(seed, key, "businesses"), BUSINESS_COLUMNS)
        self.appointment_types = Table(
            "appointment_types", id_space(seed, key, "appointment_types"), APPOINTMENT_TYPE_COLUMNS
        )
        self.group_attendees: list[list[int]] = []
        self.overrides: dict[tuple[str, int], dict[str, Any]] = {}
        self.query_cache: Any = None  # set by the query layer; holds results keyed by query

    # -- helpers -----------------------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock())

    def _touch(self, table: Table, row: int, now: int | None = None) -> int:
        ts: int = max(now if now is not None else self.now(), table.get("updated_at", row) + 1)
        table.set(row, "updated_at", ts)
        self.version += 1
        return ts

    def _stamp(self, table: Table, row: int, col: str) -> None:
        now = self.now()
        table.set(row, col, now)
        self._touch(table, row, now)

    def group_patients(self, g: int) -> list[int]:
        """`patient_ids` of a class: attendees not cancelled, archived or deleted (unverified live)."""
        a = self.attendees.cols
        canc, arch, dele, pat = a["cancelled_at"], a["archived_at"], a["deleted_at"], a["patient"]
        return [
            pat[x] for x in self.group_attendees[g] if canc[x] == NULL and arch[x] == NULL and dele[x] == NULL
        ]

    def _ref(self, table: Table, value: Any, field: str, errors: dict[str, str]) -> int:
        row = table.row_of_text(str(value)) if value is not None else NULL
        if row == NULL:
            errors[field] = "is invalid" if value is not None else "can't be blank"
        return row

    # -- patients ----------------------------------------------------------------------------------

    def create_patient(self, fields: Mapping[str, Any]) -> int:
        errors: dict[str, str] = {}
        for name in ("first_name", "last_name"):
            if not isinstance(fields.get(name), str) or not str(fields.get(name)).strip():
                errors[name] = "can't be blank"
        values = self._patient_values(fields, errors)
        if errors:
            raise ValidationFailed(errors)
        now = self.now()
        values.update(created_at=now, updated_at=now, merged_with=NULL)
        row = self.patients.append(values)
        self._set_extras("patients", row, fields, fresh=True)
        self.version += 1
        return row

    def update_patient(self, row: int, fields: Mapping[str, Any]) -> None:
        errors: dict[str, str] = {}
        for name in ("first_name", "last_name"):
            if name in fields and (not isinstance(fields[name], str) or not fields[name].strip()):
                errors[name] = "can't be blank"
        values = self._patient_values(fields, errors)
        if errors:
            raise ValidationFailed(errors)
        for col, value in values.items():
            self.patients.set(row, col, value)
        self._set_extras("patients", row, fields, fresh=False)
        self._touch(self.patients, row)

    def _patient_values(self, fields: Mapping[str, Any], errors: dict[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in PATIENT_TEXT_COLUMNS:
            if name in fields:
                v = fields[name]
                if v is not None and not isinstance(v, str):
                    errors[name] = "must be a string"
                else:
                    values[name] = v if v != "" or name in ("first_name", "last_name") else None
        if "date_of_birth" in fields:
            v = fields["date_of_birth"]
            if v in (None, ""):
                values["date_of_birth"] = NULL
            else:
                try:
                    values["date_of_birth"] = parse_date(str(v))
                except ValueError:
                    errors["date_of_birth"] = "is not a valid date"
        if "patient_phone_numbers" in fields:
            phones = fields["patient_phone_numbers"]
            ok = isinstance(phones, list) and all(
                isinstance(p, dict) and isinstance(p.get("number"), str) for p in phones
            )
            if not ok:
                errors["patient_phone_numbers"] = "is invalid"
        return values

    def _set_extras(self, table: str, row: int, fields: Mapping[str, Any], fresh: bool) -> None:
        extras = {k: fields[k] for k in PATIENT_EXTRA_FIELDS if k in fields}
        if "patient_phone_numbers" in extras:
            extras["patient_phone_numbers"] = [
                {
                    "phone_type": p.get("phone_type") or "Mobile",
                    "number": p["number"],
                    "normalized_number": p.get("normalized_number")
                    or "".join(c for c in p["number"] if c.isdigit()),
                }
                for p in extras["patient_phone_numbers"]
            ]
        if fresh:
            extras.setdefault("__blank__", True)
        if extras:
            self.overrides.setdefault((table, row), {}).update(extras)

    def archive_patient(self, row: int) -> None:
        if self.patients.get("archived_at", row) == NULL:
            self._stamp(self.patients, row, "archived_at")

    def unarchive_patient(self, row: int) -> None:
        if self.patients.get("merged_at", row) != NULL:
            raise ValidationFailed({"base": "a merged patient cannot be unarchived"})
        self.patients.set(row, "archived_at", NULL)
        self._touch(self.patients, row)

    def delete_patient(self, row: int) -> None:
        now = self.now()
        if self.patients.get("archived_at", row) == NULL:
            self.patients.set(row, "archived_at", now)
        self.patients.set(row, "deleted_at", now)
        self._touch(self.patients, row, now)

    def merge_patient(self, row: int, into: int) -> None:
        if row == into or self.patients.get("merged_at", into) != NULL:
            raise ValidationFailed({"merged_with_patient": "is invalid"})
        now = self.now()
        self.patients.set(row, "merged_with", into)
        self.patients.set(row, "merged_at", now)
        if self.patients.get("archived_at", row) == NULL:
            self.patients.set(row, "archived_at", now)
        self._touch(self.patients, row, now)

    # -- individual appointments ----------------------------------------------------------------------

    def _appointment_values(
        self, fields: Mapping[str, Any], errors: dict[str, str], group: bool
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        refs = {
            "practitioner_id": ("practitioner", self.practitioners),
            "business_id": ("business", self.businesses),
            "appointment_type_id": ("appointment_type", self.appointment_types),
        }
        if not group:
            refs["patient_id"] = ("patient", self.patients)
        for field, (col, table) in refs.items():
            if field in fields:
                values[col] = self._ref(table, fields[field], field, errors)
        for field in ("starts_at", "ends_at"):
            if field in fields:
                try:
                    values[field] = parse_ts(str(fields[field]))
                except ValueError:
                    errors[field] = "is not a valid date-time"
        for field in ("did_not_arrive", "patient_arrived"):
            if field in fields and not group:
                if not isinstance(fields[field], bool):
                    errors[field] = "must be true or false"
                else:
                    values[field] = int(fields[field])
        if group and "max_attendees" in fields:
            if not isinstance(fields["max_attendees"], int) or fields["max_attendees"] < 1:
                errors["max_attendees"] = "must be greater than 0"
            else:
                values["max_attendees"] = fields["max_attendees"]
        return values

    def _finish_times(self, values: dict[str, Any], type_row: int, errors: dict[str, str]) -> None:
        if "starts_at" in values and "ends_at" not in values:
            values["ends_at"] = values["starts_at"] + 60 * self.appointment_types.get("duration", type_row)
        if values.get("ends_at", 1) < values.get("starts_at", 0):
            errors["ends_at"] = "must be after starts_at"

    def create_appointment(self, fields: Mapping[str, Any]) -> int:
        errors: dict[str, str] = {}
        filled = {
            "practitioner_id": str(self.practitioners.id_of(0)),
            "business_id": str(self.businesses.id_of(0)),
            "appointment_type_id": str(self.appointment_types.id_of(INDIVIDUAL_TYPE_ROWS[0])),
            **fields,
        }
        for required in ("patient_id", "starts_at"):
            if fields.get(required) in (None, ""):
                errors[required] = "can't be blank"
        values = self._appointment_values({k: v for k, v in filled.items() if v is not None}, errors, False)
        if not errors:
            self._finish_times(values, values["appointment_type"], errors)
        if errors:
            raise ValidationFailed(errors)
        now = self.now()
        values.update(
            created_at=now,
            updated_at=now,
            did_not_arrive=values.get("did_not_arrive", 0),
            patient_arrived=values.get("patient_arrived", 0),
        )
        row = self.appointments.append(values)
        self._notes("individual_appointments", row, fields)
        self.version += 1
        return row

    def _notes(self, table: str, row: int, fields: Mapping[str, Any]) -> None:
        if "notes" in fields:
            self.overrides.setdefault((table, row), {})["notes"] = fields["notes"]

    def update_appointment(self, row: int, fields: Mapping[str, Any]) -> None:
        errors: dict[str, str] = {}
        values = self._appointment_values(fields, errors, False)
        if errors:
            raise ValidationFailed(errors)
        for col, value in values.items():
            self.appointments.set(row, col, value)
        self._notes("individual_appointments", row, fields)
        self._touch(self.appointments, row)

    def cancel_appointment(self, row: int, reason: Any, note: Any) -> None:
        self._cancel(self.appointments, "individual_appointments", row, reason, note)

    def _cancel(self, table: Table, name: str, row: int, reason: Any, note: Any) -> None:
        if reason is None or reason == "":
            raise ValidationFailed({"cancellation_reason": "can't be blank"})
        try:
            code = int(reason)
        except (TypeError, ValueError):
            code = -1
        if code not in CANCELLATION_REASONS:
            raise ValidationFailed({"cancellation_reason": "is not included in the list"})
        if note is not None and not isinstance(note, str):
            raise ValidationFailed({"cancellation_note": "must be a string"})
        now = self.now()
        table.set(row, "cancellation_reason", code)
        table.set(row, "cancelled_at", now)
        self.overrides.setdefault((name, row), {})["cancellation_note"] = note
        self._touch(table, row, now)
        if table is self.attendees:
            self._touch(self.groups, table.get("appointment", row), now)

    def archive(self, table: Table, row: int, deleted: bool = False) -> None:
        now = self.now()
        if table.get("archived_at", row) == NULL:
            table.set(row, "archived_at", now)
        if deleted:
            table.set(row, "deleted_at", now)
        self._touch(table, row, now)
        if table is self.attendees:
            self._touch(self.groups, table.get("appointment", row), now)

    def uncancel(self, table: Table, row: int) -> None:
        table.set(row, "cancelled_at", NULL)
        table.set(row, "cancellation_reason", NULL)
        self._touch(table, row)

    def unarchive(self, table: Table, row: int) -> None:
        table.set(row, "archived_at", NULL)
        table.set(row, "deleted_at", NULL)
        self._touch(table, row)

    # -- group appointments and attendees ----------------------------------------------------------------

    def create_group(self, fields: Mapping[str, Any]) -> int:
        errors: dict[str, str] = {}
        type_row = GROUP_TYPE_ROWS[0]
        filled = {
            "practitioner_id": str(self.practitioners.id_of(0)),
            "business_id": str(self.businesses.id_of(0)),
            "appointment_type_id": str(self.appointment_types.id_of(type_row)),
            **fields,
        }
        if fields.get("starts_at") in (None, ""):
            errors["starts_at"] = "can't be blank"
        values = self._appointment_values({k: v for k, v in filled.items() if v is not None}, errors, True)
        if not errors:
            self._finish_times(values, values["appointment_type"], errors)
        patient_rows = [
            self._ref(self.patients, p, "patient_ids", errors) for p in fields.get("patient_ids") or []
        ]
        if errors:
            raise ValidationFailed(errors)
        now = self.now()
        type_max = self.appointment_types.get("max_attendees", values["appointment_type"])
        values.setdefault("max_attendees", type_max)
        values.update(created_at=now, updated_at=now)
        g = self.groups.append(values)
        self.group_attendees.append([])
        self._notes("group_appointments", g, fields)
        for p in patient_rows:
            self._add_attendee(g, p, now)
        self.version += 1
        return g

    def update_group(self, g: int, fields: Mapping[str, Any]) -> None:
        errors: dict[str, str] = {}
        values = self._appointment_values(fields, errors, True)
        if errors:
            raise ValidationFailed(errors)
        for col, value in values.items():
            self.groups.set(g, col, value)
        self._notes("group_appointments", g, fields)
        self._touch(self.groups, g)

    def _add_attendee(self, g: int, patient: int, now: int) -> int:
        a = self.attendees.append(
            {"created_at": now, "updated_at": now, "appointment": g, "patient": patient, "arrived": 0}
        )
        self.group_attendees[g].append(a)
        return a

    def add_attendee(self, g: int, patient_id: Any) -> int:
        errors: dict[str, str] = {}
        patient = self._ref(self.patients, patient_id, "patient_id", errors)
        if errors:
            raise ValidationFailed(errors)
        now = self.now()
        a = self._add_attendee(g, patient, now)
        self._touch(self.groups, g, now)
        return a

    def cancel_attendee(self, row: int, reason: Any, note: Any) -> None:
        self._cancel(self.attendees, "attendees", row, reason, note)
