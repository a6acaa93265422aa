"""Active patients over the real sandbox, broker and Postgres, against ground truth from the export."""

from __future__ import annotations

import math
import uuid
from datetime import datetime

from practice_sync_cli.testing_stack import Stack
from practice_sync_cliniko_sync.service.cliniko_api import CLASS_BATCH, class_batches
from practice_sync_cliniko_sync.testing import (
    add_account,
    comparable,
    export,
    ground_truth,
    org_runs,
    published,
    register_org,
    sandbox,
    sync,
)


def fresh(stack: Stack, patients: int = 80, appointments: int = 1500) -> tuple[str, str]:
    n = uuid.uuid4().hex[:10]
    key, org = f"t{n}key-au1", f"org-{n}"
    add_account(stack, key, patients, appointments)
    register_org(stack, org, key)
    return key, org


async def test_snapshot_matches_ground_truth_and_rerun_is_cheap(
    stack: Stack, cliniko_sync_service: str
) -> None:
    key, org = fresh(stack)
    run = await sync(stack, org)
    assert run.status == "succeeded", run.error
    now = datetime.fromisoformat(run.counts["window_now"])
    got = comparable(await published(stack, org, run.run_id))
    want = ground_truth(export(stack, key), now)
    assert got == want
    assert run.counts["active_patients"] == len(want) > 0
    # Progress planned every request (window, history, classes, probes, patients): it ends at its end.
    assert run.progress.pages == run.progress.pages_total == run.progress.requests

    settled = {r.run_id for r in await org_runs(stack, org)}
    with sandbox(stack) as c:
        before = c.get("/stats").json()["accounts"][key]["requests"]
    again = await sync(stack, org)
    assert again.status == "succeeded" and again.counts["kind"] == "incremental"
    others = [r for r in await org_runs(stack, org) if r.run_id not in settled | {again.run_id}]
    with sandbox(stack) as c:
        after = c.get("/stats").json()["accounts"][key]["requests"]
    # The provider saw exactly the requests the runs counted; the re-run itself made at most five.
    assert after - before == again.progress.requests + sum(r.progress.requests for r in others)
    assert again.progress.requests <= 5
    assert comparable(await published(stack, org, again.run_id)) == want


PER_PAGE = 10  # cliniko_sync_service's page size


def attendee_requests(stack: Stack, key: str) -> int:
    with sandbox(stack) as c:
        by_endpoint = c.get("/stats").json()["accounts"].get(key, {}).get("by_endpoint", {})
    return sum(n for e, n in by_endpoint.items() if e.endswith("/attendees"))


async def test_full_run_asks_only_for_class_attendees(stack: Stack, cliniko_sync_service: str) -> None:
    # /attendees lists each individual appointment's attendee too (spec §6): a full run asks for the
    # classes' attendees only, CLASS_BATCH classes a request. Classes added past one batch.
    key, org = fresh(stack, patients=30, appointments=600)
    people = [p["id"] for p in export(stack, key)["patients"]]
    with sandbox(stack) as c:
        for k in range(CLASS_BATCH):
            body = {
                "starts_at": f"2020-01-{1 + k % 28:02d}T09:00:00Z",
                "patient_ids": people[k % 7 : k % 7 + 3],
            }
            assert c.post(f"/accounts/{key}/group_appointments", json=body).is_success
    data = export(stack, key)
    places = {g["id"]: len(g["attendees"]) for g in data["group_appointments"]}
    batches = class_batches(places)
    assert len(batches) == 2
    want = sum(max(1, math.ceil(sum(places[g] for g in b) / PER_PAGE)) for b in batches)
    whole_list = math.ceil((len(data["individual_appointments"]) + sum(places.values())) / PER_PAGE)

    before = attendee_requests(stack, key)
    run = await sync(stack, org, "full")
    assert run.status == "succeeded", run.error
    assert attendee_requests(stack, key) - before == want < whole_list
    assert run.progress.pages == run.progress.pages_total == run.progress.requests
    now = datetime.fromisoformat(run.counts["window_now"])
    assert comparable(await published(stack, org, run.run_id)) == ground_truth(data, now)


async def test_two_orgs_with_overlapping_ids_stay_apart(stack: Stack, cliniko_sync_service: str) -> None:
    from practice_sync_cli.testing_stack import CLINIKO_KEYS

    n = uuid.uuid4().hex[:6]
    orgs = {f"iso-a-{n}": CLINIKO_KEYS[0], f"iso-b-{n}": CLINIKO_KEYS[1]}
    for org, key in orgs.items():
        register_org(stack, org, key)
    runs = {org: await sync(stack, org, "full") for org in orgs}
    for org, key in orgs.items():
        run = runs[org]
        assert run.status == "succeeded", run.error
        want = ground_truth(export(stack, key), datetime.fromisoformat(run.counts["window_now"]))
        assert comparable(await published(stack, org, run.run_id)) == want
