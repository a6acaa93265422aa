"""Linking Cliniko patients to contacts: the rules, applied to one batch in memory.

The repository loads, in one query, every contact of the org that could match any patient of the
batch (same cliniko_patient_id, same email or same normalized name); this module decides, and the
repository writes the decisions in bulk. Patients are decided in message order, and each decision
is visible to the next, so a batch gives the same links as handling its messages one by one.

Rules, first that applies:
1. `cliniko_patient_id`: the contact already linked to this patient (kept even if soft-deleted).
2. `email`: exactly one live contact has the patient's email (trimmed, lower case) and is not
   linked to another Cliniko patient.
3. `name`: exactly one live contact of the org has the patient's normalized first+last name, and
   it is not linked to another Cliniko patient.
4. `created`: a new contact (source cliniko) is made from the patient, so no patient is dropped.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from practice_sync_common.ids import uuid4

LinkMethod = Literal["cliniko_patient_id", "email", "name", "created"]


@dataclass
class ContactRef:
    id: uuid.UUID
    email: str | None
    normalized_name: str | None
    cliniko_patient_id: str | None
    cliniko_match_method: str | None
    deleted: bool
    source: str = "clio"
    clio_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class PatientKey:
    cliniko_patient_id: str
    email: str | None  # normalized
    normalized_name: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None


@dataclass
class Decisions:
    links: dict[str, tuple[uuid.UUID, str]] = field(default_factory=dict)  # pid -> (contact, method)
    created: list[tuple[uuid.UUID, PatientKey]] = field(default_factory=list)
    linked_existing: list[tuple[uuid.UUID, str, str]] = field(default_factory=list)  # (id, pid, method)
    refreshed: list[tuple[uuid.UUID, PatientKey]] = field(default_factory=list)


class Matcher:
    def __init__(self, contacts: Iterable[ContactRef] = ()) -> None:
        self.ids: set[uuid.UUID] = set()
        self.by_pid: dict[str, ContactRef] = {}
        self.by_email: dict[str, list[ContactRef]] = defaultdict(list)
        self.by_name: dict[str, list[ContactRef]] = defaultdict(list)
        self.learn(contacts)

    def learn(self, contacts: Iterable[ContactRef]) -> None:
        """Take in contacts loaded from the database; the ones already known stay as decided here.

        A batch loads its candidates chunk by chunk, from committed data, while its own writes are
        not committed yet: what this matcher created or linked earlier in the batch is newer than
        what a later load returns for the same contact.
        """
        for c in contacts:
            if c.id not in self.ids:
                self._index(c)

    def _index(self, c: ContactRef) -> None:
        self.ids.add(c.id)
        if c.cliniko_patient_id is not None:
            self.by_pid[c.cliniko_patient_id] = c
        if c.deleted:
            return
        if c.email:
            self.by_email[c.email].append(c)
        if c.normalized_name:
            self.by_name[c.normalized_name].append(c)

    def decide(self, patients: list[PatientKey]) -> Decisions:
        out = Decisions()
        for p in patients:
            known = self.by_pid.get(p.cliniko_patient_id)
            if known is not None:
                out.links[p.cliniko_patient_id] = (
                    known.id,
                    known.cliniko_match_method or "cliniko_patient_id",
                )
                if known.source == "cliniko" and known.clio_id is None and _differs(known, p):
                    # Cliniko owns the fields of a contact it created (until Clio links it).
                    known.first_name, known.last_name, known.phone = p.first_name, p.last_name, p.phone
                    known.email, known.normalized_name = p.email, p.normalized_name
                    out.refreshed.append((known.id, p))
                continue
            chosen, method = self._by_email(p), "email"
            if chosen is None:
                chosen, method = self._by_name(p), "name"
            if chosen is not None:
                chosen.cliniko_patient_id = p.cliniko_patient_id
                chosen.cliniko_match_method = method
                self.by_pid[p.cliniko_patient_id] = chosen
                out.links[p.cliniko_patient_id] = (chosen.id, method)
                out.linked_existing.append((chosen.id, p.cliniko_patient_id, method))
                continue
            new = ContactRef(
                id=uuid4(),
                email=p.email,
                normalized_name=p.normalized_name,
                cliniko_patient_id=p.cliniko_patient_id,
                cliniko_match_method="created",
                deleted=False,
                source="cliniko",
                first_name=p.first_name,
                last_name=p.last_name,
                phone=p.phone,
            )
            self._index(new)
            out.links[p.cliniko_patient_id] = (new.id, "created")
            out.created.append((new.id, p))
        return out

    def _by_email(self, p: PatientKey) -> ContactRef | None:
        if not p.email:
            return None
        free = [c for c in self.by_email.get(p.email, ()) if c.cliniko_patient_id is None]
        return free[0] if len(free) == 1 else None

    def _by_name(self, p: PatientKey) -> ContactRef | None:
        if not p.normalized_name:
            return None
        same = self.by_name.get(p.normalized_name, ())
        if len(same) != 1 or same[0].cliniko_patient_id is not None:
            return None
        return same[0]


def _differs(c: ContactRef, p: PatientKey) -> bool:
    return (c.email, c.normalized_name, c.first_name, c.last_name, c.phone) != (
        p.email,
        p.normalized_name,
        p.first_name,
        p.last_name,
        p.phone,
    )
