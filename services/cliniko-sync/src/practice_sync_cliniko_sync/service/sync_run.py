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
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from faststream.kafka import KafkaBroker
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from practice_sync_cliniko_sync.domain.rules import ActiveRow, DnaPolicy, Window, compute_active
from practice_sync_cliniko_sync.repository import mirror
from practice_sync_cliniko_sync.repository.tables import (
    attendees,
    group_appointments,
    individual_appointments,
    patients,
)
from practice_sync_cliniko_sync.service import rows as to_rows
from practice_sync_cliniko_sync.service.cliniko_api import Budgets, Page, list_url, make_client, pages_from
from practice_sync_cliniko_sync.settings import Settings
from practice_sync_common import topics
from practice_sync_common.broker import publish
from practice_sync_common.db import unit_of_work
from practice_sync_common.dead_letter import PermanentError
from practice_sync_common.events import (
    ActivePatient,
    ActivePatientsComputed,
    AppointmentSummary,
    SnapshotComplete,
    envelope,
)
from practice_sync_common.provider_http import ProviderClient
from practice_sync_common.sync_runs import SyncRun, SyncRunRepository

SOURCE = "cliniko-sync"
RowFn = Callable[[str, dict[str, Any], DnaPolicy], dict[str, Any]]


@dataclass(frozen=True)
class Phase:
    resource: str
    table: Table
    row: RowFn
    star_filters: tuple[str, ...]
    full: bool  # crawled on a full run (patients are fetched by id instead)


PHASES = (
    Phase(
        "individual_appointments",
        individual_appointments,
        to_rows.individual_row,
        ("cancelled_at:*", "archived_at:*"),
        True,
    ),
    Phase("group_appointments", group_appointments, to_rows.group_row, ("archived_at:*",), True),
    Phase("attendees", attendees, to_rows.attendee_row, ("cancelled_at:*", "archived_at:*"), True),
    Phase("patients", patients, to_rows.patient_row, ("archived_at:*",), False),
)


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
        async with unit_of_work(self.d.sessions) as s:
            waters = await mirror.high_waters(s, org)
            full = self.run.mode == "full" or "individual_appointments" not in waters
            if full:
                await mirror.wipe(s, org)
                waters = {}
            tables = {p.resource: p.table for p in PHASES}
            cp: dict[str, Any] = {
                "kind": "full" if full else "incremental",
                "now": self.d.now().isoformat(),
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
            return list_url(api_url, phase.resource, filters, per_page)
        water = cp["waters"].get(phase.resource)
        # Inclusive with the mark, so a change in the same second as the last one seen is not lost;
        # the records at the mark come back and are upserted again, harmlessly. When a page or more
        # of records sit on the mark (a bulk import, or the sandbox's generated data), re-reading
        # them every run would cost pages: the delta is then strict (>) and one count request
        # afterwards (_tie_check) proves nothing new arrived on the mark, else the inclusive delta runs.
        op = ">" if self._strict(cp, phase) else ">="
        return list_url(
            api_url, phase.resource, [f"updated_at:{op}{water}", *filters], per_page, "updated_at"
        )

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
        at_least = 0
        async with aclosing(pages_from(self.client, url, ahead=0)) as one:
            async for body, _ in one:
                at_least = int(body.get("total_entries") or 0)
                break
        self.progress.pages += 1
        self._sync_stats()
        cp["checked"].append(phase.resource)
        return at_least - int(cp["gt_total"].get(phase.resource, 0)) > on_mark

    async def _crawl(self, cp: dict[str, Any], api_url: str) -> None:
        assert self.client is not None
        while cp["phase"] < len(PHASES):
            phase = PHASES[cp["phase"]]
            if cp["kind"] == "full" and not phase.full:
                cp.update(phase=cp["phase"] + 1, next=None)
                continue
            if cp["kind"] == "incremental" and phase.resource not in cp["waters"]:
                cp.update(phase=cp["phase"] + 1, next=None)
                continue
            url = cp["next"] or self._first_url(cp, phase, api_url)
            self.progress.phase = phase.resource
            first = cp["next"] is None
            async with aclosing(pages_from(self.client, url)) as pages:
                await self._crawl_pages(cp, phase, pages, first, api_url)

    async def _crawl_pages(
        self, cp: dict[str, Any], phase: Phase, pages: AsyncIterator[Page], first: bool, api_url: str
    ) -> None:
        org, dna = self.run.org_id, self.d.settings.did_not_arrive
        async for body, next_url in pages:
            records = body.get(phase.resource)
            if not isinstance(records, list):
                raise PermanentError(f"Cliniko {phase.resource} page has no {phase.resource} list")
            if first:
                total = int(body.get("total_entries") or 0)
                if cp["kind"] == "incremental" and self._strict(cp, phase):
                    cp["gt_total"][phase.resource] = total
                known = self.progress.pages_total or 0
                self.progress.pages_total = known + max(
                    1, math.ceil(total / self.d.settings.cliniko_per_page)
                )
                first = False
            batch = [phase.row(org, r, dna) for r in records]
            seen = max((r["updated_at"] for r in batch), default="")
            if seen > cp["seen"].get(phase.resource, ""):
                cp["seen"][phase.resource] = seen
            self.progress.pages += 1
            self.progress.records += len(batch)
            self._sync_stats()
            strict = cp["kind"] == "incremental" and self._strict(cp, phase)
            async with unit_of_work(self.d.sessions) as s:
                await mirror.upsert(s, phase.table, batch)
                if next_url is not None:
                    cp["next"] = next_url
                elif strict and await self._tie_check(s, cp, phase, api_url):
                    cp["next"] = self._first_url(cp, phase, api_url)  # now the inclusive delta
                else:
                    cp.update(phase=cp["phase"] + 1, next=None)
                    await self._phase_done(s, cp, phase)
                await self.d.runs.checkpoint(s, self.run.run_id, cp, self.progress)

    async def _phase_done(self, s: AsyncSession, cp: dict[str, Any], phase: Phase) -> None:
        org = self.run.org_id
        mark = cp["seen"].get(phase.resource) or cp["waters"].get(phase.resource)
        if mark:
            await mirror.set_high_water(s, org, phase.resource, mark)
        if cp["kind"] == "full" and phase.resource == "attendees":
            # Patients are fetched by id on full runs; later patient changes carry updated_at past
            # the newest record seen anywhere in this crawl.
            newest = max((v for v in cp["seen"].values() if v), default="")
            if newest:
                await mirror.set_high_water(s, org, "patients", newest)

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
            counts = await mirror.totals(s, org, [r.patient_id for r in active])
            sizes = await mirror.list_sizes(s, org, window.start)
        active = compute_active(visits, counts, infos, window)
        self.progress.phase = "publish"
        await self._publish(active, infos)
        return {
            "active_patients": len(active),
            "window_now": cp["now"],
            "window_days": window.days,
            "kind": cp["kind"],
            **self._method(cp, sizes, len(active)),
        }

    def _method(self, cp: dict[str, Any], sizes: dict[str, int], active: int) -> dict[str, Any]:
        """How totals were obtained, with what each way costs for this org's data (in requests).

        A full run crawls the whole history: the totals, and every later incremental run, come from
        the mirror it builds. Counting per patient instead would cost the window's pages plus one
        request per active patient for the first run, and leave no mirror to keep totals from deltas.
        The figures are recorded so a run shows when the per-patient way would have been cheaper.
        """
        per = self.d.settings.cliniko_per_page

        def pages(n: int) -> int:
            return -(-n // per)

        both = pages(sizes["group_appointments"]) + pages(sizes["attendees"]) + pages(active)
        costs = {
            "history_crawl": pages(sizes["individual_appointments"]) + both,
            "per_patient_counts": pages(sizes["individual_from_window"]) + active + both,
        }
        method = "history_crawl" if cp["kind"] == "full" else "incremental_deltas"
        return {"method": method, "method_costs": costs}

    async def _fetch_patients(self, ids: list[str], api_url: str) -> None:
        assert self.client is not None
        per_page = self.d.settings.cliniko_per_page
        for start in range(0, len(ids), per_page):
            chunk = ids[start : start + per_page]
            url = list_url(api_url, "patients", ["id:=" + ",".join(chunk), "archived_at:*"], per_page)
            batch: list[dict[str, Any]] = []
            async for body, _ in pages_from(self.client, url, ahead=0):
                batch.extend(
                    to_rows.patient_row(self.run.org_id, r, "count") for r in body.get("patients") or []
                )
            self.progress.pages += 1
            self._sync_stats()
            async with unit_of_work(self.d.sessions) as s:
                await mirror.upsert(s, patients, batch)
                await self.d.runs.heartbeat(s, self.run.run_id, self.progress)

    async def _publish(self, active: list[ActiveRow], infos: dict[str, Any]) -> None:
        org, run_id = self.run.org_id, self.run.run_id
        events = [
            envelope(
                topics.ACTIVE_PATIENTS_COMPUTED,
                SOURCE,
                org,
                ActivePatientsComputed(message=_message(run_id, r, infos[r.patient_id])),
                correlation_id=run_id,
            )
            for r in active
        ]
        for start in range(0, len(events), 500):
            await asyncio.gather(
                *(
                    publish(self.d.broker, topics.ACTIVE_PATIENTS_COMPUTED, e)
                    for e in events[start : start + 500]
                )
            )
        done = SnapshotComplete(run_id=run_id, count=len(active))
        await publish(
            self.d.broker,
            topics.ACTIVE_PATIENTS_COMPUTED,
            envelope(
                topics.ACTIVE_PATIENTS_COMPUTED,
                SOURCE,
                org,
                ActivePatientsComputed(message=done),
                correlation_id=run_id,
            ),
        )


def _summary(v: Any) -> AppointmentSummary:
    return AppointmentSummary(
        id=v.id,
        starts_at=v.starts_at,
        ends_at=v.ends_at,
        practitioner=v.practitioner,
        appointment_type=v.appointment_type,
        business=v.business,
        kind=v.kind,
    )


def _message(run_id: UUID, row: ActiveRow, info: Any) -> ActivePatient:
    assert row.search_date_from is not None and row.search_date_to is not None
    return ActivePatient(
        run_id=run_id,
        cliniko_patient_id=row.patient_id,
        first_name=info.first_name,
        last_name=info.last_name,
        email=info.email,
        phone=info.phone,
        recent_appointment_count=len(row.recent),
        upcoming_appointment_count=len(row.upcoming),
        total_appointment_count=row.total,
        last_appointment_date=row.last_appointment_date,
        recent_appointments=[_summary(v) for v in row.recent],
        upcoming_appointments=[_summary(v) for v in row.upcoming],
        search_date_from=row.search_date_from,
        search_date_to=row.search_date_to,
    )
