"""Records as Cliniko's JSON shows them: string IDs, UTC `Z` times, `{"links": {"self": url}}` objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .account import Account
from .generate import BLANK_PATIENT_DETAILS, patient_details
from .names import APPOINTMENT_TYPES, CANCELLATION_REASONS
from .table import NULL
from .timefmt import fmt_date, fmt_ts

_NONE: dict[str, Any] = {}  # a record without overrides (read, never written)


def _blank_ts(v: int) -> str | None:
    return "" if v == NULL else fmt_ts(v)


@dataclass(frozen=True)
class Renderer:
    acc: Account
    base: str  # e.g. http://127.0.0.1:8102/v1
    blank_dates: bool = False  # legacy: "" instead of null for empty dates
    ts: Callable[[int], str | None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", _blank_ts if self.blank_dates else fmt_ts)

    def link(self, path: str) -> dict[str, Any]:
        return {"links": {"self": f"{self.base}/{path}"}}

    def ref(self, path: str, ident: int) -> dict[str, Any] | None:
        return None if ident == NULL else self.link(f"{path}/{ident}")

    def _flag(self, v: int) -> bool | None:
        return None if v == NULL else bool(v)

    # -- patients ---------------------------------------------------------------------------------

    def patient(self, r: int) -> dict[str, Any]:
        acc = self.acc
        c = acc.patients.cols
        pid = acc.patients.id_of(r)
        over = acc.overrides.get(("patients", r), {})
        details = dict(BLANK_PATIENT_DETAILS) if over.get("__blank__") else patient_details(acc, r)
        details.update((k, v) for k, v in over.items() if k != "__blank__")
        first, last = c["first_name"][r], c["last_name"][r]
        dob = fmt_date(c["date_of_birth"][r])
        merged_with = c["merged_with"][r]
        return {
            "id": str(pid),
            "title": details["title"],
            "first_name": first,
            "last_name": last,
            "preferred_first_name": c["preferred_first_name"][r],
            "label": f"{first} {last}",
            "email": c["email"][r],
            "date_of_birth": dob if dob is not None or not self.blank_dates else "",
            "sex": details["sex"],
            "gender_identity": details["gender_identity"],
            "pronouns": details["pronouns"],
            "address_1": details["address_1"],
            "address_2": details["address_2"],
            "address_3": details["address_3"],
            "city": details["city"],
            "state": details["state"],
            "post_code": details["post_code"],
            "country": details["country"],
            "time_zone": details["time_zone"],
            "occupation": details["occupation"],
            "notes": details["notes"],
            "old_reference_id": c["old_reference_id"][r],
            "accepted_privacy_policy": details["accepted_privacy_policy"],
            "accepted_email_marketing": details["accepted_email_marketing"],
            "accepted_sms_marketing": details["accepted_sms_marketing"],
            "custom_fields": None,
            "patient_phone_numbers": details["patient_phone_numbers"],
            "created_at": self.ts(c["created_at"][r]),
            "updated_at": self.ts(c["updated_at"][r]),
            "archived_at": self.ts(c["archived_at"][r]),
            "deleted_at": self.ts(c["deleted_at"][r]),
            "merged_at": self.ts(c["merged_at"][r]),
            "appointments": self.link(f"patients/{pid}/appointments"),
            "attendees": self.link(f"patients/{pid}/attendees"),
            "invoices": self.link(f"patients/{pid}/invoices"),
            "medical_alerts": self.link(f"patients/{pid}/medical_alerts"),
            "patient_attachments": self.link(f"patients/{pid}/attachments"),
            "concession_type": None,
            "referring_doctor": None,
            "latest_booking": None,
            "merged_with_patient": (
                None if merged_with == NULL else self.link(f"patients/{acc.patients.id_of(merged_with)}")
            ),
            "links": {"self": f"{self.base}/patients/{pid}"},
        }

    # -- appointments -------------------------------------------------------------------------------

    def _refs(self, cols: dict[str, Any], r: int) -> dict[str, Any]:
        acc = self.acc
        type_id = acc.appointment_types.id_of(cols["appointment_type"][r])
        return {
            "appointment_type": self.link(f"appointment_types/{type_id}"),
            "business": self.link(f"businesses/{acc.businesses.id_of(cols['business'][r])}"),
            "practitioner": self.link(f"practitioners/{acc.practitioners.id_of(cols['practitioner'][r])}"),
        }

    def individual_appointment(self, r: int, legacy: bool = False) -> dict[str, Any]:
        # The list's hot path (hundreds of thousands of records in a full crawl): links and times
        # are built inline, without a method call each.
        acc = self.acc
        c = acc.appointments.cols
        ts = self.ts
        base = self.base
        aid = acc.appointments.id_of(r)
        patient = c["patient"][r]
        names = acc.patients.cols
        over = acc.overrides.get(("individual_appointments", r), _NONE)
        reason = c["cancellation_reason"][r]
        rep = c["repeated_from"][r]
        starts_at = c["starts_at"][r]
        out: dict[str, Any] = {"id": str(aid)}
        if legacy:
            out["appointment_start"] = ts(starts_at)
            out["appointment_end"] = ts(c["ends_at"][r])
        out.update(
            {
                "starts_at": ts(starts_at),
                "ends_at": ts(c["ends_at"][r]),
                "created_at": ts(c["created_at"][r]),
                "updated_at": ts(c["updated_at"][r]),
                "cancelled_at": ts(c["cancelled_at"][r]),
                "cancellation_reason": None if reason == NULL else reason,
                "cancellation_reason_description": CANCELLATION_REASONS.get(reason),
                "cancellation_note": over.get("cancellation_note"),
                "archived_at": ts(c["archived_at"][r]),
                "deleted_at": ts(c["deleted_at"][r]),
                "did_not_arrive": bool(c["did_not_arrive"][r]),
                "patient_arrived": bool(c["patient_arrived"][r]),
                "patient_name": f"{names['first_name'][patient]} {names['last_name'][patient]}",
                "notes": over.get("notes"),
                "repeat_rule": None,
                "repeats": None,
                "repeated_from": None
                if rep == NULL
                else {"links": {"self": f"{base}/individual_appointments/{acc.appointments.id_of(rep)}"}},
                "telehealth_url": None,
                "invoice_status": None,
                "treatment_note_status": None,
                "has_patient_appointment_notes": False,
                "email_reminder_sent": starts_at < acc.anchor,
                "sms_reminder_sent": False,
                "appointment_type": {
                    "links": {
                        "self": f"{base}/appointment_types/"
                        f"{acc.appointment_types.id_of(c['appointment_type'][r])}"
                    }
                },
                "business": {
                    "links": {"self": f"{base}/businesses/{acc.businesses.id_of(c['business'][r])}"}
                },
                "practitioner": {
                    "links": {"self": f"{base}/practitioners/{acc.practitioners.id_of(c['practitioner'][r])}"}
                },
                "patient": {"links": {"self": f"{base}/patients/{acc.patients.id_of(patient)}"}},
                "patient_case": None,
                "attendees": {"links": {"self": f"{base}/individual_appointments/{aid}/attendees"}},
                "conflicts": {"links": {"self": f"{base}/individual_appointments/{aid}/conflicts"}},
                "links": {"self": f"{base}/individual_appointments/{aid}"},
            }
        )
        return out

    def group_appointment(self, g: int) -> dict[str, Any]:
        acc = self.acc
        c = acc.groups.cols
        gid = acc.groups.id_of(g)
        rep = c["repeated_from"][g]
        over = acc.overrides.get(("group_appointments", g), {})
        return {
            "id": str(gid),
            "starts_at": self.ts(c["starts_at"][g]),
            "ends_at": self.ts(c["ends_at"][g]),
            "created_at": self.ts(c["created_at"][g]),
            "updated_at": self.ts(c["updated_at"][g]),
            "archived_at": self.ts(c["archived_at"][g]),
            "deleted_at": self.ts(c["deleted_at"][g]),
            "max_attendees": c["max_attendees"][g],
            "patient_ids": [str(acc.patients.id_of(p)) for p in acc.group_patients(g)],
            "notes": over.get("notes"),
            "repeat_rule": None,
            "repeats": None,
            "repeated_from": self.ref("group_appointments", NULL if rep == NULL else acc.groups.id_of(rep)),
            "telehealth_url": None,
            **self._refs(c, g),
            "attendees": self.link(f"group_appointments/{gid}/attendees"),
            "conflicts": self.link(f"group_appointments/{gid}/conflicts"),
            "links": {"self": f"{self.base}/group_appointments/{gid}"},
        }

    def booking(self, r: int) -> dict[str, Any]:
        return self.group_appointment(r >> 1) if r & 1 else self.individual_appointment(r >> 1)

    def attendee(self, r: int) -> dict[str, Any]:
        """A class attendee, by its row in the attendees table."""
        acc = self.acc
        c = acc.attendees.cols
        gid = acc.groups.id_of(c["appointment"][r])
        over = acc.overrides.get(("attendees", r), {})
        return self._attendee(acc.attendees.id_of(r), gid, c, r, c["arrived"][r], over)

    def individual_attendee(self, i: int) -> dict[str, Any]:
        """An individual appointment's one attendee: its patient, sharing the appointment's state."""
        acc = self.acc
        c = acc.appointments.cols
        aid = acc.attendee_ids.id_of(2 * i)
        over = acc.overrides.get(("individual_appointments", i), {})
        return self._attendee(aid, acc.appointments.id_of(i), c, i, c["patient_arrived"][i], over)

    def listed_attendee(self, r: int) -> dict[str, Any]:
        """Row r of the /attendees list: individual appointment r//2's when even, else class attendee r//2."""
        return self.attendee(r >> 1) if r & 1 else self.individual_attendee(r >> 1)

    def _attendee(
        self, aid: int, booking_id: int, c: dict[str, Any], r: int, arrived: int, over: dict[str, Any]
    ) -> dict[str, Any]:
        reason = c["cancellation_reason"][r]
        return {
            "id": str(aid),
            "arrived": bool(arrived),
            "cancelled_at": self.ts(c["cancelled_at"][r]),
            "cancellation_reason": None if reason == NULL else reason,
            "cancellation_reason_description": CANCELLATION_REASONS.get(reason),
            "cancellation_note": over.get("cancellation_note"),
            "archived_at": self.ts(c["archived_at"][r]),
            "deleted_at": self.ts(c["deleted_at"][r]),
            "created_at": self.ts(c["created_at"][r]),
            "updated_at": self.ts(c["updated_at"][r]),
            "early_cancellation": None,
            "booking": self.link(f"bookings/{booking_id}"),
            "patient": self.link(f"patients/{self.acc.patients.id_of(c['patient'][r])}"),
            "patient_case": None,
            "invoices": self.link(f"attendees/{aid}/invoices"),
            "links": {"self": f"{self.base}/attendees/{aid}"},
        }

    # -- reference data -------------------------------------------------------------------------------

    def practitioner(self, r: int) -> dict[str, Any]:
        c = self.acc.practitioners.cols
        pid = self.acc.practitioners.id_of(r)
        title = c["title"][r]
        name = f"{c['first_name'][r]} {c['last_name'][r]}"
        return {
            "id": str(pid),
            "title": title or None,
            "first_name": c["first_name"][r],
            "last_name": c["last_name"][r],
            "display_name": name,
            "label": f"{title} {name}".strip(),
            "designation": c["designation"][r],
            "active": True,
            "show_in_online_bookings": True,
            "created_at": self.ts(c["created_at"][r]),
            "updated_at": self.ts(c["updated_at"][r]),
            "appointments": self.link(f"practitioners/{pid}/appointments"),
            "user": None,
            "links": {"self": f"{self.base}/practitioners/{pid}"},
        }

    def business(self, r: int) -> dict[str, Any]:
        c = self.acc.businesses.cols
        bid = self.acc.businesses.id_of(r)
        return {
            "id": str(bid),
            "business_name": c["business_name"][r],
            "label": c["business_name"][r],
            "city": c["city"][r],
            "country": "Australia",
            "time_zone": "Australia/Sydney",
            "created_at": self.ts(c["created_at"][r]),
            "updated_at": self.ts(c["updated_at"][r]),
            "practitioners": self.link(f"businesses/{bid}/practitioners"),
            "links": {"self": f"{self.base}/businesses/{bid}"},
        }

    def appointment_type(self, r: int) -> dict[str, Any]:
        c = self.acc.appointment_types.cols
        tid = self.acc.appointment_types.id_of(r)
        return {
            "id": str(tid),
            "name": c["name"][r],
            "category": c["category"][r],
            "color": c["color"][r],
            "duration_in_minutes": c["duration"][r],
            "max_attendees": c["max_attendees"][r] or 1,
            "description": f"{APPOINTMENT_TYPES[r][0]}" if r < len(APPOINTMENT_TYPES) else None,
            "created_at": self.ts(c["created_at"][r]),
            "updated_at": self.ts(c["updated_at"][r]),
            "practitioners": self.link(f"appointment_types/{tid}/practitioners"),
            "links": {"self": f"{self.base}/appointment_types/{tid}"},
        }

    def for_resource(self, name: str) -> Callable[[int], dict[str, Any]]:
        if name == "appointments":
            return lambda r: self.individual_appointment(r, legacy=True)
        fn: Callable[[int], dict[str, Any]] = {
            "patients": self.patient,
            "individual_appointments": self.individual_appointment,
            "group_appointments": self.group_appointment,
            "attendees": self.listed_attendee,
            "bookings": self.booking,
            "practitioners": self.practitioner,
            "businesses": self.business,
            "appointment_types": self.appointment_type,
        }[name]
        return fn
