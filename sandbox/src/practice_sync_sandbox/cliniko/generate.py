"""Deterministic synthetic clinic data: the same (seed, key, sizes, now) always gives the same records.

Rows are generated in creation order, so row order, ID order and `created_at` order agree, as in
Cliniko's ID sequence. Appointments spread over the past five years and the next three months.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .account import Account
from .config import AccountSpec
from .names import (
    APPOINTMENT_TYPES,
    BUSINESS_NAMES,
    CANCELLATION_CODES,
    CITIES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    GROUP_TYPE_ROWS,
    INDIVIDUAL_TYPE_ROWS,
    LAST_NAMES,
    PRACTITIONER_DESIGNATIONS,
    PREFERRED,
    STREETS,
    TITLES,
    ascii_slug,
)
from .table import NULL
from .timefmt import day_of

DAY = 86400
YEAR = 365 * DAY
PATIENT_HISTORY = 8 * YEAR
APPOINTMENT_HISTORY = 5 * YEAR
GROUPS_PER_APPOINTMENTS = 60  # one class for this many one-to-one appointments


def build_account(spec: AccountSpec, seed: int, anchor: int, clock: Callable[[], float]) -> Account:
    acc = Account(spec, seed, anchor, clock)
    rng = random.Random(f"cliniko:{seed}:{spec.base_key}")
    _reference_data(acc, rng, spec)
    _patients(acc, rng, spec.patients)
    _appointments(acc, rng, spec.appointments)
    _groups(acc, rng, spec.appointments // GROUPS_PER_APPOINTMENTS if spec.appointments else 0)
    return acc


def _reference_data(acc: Account, rng: random.Random, spec: AccountSpec) -> None:
    start = acc.anchor - PATIENT_HISTORY - 30 * DAY
    n_prac = max(1, min(40, round(spec.appointments / 25_000)))
    n_bus = 1 + (n_prac - 1) // 8
    for b in range(n_bus):
        city = CITIES[b % len(CITIES)][0]
        name = BUSINESS_NAMES[b % len(BUSINESS_NAMES)] + ("" if b < len(BUSINESS_NAMES) else f" {b}")
        acc.businesses.append(
            {
                "created_at": start + b * DAY,
                "updated_at": start + b * DAY,
                "business_name": name,
                "city": city,
            }
        )
    for p in range(n_prac):
        created = start + p * 7 * DAY
        acc.practitioners.append(
            {
                "created_at": created,
                "updated_at": created + rng.randrange(YEAR),
                "first_name": rng.choice(FIRST_NAMES),
                "last_name": rng.choice(LAST_NAMES),
                "title": rng.choice(("Dr", "", "Mr", "Ms")),
                "designation": rng.choice(PRACTITIONER_DESIGNATIONS),
            }
        )
    for t, (name, minutes, max_att, category, color) in enumerate(APPOINTMENT_TYPES):
        acc.appointment_types.append(
            {
                "created_at": start + t * 3600,
                "updated_at": start + t * 3600,
                "name": name,
                "duration": minutes,
                "max_attendees": max_att,
                "category": category,
                "color": color,
            }
        )


def _patients(acc: Account, rng: random.Random, n: int) -> None:
    cols = acc.patients.cols
    rnd = rng.random
    start = acc.anchor - PATIENT_HISTORY
    span = PATIENT_HISTORY - 3600
    step = max(1, span // max(n, 1))
    dob_lo, dob_hi = day_of(acc.anchor - 90 * YEAR), day_of(acc.anchor - 2 * YEAR)
    emails: list[str | None] = []
    created_c, updated_c, archived_c = cols["created_at"], cols["updated_at"], cols["archived_at"]
    for i in range(n):
        created = start + (span * i) // n + rng.randrange(step)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        r = rnd()
        email: str | None
        if r < 0.14:
            email = None
        elif r < 0.19 and emails:
            # a family sharing one address: the earlier patient's email, maybe typed differently
            email = emails[rng.randrange(len(emails))]
            if email is not None and rnd() < 0.3:
                email = email.upper()
        else:
            local = f"{ascii_slug(first) or 'patient'}.{ascii_slug(last) or 'x'}"
            if rnd() < 0.5:
                local += str(rng.randrange(1, 999))
            email = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
            if rnd() < 0.04:
                email = email.capitalize()
        emails.append(email)
        archived = created + int((acc.anchor - created) * rnd()) if rnd() < 0.05 else NULL
        updated = max(created, archived)
        if rnd() < 0.3:
            updated = max(updated, created + int((acc.anchor - created) * rnd()))
        created_c.append(created)
        updated_c.append(updated)
        archived_c.append(archived)
        cols["deleted_at"].append(NULL)
        cols["merged_at"].append(NULL)
        cols["merged_with"].append(NULL)
        cols["date_of_birth"].append(rng.randint(dob_lo, dob_hi) if rnd() < 0.92 else NULL)
        cols["first_name"].append(first)
        cols["last_name"].append(last)
        cols["preferred_first_name"].append(rng.choice(PREFERRED) if rnd() < 0.05 else None)
        cols["email"].append(email)
        cols["old_reference_id"].append(f"LEG-{i:06d}" if rnd() < 0.1 else None)
    # ~1% are duplicates merged into another record: archived, with merged_at and the survivor's link
    if n >= 2:
        for i in rng.sample(range(n - 1), max(1, n // 100)):
            into = i + 1 + rng.randrange(n - i - 1)
            if cols["merged_at"][into] != NULL or cols["merged_at"][i] != NULL:
                continue
            both = max(created_c[into], created_c[i])
            when = both + int((acc.anchor - both) * rnd())
            cols["merged_with"][i] = into
            cols["merged_at"][i] = when
            if archived_c[i] == NULL:
                archived_c[i] = when
            updated_c[i] = max(updated_c[i], when)


def _patient_picker(acc: Account, rng: random.Random) -> Callable[[int], int]:
    """Picks a patient who already existed at `created`; new patients come back for a course of visits."""
    created = acc.patients.cols["created_at"]
    n = len(created)
    state = [0]
    rnd = rng.random

    def pick(at: int) -> int:
        k = state[0]
        while k < n and created[k] <= at:
            k += 1
        state[0] = k
        if k == 0:
            return rng.randrange(n)
        if rnd() < 0.6:
            recent = max(1, k // 10)
            return k - 1 - int(recent * rnd())
        return int(k * rnd())

    return pick


def _appointments(acc: Account, rng: random.Random, m: int) -> None:
    if m == 0 or len(acc.patients) == 0:
        return
    cols = acc.appointments.cols
    rnd = rng.random
    anchor = acc.anchor
    start = anchor - APPOINTMENT_HISTORY
    span = APPOINTMENT_HISTORY - 60
    step = max(1, span // m)
    n_prac, n_bus = len(acc.practitioners), len(acc.businesses)
    durations = [t[1] * 60 for t in APPOINTMENT_TYPES]
    pick = _patient_picker(acc, rng)
    last_of: dict[int, int] = {}
    c_created, c_updated, c_starts, c_ends = (
        cols["created_at"],
        cols["updated_at"],
        cols["starts_at"],
        cols["ends_at"],
    )
    c_canc, c_arch, c_del = cols["cancelled_at"], cols["archived_at"], cols["deleted_at"]
    c_pat, c_prac, c_bus, c_type, c_rep = (
        cols["patient"],
        cols["practitioner"],
        cols["business"],
        cols["appointment_type"],
        cols["repeated_from"],
    )
    c_reason, c_dna, c_arrived = cols["cancellation_reason"], cols["did_not_arrive"], cols["patient_arrived"]
    for i in range(m):
        created = start + (span * i) // m + rng.randrange(step)
        r = rnd()
        lead = rng.randrange(DAY if r < 0.05 else 21 * DAY if r < 0.75 else 90 * DAY)
        day = (created + lead) // DAY * DAY
        starts = day + 8 * 3600 + rng.randrange(40) * 900
        if starts < created:
            starts = -(-created // 900) * 900
        t = INDIVIDUAL_TYPE_ROWS[int(rnd() * len(INDIVIDUAL_TYPE_ROWS))]
        patient = pick(created)
        prac = int(rnd() * n_prac)
        cancelled = archived = deleted = NULL
        reason = dna = arrived = 0
        r = rnd()
        if r < 0.08:
            cancelled = min(anchor, created + int((starts - created) * rnd()))
            reason = CANCELLATION_CODES[int(rnd() * len(CANCELLATION_CODES))]
        elif r < 0.10:
            archived = min(anchor, created + int((anchor - created) * rnd()))
        elif r < 0.103:
            archived = deleted = min(anchor, created + int((anchor - created) * rnd()))
        elif starts < anchor:
            if rnd() < 0.04:
                dna = 1
            elif rnd() < 0.9:
                arrived = 1
        updated = max(created, cancelled, archived)
        if rnd() < 0.2:
            updated = max(updated, min(anchor, starts + rng.randrange(3 * DAY)))
        prev = last_of.get(patient)
        c_rep.append(prev if prev is not None and rnd() < 0.15 else NULL)
        last_of[patient] = i
        c_created.append(created)
        c_updated.append(updated)
        c_starts.append(starts)
        c_ends.append(starts + durations[t])
        c_canc.append(cancelled)
        c_arch.append(archived)
        c_del.append(deleted)
        c_pat.append(patient)
        c_prac.append(prac)
        c_bus.append(prac % n_bus)
        c_type.append(t)
        c_reason.append(reason if cancelled != NULL else NULL)
        c_dna.append(dna)
        c_arrived.append(arrived)


def _groups(acc: Account, rng: random.Random, count: int) -> None:
    if count == 0 or len(acc.patients) == 0:
        return
    a = acc.attendees
    rnd = rng.random
    anchor = acc.anchor
    start = anchor - APPOINTMENT_HISTORY
    span = APPOINTMENT_HISTORY - 60
    step = max(1, span // count)
    n_prac, n_bus = len(acc.practitioners), len(acc.businesses)
    pick = _patient_picker(acc, rng)
    for g in range(count):
        created = start + (span * g) // count + rng.randrange(step)
        starts = (created + 7 * DAY + rng.randrange(50 * DAY)) // DAY * DAY + (7 + rng.randrange(12)) * 3600
        t = GROUP_TYPE_ROWS[int(rnd() * len(GROUP_TYPE_ROWS))]
        _, minutes, max_att, _, _ = APPOINTMENT_TYPES[t]
        archived = min(anchor, created + int((anchor - created) * rnd())) if rnd() < 0.02 else NULL
        prac = int(rnd() * n_prac)
        members: list[int] = []
        seen: set[int] = set()
        last_change = max(created, archived)
        for k in range(rng.randint(0, max_att)):
            patient = pick(created)
            if patient in seen:
                continue
            seen.add(patient)
            joined = min(anchor, created + k * 3600 + rng.randrange(DAY))
            values: dict[str, Any] = {
                "created_at": joined,
                "appointment": g,
                "patient": patient,
                "arrived": 0,
            }
            r = rnd()
            changed = joined
            if r < 0.1:
                changed = min(anchor, joined + int((max(starts, joined) - joined) * rnd()))
                values["cancelled_at"] = changed
                values["cancellation_reason"] = CANCELLATION_CODES[int(rnd() * len(CANCELLATION_CODES))]
            elif r < 0.13:
                changed = values["archived_at"] = min(anchor, joined + int((anchor - joined) * rnd()))
            elif starts < anchor and rnd() < 0.85:
                values["arrived"] = 1
            values["updated_at"] = changed
            last_change = max(last_change, changed)
            members.append(a.append(values))
        acc.groups.append(
            {
                "created_at": created,
                "updated_at": last_change,
                "starts_at": starts,
                "ends_at": starts + minutes * 60,
                "archived_at": archived,
                "deleted_at": NULL,
                "practitioner": prac,
                "business": prac % n_bus,
                "appointment_type": t,
                "repeated_from": g - 7 if g >= 7 and rnd() < 0.3 else NULL,
                "max_attendees": max_att,
            }
        )
        acc.group_attendees.append(members)


def patient_details(acc: Account, row: int) -> dict[str, Any]:
    """The patient fields nobody filters on, derived from (seed, key, row) when rendered, not stored."""
    rng = random.Random(f"{acc.detail_seed}:patient:{row}")
    rnd = rng.random
    city, state, post_code = CITIES[rng.randrange(len(CITIES))]
    phones: list[dict[str, str]] = []
    for _ in range(rng.choice((0, 1, 1, 1, 2))):
        if rnd() < 0.75:
            digits = f"4{rng.randrange(10**8):08d}"
            phones.append(
                {
                    "phone_type": "Mobile",
                    "number": f"0{digits[:3]} {digits[3:6]} {digits[6:]}",
                    "normalized_number": f"61{digits}",
                }
            )
        else:
            kind = rng.choice(("Home", "Work", "Other", "Fax"))
            digits = f"{rng.choice('2378')}{rng.randrange(10**8):08d}"
            phones.append(
                {
                    "phone_type": kind,
                    "number": f"(0{digits[0]}) {digits[1:5]} {digits[5:]}",
                    "normalized_number": f"61{digits}",
                }
            )
    sex = rng.choice(("Female", "Male", "Female", "Male", None))
    return {
        "title": rng.choice(TITLES) if rnd() < 0.6 else None,
        "sex": sex,
        "gender_identity": sex if rnd() < 0.5 else None,
        "pronouns": None,
        "address_1": f"{rng.randrange(1, 400)} {rng.choice(STREETS)}" if rnd() < 0.8 else None,
        "address_2": f"Unit {rng.randrange(1, 40)}" if rnd() < 0.1 else None,
        "address_3": None,
        "city": city,
        "state": state,
        "post_code": post_code,
        "country": "New Zealand" if state in ("AUK", "WGN") else "Australia",
        "occupation": rng.choice((None, "Teacher", "Nurse", "Engineer", "Student", "Retired", "Chef")),
        "notes": None,
        "time_zone": None,
        "accepted_privacy_policy": rng.choice((True, None)),
        "accepted_email_marketing": rnd() < 0.3,
        "accepted_sms_marketing": rnd() < 0.4,
        "patient_phone_numbers": phones,
    }


BLANK_PATIENT_DETAILS: dict[str, Any] = {
    "title": None,
    "sex": None,
    "gender_identity": None,
    "pronouns": None,
    "address_1": None,
    "address_2": None,
    "address_3": None,
    "city": None,
    "state": None,
    "post_code": None,
    "country": None,
    "occupation": None,
    "notes": None,
    "time_zone": None,
    "accepted_privacy_policy": None,
    "accepted_email_marketing": False,
    "accepted_sms_marketing": False,
    "patient_phone_numbers": [],
}
