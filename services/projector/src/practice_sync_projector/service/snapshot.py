"""Projecting `active_patients.computed` batches: parse, match, upsert, and apply snapshot_complete.

A batch's parsing and matching overlap its writes: the database's share and the projector's own
each cost about as much per row, and taking turns they cost both (services/projector/README.md). So
a batch works chunk by chunk on the three connections of a `Lane`:

- the *writer* holds the batch's transaction: the org locks first, then per chunk one statement
  that upserts its rows (a row is a function of its message: a redelivered one writes the same
  values again, and one of an older run than the row's is skipped), and each snapshot_complete,
  claimed by its event id, after the rows before it;
- the *reader* loads a chunk's match candidates while the chunks before it are written. It sees only
  committed data, which the org locks keep still (the contacts consumer takes them too); what the
  batch itself created or linked is in its `Matcher`, which keeps its own decisions over what a
  later load returns;
- *contacts* makes a chunk's new contacts, each chunk's committed at once, before that chunk's rows
  (their foreign key needs them) and while the writer writes the chunk before. If the batch then
  fails, those contacts stay, as a patient's contact stays when the patient stops being active: the
  batch, projected again, finds them by patient id and makes no second one.

The statements on a connection run one after another (`_Chain`); the parsing goes on meanwhile.
Per org, patients are decided in message order, each decision visible to the next, exactly as if
the messages came one by one. A record that does not parse is left out and returned to the caller
with the reason, for the DLQ.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from practice_sync_common.logging import get_logger
from practice_sync_projector.repository import active_patients as repo
from practice_sync_projector.repository.lane import Lane
from practice_sync_projector.repository.scoped import enter_org_raw, lock_orgs_raw, raw_connection
from practice_sync_projector.service.matching import Decisions, Matcher, PatientKey
from practice_sync_projector.service.normalize import normalize_email, normalize_name
from practice_sync_projector.service.snapshot_events import (
    Complete,
    Patient,
    SnapshotEvent,
    appointments_json,
    parse_snapshot_event,
    peek,
)

CONSUMER = "projector.active_patients"
T = TypeVar("T")
# Patients matched and written per statement group: large enough that a statement's fixed cost is
# small, small enough that the first chunk's parse (which nothing overlaps) is a small part of a batch.
CHUNK = 500
# How many records are parsed between two chances for the write in flight to send its next statement.
YIELD_EVERY = 64
log = get_logger(__name__)


@dataclass
class BatchOutcome:
    applied: int = 0  # messages: patients upserted (or superseded) and snapshot_completes applied
    duplicates: int = 0  # an event twice in the batch, or a snapshot_complete applied before
    rows: int = 0  # active_patients rows written
    superseded: int = 0  # rows not written: a run first seen later had written the patient
    contacts_created: int = 0
    completes: list[tuple[str, uuid.UUID, repo.CompleteOutcome]] = field(default_factory=list)
    rejected: list[tuple[int, ValidationError]] = field(default_factory=list)  # (index, reason)


class _Item(NamedTuple):
    position: int  # in the batch
    event_id: uuid.UUID
    value: bytes
    parsed: SnapshotEvent | None  # when it had to be parsed early


class _Chain:
    """Statement groups on one connection, each started when the one before it is done.

    The caller waits only when `depth` groups are pending, so it goes on parsing while they run. A
    group that fails fails every later one; the caller hears of it at its next `then` or `drain`.
    """

    def __init__(self, depth: int = 2) -> None:
        self.depth = depth
        self._pending: deque[asyncio.Task[Any]] = deque()

    async def then(
        self, work: Callable[[], Awaitable[T]], *, after: asyncio.Task[Any] | None = None
    ) -> asyncio.Task[T]:
        """Run `work()` after the previous group (and after `after`, a group of another chain)."""
        while len(self._pending) >= self.depth:
            await self._pending.popleft()
        before = self._pending[-1] if self._pending else None

        async def run() -> T:
            if before is not None:
                await before
            if after is not None:
                await after
            return await work()

        task = asyncio.ensure_future(run())
        self._pending.append(task)
        await asyncio.sleep(0)  # let it send its first statement before the caller goes on parsing
        return task

    async def drain(self) -> None:
        while self._pending:
            await self._pending.popleft()

    async def abandon(self) -> None:
        """After a failure: let the statements in flight finish, so the transaction can roll back."""
        pending, self._pending = list(self._pending), deque()
        await asyncio.gather(*pending, return_exceptions=True)


class _Batch:
    """One batch: its connections and their chains, its org locks, and per org a matcher."""

    def __init__(self, lane: Lane, outcome: BatchOutcome, chunk: int) -> None:
        self.writer, self.reader, self.contacts_conn = lane.writer, lane.reader, lane.contacts
        self.outcome, self.chunk = outcome, chunk
        self.rows = _Chain()
        self.contacts = _Chain()
        self._locks: asyncio.Task[None] | None = None
        self._writer_org: str | None = None
        self._contacts_org: str | None = None
        self._chunks = 0

    async def lock(self, orgs: list[str]) -> None:
        self._locks = await self.rows.then(lambda: lock_orgs_raw(self.writer, orgs))

    async def finish(self) -> None:
        await self.contacts.drain()
        await self.rows.drain()

    async def abandon(self) -> None:
        await self.contacts.abandon()
        await self.rows.abandon()

    async def org(self, org: str, items: list[_Item]) -> None:
        await enter_org_raw(self.reader, org, local=False)
        matcher = Matcher()
        pending: list[Patient] = []
        for n, item in enumerate(items):
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            event = item.parsed or self._parse(item)
            if event is None:
                continue
            message = event.data.message
            if isinstance(message, Complete):
                await self._flush(org, matcher, pending)
                pending = []
                await self.rows.then(lambda i=item.event_id, m=message: self._complete(org, i, m))  # type: ignore[misc]
                continue
            pending.append(message)
            # A batch's first chunk is small: nothing is written until it is parsed and matched.
            if len(pending) >= (self.chunk if self._chunks else max(1, self.chunk // 5)):
                await self._flush(org, matcher, pending)
                pending = []
        await self._flush(org, matcher, pending)

    def _parse(self, item: _Item) -> SnapshotEvent | None:
        try:
            return parse_snapshot_event(item.value)
        except ValidationError as invalid:
            self.outcome.rejected.append((item.position, invalid))
            return None

    async def _enter(self, org: str) -> None:
        # Inside the group that needs it, not a group of its own: each group is a statement's wait
        # behind the parsing, and an org's first write group would otherwise need two.
        if self._writer_org != org:
            await enter_org_raw(self.writer, org)
            self._writer_org = org

    async def _complete(self, org: str, event_id: uuid.UUID, message: Complete) -> None:
        await self._enter(org)
        if not await repo.claim(self.writer, CONSUMER, [event_id]):
            self.outcome.duplicates += 1
            return
        done = await repo.complete_snapshot(self.writer, org, message.run_id, message.count)
        self.outcome.applied += 1
        self.outcome.completes.append((org, message.run_id, done))

    async def _flush(self, org: str, matcher: Matcher, patients: list[Patient]) -> None:
        if not patients:
            return
        keys = [
            PatientKey(
                cliniko_patient_id=p.cliniko_patient_id,
                email=normalize_email(p.email),
                normalized_name=normalize_name(p.first_name, p.last_name),
                first_name=p.first_name,
                last_name=p.last_name,
                phone=p.phone,
            )
            for p in patients
        ]
        # On the reader, while earlier chunks are written on the other two connections; only once the
        # batch holds its orgs' locks, so nothing else commits contacts there meanwhile.
        assert self._locks is not None
        await self._locks
        matcher.learn(
            await repo.load_candidates(
                self.reader,
                org,
                pids=list({k.cliniko_patient_id for k in keys}),
                emails=list({k.email for k in keys if k.email}),
                names=list({k.normalized_name for k in keys if k.normalized_name}),
            )
        )
        decisions = matcher.decide(keys)
        rows = _rows(patients, decisions)
        runs = list(dict.fromkeys(p.run_id for p in patients))  # in the order first seen
        made = None
        if decisions.created:
            made = await self.contacts.then(lambda: self._make_contacts(org, decisions.created))
        await self.rows.then(lambda: self._write(org, decisions, rows, runs), after=made)
        self.outcome.applied += len(patients)
        self._chunks += 1
        self.outcome.contacts_created += len(decisions.created)

    async def _make_contacts(self, org: str, created: list[tuple[uuid.UUID, PatientKey]]) -> None:
        """New contacts, committed at once on a connection of their own (the module's docstring)."""
        if self._contacts_org != org:
            await enter_org_raw(self.contacts_conn, org, local=False)
            self._contacts_org = org
        await repo.insert_contacts(self.contacts_conn, org, created)

    async def _write(
        self,
        org: str,
        decisions: Decisions,
        rows: list[repo.PatientRow],
        runs: list[uuid.UUID],
    ) -> None:
        await self._enter(org)
        await repo.link_contacts(self.writer, org, decisions.linked_existing)
        refreshed = _last_per_contact(decisions.refreshed)
        run_of = {r.cliniko_patient_id: r.run_id for r in rows}
        runs_of_refreshed = [run_of[key.cliniko_patient_id] for _, key in refreshed]
        await repo.refresh_contacts(self.writer, org, refreshed, runs_of_refreshed)
        written = await repo.upsert_patients(self.writer, org, rows, runs)
        self.outcome.rows += written
        self.outcome.superseded += len(rows) - written


class SnapshotProjector:
    # Rows written since the planner last saw fresh statistics, and how many it knew of then: a bulk
    # load into a small table otherwise leaves it planning for the small table (whole-org scans).
    # Re-analyze when the tables have doubled (at least 5,000 rows): a handful of ANALYZEs per bulk load.
    ANALYZE_AFTER_ROWS = 5000
    ANALYZE_GROWTH = 1.0

    def __init__(self, engine: AsyncEngine, chunk: int = CHUNK) -> None:
        self.engine = engine
        self.chunk = chunk
        self.lane = Lane(engine)
        self._one_at_a_time = asyncio.Lock()
        self._analyzing: asyncio.Task[None] | None = None
        self._written_since_analyze = 0
        self._rows_at_analyze = 0

    async def project(self, values: list[bytes]) -> BatchOutcome:
        """Project a batch of records (raw values, in delivery order) in one transaction."""
        outcome = BatchOutcome()
        per_org: dict[str, list[_Item]] = {}
        seen: set[uuid.UUID] = set()
        for index, value in enumerate(values):
            head, parsed = peek(value), None
            if head is None:  # no id or org to read cheaply: parse it whole now (rare)
                try:
                    parsed = parse_snapshot_event(value)
                except ValidationError as invalid:
                    outcome.rejected.append((index, invalid))
                    continue
                event_id, org = parsed.id, parsed.org_id
            else:
                event_id, org = head.id, head.org_id
            if event_id in seen:  # the same event twice in one batch: the first one counts
                outcome.duplicates += 1
                continue
            seen.add(event_id)
            per_org.setdefault(org, []).append(_Item(index, event_id, value, parsed))
        if not per_org:
            return outcome
        async with self._one_at_a_time:
            if not self.lane.open:
                await self.lane.start()
            batch = _Batch(self.lane, outcome, self.chunk)
            try:
                await self.lane.begin()
                await batch.lock(list(per_org))
                for org, items in per_org.items():
                    await batch.org(org, items)
                await batch.finish()
                await self.lane.commit()
            except BaseException:
                await batch.abandon()
                await self.lane.close()  # rolls back; a connection in doubt is not used again
                raise
        await self._keep_statistics_fresh(outcome.rows + outcome.contacts_created)
        _log_completes(outcome)
        return outcome

    async def close(self) -> None:
        """Give the connections back (at shutdown)."""
        async with self._one_at_a_time:
            await self.lane.close()
        if self._analyzing is not None:
            await asyncio.gather(self._analyzing, return_exceptions=True)

    async def _keep_statistics_fresh(self, written: int) -> None:
        self._written_since_analyze += written
        threshold = max(self.ANALYZE_AFTER_ROWS, int(self._rows_at_analyze * self.ANALYZE_GROWTH))
        if self._written_since_analyze < threshold or (self._analyzing and not self._analyzing.done()):
            return
        self._rows_at_analyze += self._written_since_analyze
        self._written_since_analyze = 0
        # Beside the next batches, not before them: their plans need the new figures soon, not at once.
        self._analyzing = asyncio.ensure_future(self._analyze())

    async def _analyze(self) -> None:
        try:
            async with raw_connection(self.engine) as conn:
                await repo.refresh_statistics(conn)
        except Exception as exc:  # the next threshold tries again; the plans are only slower meanwhile
            log.warning("could not refresh the contacts' statistics", error=str(exc))


def _rows(patients: list[Patient], decisions: Decisions) -> list[repo.PatientRow]:
    """Each patient's row from its latest message (one row per statement)."""
    latest = {p.cliniko_patient_id: p for p in patients}
    rows = []
    for pid, p in latest.items():
        contact_id, method = decisions.links[pid]
        rows.append(
            repo.PatientRow(
                cliniko_patient_id=pid,
                contact_id=contact_id,
                link_method=method,
                run_id=p.run_id,
                recent_appointment_count=p.recent_appointment_count,
                upcoming_appointment_count=p.upcoming_appointment_count,
                total_appointment_count=p.total_appointment_count,
                last_appointment_date=p.last_appointment_date,
                recent_appointments=appointments_json(p.recent_appointments),
                upcoming_appointments=appointments_json(p.upcoming_appointments),
                search_date_from=p.search_date_from,
                search_date_to=p.search_date_to,
            )
        )
    return rows


def _last_per_contact(rows: list[tuple[uuid.UUID, PatientKey]]) -> list[tuple[uuid.UUID, PatientKey]]:
    latest: dict[uuid.UUID, PatientKey] = {}
    for contact_id, key in rows:
        latest[contact_id] = key
    return list(latest.items())


def _log_completes(outcome: BatchOutcome) -> None:
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
