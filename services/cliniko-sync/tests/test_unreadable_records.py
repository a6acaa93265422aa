"""A Cliniko record the service cannot read fails the run at once, naming the record.

The session's Cliniko sandbox serves it through its `unreadable_records` fault: the next list page
with a record carries one whose `starts_at` is no date, as the real API might after a bug on its
side. Retrying cannot fix it (every attempt reads the same record): the run must not be retried.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from practice_sync_cli.testing_stack import Stack
from practice_sync_cliniko_sync.testing import add_account, register_org, request_sync, sandbox, wait_run
from practice_sync_sandbox.cliniko.routes import UNREADABLE_TIME


async def test_an_unreadable_record_fails_the_run_at_once_naming_it(
    stack: Stack, cliniko_sync_service: str
) -> None:
    n = uuid.uuid4().hex[:10]
    key, org = f"u{n}key-au1", f"unreadable-{n}"
    add_account(stack, key, 0, 0)
    register_org(stack, org, key)
    with sandbox(stack) as c:
        r = c.post(f"/accounts/{key}/patients", json={"first_name": "Pat", "last_name": n})
        assert r.is_success, r.text
        # The account's only record, and upcoming, so the run's first page (the window's) is the one
        # that carries it, spoiled.
        starts = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        r = c.post(
            f"/accounts/{key}/individual_appointments",
            json={"patient_id": r.json()["id"], "starts_at": starts},
        )
        assert r.is_success, r.text
        bad_id = str(r.json()["id"])
        # Faults are sandbox-wide: another test's run must never meet this one.
        assert c.post("/faults", json={"unreadable_records": 1}).is_success
        try:
            run = await wait_run(stack, await request_sync(stack, org, "full"), wait_s=60)
            spent = c.get("/faults").json()["unreadable_records"] == 0
        finally:
            assert c.delete("/faults").is_success
    assert spent, "the run never read a page with the spoiled record"
    assert run.status == "failed"
    assert run.attempt == 1, run.error  # not retried: the next attempt would read the same record
    assert run.error is not None
    assert "individual_appointments" in run.error and bad_id in run.error, run.error
    assert UNREADABLE_TIME in run.error, run.error
