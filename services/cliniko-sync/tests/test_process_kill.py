"""A cliniko-sync process SIGKILLed mid-run: the next process resumes the run from its checkpoint.

The in-process conformance case cancels a run's task; this one kills the whole process (no cleanup,
no `finally`), as a crash or an OOM kill would. The worker is a real subprocess (`worker_process`).
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from practice_sync_cli.testing_stack import ADMIN_TOKEN, SERVICE_TOKENS, Stack
from practice_sync_cliniko_sync.service.cliniko_api import CLASS_BATCH, class_batches
from practice_sync_cliniko_sync.service.sync_run import PHASES
from practice_sync_cliniko_sync.testing import (
    add_account,
    comparable,
    export,
    get_run,
    ground_truth,
    published,
    register_org,
    request_sync,
    requests_served,
    wait_run,
    worker_process,
)

SETTINGS = {
    "CLINIKO_PER_PAGE": "10",
    "CLINIKO_RATE_LIMIT_PER_MIN": "1500",  # 25 requests/s: slow enough to kill mid-run
    "CLINIKO_TOTALS_METHOD": "history_crawl",  # many pages to be killed in
    # The history read as time ranges, two chains at once: killed with both chains part-way.
    "CLINIKO_CRAWL_CHAINS": "2",
    "CLINIKO_RANGE_MIN_PAGES": "10",
    "RUN_STALE_AFTER_S": "3",
    "RESUME_SCAN_INTERVAL_S": "1",
}


@pytest.mark.slow
async def test_sigkilled_worker_run_is_resumed_by_the_next_process(
    stack: Stack, credentials_service: str, cliniko_sandbox: str
) -> None:
    n = uuid.uuid4().hex[:10]
    key, org = f"k{n}kill-au1", f"org-kill-{n}"
    add_account(stack, key, patients=100, appointments=1200)
    register_org(stack, org, key)
    async with worker_process(
        stack, stack.database_url, ADMIN_TOKEN, SERVICE_TOKENS["cliniko-sync"], **SETTINGS
    ) as worker:
        first = await asyncio.to_thread(worker.start, "first")
        run_id = await request_sync(worker, org, "full")
        deadline = time.monotonic() + 60
        while True:
            run = await get_run(worker, run_id)
            if run.progress.pages >= 15 and len(_begun((run.checkpoint or {}).get("chains"))) >= 2:
                break
            assert time.monotonic() < deadline, f"never two chains part-way: {run.checkpoint}"
            await asyncio.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        at_kill = await _run_row(worker.env["DATABASE_URL"], run_id)
        assert at_kill["status"] == "running"  # nobody was left to say otherwise
        pages_at_kill = at_kill["progress"]["pages"]
        assert len(at_kill["checkpoint"]["ranges"]["history"]) > 2  # the history was cut
        assert len(_begun(at_kill["checkpoint"]["chains"])) >= 2

        before = await requests_served(stack, key)
        await asyncio.to_thread(worker.start, "second")
        run = await wait_run(worker, run_id, wait_s=120)
        assert run.status == "succeeded", run.error
        # Resumed, not restarted: the second process fetched only what the checkpoint had not.
        assert run.progress.pages >= pages_at_kill > 0
        assert await requests_served(stack, key) - before <= run.progress.pages - pages_at_kill + 3
        want = ground_truth(export(stack, key), datetime.fromisoformat(run.counts["window_now"]))
        assert comparable(await published(worker, org, run_id)) == want
        assert len(want) > 0


@pytest.mark.slow
async def test_sigkilled_in_the_class_attendee_batches_resumes_at_its_batch(
    stack: Stack, credentials_service: str, cliniko_sandbox: str
) -> None:
    """Killed between two pages of the second batch of classes: the next process asks for that
    batch's next page on, not for the batches already read (the batches are rebuilt from the
    mirror's classes, in the same order), and the snapshot still equals the ground truth."""
    n = uuid.uuid4().hex[:10]
    key, org = f"k{n}batch-au1", f"org-batch-{n}"
    add_account(stack, key, patients=40, appointments=80)
    register_org(stack, org, key)
    people = [p["id"] for p in export(stack, key)["patients"]]
    now = datetime.now(UTC)
    async with httpx.AsyncClient(base_url=f"{stack.urls['cliniko-sandbox']}/_sandbox") as c:
        for k in range(2 * CLASS_BATCH + 10):  # three batches; some classes in the window
            body = {
                "starts_at": (now - timedelta(days=k * 3 + 1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "patient_ids": people[k % 30 : k % 30 + 4],
            }
            assert (await c.post(f"/accounts/{key}/group_appointments", json=body)).is_success
    data = export(stack, key)
    places = {g["id"]: len(g["attendees"]) for g in data["group_appointments"]}
    want = sum(max(1, math.ceil(sum(places[g] for g in b) / 10)) for b in class_batches(places))

    async with worker_process(
        stack, stack.database_url, ADMIN_TOKEN, SERVICE_TOKENS["cliniko-sync"], **SETTINGS
    ) as worker:
        before = await attendee_requests(stack, key)
        first = await asyncio.to_thread(worker.start, "first")
        run_id = await request_sync(worker, org, "full")
        deadline = time.monotonic() + 60
        while True:
            cp = (await get_run(worker, run_id)).checkpoint or {}
            if PHASES[cp.get("phase", 0)].resource == "attendees" and len(_begun(cp.get("chains"))) >= 2:
                break
            assert time.monotonic() < deadline, f"never two batches part-way: {cp}"
            await asyncio.sleep(0.02)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)

        await asyncio.to_thread(worker.start, "second")
        run = await wait_run(worker, run_id, wait_s=120)
        assert run.status == "succeeded", run.error
        # Each batch's pages once; the kill may cost the pages read and not yet recorded: with two
        # chains, two waiting for the writer, one being written and two being fetched.
        assert want <= await attendee_requests(stack, key) - before <= want + 5
        want_rows = ground_truth(export(stack, key), datetime.fromisoformat(run.counts["window_now"]))
        assert comparable(await published(worker, org, run_id)) == want_rows
        assert any(g["id"] in v["recent"] for g in data["group_appointments"] for v in want_rows.values())


def _begun(chains: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The chains of a checkpoint with a page recorded: part-way (a next link) or done."""
    return [c for c in chains or [] if c["next"] or c["done"]]


async def attendee_requests(stack: Stack, key: str) -> int:
    async with httpx.AsyncClient(base_url=f"{stack.urls['cliniko-sandbox']}/_sandbox") as c:
        by_endpoint = (await c.get("/stats")).json()["accounts"].get(key, {}).get("by_endpoint", {})
    return sum(int(v) for e, v in by_endpoint.items() if e.endswith("/attendees"))


async def _run_row(url: str, run_id: uuid.UUID) -> dict[str, Any]:
    """The run's row as the dead process left it (its admin API died with it)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            sql = "SELECT status, progress, checkpoint FROM cliniko.sync_runs WHERE run_id = :r"
            row = await conn.execute(text(sql), {"r": run_id})
            return dict(row.mappings().one())
    finally:
        await engine.dispose()
