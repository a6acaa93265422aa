"""Contacts sync: full or incremental, a checkpoint after every page, resumable after a kill.

Each page: publish `contact.synced` for the records whose (id, etag) we have not published yet,
then, once they are acknowledged, in one transaction record those versions and the checkpoint (the
next link and the highest `updated_at` seen). Three pages are in flight at once (one fetched, one
examined and sent, one committing), so a kill republishes two pages at most; consumers are
idempotent.
Incremental runs ask `updated_since` = high-water mark minus an overlap (Clio's bound is not
documented as inclusive or exclusive, and clocks drift); the etag dedupe absorbs the overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from practice_sync_clio_gateway.clio.client import NEXT
from practice_sync_clio_gateway.clio.contacts import (
    CONTACT_FIELDS,
    clio_id,
    deleted_event,
    parse_time,
    to_event,
    unreadable_field,
)
from practice_sync_clio_gateway.clio.credentials import CredentialsUnavailable, NeedsReauth, must_reconnect
from practice_sync_clio_gateway.repository import contacts as repo
from practice_sync_clio_gateway.service.context import Gateway
from practice_sync_common.db import unit_of_work
from practice_sync_common.dead_letter import PermanentError
from practice_sync_common.events import ALL_ORGS, ContactSynced, Envelope, SyncRequested
from practice_sync_common.logging import get_logger, secrets
from practice_sync_common.provider_http import ProviderAuthError, ProviderError, read_ahead
from practice_sync_common.sync_runs import RetryRule, SyncProgress, SyncRun

log = get_logger(__name__)
RETRY = RetryRule(max_attempts=3, backoff_s=30.0)


def high_water_mark(max_updated: datetime | None, started: datetime) -> datetime | None:
    """Where the next incremental run may start: the newest `updated_at` seen, but never past the
    walk's start.

    The walk goes by id, so a contact changed while it ran is seen only if its id was still ahead:
    one behind the cursor is missed, while a later change ahead of it can push the newest
    `updated_at` past the missed one by more than the overlap, and the next run would skip it.
    Everything changed since the start is asked again instead (the etag dedupe absorbs repeats).
    """
    return min(max_updated, started) if max_updated is not None else None


def _excerpt(value: Any, limit: int = 80) -> str:
    text = json.dumps(value)  # as Clio sent it: a string id shows its quotes, a bool is `true`
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def readable(records: list[Any], page: int) -> list[dict[str, Any]]:
    """A page's records when each is a contact object with a Clio id and readable fields; else
    PermanentError naming the first that is not (its position in the page, counted from 0, its id
    if it has one, and what is wrong).

    Such a record used to be dropped, so a full run never marked its contact seen and published
    it as deleted at the end; an id `int()` refused was retried as if transient. No attempt reads
    the record differently, so the run fails at once, before anything of its page is sent.
    """
    for position, r in enumerate(records):
        if not isinstance(r, dict):
            ident, problem = "no id", f"not a JSON object: {_excerpt(r)}"
        elif "id" not in r:
            ident, problem = "no id", "a record without an id"
        elif clio_id(r["id"]) is None:
            ident, problem = f"id {_excerpt(r['id'])}", "its id is not a Clio id (a positive integer)"
        elif (field_problem := unreadable_field(r)) is not None:
            ident, problem = f"id {r['id']}", field_problem
        else:
            continue
        raise PermanentError(
            f"Clio contacts page {page} has an unreadable record at position {position} of "
            f"{len(records)} ({ident}): {problem}; nothing of that page was published, and no "
            "contact was marked deleted"
        )
    return records


class ContactSync:
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self._tasks: dict[UUID, asyncio.Task[None]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None  # the service's loop (tests reach in from theirs)

    # ---- intake of requests -------------------------------------------------------------------
    async def on_requested(self, event: Envelope[SyncRequested]) -> None:
        """Record the run(s) and start them in the background (a long run must not hold the consumer)."""
        request = event.data
        if request.provider != "clio":
            return
        base = request.run_id or event.id
        orgs = await self.gw.clio.credentials.clio_orgs() if event.org_id == ALL_ORGS else [event.org_id]
        for org in orgs:
            # One run id per (request, org): a redelivered request maps onto the same runs.
            run_id = base if event.org_id != ALL_ORGS else uuid5(base, org)
            async with unit_of_work(self.gw.sessions) as s:
                await self.gw.runs.create(
                    s, run_id=run_id, org_id=org, provider="clio", mode=request.mode, reason=request.reason
                )
            self.start(run_id)

    def start(self, run_id: UUID, stale_after: timedelta | None = None) -> None:
        if run_id in self._tasks and not self._tasks[run_id].done():
            return
        self.loop = asyncio.get_running_loop()
        self._tasks[run_id] = asyncio.create_task(self.run(run_id, stale_after))

    def kill(self, run_id: UUID) -> None:
        """Cancel a run's task as a crash would end it: the run stays `running` with its checkpoint."""
        task = self._tasks.get(run_id)
        if task is not None:
            task.cancel()

    async def resume_stale(self, stale_after: timedelta | None = None) -> None:
        """Resume runs a dead worker left behind (heartbeat older than `stale_after`, default the setting)."""
        stale = (
            stale_after if stale_after is not None else timedelta(seconds=self.gw.settings.sync_stale_after_s)
        )
        async with unit_of_work(self.gw.sessions) as s:
            runs = await self.gw.runs.find_resumable(s, stale_after=stale)
        for run in runs:
            if run.provider == "clio":
                self.start(run.run_id, stale)

    async def wait_idle(self) -> None:
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await self.wait_idle()

    # ---- one run --------------------------------------------------------------------------------
    async def run(self, run_id: UUID, stale_after: timedelta | None = None) -> None:
        stale = (
            stale_after if stale_after is not None else timedelta(seconds=self.gw.settings.sync_stale_after_s)
        )
        async with unit_of_work(self.gw.sessions) as s:
            run = await self.gw.runs.claim(s, run_id, stale_after=stale)
        if run is None:
            return
        progress = run.progress
        try:
            counts = await self._walk(run, progress)
        except (NeedsReauth, ProviderAuthError) as exc:
            # No retry can help; the error says who must do what (it reaches the CLI and admin API).
            advice = must_reconnect(run.org_id, exc, then="request the sync again")
            await self._fail(run_id, advice, progress, retryable=False)
        except (ProviderError, CredentialsUnavailable) as exc:
            await self._fail(run_id, str(exc), progress, retryable=True)
        except PermanentError as exc:
            await self._fail(run_id, str(exc), progress, retryable=False)
        except asyncio.CancelledError:
            raise  # the process is stopping: the run stays "running" and is resumed when stale
        except Exception as exc:
            log.error("clio sync crashed", run_id=str(run_id), error=secrets.scrub(repr(exc)))
            await self._fail(run_id, f"internal error: {type(exc).__name__}", progress, retryable=True)
        else:
            async with unit_of_work(self.gw.sessions) as s:
                await self.gw.runs.succeed(s, run_id, counts=counts, progress=progress)

    async def _fail(self, run_id: UUID, error: str, progress: SyncProgress, retryable: bool) -> None:
        async with unit_of_work(self.gw.sessions) as s:
            await self.gw.runs.fail(
                s, run_id, secrets.scrub(error), rule=RETRY, progress=progress, retryable=retryable
            )

    async def _walk(self, run: SyncRun, progress: SyncProgress) -> dict[str, Any]:
        org = run.org_id
        checkpoint = dict(run.checkpoint or {})
        started = datetime.now(UTC)
        if "mode" not in checkpoint:
            async with unit_of_work(self.gw.sessions) as s:
                mark = await repo.high_water(s, org)
            incremental = run.mode == "incremental" or (run.mode == "auto" and mark is not None)
            since = None
            if incremental and mark is not None:
                since = (mark - timedelta(seconds=self.gw.settings.incremental_overlap_s)).isoformat()
            checkpoint = {
                "mode": "incremental" if since else "full",
                "since": since,
                "next": None,
                "max_updated": mark.isoformat() if mark else None,
                "started": started.isoformat(),
            }
        counts: dict[str, Any] = dict(checkpoint.get("counts") or {"published": 0, "unchanged": 0})
        params: dict[str, Any] = {"order": "id(asc)"}
        if checkpoint.get("since"):
            params["updated_since"] = checkpoint["since"]
        progress.phase = f"{checkpoint['mode']} contacts"
        full = checkpoint["mode"] == "full"
        seen_since = parse_time(checkpoint["started"]) or started
        # Progress counters add to what earlier attempts of this run counted.
        base_retries, base_429 = progress.retries, progress.throttled_429
        api = await self.gw.clio.open(org)
        # Page n's acks and checkpoint are awaited while page n+1 is examined and sent: the
        # checkpoint still follows its page's acks, and checkpoints still land in page order.
        committing: asyncio.Task[None] | None = None
        try:
            before = api.http.stats.requests
            # One page of lookahead: page n+1 is fetched while page n is examined and sent.
            async for _url, body in read_ahead(
                api.pages("contacts", CONTACT_FIELDS, resume_url=checkpoint.get("next"), **params)
            ):
                records = readable(body["data"], progress.pages + 1)
                events, versions, unchanged = await self._changes(org, records)
                acks = await self.gw.contacts_out.send(org, events, run.run_id)
                for r in records:
                    at, latest = parse_time(r.get("updated_at")), parse_time(checkpoint["max_updated"])
                    if at and (latest is None or at > latest):
                        checkpoint["max_updated"] = at.isoformat()
                checkpoint["next"] = NEXT.next_url(body)
                counts["published"] += len(events)
                counts["unchanged"] += unchanged
                checkpoint["counts"] = dict(counts)
                progress.pages += 1
                progress.records += len(records)
                progress.requests += api.http.stats.requests - before
                st = api.http.stats
                progress.throttled_429 = base_429 + st.throttled
                progress.retries = base_retries + st.server_errors + st.transport_errors + st.malformed
                before = api.http.stats.requests
                if committing is not None:
                    await committing
                committing = asyncio.create_task(
                    self._commit(run.run_id, org, acks, versions, dict(checkpoint), progress.model_copy())
                )
            if committing is not None:
                await committing
        finally:
            if committing is not None and not committing.done():
                committing.cancel()
                with contextlib.suppress(BaseException):
                    await committing
            await api.aclose()
        if full:
            # Clio lists no tombstones: what we published before and this full walk did not see was
            # deleted in Clio (ids marked seen per page, so a resumed run counts its earlier pages).
            async with unit_of_work(self.gw.sessions) as s:
                gone = await repo.unseen_since(s, org, seen_since)
            if gone:
                await self.gw.contacts_out.publish(
                    org, [deleted_event(cid, etag) for cid, etag in gone], run.run_id
                )
                async with unit_of_work(self.gw.sessions) as s:
                    await repo.mark_deleted_many(s, org, [cid for cid, _ in gone], datetime.now(UTC))
            counts["deleted"] = counts.get("deleted", 0) + len(gone)
        async with unit_of_work(self.gw.sessions) as s:
            mark = high_water_mark(parse_time(checkpoint.get("max_updated")), seen_since)
            await repo.set_high_water(s, org, mark, full, datetime.now(UTC))
        return {**counts, "mode": checkpoint["mode"]}

    async def _commit(
        self,
        run_id: UUID,
        org: str,
        acks: Awaitable[Any],
        versions: list[tuple[int, str | None, datetime | None]],
        checkpoint: dict[str, Any],
        progress: SyncProgress,
    ) -> None:
        """Once a page's events are acknowledged: its versions, seen marks and checkpoint, together."""
        await acks
        async with unit_of_work(self.gw.sessions) as s:
            await repo.record_page(s, org, versions, datetime.now(UTC))
            await self.gw.runs.checkpoint(s, run_id, checkpoint, progress)

    async def _changes(
        self, org: str, records: list[dict[str, Any]]
    ) -> tuple[list[ContactSynced], list[tuple[int, str | None, datetime | None]], int]:
        ids: list[int] = [r["id"] for r in records]  # `readable` checked each is a Clio id
        async with unit_of_work(self.gw.sessions) as s:
            known = await repo.known_versions(s, org, ids)
        events: list[ContactSynced] = []
        versions: list[tuple[int, str | None, datetime | None]] = []
        for r in records:
            cid, etag, at = r["id"], r.get("etag"), parse_time(r.get("updated_at"))
            k = known.get(cid)
            if k is not None and k.deleted and not k.revived_by(at):
                # Read before its deletion was recorded (the page was in flight): keep the tombstone.
                continue
            versions.append((cid, etag, at))
            if k is not None and not k.deleted and k.etag == etag:
                continue
            events.append(to_event(r, "updated" if k is not None and not k.deleted else "created"))
        return events, versions, len(records) - len(events)
