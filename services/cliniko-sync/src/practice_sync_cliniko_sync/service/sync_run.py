"""One sync run of one org: crawl (full) or delta (incremental) into the mirror, then the snapshot.

Every page's rows and the run's checkpoint commit in one transaction, so a killed run resumes at
the page after the last one it recorded. The window's "now" is fixed when the run first starts and
kept in the checkpoint, so a resumed run computes the same window.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from faststream.kafka import KafkaBroker
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from practice_sync_cliniko_sync import SOURCE
from practice_sync_cliniko_sync.domain.rules import ActiveRow, PatientInfo, Window, compute_active
from practice_sync_cliniko_sync.repository import mirror
from practice_sync_cliniko_sync.repository.tables import (
    attendees,
    group_appointments,
    individual_appointments,
    patients,
)
from practice_sync_cliniko_sync.service import rows as to_rows
from practice_sync_cliniko_sync.service.cliniko_api import (
    ATTENDEE_STARS,
    Budgets,
    Page,
    class_attendees_url,
    class_batches,
    list_url,
    make_client,
    pages_from,
)
from practice_sync_cliniko_sync.service.delta_walk import DeltaWalk
from practice_sync_cliniko_sync.service.snapshot_messages import active_patient_event
from practice_sync_cliniko_sync.settings import Settings
from practice_sync_common import topics
from practice_sync_common.batch_publisher import KeyedBatchPublisher
from practice_sync_common.db import one_connection, unit_of_work
from practice_sync_common.dead_letter import PermanentError
from practice_sync_common.events import ActivePatientsComputed, SnapshotComplete, envelope
from practice_sync_common.logging import get_logger
from practice_sync_common.provider_http import ProviderClient
from practice_sync_common.sync_runs import SyncRun, SyncRunRepository


@dataclass(frozen=True)
class Phase:
    resource: str
    table: Table
    row: to_rows.RowFn
    star_filters: tuple[str, ...]
    full: bool  # crawled on a full run (patients are fetched by id instead)
    # Individual appointments on a full run: "window" from the split on, then "history" before it
    # (only when the run chose to crawl the history). Incremental runs read one delta per list.
    part: str = "all"


_INDIVIDUAL_STARS = ("cancelled_at:*", "archived_at:*")


def _individual(part: str) -> Phase:
    return Phase(
        "individual_appointments",
        individual_appointments,
        to_rows.individual_row,
        _INDIVIDUAL_STARS,
        True,
        part,
    )


PHASES = (
    _individual("window"),
    Phase("group_appointments", group_appointments, to_rows.group_row, ("archived_at:*",), True),
    # Full runs ask for the mirrored classes' attendees, CLASS_BATCH classes a request (/attendees
    # also lists each individual appointment's one attendee: spec §6); incremental runs read the
    # `updated_at` delta of the whole list and keep what it brings (the individual ones join nothing,
    # and kept, they make the mark's tie count exact).
    Phase("attendees", attendees, to_rows.attendee_row, ATTENDEE_STARS, True),
    _individual("history"),
    Phase("patients", patients, to_rows.patient_row, ("archived_at:*",), False),
)
log = get_logger(__name__)
COUNT_CONCURRENCY = 4  # count requests in flight at once (the budget paces them all the same)
# How far past the latest answer's `Date` a count may have been made: `Date` drops the fraction of
# its second, and of answers in flight together the last one read need not carry the latest `Date`.
COUNT_CLOCK_SLACK_S = 5


def cliniko_time(value: datetime) -> str:
    """A filter value in Cliniko's UTC form, whole seconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CredentialsMissing(Exception):
    """The org has no usable Cliniko credentials: retrying will not help."""


@dataclass
class Deps:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    broker: KafkaBroker
    runs: SyncRunRepository
    budgets: Budgets
    now: Callable[[], datetime]
    snapshots_out: KeyedBatchPublisher  # active_patients.computed, as whole record batches


async def fetch_credentials(settings: Settings, org_id: str) -> tuple[str, str]:
    token = settings.service_token.get_secret_value()
    async with httpx.AsyncClient(base_url=settings.credentials_url, timeout=10) as http:
        r = await http.get(
            f"/internal/credentials/{org_id}/cliniko", headers={"Authorization": f"Bearer {token}"}
        )
    if r.status_code in (404, 409, 403):
        raise CredentialsMissing(f"no usable Cliniko credentials for org {org_id} ({r.status_code})")
    r.raise_for_status()
    body = r.json()
    return str(body["api_key"]), str(body["api_url"])


class RunExecutor:
    def __init__(self, deps: Deps, run: SyncRun) -> None:
        self.d = deps
        self.run = run
        self.progress = run.progress.model_copy()
        self.base_requests = self.progress.requests
        self.base_throttled = self.progress.throttled_429
        self.base_retries = self.progress.retries
        self.client: ProviderClient | None = None
        self._walks: dict[str, DeltaWalk] = {}  # this process's delta walks, by list

    def _sync_stats(self) -> None:
        assert self.client is not None
        s = self.client.stats
        self.progress.requests = self.base_requests + s.requests
        self.progress.throttled_429 = self.base_throttled + s.throttled
        self.progress.retries = self.base_retries + s.server_errors + s.transport_errors + s.malformed

    async def execute(self) -> dict[str, Any]:
        api_key, api_url = await fetch_credentials(self.d.settings, self.run.org_id)
        self.client = make_client(self.d.settings, self.d.budgets, api_key)
        try:
            cp = await self._start_checkpoint()
            await self._crawl(cp, api_url)
            return await self._snapshot(cp, api_url)
        finally:
            self._sync_stats()
            await self.client.aclose()

    async def _start_checkpoint(self) -> dict[str, Any]:
        if self.run.checkpoint:
            return dict(self.run.checkpoint)
        org = self.run.org_id
        now = self.d.now()
        window_start = Window(now, self.d.settings.active_window_days).start
        async with unit_of_work(self.d.sessions) as s:
            waters = await mirror.high_waters(s, org)
            boundary = await mirror.history_boundary(s, org)
            # A window widened past an org's boundary needs history the mirror never had.
            widened = boundary is not None and window_start < boundary
            full = self.run.mode == "full" or "individual_appointments" not in waters or widened
            if full:
                await mirror.wipe(s, org)
                waters, boundary = {}, None
            tables = {p.resource: p.table for p in PHASES}
            cp: dict[str, Any] = {
                "kind": "full" if full else "incremental",
                "now": now.isoformat(),
                # Full runs crawl individual appointments from `split` (the window's start, whole
                # seconds down) first; `boundary` is set when totals are counted per patient.
                "split": cliniko_time(window_start) if full else None,
                "boundary": boundary.isoformat() if boundary else None,
                "method": None if full else "incremental_deltas",
                "phase": 0,
                "next": None,
                "waters": waters,
                "seen": {},
                # Records sitting exactly on each high-water mark (see _first_url), and the lists
                # whose strict delta has been checked for same-second arrivals.
                "ties": {r: await mirror.count_at(s, org, tables[r], w) for r, w in waters.items()},
                "checked": [],
                "gt_total": {},
            }
            await self.d.runs.checkpoint(s, self.run.run_id, cp, self.progress)
        return cp

    def _first_url(self, cp: dict[str, Any], phase: Phase, api_url: str) -> str:
        filters = list(phase.star_filters)
        per_page = self.d.settings.cliniko_per_page
        if cp["kind"] == "full":
            return list_url(api_url, phase.resource, [*filters, *self._part_filters(cp, phase)], per_page)
        water = cp["waters"].get(phase.resource)
        if water is None:
            # A list without a mark (a full run of an older version left an empty list without
            # one): read it whole, once; its newest record becomes its mark.
            return list_url(api_url, phase.resource, filters, per_page, "updated_at")
        # Inclusive with the mark, so a change in the same second as the last one seen is not lost;
        # the records at the mark come back and are upserted again, harmlessly. When a page or more
        # of records sit on the mark (a bulk import, or the sandbox's generated data), re-reading
        # them every run would cost pages: the delta is then strict (>) and one count request
        # afterwards (_tie_check) proves nothing new arrived on the mark, else the inclusive delta runs.
        op = ">" if self._strict(cp, phase) else ">="
        return list_url(
            api_url, phase.resource, [f"updated_at:{op}{water}", *filters], per_page, "updated_at"
        )

    @staticmethod
    def _part_filters(cp: dict[str, Any], phase: Phase) -> list[str]:
        """A full run's individual appointments: the window from the split on, the history before."""
        if phase.part == "window":
            return [f"starts_at:>={cp['split']}"]
        if phase.part == "history":
            return [f"starts_at:<{cp['split']}"]
        return []

    def _strict(self, cp: dict[str, Any], phase: Phase) -> bool:
        ties = int(cp.get("ties", {}).get(phase.resource, 0))
        return ties >= self.d.settings.cliniko_per_page and phase.resource not in cp.get("checked", [])

    async def _tie_check(self, s: AsyncSession, cp: dict[str, Any], phase: Phase, api_url: str) -> bool:
        """After a strict delta: True when records may have arrived on the mark since the last run.

        (≥ mark now) - (> mark when the delta started) counts the records on the mark now plus any
        change made during the delta; the mirror knows which records it still has on the mark.
        More than that means a record arrived on the mark: then the inclusive delta runs too.
        """
        assert self.client is not None
        water = cp["waters"][phase.resource]
        on_mark = await mirror.count_at(s, self.run.org_id, phase.table, water)
        url = list_url(api_url, phase.resource, [f"updated_at:>={water}", *phase.star_filters], 1)
        at_least = await self._total(url)
        cp["checked"].append(phase.resource)
        return at_least - int(cp["gt_total"].get(phase.resource, 0)) > on_mark

    def _plan(self, pages: int) -> None:
        """Add requests about to be made to the progress total, so the bar never ends past its end."""
        self.progress.pages_total = (self.progress.pages_total or 0) + pages

    async def _total(self, url: str, planned: bool = False) -> int:
        """`total_entries` of a one-record page: Cliniko's cheap count."""
        return int((await self._one_page(url, planned)).get("total_entries") or 0)

    async def _one_page(self, url: str, planned: bool = False) -> dict[str, Any]:
        assert self.client is not None
        if not planned:
            self._plan(1)
        page: dict[str, Any] = {}
        async with aclosing(pages_from(self.client, url, ahead=0)) as one:
            async for body, _ in one:
                page = body
                break
        self.progress.pages += 1
        self._sync_stats()
        return page

    async def _unchanged(self, cp: dict[str, Any], phase: Phase, api_url: str) -> bool:
        """One request instead of a strict delta and its tie count, when the list has not changed.

        The newest record from the mark on (`sort=updated_at:desc`, one record) and the count of
        them: all still on the mark, and as many as the mirror has there, means none changed and
        none arrived (a record leaves the mark only by changing, which puts it past the mark).
        Otherwise the strict delta and its tie count run as before: a check made before the delta
        could miss an arrival on the mark while a mirrored one changes in between.
        """
        water = cp["waters"][phase.resource]
        url = list_url(
            api_url, phase.resource, [f"updated_at:>={water}", *phase.star_filters], 1, "updated_at:desc"
        )
        body = await self._one_page(url)
        records = body.get(phase.resource)
        newest = records[0].get("updated_at") if isinstance(records, list) and records else None
        total = int(body.get("total_entries") or 0)
        on_mark = int(cp["ties"].get(phase.resource, 0))
        return total == on_mark and (total == 0 or newest == water)

    async def _choose(self, cp: dict[str, Any], api_url: str) -> None:
        """Full run, window and classes mirrored: crawl the older history, or count per patient?

        Costs in requests: the history's pages (one count request tells how many), against one
        request per patient active in the window. Either gives the same totals.
        """
        per_page = self.d.settings.cliniko_per_page
        before = list_url(
            api_url, "individual_appointments", [f"starts_at:<{cp['split']}", *_INDIVIDUAL_STARS], 1
        )
        crawl = -(-(await self._total(before)) // per_page)
        window = Window(datetime.fromisoformat(cp["now"]), self.d.settings.active_window_days)
        async with unit_of_work(self.d.sessions) as s:
            visits = await mirror.visits_from(s, self.run.org_id, window.start)
        per_patient = len({v.patient_id for v in visits if window.is_recent(v.starts_at)})
        forced = self.d.settings.cliniko_totals_method
        if forced != "auto":
            cp["method"] = forced
        else:
            cp["method"] = "per_patient_counts" if per_patient < crawl else "history_crawl"
        cp["method_costs"] = {"history_crawl": crawl, "per_patient_counts": per_patient}
        async with unit_of_work(self.d.sessions) as s:
            if cp["method"] == "per_patient_counts":
                split = datetime.fromisoformat(cp["split"].replace("Z", "+00:00"))
                await mirror.set_history_boundary(s, self.run.org_id, split)
                cp["boundary"] = split.isoformat()
            await self.d.runs.checkpoint(s, self.run.run_id, cp, self.progress)

    async def _crawl(self, cp: dict[str, Any], api_url: str) -> None:
        assert self.client is not None
        while cp["phase"] < len(PHASES):
            phase = PHASES[cp["phase"]]
            if cp["kind"] == "full" and not phase.full:
                cp.update(phase=cp["phase"] + 1, next=None)
                continue
            if phase.part == "history":
                if cp["kind"] == "full" and cp.get("method") is None:
                    await self._choose(cp, api_url)
                if cp["kind"] != "full" or cp["method"] != "history_crawl":
                    cp.update(phase=cp["phase"] + 1, next=None)
                    continue
            if cp["kind"] == "full" and phase.resource == "attendees":
                await self._crawl_class_attendees(cp, phase, api_url)
                continue
            probed = cp.setdefault("probed", [])
            if (
                cp["kind"] == "incremental"
                and cp["next"] is None
                and self._strict(cp, phase)
                and phase.resource not in probed
            ):
                probed.append(phase.resource)
                if await self._unchanged(cp, phase, api_url):
                    async with unit_of_work(self.d.sessions) as s:
                        await self._list_done(s, cp, phase)
                        await self.d.runs.checkpoint(s, self.run.run_id, cp, self.progress)
                    continue
            url = cp["next"] or self._first_url(cp, phase, api_url)
            self.progress.phase = phase.resource
            first = cp["next"] is None
            async with aclosing(pages_from(self.client, url)) as pages:
                await self._crawl_pages(cp, phase, pages, first, api_url)

    async def _crawl_class_attendees(self, cp: dict[str, Any], phase: Phase, api_url: str) -> None:
        """Full run: the attendees of the mirrored classes, batch after batch (spec §9.3).

        The group phase is done, so the mirror's classes (and so the batches) stay the same until
        this phase ends, and a resumed run rebuilds them alike: the checkpoint keeps the batch's
        index and, within it, the next link.
        """
        assert self.client is not None
        index = cp["phase"]
        async with unit_of_work(self.d.sessions) as s:
            batches = class_batches(await mirror.class_ids(s, self.run.org_id))
            if not batches:  # no classes: nothing to ask
                await self._list_done(s, cp, phase)
                await self.d.runs.checkpoint(s, self.run.run_id, cp, self.progress)
                return
        if "batch" not in cp:
            # A new phase, or a checkpoint written before attendees came in batches (its link
            # walks the whole list): start at the first batch.
            cp.update(batch=0, next=None)
        cp["batches"] = len(batches)
        self.progress.phase = phase.resource
        per_page = self.d.settings.cliniko_per_page
        while cp["phase"] == index:
            url = cp["next"] or class_attendees_url(api_url, batches[cp["batch"]], per_page)
            first = cp["next"] is None
            async with aclosing(pages_from(self.client, url)) as pages:
                await self._crawl_pages(cp, phase, pages, first, api_url)

    async def _list_done(self, s: AsyncSession, cp: dict[str, Any], phase: Phase) -> None:
        """A list (or a batch of class attendees) has no next page: on to the next batch or phase."""
        if cp.get("batch") is not None and cp["batch"] + 1 < cp.get("batches", 0):
            cp.update(batch=cp["batch"] + 1, next=None)
            return
        cp.pop("batch", None)
        cp.pop("batches", None)
        cp.update(phase=cp["phase"] + 1, next=None)
        await self._phase_done(s, cp, phase)

    async def _crawl_pages(
        self, cp: dict[str, Any], phase: Phase, pages: AsyncIterator[Page], first: bool, api_url: str
    ) -> None:
        if cp["kind"] == "incremental":
            if first:
                self._walks[phase.resource] = DeltaWalk()
            elif phase.resource not in self._walks and phase.resource not in cp.setdefault("unproven", []):
                # Resumed inside a walk another process began: its pages cannot be checked for a
                # skipped record (DeltaWalk), so this run does not move the list's mark.
                cp["unproven"].append(phase.resource)
        async with one_connection(self.d.sessions) as page_sessions:
            async for body, next_url in pages:
                await self._crawl_page(cp, phase, body, next_url, first, api_url, page_sessions)
                first = False

    async def _crawl_page(
        self,
        cp: dict[str, Any],
        phase: Phase,
        body: Any,
        next_url: str | None,
        first: bool,
        api_url: str,
        sessions: async_sessionmaker[AsyncSession],
    ) -> None:
        """One page: its records mirrored and the run's checkpoint moved past it, in one transaction."""
        org, dna = self.run.org_id, self.d.settings.did_not_arrive
        records = _page_records(body, phase.resource)
        if first:
            total = int(body.get("total_entries") or 0)
            if cp["kind"] == "incremental" and self._strict(cp, phase):
                cp["gt_total"][phase.resource] = total
            known = self.progress.pages_total or 0
            self.progress.pages_total = known + max(1, math.ceil(total / self.d.settings.cliniko_per_page))
        if cp["kind"] == "full":
            self._crawl_start(cp)  # fixed at the first page, kept with its checkpoint
        batch = to_rows.rows_of(phase.resource, org, records, phase.row, dna)
        if cp["kind"] == "full" and phase.table is individual_appointments:
            _watch_for_shift(cp, phase.part, body, records)
            if next_url is None:
                batch += await self._mend_shifts(cp, phase, api_url)
        seen = max((r["updated_at"] for r in batch), default="")
        if seen > cp["seen"].get(phase.resource, ""):
            cp["seen"][phase.resource] = seen
        walk = self._walks.get(phase.resource) if cp["kind"] == "incremental" else None
        if walk is not None:
            walk.read(batch)
            if walk.floor is not None:  # kept with the checkpoint; the lowest of the run's walks
                known = cp.setdefault("floors", {}).get(phase.resource)
                cp["floors"][phase.resource] = walk.floor if known is None else min(known, walk.floor)
        self.progress.pages += 1
        self.progress.records += len(batch)
        self._sync_stats()
        strict = cp["kind"] == "incremental" and self._strict(cp, phase)
        async with unit_of_work(sessions) as s:
            if cp["kind"] == "incremental" and cp.get("boundary") and phase.table is individual_appointments:
                await self._drop_stale_bases(s, cp, batch, records)
            await mirror.upsert(s, phase.table, batch)
            if next_url is not None:
                cp["next"] = next_url
            elif strict and await self._tie_check(s, cp, phase, api_url):
                cp["next"] = self._first_url(cp, phase, api_url)  # now the inclusive delta
                self._walks[phase.resource] = DeltaWalk()  # a walk of its own
            else:
                await self._list_done(s, cp, phase)
            await self.d.runs.checkpoint(s, self.run.run_id, cp, self.progress)

    async def _mend_shifts(self, cp: dict[str, Any], phase: Phase, api_url: str) -> list[dict[str, Any]]:
        """The records a full crawl of `phase`'s list may have skipped (`_watch_for_shift`): each gap
        read again by its `created_at` bounds, which no later move of the list can shift."""
        assert self.client is not None
        gaps = cp.get("gaps", {}).pop(phase.part, [])
        rows: list[dict[str, Any]] = []
        for after, before in gaps:
            filters = [*phase.star_filters, *self._part_filters(cp, phase)]
            filters += [f"created_at:>={after}", f"created_at:<={before}"]
            url = list_url(api_url, phase.resource, filters, self.d.settings.cliniko_per_page)
            self._plan(1)
            async for body, next_url in pages_from(self.client, url, ahead=0):
                if next_url is not None:
                    self._plan(1)
                records = _page_records(body, phase.resource)
                rows += to_rows.rows_of(
                    phase.resource, self.run.org_id, records, phase.row, self.d.settings.did_not_arrive
                )
                self.progress.pages += 1
        if gaps:
            log.info(
                "full crawl: re-read the gaps a shifted list may have left",
                org_id=self.run.org_id,
                list=phase.part,
                gaps=len(gaps),
                records=len(rows),
            )
        return rows

    async def _drop_stale_bases(
        self, s: AsyncSession, cp: dict[str, Any], batch: list[dict[str, Any]], records: list[Any]
    ) -> None:
        """Drop the bases a delta may have changed (asked again if the patient is active).

        A base counts appointments before the boundary as they were when asked. A changed one that
        starts (or started) before it, or one the mirror never had, can change that number: an
        appointment the mirror never had may have moved across the boundary since the count. Not
        one created after its patient's base was counted and starting from the boundary on (a new
        booking, the common case): it was never in the count, and the mirror counts it. Nor one read
        again unchanged (an inclusive delta re-reads the records on its mark every run).
        """
        org = self.run.org_id
        boundary = datetime.fromisoformat(cp["boundary"])
        old = await mirror.mirrored_starts(s, org, [r["id"] for r in batch])
        created = {str(raw.get("id")): _created_at(raw) for raw in records if isinstance(raw, dict)}
        new = [r for r in batch if r["id"] not in old and r["starts_at"] >= boundary]
        counted = await mirror.bases_counted_at(s, org, [r["patient_id"] for r in new])
        stale = set()
        for r in batch:
            was = old.get(r["id"])
            if was is not None and was[2] == r["updated_at"]:
                continue
            booked_since = was is None and _created_after(created.get(r["id"]), counted.get(r["patient_id"]))
            if r["starts_at"] < boundary or (was is None and not booked_since):
                stale.add(r["patient_id"])
            if was is not None and was[1] < boundary:
                stale.add(was[0])
        await mirror.drop_bases(s, org, stale)

    async def _phase_done(self, s: AsyncSession, cp: dict[str, Any], phase: Phase) -> None:
        org = self.run.org_id
        if cp["kind"] == "full":
            # Not the newest record seen: the crawl goes in created_at order, so a record behind
            # the cursor that changed during the crawl can be older than one ahead of it that
            # changed later. Every change made after the crawl began is at or past its start, so
            # the first delta starts there (minus the margin); it re-reads only what changed since.
            # Every list gets the mark, read or empty, so a first class made later is seen too;
            # patients are fetched by id on full runs, and their delta starts there as well.
            mark = self._crawl_start(cp)
            await mirror.set_high_water(s, org, phase.resource, mark)
            if phase.resource == "attendees":
                await mirror.set_high_water(s, org, "patients", mark)
            return
        # A delta is sorted by updated_at: the newest record read is where the next one starts,
        # unless the walk may have skipped a record (DeltaWalk), or cannot tell.
        mark = cp["seen"].get(phase.resource) or cp["waters"].get(phase.resource)
        floor = cp.get("floors", {}).get(phase.resource)
        if phase.resource in cp.get("unproven", []):
            mark = cp["waters"].get(phase.resource)
        elif mark and floor:
            mark = min(mark, floor)
        if mark:
            await mirror.set_high_water(s, org, phase.resource, mark)

    def _crawl_start(self, cp: dict[str, Any]) -> str:
        """A full run's start on Cliniko's clock, less the margin: kept in the checkpoint.

        Cliniko's clock is its answers' `Date` (a resumed run keeps the first run's); ours bounds it
        so a provider clock that runs fast can never put the mark past changes still to come. The
        margin (`cliniko_mark_margin_s`) covers a record stamped before it was committed, and
        Cliniko's servers disagreeing by a little.
        """
        if "crawl_start" not in cp:
            assert self.client is not None
            ours = datetime.now(UTC)
            theirs = self.client.provider_time
            started = min(ours, theirs) if theirs is not None else ours
            margin = timedelta(seconds=self.d.settings.cliniko_mark_margin_s)
            cp["crawl_start"] = cliniko_time(started - margin)
        return str(cp["crawl_start"])

    async def _snapshot(self, cp: dict[str, Any], api_url: str) -> dict[str, Any]:
        org = self.run.org_id
        window = Window(datetime.fromisoformat(cp["now"]), self.d.settings.active_window_days)
        self.progress.phase = "compute"
        async with unit_of_work(self.d.sessions) as s:
            visits = await mirror.visits_from(s, org, window.start)
            candidates = {v.patient_id for v in visits if window.is_recent(v.starts_at)}
            infos = await mirror.patient_infos(s, org, candidates)
        await self._fetch_patients(sorted(candidates - set(infos)), api_url)
        async with unit_of_work(self.d.sessions) as s:
            infos = await mirror.patient_infos(s, org, candidates)
            active = compute_active(visits, {}, infos, window)
            ids = [r.patient_id for r in active]
            boundary = datetime.fromisoformat(cp["boundary"]) if cp.get("boundary") else None
            counts = await mirror.totals(s, org, ids, individual_from=boundary)
            known = await mirror.bases(s, org, ids) if boundary else {}
        if boundary is not None:
            self.progress.phase = "counts"
            missing = [p for p in ids if p not in known]
            known |= await self._count_before(missing, boundary, api_url)
            cp["counted"] = len(missing)
            counts = {p: counts.get(p, 0) + known[p] for p in ids}
        active = compute_active(visits, counts, infos, window)
        self.progress.phase = "publish"
        await self._publish(active, infos)
        return {
            "active_patients": len(active),
            "window_now": cp["now"],
            "window_days": window.days,
            "kind": cp["kind"],
            "method": cp["method"],
            "method_costs": cp.get("method_costs", {}),
            "count_requests": cp.get("counted", 0),
        }

    async def _count_before(self, ids: list[str], boundary: datetime, api_url: str) -> dict[str, int]:
        """Each patient's countable individual appointments before the boundary, one request each
        (default scope: cancelled and archived excluded), stored as bases as they come in."""
        filters = [f"starts_at:<{cliniko_time(boundary)}"]
        if self.d.settings.did_not_arrive == "exclude":
            filters.append("did_not_arrive:!=true")
        api = api_url
        gate = asyncio.Semaphore(COUNT_CONCURRENCY)

        async def one(patient: str) -> tuple[str, int]:
            async with gate:
                url = list_url(api, "individual_appointments", [f"patient_id:={patient}", *filters], 1)
                return patient, await self._total(url, planned=True)

        self._plan(len(ids))
        out: dict[str, int] = {}
        for start in range(0, len(ids), 50):
            got = dict(await asyncio.gather(*(one(p) for p in ids[start : start + 50])))
            async with unit_of_work(self.d.sessions) as s:
                await mirror.store_bases(s, self.run.org_id, got, self._counted_at())
                await self.d.runs.heartbeat(s, self.run.run_id, self.progress)
            out |= got
        return out

    def _counted_at(self) -> datetime | None:
        """A time on Cliniko's clock no earlier than any count just answered: the `Date` of the
        latest answer plus a slack for `Date`'s whole seconds and answers read out of order."""
        seen = self.client.provider_time if self.client is not None else None
        return seen + timedelta(seconds=COUNT_CLOCK_SLACK_S) if seen is not None else None

    async def _fetch_patients(self, ids: list[str], api_url: str) -> None:
        assert self.client is not None
        per_page = self.d.settings.cliniko_per_page
        self._plan(-(-len(ids) // per_page))
        for start in range(0, len(ids), per_page):
            chunk = ids[start : start + per_page]
            url = list_url(api_url, "patients", ["id:=" + ",".join(chunk), "archived_at:*"], per_page)
            batch: list[dict[str, Any]] = []
            async for body, _ in pages_from(self.client, url, ahead=0):
                records = body.get("patients") or []
                batch += to_rows.rows_of("patients", self.run.org_id, records, to_rows.patient_row, "count")
            self.progress.pages += 1
            self._sync_stats()
            async with unit_of_work(self.d.sessions) as s:
                await mirror.upsert(s, patients, batch)
                await self.d.runs.heartbeat(s, self.run.run_id, self.progress)

    async def _publish(self, active: list[ActiveRow], infos: dict[str, PatientInfo]) -> None:
        """The snapshot's messages, then (once all are acknowledged) its snapshot_complete."""
        org, run_id = self.run.org_id, self.run.run_id
        out, key = self.d.snapshots_out, org.encode()
        for start in range(0, len(active), 1000):
            rows = active[start : start + 1000]
            await out.publish(
                topics.ACTIVE_PATIENTS_COMPUTED,
                key,
                (active_patient_event(org, run_id, r, infos[r.patient_id]) for r in rows),
            )
        complete = envelope(
            topics.ACTIVE_PATIENTS_COMPUTED,
            SOURCE,
            org,
            ActivePatientsComputed(message=SnapshotComplete(run_id=run_id, count=len(active))),
            correlation_id=run_id,
        )
        await out.publish(topics.ACTIVE_PATIENTS_COMPUTED, key, [complete.model_dump_json().encode()])


def _page_records(body: dict[str, Any], resource: str) -> list[Any]:
    """A list page's records; a page without its list fails the run at once (no retry reads it
    differently)."""
    records = body.get(resource)
    if not isinstance(records, list):
        raise PermanentError(f"Cliniko {resource} page has no {resource} list")
    return records


def _created_at(raw: dict[str, Any]) -> datetime | None:
    try:
        return to_rows.ts(raw.get("created_at"))
    except ValueError:
        return None  # unreadable here is unknown: the base is asked again, never trusted wrongly


def _created_after(created: datetime | None, counted: datetime | None) -> bool:
    """Whether an appointment was certainly made after its patient's base was counted."""
    return created is not None and counted is not None and created > counted


def _watch_for_shift(cp: dict[str, Any], part: str, body: dict[str, Any], records: list[Any]) -> None:
    """Note where a full crawl's page-numbered list may have shifted under it.

    A record that leaves the list mid-crawl (rescheduled across the split: Cliniko's DELETE only
    archives, which the `*` filters keep) moves every later one a place up, and the one at the next
    page boundary slides onto a page already read, unread. Its `total_entries` then drops between
    two pages. The records between the last `created_at` of the page before and the first of the
    page after are read again when the list ends (`_mend_shifts`). A new booking joins at the end
    of the `created_at` order and shifts nothing, but its arrival between the same two pages hides
    the drop: then the record waits for the next full run, as every skipped one did before.
    """
    stamps = [str(r.get("created_at") or "") for r in records if isinstance(r, dict)]
    stamps = [t for t in stamps if t]
    total = int(body.get("total_entries") or 0)
    ends = cp.setdefault("page_ends", {})
    before = ends.get(part)
    if before is not None and stamps and total < before[0] and before[1]:
        cp.setdefault("gaps", {}).setdefault(part, []).append([before[1], stamps[0]])
    ends[part] = [total, stamps[-1] if stamps else (before[1] if before else "")]
