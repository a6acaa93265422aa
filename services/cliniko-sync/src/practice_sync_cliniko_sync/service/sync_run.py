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

import asyncpg
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
from practice_sync_cliniko_sync.service import time_ranges
from practice_sync_cliniko_sync.service.cliniko_api import (
    ATTENDEE_STARS,
    Budgets,
    Page,
    class_attendees_url,
    class_batches,
    cliniko_time,
    list_url,
    make_client,
    pages_from,
)
from practice_sync_cliniko_sync.service.delta_walk import DeltaWalk
from practice_sync_cliniko_sync.service.snapshot_messages import active_patient_event
from practice_sync_cliniko_sync.settings import Settings
from practice_sync_common import topics
from practice_sync_common.batch_publisher import KeyedBatchPublisher
from practice_sync_common.db import driver_connection, one_connection, unit_of_work
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
# How far past the latest answer's `Date` a count may have been made: `Date` drops the fraction of
# its second, and of answers in flight together the last one read need not carry the latest `Date`.
COUNT_CLOCK_SLACK_S = 5


class CredentialsMissing(Exception):
    """The org has no usable Cliniko credentials: retrying will not help."""


@dataclass(frozen=True)
class ReadPage:
    """A fetched page, read: its body, next link, records and their rows."""

    body: dict[str, Any]
    next_url: str | None
    first: bool  # the first page of its chain
    records: list[Any]
    rows: list[dict[str, Any]]


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
    def _part_filters(cp: dict[str, Any], phase: Phase, chain: int | None = None) -> list[str]:
        """A full run's individual appointments: the window from the split on, the history before;
        and a chain's time range within its part."""
        if phase.part == "window":
            part = [f"starts_at:>={cp['split']}"]
        elif phase.part == "history":
            part = [f"starts_at:<{cp['split']}"]
        else:
            return []
        if chain is None:
            return part
        return [*part, *time_ranges.filters(cp["ranges"][phase.part][chain])]

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
        filters = [f"starts_at:<{cp['split']}", *_INDIVIDUAL_STARS]
        before = list_url(api_url, "individual_appointments", filters, 1, "starts_at")
        # Its one record is the earliest: the history's extent, for cutting it into ranges.
        total, earliest = self._extent(await self._one_page(before), PHASES[0])
        cp["history_extent"] = [total, earliest.isoformat() if earliest else None]
        crawl = -(-total // per_page)
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
            if cp["kind"] == "full":
                await self._crawl_full_phase(cp, phase, api_url)
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

    async def _crawl_full_phase(self, cp: dict[str, Any], phase: Phase, api_url: str) -> None:
        """A full run's list, read as chains side by side: time ranges of individual appointments,
        or batches of classes for their attendees (spec §9.3); one chain for the classes.

        The checkpoint keeps each chain's next link (or that it is done), so a resumed run asks
        for each chain's next page on, and never for a page it recorded.
        """
        assert self.client is not None
        urls = await self._chain_urls(cp, phase, api_url)
        if not urls:  # no classes: no attendees to ask for
            async with unit_of_work(self.d.sessions) as s:
                await self._list_done(s, cp, phase)
                await self.d.runs.checkpoint(s, self.run.run_id, cp, self.progress)
            return
        if len(cp.get("chains") or ()) != len(urls):
            cp["chains"] = [{"next": None, "done": False} for _ in urls]
        self.progress.phase = phase.resource
        chains: list[dict[str, Any]] = cp["chains"]
        waiting = iter([i for i, c in enumerate(chains) if not c["done"]])
        left = sum(1 for c in chains if not c["done"])
        width = min(self.d.settings.cliniko_crawl_chains, left)
        # One chain reads two pages ahead; side by side, the other chains keep the writer busy (a
        # chain's page waits in `ready` while it fetches the next).
        ahead = 2 if width == 1 else 0
        ready: asyncio.Queue[tuple[int, ReadPage] | Exception] = asyncio.Queue(maxsize=width)

        async def walk() -> None:
            """Chain after chain, each page made rows and handed to the writer (the one place the
            checkpoint changes, so it never names a page whose records are not written; its time
            goes to the database, while the walkers turn pages into rows)."""
            assert self.client is not None
            try:
                for i in waiting:
                    first = chains[i]["next"] is None
                    url = chains[i]["next"] or urls[i]
                    async with aclosing(pages_from(self.client, url, ahead)) as pages:
                        async for body, next_url in pages:
                            await ready.put((i, self._read(phase, body, next_url, first)))
                            first = False
            except Exception as exc:
                await ready.put(exc)

        walkers = [asyncio.create_task(walk()) for _ in range(width)]
        try:
            async with (
                one_connection(self.d.sessions) as page_sessions,
                driver_connection(page_sessions) as driver,  # the same connection
            ):
                while left:
                    got = await ready.get()
                    if isinstance(got, Exception):
                        raise got
                    i, page = got
                    await self._crawl_page(cp, phase, page, api_url, page_sessions, i, driver)
                    left -= page.next_url is None
        finally:
            for w in walkers:
                w.cancel()
            await asyncio.gather(*walkers, return_exceptions=True)

    async def _chain_urls(self, cp: dict[str, Any], phase: Phase, api_url: str) -> list[str]:
        """The first URL of each chain of a full run's list."""
        per_page = self.d.settings.cliniko_per_page
        if phase.resource == "attendees":
            # The group phase is done, so the mirror's classes (and so the batches) stay the same
            # until this phase ends, and a resumed run rebuilds them alike, in id order.
            async with unit_of_work(self.d.sessions) as s:
                batches = class_batches(await mirror.class_ids(s, self.run.org_id))
            return [class_attendees_url(api_url, batch, per_page) for batch in batches]
        if phase.table is not individual_appointments:
            return [self._first_url(cp, phase, api_url)]
        ranges = cp.setdefault("ranges", {})
        if phase.part not in ranges:
            ranges[phase.part] = await self._cut(cp, phase, api_url)
        stars = phase.star_filters
        return [
            list_url(api_url, phase.resource, [*stars, *self._part_filters(cp, phase, i)], per_page)
            for i in range(len(ranges[phase.part]))
        ]

    async def _cut(self, cp: dict[str, Any], phase: Phase, api_url: str) -> list[time_ranges.Range]:
        """A part of individual appointments cut into time ranges by its extent and size.

        The history's were read by `_choose`'s count (its one record the earliest); the window's
        take one request: its count and its latest appointment.
        """
        split = datetime.fromisoformat(cp["split"].replace("Z", "+00:00"))
        per_page = self.d.settings.cliniko_per_page
        if phase.part == "history":
            total, known = cp.get("history_extent") or (0, None)
            edge = datetime.fromisoformat(known) if known else None
        else:
            filters = [f"starts_at:>={cp['split']}", *phase.star_filters]
            url = list_url(api_url, phase.resource, filters, 1, "starts_at:desc")
            total, edge = self._extent(await self._one_page(url), phase)
        if edge is None:
            return [[None, None]]
        lo, hi = (edge, split) if phase.part == "history" else (split, edge + timedelta(seconds=1))
        return time_ranges.cut(
            lo,
            hi,
            -(-total // per_page),
            chains=self.d.settings.cliniko_crawl_chains,
            min_pages=self.d.settings.cliniko_range_min_pages,
        )

    def _extent(self, body: dict[str, Any], phase: Phase) -> tuple[int, datetime | None]:
        """A one-record page's `total_entries` and its record's `starts_at`, read as the crawl
        reads records (an unreadable one fails the run, naming it)."""
        rows = self._read(phase, body, None, False).rows
        return int(body.get("total_entries") or 0), rows[0]["starts_at"] if rows else None

    async def _list_done(self, s: AsyncSession, cp: dict[str, Any], phase: Phase) -> None:
        """A list has no next page (every chain of it, on a full run): on to the next phase."""
        cp.pop("chains", None)
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
                await self._crawl_page(
                    cp, phase, self._read(phase, body, next_url, first), api_url, page_sessions
                )
                first = False

    def _read(self, phase: Phase, body: Any, next_url: str | None, first: bool) -> ReadPage:
        """A page's records and their rows (an unreadable record fails the run, naming it)."""
        records = _page_records(body, phase.resource)
        rows = to_rows.rows_of(
            phase.resource, self.run.org_id, records, phase.row, self.d.settings.did_not_arrive
        )
        return ReadPage(body, next_url, first, records, rows)

    async def _crawl_page(
        self,
        cp: dict[str, Any],
        phase: Phase,
        page: ReadPage,
        api_url: str,
        sessions: async_sessionmaker[AsyncSession],
        chain: int | None = None,
        driver: asyncpg.Connection | None = None,
    ) -> None:
        """One page: its records mirrored and the run's checkpoint moved past it, in one transaction.

        `chain` is the page's chain on a full run (`_crawl_full_phase`), and `driver` its connection
        for the pages that do not end the list: each is one statement, page and checkpoint
        (`checkpoint_with`). An incremental run's delta is one chain, its next link `cp["next"]`.
        """
        body, next_url, records, batch = page.body, page.next_url, page.records, page.rows
        if page.first:
            total = int(body.get("total_entries") or 0)
            if cp["kind"] == "incremental" and self._strict(cp, phase):
                cp["gt_total"][phase.resource] = total
            known = self.progress.pages_total or 0
            self.progress.pages_total = known + max(1, math.ceil(total / self.d.settings.cliniko_per_page))
        if cp["kind"] == "full":
            self._crawl_start(cp)  # fixed at the first page, kept with its checkpoint
        if cp["kind"] == "full" and phase.table is individual_appointments:
            _watch_for_shift(cp, _chain_key(phase, chain), body, records)
            if next_url is None:
                batch += await self._mend_shifts(cp, phase, api_url, chain)
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
        list_ends = False  # a full run's list: every chain of it done with this page
        if chain is not None:
            chains = cp["chains"]
            chains[chain] = {"next": next_url, "done": next_url is None}
            list_ends = all(c["done"] for c in chains)
            if driver is not None and not list_ends:
                rows = mirror.page_rows(phase.table, batch)
                sql = mirror.upsert_sql(phase.table)
                await self.d.runs.checkpoint_with(driver, sql, [rows], self.run.run_id, cp, self.progress)
                return
        strict = cp["kind"] == "incremental" and self._strict(cp, phase)
        async with unit_of_work(sessions) as s:
            if cp["kind"] == "incremental" and cp.get("boundary") and phase.table is individual_appointments:
                await self._drop_stale_bases(s, cp, batch, records)
            await mirror.upsert(s, phase.table, batch)
            if chain is not None:
                if list_ends:  # the list's last page: its marks with the phase's end
                    await self._list_done(s, cp, phase)
            elif next_url is not None:
                cp["next"] = next_url
            elif strict and await self._tie_check(s, cp, phase, api_url):
                cp["next"] = self._first_url(cp, phase, api_url)  # now the inclusive delta
                self._walks[phase.resource] = DeltaWalk()  # a walk of its own
            else:
                await self._list_done(s, cp, phase)
            await self.d.runs.checkpoint(s, self.run.run_id, cp, self.progress)

    async def _mend_shifts(
        self, cp: dict[str, Any], phase: Phase, api_url: str, chain: int | None
    ) -> list[dict[str, Any]]:
        """The records a full crawl of `phase`'s chain may have skipped (`_watch_for_shift`): each gap
        read again by its `created_at` bounds, which no later move of the list can shift."""
        assert self.client is not None
        gaps = cp.get("gaps", {}).pop(_chain_key(phase, chain), [])
        rows: list[dict[str, Any]] = []
        for after, before in gaps:
            filters = [*phase.star_filters, *self._part_filters(cp, phase, chain)]
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
                list=_chain_key(phase, chain),
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
        # As many counts in flight as a full run reads chains: each is a round trip of its own, and
        # the budget paces them all the same.
        gate = asyncio.Semaphore(self.d.settings.cliniko_crawl_chains)

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
        """The active patients the mirror lacks, by id, `cliniko_crawl_chains` requests at once;
        each page written as it comes, in order."""
        assert self.client is not None
        per_page = self.d.settings.cliniko_per_page
        chunks = [ids[start : start + per_page] for start in range(0, len(ids), per_page)]
        self._plan(len(chunks))
        gate = asyncio.Semaphore(self.d.settings.cliniko_crawl_chains)
        org = self.run.org_id

        async def fetch(chunk: list[str]) -> list[dict[str, Any]]:
            assert self.client is not None
            url = list_url(api_url, "patients", ["id:=" + ",".join(chunk), "archived_at:*"], per_page)
            batch: list[dict[str, Any]] = []
            async with gate:
                async for body, _ in pages_from(self.client, url, ahead=0):
                    records = body.get("patients") or []
                    batch += to_rows.rows_of("patients", org, records, to_rows.patient_row, "count")
            return batch

        fetches = [asyncio.ensure_future(fetch(chunk)) for chunk in chunks]
        try:
            for fetched in fetches:
                batch = await fetched
                self.progress.pages += 1
                self._sync_stats()
                async with unit_of_work(self.d.sessions) as s:
                    await mirror.upsert(s, patients, batch)
                    await self.d.runs.heartbeat(s, self.run.run_id, self.progress)
        finally:
            for fetched in fetches:
                fetched.cancel()
            await asyncio.gather(*fetches, return_exceptions=True)

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


def _chain_key(phase: Phase, chain: int | None) -> str:
    """Where a chain's page ends and gaps are kept: its part, and its index when cut in ranges."""
    return phase.part if chain is None else f"{phase.part}.{chain}"


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
