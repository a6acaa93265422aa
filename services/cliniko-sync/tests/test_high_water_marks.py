"""Where a full run leaves each list's high-water mark, so the deltas after it miss nothing.

A full run reads in `created_at` order, so a record behind the cursor can change while the crawl
runs and still be older than a later change ahead of it; and a list that was empty has no newest
record. Both must be caught by the next incremental run. Real sandbox, broker and Postgres.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from practice_sync_cli.testing_stack import Stack
from practice_sync_cliniko_sync.testing import (
    add_account,
    comparable,
    export,
    get_run,
    ground_truth,
    published,
    register_org,
    request_sync,
    sandbox,
    sync,
    wait_run,
)


def z(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cancel(stack: Stack, key: str, appointment: str) -> None:
    with sandbox(stack) as c:
        r = c.post(
            f"/accounts/{key}/individual_appointments/{appointment}/cancel", json={"cancellation_reason": 50}
        )
        assert r.is_success, r.text


def empty_org(stack: Stack, name: str) -> tuple[str, str]:
    """(Cliniko key, org) of a new empty sandbox account registered as an org."""
    n = uuid.uuid4().hex[:10]
    key, org = f"{name[0]}{n}{name}-au1", f"{name}-{n}"
    add_account(stack, key, 0, 0)
    register_org(stack, org, key)
    return key, org


def poster(c: httpx.Client, key: str) -> Callable[[str, dict[str, Any]], str]:
    """Makes a record in `key`'s account through the sandbox's control API; answers its id."""

    def post(path: str, body: dict[str, Any]) -> str:
        r = c.post(f"/accounts/{key}/{path}", json=body)
        assert r.is_success, r.text
        return str(r.json()["id"])

    return post


@contextmanager
def unthrottled(stack: Stack) -> Iterator[None]:
    """The sandbox's per-key limit raised, so runs go at the service's own pace (restored after)."""
    with sandbox(stack) as c:
        limit = c.get("/rate-limit").json()
        c.post("/rate-limit", json={"limit": 6000, "window_s": 60}).raise_for_status()
    try:
        yield
    finally:
        with sandbox(stack) as c:
            body = {"limit": limit["limit"], "window_s": limit["window_s"]}
            c.post("/rate-limit", json=body).raise_for_status()


@contextmanager
def slowed(stack: Stack, latency_ms: int) -> Iterator[None]:
    """Every sandbox answer late by `latency_ms`, so a test can act between a run's pages."""
    with sandbox(stack) as c:
        c.post("/faults", json={"latency_ms": latency_ms}).raise_for_status()
    try:
        yield
    finally:
        with sandbox(stack) as c:
            c.delete("/faults").raise_for_status()


async def reading(stack: Stack, run_id: uuid.UUID, phase: str, pages: int) -> None:
    """Until the run has written `pages` pages and is reading `phase`."""
    deadline = time.monotonic() + 60
    while True:
        run = await get_run(stack, run_id)
        if run.progress.phase == phase and run.progress.pages >= pages:
            return
        assert run.status in ("queued", "running") and time.monotonic() < deadline, run
        await asyncio.sleep(0.02)


async def test_a_change_behind_the_full_crawls_cursor_is_seen_by_the_next_delta(
    stack: Stack, cliniko_sync_service: str
) -> None:
    n = uuid.uuid4().hex[:10]
    key, org = f"h{n}mark-au1", f"mark-{n}"
    add_account(stack, key, patients=60, appointments=2400)
    register_org(stack, org, key)
    now = datetime.now(UTC)
    start = now - timedelta(days=60)

    def starts(a: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(a["starts_at"].replace("Z", "+00:00"))

    def live(a: dict[str, Any]) -> bool:
        return not any(a[f] for f in ("cancelled_at", "archived_at", "deleted_at", "did_not_arrive"))

    # The full run reads the window (starts_at from its start on) first, in created_at order, ties
    # in row order (the export's): `behind` is read early, `ahead` last.
    window = sorted(
        (a for a in export(stack, key)["individual_appointments"] if starts(a) >= start + timedelta(days=1)),
        key=lambda a: a["created_at"],
    )
    assert len(window) > 60  # pages of 10: acting at the third leaves several to go
    behind = next(a["id"] for a in window if live(a) and starts(a) <= now)
    ahead = next(a["id"] for a in reversed(window) if not a["cancelled_at"])
    assert window.index(next(a for a in window if a["id"] == ahead)) >= len(window) - 10

    with unthrottled(stack):  # the rest of the run (per-patient counts) at the service's pace
        with slowed(stack, 100):  # slow enough to act while the window is being read
            run_id = await request_sync(stack, org, "full")
            await reading(stack, run_id, "individual_appointments", 3)
            cancel(stack, key, behind)  # already read: the crawl keeps its old state
            with sandbox(stack) as c:  # a later second on the provider's clock, without waiting
                c.post("/clock", json={"advance_seconds": 2}).raise_for_status()
            cancel(stack, key, ahead)  # not read yet: the crawl sees this change, the newest one
        full = await wait_run(stack, run_id)
    assert full.status == "succeeded", full.error
    assert full.progress.pages_total and full.progress.pages > 3  # it was mid-crawl when we acted

    again = await sync(stack, org)
    assert again.status == "succeeded" and again.counts["kind"] == "incremental"
    at = datetime.fromisoformat(again.counts["window_now"])
    data = export(stack, key)
    assert {a["id"]: bool(a["cancelled_at"]) for a in data["individual_appointments"]}[behind]
    got = comparable(await published(stack, org, again.run_id))
    assert got == ground_truth(data, at)
    assert all(behind not in p["recent"] for p in got.values())


async def test_a_first_class_after_a_full_run_without_classes_is_seen(
    stack: Stack, cliniko_sync_service: str
) -> None:
    key, org = empty_org(stack, "class")
    now = datetime.now(UTC)
    with sandbox(stack) as c:
        post = poster(c, key)
        first = post("patients", {"first_name": "Ada", "last_name": "Solo"})
        post("individual_appointments", {"patient_id": first, "starts_at": z(now - timedelta(days=3))})
        full = await sync(stack, org)
        assert full.status == "succeeded" and full.counts["kind"] == "full"
        assert full.counts["active_patients"] == 1

        # The org's first class, with a patient who has nothing else: the class and its attendee
        # lists had nothing to read on the full run, and still get their deltas.
        joiner = post("patients", {"first_name": "Bo", "last_name": "Class"})
        post("group_appointments", {"starts_at": z(now - timedelta(days=2)), "patient_ids": [joiner]})

    again = await sync(stack, org)
    assert again.status == "succeeded" and again.counts["kind"] == "incremental"
    got = comparable(await published(stack, org, again.run_id))
    assert got == ground_truth(export(stack, key), datetime.fromisoformat(again.counts["window_now"]))
    assert set(got) == {first, joiner}


async def test_a_record_changed_again_during_a_delta_does_not_hide_another(
    stack: Stack, cliniko_sync_service: str
) -> None:
    # Cliniko pages by number: a record the delta already read that changes again moves to the end,
    # and the record at the next page boundary slides onto a page already fetched, unread. The next
    # delta must still see that record's change (DeltaWalk).
    n = uuid.uuid4().hex[:10]
    key, org = f"w{n}walk-au1", f"walk-{n}"
    add_account(stack, key, patients=60, appointments=3600)
    register_org(stack, org, key)
    now = datetime.now(UTC)
    with unthrottled(stack):
        full = await sync(stack, org)
        assert full.status == "succeeded" and full.counts["kind"] == "full", full.error
        # Changes that all matter to the snapshot: recent visits cancelled, 10 to a delta page.
        recent = [
            a["id"]
            for a in export(stack, key)["individual_appointments"]
            if now - timedelta(days=59)
            <= datetime.fromisoformat(a["starts_at"].replace("Z", "+00:00"))
            <= now
            and not any(a[f] for f in ("cancelled_at", "archived_at", "deleted_at", "did_not_arrive"))
        ]
        recent = recent[:70]  # seven delta pages of 10, more than fetched ahead when we act
        assert len(recent) == 70
        for ident in recent:
            cancel(stack, key, ident)

        with slowed(stack, 150):  # slow enough to act between the delta's pages
            run_id = await request_sync(stack, org, "auto")
            await reading(stack, run_id, "individual_appointments", 2)
            with sandbox(stack) as c:  # the first change, read on the delta's first page, changes again
                r = c.post(f"/accounts/{key}/individual_appointments/{recent[0]}/archive", json={})
                assert r.is_success, r.text
        delta = await wait_run(stack, run_id)
        assert delta.status == "succeeded" and delta.counts["kind"] == "incremental", delta.error
        # The re-read record is how the walk knew (the list shifted under it).
        assert delta.progress.records > 70

        again = await sync(stack, org)
    assert again.status == "succeeded" and again.counts["kind"] == "incremental"
    got = comparable(await published(stack, org, again.run_id))
    assert got == ground_truth(export(stack, key), datetime.fromisoformat(again.counts["window_now"]))
    assert not {i for p in got.values() for i in p["recent"]} & set(recent)


async def test_a_visit_moved_out_of_the_window_mid_crawl_costs_the_crawl_no_other_visit(
    stack: Stack, cliniko_sync_service: str
) -> None:
    """The full run reads the window's visits page by page (pages of 10, in `created_at` order). A
    visit already read is moved to before the window: it leaves the list, every later visit moves a
    place up, and the one at the next page boundary slides onto a page already read. The drop in
    `total_entries` between two pages shows it, and that gap is read again by `created_at` when the
    list ends: the run's own snapshot has every visit (each patient here has one, so a skipped visit
    is a missing patient)."""
    key, org = empty_org(stack, "shift")
    now = datetime.now(UTC)
    with sandbox(stack) as c:
        post = poster(c, key)
        visits = [
            post(
                "individual_appointments",
                {
                    "patient_id": post("patients", {"first_name": f"P{i}", "last_name": "Shift"}),
                    "starts_at": z(now - timedelta(days=1, minutes=i)),
                },
            )
            for i in range(60)
        ]
    with unthrottled(stack):
        with slowed(stack, 100):  # two pages read ahead at most: the last pages come after the move
            run_id = await request_sync(stack, org, "full")
            await reading(stack, run_id, "individual_appointments", 2)
            with sandbox(stack) as c:
                body = {"starts_at": z(now - timedelta(days=90))}
                r = c.patch(f"/accounts/{key}/individual_appointments/{visits[2]}", json=body)
                assert r.is_success, r.text
        full = await wait_run(stack, run_id)
    assert full.status == "succeeded", full.error
    got = comparable(await published(stack, org, run_id))
    want = ground_truth(export(stack, key), datetime.fromisoformat(full.counts["window_now"]))
    assert len(want) == 59 and got == want
    assert full.progress.pages_total is not None and full.progress.pages <= full.progress.pages_total
