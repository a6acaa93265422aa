"""Projecting `active_patients.computed` batches: match, upsert, and apply snapshot_complete.

One transaction per batch. Event ids are claimed in bulk first (a redelivered batch, or a
redelivered message inside one, is skipped); then each org's messages are applied in their order,
rows flushed set-based before every snapshot_complete, so a complete always follows its rows.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from practice_sync_common.idempotency import claim_events
from practice_sync_common.logging import get_logger
from practice_sync_projector.repository import active_patients as repo
from practice_sync_projector.repository import tables
from practice_sync_projector.repository.scoped import enter_org, lock_orgs, scoped_transaction
from practice_sync_projector.service.matching import Matcher, PatientKey
from practice_sync_projector.service.normalize import normalize_email, normalize_name
from practice_sync_projector.service.snapshot_events import Patient, SnapshotEvent, appointments_json

CONSUMER = "projector.active_patients"
log = get_logger(__name__)


@dataclass
class BatchOutcome:
    applied: int = 0
    duplicates: int = 0
    rows: int = 0
    contacts_created: int = 0
    completes: list[tuple[str, uuid.UUID, repo.CompleteOutcome]] = field(default_factory=list)


class SnapshotProjector:
    # Rows written since the planner last saw fresh statistics, and how many it knew of then: a bulk
    # load into a small table otherwise leaves it planning for the small table (whole-org scans).
    # Re-analyze when the tables have doubled (at least 5,000 rows): a handful of ANALYZEs per bulk load.
    ANALYZE_AFTER_ROWS = 5000
    ANALYZE_GROWTH = 1.0

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self._written_since_analyze = 0
        self._rows_at_analyze = 0

    async def project(self, events: list[SnapshotEvent]) -> BatchOutcome:
        outcome = BatchOutcome()
        unique: dict[uuid.UUID, SnapshotEvent] = {}
        for ev in events:
            unique.setdefault(ev["id"], ev)
        outcome.duplicates = len(events) - len(unique)
        if not unique:
            return outcome
        async with scoped_transaction(self.sessions) as session:
            await lock_orgs(session, [ev["org_id"] for ev in unique.values()])
            fresh = await claim_events(session, tables.processed_events, CONSUMER, list(unique))
            outcome.duplicates += len(unique) - len(fresh)
            per_org: dict[str, list[SnapshotEvent]] = defaultdict(list)
            for ev in unique.values():
                if ev["id"] in fresh:
                    per_org[ev["org_id"]].append(ev)
            for org, org_events in per_org.items():
                await enter_org(session, org)
                await self._apply_org(session, org, org_events, outcome)
                outcome.applied += len(org_events)
        await self._keep_statistics_fresh(outcome.rows + outcome.contacts_created)
        for org, run_id, done in outcome.completes:
            if done.complete:
                log.info(
                    "snapshot complete", org_id=org, run_id=str(run_id), rows=done.seen, deleted=done.deleted
                )
            else:
                log.warning(
                    "snapshot incomplete: not shrinking active_patients",
                    org_id=org,
                    run_id=str(run_id),
                    expected=done.expected,
                    seen=done.seen,
                )
        return outcome

    async def _keep_statistics_fresh(self, written: int) -> None:
        self._written_since_analyze += written
        threshold = max(self.ANALYZE_AFTER_ROWS, int(self._rows_at_analyze * self.ANALYZE_GROWTH))
        if self._written_since_analyze < threshold:
            return
        async with self.sessions() as session, session.begin():
            await repo.refresh_statistics(session)
        self._rows_at_analyze += self._written_since_analyze
        self._written_since_analyze = 0

    async def _apply_org(
        self, session: AsyncSession, org: str, events: list[SnapshotEvent], outcome: BatchOutcome
    ) -> None:
        pending: list[Patient] = []
        for ev in events:
            msg = ev["data"]["message"]
            if msg["type"] == "snapshot_complete":
                await self._flush(session, org, pending, outcome)
                pending = []
                done = await repo.complete_snapshot(session, org, msg["run_id"], msg["count"])
                outcome.completes.append((org, msg["run_id"], done))
            else:
                pending.append(msg)
        await self._flush(session, org, pending, outcome)

    async def _flush(
        self, session: AsyncSession, org: str, patients: list[Patient], outcome: BatchOutcome
    ) -> None:
        if not patients:
            return
        keys = [
            PatientKey(
                cliniko_patient_id=p["cliniko_patient_id"],
                email=normalize_email(p["email"]),
                normalized_name=normalize_name(p["first_name"], p["last_name"]),
                first_name=p["first_name"],
                last_name=p["last_name"],
                phone=p["phone"],
            )
            for p in patients
        ]
        candidates = await repo.load_candidates(
            session,
            org,
            pids=list({k.cliniko_patient_id for k in keys}),
            emails=list({k.email for k in keys if k.email}),
            names=list({k.normalized_name for k in keys if k.normalized_name}),
        )
        decisions = Matcher(candidates).decide(keys)
        await repo.insert_contacts(session, org, decisions.created)
        await repo.link_contacts(session, org, decisions.linked_existing)
        await repo.refresh_contacts(session, org, _last_per_contact(decisions.refreshed))
        latest: dict[str, Patient] = {}
        for p in patients:  # a later message for the same patient wins (one row per statement)
            latest[p["cliniko_patient_id"]] = p
        rows = []
        for pid, p in latest.items():
            contact_id, method = decisions.links[pid]
            rows.append(
                repo.PatientRow(
                    cliniko_patient_id=pid,
                    contact_id=contact_id,
                    link_method=method,
                    run_id=p["run_id"],
                    recent_appointment_count=p["recent_appointment_count"],
                    upcoming_appointment_count=p["upcoming_appointment_count"],
                    total_appointment_count=p["total_appointment_count"],
                    last_appointment_date=p["last_appointment_date"],
                    recent_appointments=appointments_json(p["recent_appointments"]),
                    upcoming_appointments=appointments_json(p["upcoming_appointments"]),
                    search_date_from=p["search_date_from"],
                    search_date_to=p["search_date_to"],
                )
            )
        await repo.upsert_patients(session, org, rows)
        await repo.note_runs(session, org, list(dict.fromkeys(p["run_id"] for p in patients)))  # seen order
        outcome.rows += len(rows)
        outcome.contacts_created += len(decisions.created)


def _last_per_contact(rows: list[tuple[uuid.UUID, PatientKey]]) -> list[tuple[uuid.UUID, PatientKey]]:
    latest: dict[uuid.UUID, PatientKey] = {}
    for contact_id, key in rows:
        latest[contact_id] = key
    return list(latest.items())
