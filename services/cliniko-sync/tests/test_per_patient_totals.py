"""Totals counted per patient: chosen when cheaper than crawling the history, kept right by deltas.

A clinic with a long history and few patients: crawling the history before the window costs far
more pages than one count request per active patient, so the first run counts (`auto`). Then an
unchanged re-run costs a handful of requests, and a change to an old appointment of an active
patient is seen by the delta and costs one count request, for that patient only; a new booking in
the window costs none.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from practice_sync_cli.testing_stack import ADMIN_TOKEN, SERVICE_TOKENS, Stack
from practice_sync_cliniko_sync.service.sync_run import COUNT_CLOCK_SLACK_S
from practice_sync_cliniko_sync.testing import (
    add_account,
    comparable,
    export,
    ground_truth,
    published,
    register_org,
    requests_served,
    sync,
    worker_process,
)

SETTINGS = {"CLINIKO_PER_PAGE": "10", "CLINIKO_RATE_LIMIT_PER_MIN": "6000"}


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _old_visit_of_an_active_patient(data: dict[str, Any], want: dict[str, Any], before: datetime) -> str:
    """A counting individual appointment, before the window, of a patient who is active."""
    for a in data["individual_appointments"]:
        counting = not (a["cancelled_at"] or a["archived_at"] or a["deleted_at"] or a["did_not_arrive"])
        if counting and a["patient_id"] in want and _t(a["starts_at"]) < before:
            return str(a["id"])
    raise AssertionError("no old appointment of an active patient in the account")


@pytest.mark.slow
async def test_per_patient_counts_are_chosen_when_cheaper_and_kept_by_deltas(
    stack: Stack, credentials_service: str, cliniko_sandbox: str
) -> None:
    n = uuid.uuid4().hex[:10]
    key, org = f"p{n}count-au1", f"org-count-{n}"
    add_account(stack, key, patients=40, appointments=3000)
    register_org(stack, org, key)
    async with worker_process(
        stack, stack.database_url, ADMIN_TOKEN, SERVICE_TOKENS["cliniko-sync"], **SETTINGS
    ) as worker:
        await asyncio.to_thread(worker.start, "worker")

        before = await requests_served(stack, key)
        first = await sync(worker, org)
        assert first.status == "succeeded", first.error
        spent = await requests_served(stack, key) - before
        now = datetime.fromisoformat(first.counts["window_now"])
        want = ground_truth(export(stack, key), now)
        assert comparable(await published(worker, org, first.run_id)) == want
        costs = first.counts["method_costs"]
        assert first.counts["method"] == "per_patient_counts"
        assert costs["per_patient_counts"] < costs["history_crawl"]
        assert first.counts["count_requests"] == len(want) > 0
        # The whole first run cost less than the history crawl it avoided would have alone.
        assert spent < costs["history_crawl"]
        # Its progress planned every request it made: the bar ends at its end, not past it.
        assert first.progress.pages == first.progress.pages_total == spent

        before = await requests_served(stack, key)
        again = await sync(worker, org)
        assert again.status == "succeeded" and again.counts["kind"] == "incremental"
        assert await requests_served(stack, key) - before <= 5
        assert again.counts["count_requests"] == 0
        assert comparable(await published(worker, org, again.run_id)) == want

        # A new booking in the window for an active patient, made after its base was counted: the
        # mirror counts it, so the base stays and no count request is made.
        patient = sorted(want)[0]
        await asyncio.sleep(COUNT_CLOCK_SLACK_S + 1)  # past the counts' time on Cliniko's clock
        async with httpx.AsyncClient(base_url=f"{stack.urls['cliniko-sandbox']}/_sandbox") as c:
            starts = (now - timedelta(days=1)).isoformat().replace("+00:00", "Z")
            r = await c.post(
                f"/accounts/{key}/individual_appointments", json={"patient_id": patient, "starts_at": starts}
            )
            assert r.is_success, r.text
        booked = await sync(worker, org)
        assert booked.status == "succeeded", booked.error
        truth = ground_truth(export(stack, key), datetime.fromisoformat(booked.counts["window_now"]))
        assert comparable(await published(worker, org, booked.run_id)) == truth
        assert truth[patient]["total"] == want[patient]["total"] + 1
        assert booked.counts["count_requests"] == 0
        want = truth

        # An old appointment (before the window) of an active patient is cancelled.
        data = export(stack, key)
        old = _old_visit_of_an_active_patient(data, want, now - timedelta(days=61))
        async with httpx.AsyncClient(base_url=f"{stack.urls['cliniko-sandbox']}/_sandbox") as c:
            r = await c.post(
                f"/accounts/{key}/individual_appointments/{old}/cancel", json={"cancellation_reason": 10}
            )
            assert r.is_success, r.text
        third = await sync(worker, org)
        assert third.status == "succeeded"
        got = comparable(await published(worker, org, third.run_id))
        truth = ground_truth(export(stack, key), datetime.fromisoformat(third.counts["window_now"]))
        assert got == truth
        owner = next(a["patient_id"] for a in data["individual_appointments"] if a["id"] == old)
        assert got[owner]["total"] == want[owner]["total"] - 1
        assert third.counts["count_requests"] == 1  # that patient's base, asked again
        assert third.progress.pages_total is not None and third.progress.pages <= third.progress.pages_total

        # An old appointment of an active patient, made long before the counts, is moved into the
        # window: the mirror never had it and the base still counts it, so the base is asked again
        # (kept, it would be counted twice: total one too high).
        moved = _old_visit_of_an_active_patient(export(stack, key), truth, now - timedelta(days=61))
        async with httpx.AsyncClient(base_url=f"{stack.urls['cliniko-sandbox']}/_sandbox") as c:
            starts = (now - timedelta(days=2)).isoformat().replace("+00:00", "Z")
            r = await c.patch(f"/accounts/{key}/individual_appointments/{moved}", json={"starts_at": starts})
            assert r.is_success, r.text
        fourth = await sync(worker, org)
        assert fourth.status == "succeeded", fourth.error
        got = comparable(await published(worker, org, fourth.run_id))
        assert got == ground_truth(export(stack, key), datetime.fromisoformat(fourth.counts["window_now"]))
        assert fourth.counts["count_requests"] == 1
