"""The active-patient rules, free of I/O: which appointments count, and each active patient's row.

Rules where the spec is silent (see the README):
- An appointment counts when it is not cancelled, archived or deleted; with `did_not_arrive =
  "exclude"` a did-not-arrive appointment does not count either. A group class counts for an
  attendee when neither the class nor the attendee is cancelled, archived or deleted.
- Window: recent = from <= starts_at <= now (both edges inclusive), upcoming = starts_at > now,
  from = now - window_days. A patient is active with at least one recent counting appointment.
- Archived patients (merged ones included: Cliniko archives them) are not active; their
  appointments stay theirs (we do not re-attribute merges).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

DnaPolicy = Literal["exclude", "count"]


def is_set(value: Any) -> bool:
    # Cliniko's legacy responses use "" for an empty date.
    return value not in (None, "")


def individual_counts(raw: Mapping[str, Any], dna: DnaPolicy) -> bool:
    if any(is_set(raw.get(f)) for f in ("cancelled_at", "archived_at", "deleted_at")):
        return False
    return not (dna == "exclude" and raw.get("did_not_arrive") is True)


def group_counts(raw: Mapping[str, Any]) -> bool:
    return not any(is_set(raw.get(f)) for f in ("archived_at", "deleted_at", "cancelled_at"))


def attendee_counts(raw: Mapping[str, Any]) -> bool:
    return not any(is_set(raw.get(f)) for f in ("cancelled_at", "archived_at", "deleted_at"))


def link_id(raw: Mapping[str, Any], name: str) -> str | None:
    """The id at the end of `raw[name].links.self` (Cliniko has no `patient_id` field)."""
    node = raw.get(name)
    if not isinstance(node, dict):
        return None
    url = (node.get("links") or {}).get("self")
    return url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) and url else None


@dataclass(frozen=True)
class Window:
    now: datetime
    days: int

    @property
    def start(self) -> datetime:
        return self.now - timedelta(days=self.days)

    def is_recent(self, starts_at: datetime) -> bool:
        return self.start <= starts_at <= self.now

    def is_upcoming(self, starts_at: datetime) -> bool:
        return starts_at > self.now


@dataclass(frozen=True)
class Visit:
    """One counting appointment of one patient from the window onwards (an individual one or a class)."""

    id: str
    patient_id: str
    starts_at: datetime
    ends_at: datetime | None
    practitioner: str | None
    appointment_type: str | None
    business: str | None
    kind: Literal["individual", "group"]


@dataclass(frozen=True)
class PatientInfo:
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    archived: bool


@dataclass
class ActiveRow:
    patient_id: str
    recent: list[Visit] = field(default_factory=list)
    upcoming: list[Visit] = field(default_factory=list)
    total: int = 0
    search_date_from: date | None = None
    search_date_to: date | None = None

    @property
    def last_appointment_date(self) -> datetime | None:
        return max((v.starts_at for v in self.recent), default=None)


def active_candidates(visits: Iterable[Visit], window: Window) -> set[str]:
    return {v.patient_id for v in visits if window.is_recent(v.starts_at)}


def compute_active(
    visits: Iterable[Visit],
    totals: Mapping[str, int],
    patients: Mapping[str, PatientInfo],
    window: Window,
) -> list[ActiveRow]:
    """Rows for every active patient, sorted by patient id; `visits` are counting ones only."""
    rows: dict[str, ActiveRow] = {}
    later: list[Visit] = []
    for v in visits:
        if window.is_recent(v.starts_at):
            info = patients.get(v.patient_id)
            if info is None or info.archived:
                continue
            rows.setdefault(v.patient_id, ActiveRow(v.patient_id)).recent.append(v)
        elif window.is_upcoming(v.starts_at):
            later.append(v)
    for v in later:
        if v.patient_id in rows:
            rows[v.patient_id].upcoming.append(v)
    out = []
    for pid in sorted(rows):
        row = rows[pid]
        row.recent.sort(key=lambda v: (v.starts_at, v.id))
        row.upcoming.sort(key=lambda v: (v.starts_at, v.id))
        # Totals come from the whole history; never below what the window alone shows.
        row.total = max(totals.get(pid, 0), len(row.recent) + len(row.upcoming))
        row.search_date_from = window.start.date()
        row.search_date_to = window.now.date()
        out.append(row)
    return out
