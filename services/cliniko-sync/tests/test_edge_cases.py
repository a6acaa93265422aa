"""The active-patient definition at its edges, over the real sandbox, broker and Postgres.

Each test builds a small account record by record through the sandbox's control API, pins the
service's clock (`app.state.clock.pin`) so the window is exact, syncs, and compares the published
snapshot with ground truth computed from the sandbox's raw export — and, so the intent is visible,
asserts the specific patients the scenario is about.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from practice_sync_cli.testing_stack import Stack
from practice_sync_cliniko_sync.domain.rules import individual_counts
from practice_sync_cliniko_sync.service.clock import Clock
from practice_sync_cliniko_sync.testing import (
    add_account,
    comparable,
    export,
    ground_truth,
    published,
    register_org,
    sandbox,
    sync,
)
from practice_sync_common.sync_runs import SyncRun

T = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)  # the pinned "now" of every test here
EDGE = T - timedelta(days=60)


def z(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Clinic:
    """An empty sandbox account, registered as an org, filled record by record."""

    def __init__(self, stack: Stack) -> None:
        n = uuid.uuid4().hex[:10]
        self.stack, self.key, self.org = stack, f"e{n}key-au1", f"edge-{n}"
        add_account(stack, self.key, 0, 0)
        register_org(stack, self.org, self.key)
        self.http = sandbox(stack)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post(f"/accounts/{self.key}/{path}", json=body)
        assert r.is_success, r.text
        out: dict[str, Any] = r.json()
        return out

    def patient(self, first: str = "Pat", last: str | None = None, email: str | None = "") -> str:
        last = last or uuid.uuid4().hex[:8]
        body = {"first_name": first, "last_name": last}
        if email is not None:
            body["email"] = email or f"{first}.{last}@example.com".lower()
        return str(self._post("patients", body)["id"])

    def visit(self, patient: str, starts_at: str, **fields: Any) -> str:
        body = {"patient_id": patient, "starts_at": starts_at, **fields}
        return str(self._post("individual_appointments", body)["id"])

    def group(self, starts_at: str, patients: list[str]) -> str:
        return str(self._post("group_appointments", {"starts_at": starts_at, "patient_ids": patients})["id"])

    def act(self, table: str, ident: str, action: str, body: dict[str, Any] | None = None) -> None:
        self._post(f"{table}/{ident}/{action}", body or {})

    def truth(self) -> dict[str, dict[str, Any]]:
        return ground_truth(export(self.stack, self.key), T)

    async def synced(self) -> tuple[SyncRun, dict[str, dict[str, Any]]]:
        run = await sync(self.stack, self.org)
        assert run.status == "succeeded", run.error
        assert run.counts["window_now"] == T.isoformat()
        return run, comparable(await published(self.stack, self.org, run.run_id))


@pytest.fixture
def clinic(stack: Stack, cliniko_sync_service: str) -> Iterator[Clinic]:
    clock: Clock = stack.apps["cliniko-sync"].state.clock
    clock.pin(T)
    c = Clinic(stack)
    try:
        yield c
    finally:
        clock.pin(None)
        c.http.close()


async def test_window_edges_and_time_zones(clinic: Clinic) -> None:
    at_start = clinic.patient()
    a_start = clinic.visit(at_start, z(EDGE))  # exactly now - 60 days: inside
    just_before = clinic.patient()
    clinic.visit(just_before, z(EDGE - timedelta(seconds=1)))  # one second earlier: outside
    at_now = clinic.patient()
    a_now = clinic.visit(at_now, z(T))  # exactly now: recent
    a_next = clinic.visit(at_now, z(T + timedelta(seconds=1)))  # one second later: upcoming
    only_upcoming = clinic.patient()
    clinic.visit(only_upcoming, z(T + timedelta(seconds=1)))
    # Offsets are instants: compared in UTC, never by their local wall-clock reading.
    # 09:39 at +10:00 is 23:39 UTC the day before: its local time looks inside the window, UTC is not.
    sydney = timezone(timedelta(hours=10))
    tz_before = clinic.patient()
    clinic.visit(tz_before, (EDGE - timedelta(minutes=30)).astimezone(sydney).isoformat())
    # 10:39 at -05:00 is 15:39 UTC: its wall clock reads before now, in UTC it is upcoming.
    new_york = timezone(timedelta(hours=-5))
    tz_after = clinic.patient()
    clinic.visit(tz_after, (T + timedelta(minutes=30)).astimezone(new_york).isoformat())
    tz_inside = clinic.patient()
    a_tz = clinic.visit(tz_inside, (EDGE + timedelta(minutes=30)).astimezone(new_york).isoformat())

    run, got = await clinic.synced()
    assert got == clinic.truth()
    assert set(got) == {at_start, at_now, tz_inside}
    assert got[at_start]["recent"] == [a_start] and got[at_start]["last"] == EDGE
    assert got[at_now]["recent"] == [a_now] and got[at_now]["upcoming"] == [a_next]
    assert got[at_now]["total"] == 2 and got[at_now]["last"] == T
    assert got[tz_inside]["recent"] == [a_tz]
    assert got[tz_inside]["last"] == EDGE + timedelta(minutes=30)
    assert run.counts["active_patients"] == 3


async def test_archived_merged_no_email_and_duplicate_names(clinic: Clinic) -> None:
    inside = z(T - timedelta(days=3))
    archived = clinic.patient()
    clinic.visit(archived, inside)
    clinic.act("patients", archived, "archive")
    # A merged patient is archived by Cliniko and drops out; its appointments stay its own
    # (they are not moved to the merge target), so the target's counts show only its own.
    merged, target = clinic.patient(), clinic.patient()
    clinic.visit(merged, inside)
    own = clinic.visit(target, z(T - timedelta(days=5)))
    clinic.act("patients", merged, "merge", {"into": target})
    no_email = clinic.patient(email=None)
    clinic.visit(no_email, inside)
    twin_a = clinic.patient("Zoë", "O'Brien", email="zoe@example.com")
    twin_b = clinic.patient("Zoë", "O'Brien", email="zoe@example.com")
    clinic.visit(twin_a, inside)
    clinic.visit(twin_b, z(T - timedelta(days=10)))

    _, got = await clinic.synced()
    assert got == clinic.truth()
    assert set(got) == {target, no_email, twin_a, twin_b}
    assert got[target]["recent"] == [own] and got[target]["total"] == 1
    assert got[no_email]["email"] is None
    assert got[twin_a]["name"] == got[twin_b]["name"] == ("Zoë", "O'Brien")


async def test_cancelled_dna_groups_and_a_later_cancellation(clinic: Clinic) -> None:
    inside, later = z(T - timedelta(days=2)), z(T + timedelta(days=2))
    cancelled_only = clinic.patient()
    gone = clinic.visit(cancelled_only, inside)
    clinic.act("individual_appointments", gone, "cancel", {"cancellation_reason": 30})
    dna_only = clinic.patient()
    clinic.visit(dna_only, inside, did_not_arrive=True)  # DID_NOT_ARRIVE=exclude (the default)
    two = clinic.patient()
    keep = clinic.visit(two, z(T - timedelta(days=4)))
    drop = clinic.visit(two, inside)
    one = clinic.visit(clinic_one := clinic.patient(), inside)
    attends, cancels = clinic.patient(), clinic.patient()
    cls = clinic.group(z(T - timedelta(days=1)), [attends, cancels])
    upcoming_cls = clinic.group(later, [attends])
    attendee = next(
        a["id"]
        for g in export(clinic.stack, clinic.key)["group_appointments"]
        if g["id"] == cls
        for a in g["attendees"]
        if a["patient_id"] == cancels
    )
    clinic.act("attendees", attendee, "cancel", {"cancellation_reason": 40})

    first, got = await clinic.synced()
    assert got == clinic.truth()
    assert set(got) == {two, clinic_one, attends}
    # How totals were obtained is on the run, with both ways' costs in requests: this clinic has
    # no history before the window (0 pages), against a count for each of its 3 active patients.
    assert first.counts["method_costs"] == {"history_crawl": 0, "per_patient_counts": 3}
    assert got[two]["recent"] == [keep, drop] and got[two]["total"] == 2
    assert got[attends] == {**got[attends], "recent": [cls], "upcoming": [upcoming_cls], "total": 2}

    # Cancelled after the first run: the incremental run sees it only because it asks with the `*`
    # filters (the default scope hides cancelled appointments, so they would never come back).
    clinic.act("individual_appointments", drop, "cancel", {"cancellation_reason": 10})
    clinic.act("individual_appointments", one, "cancel", {"cancellation_reason": 10})
    again, got = await clinic.synced()
    assert again.counts["kind"] == "incremental" and first.counts["kind"] == "full"
    assert first.counts["method"] == "history_crawl" and again.counts["method"] == "incremental_deltas"
    assert got == clinic.truth()
    assert set(got) == {two, attends}
    assert got[two]["recent"] == [keep] and got[two]["total"] == 1


def test_did_not_arrive_policy() -> None:
    dna = {"did_not_arrive": True, "cancelled_at": None, "archived_at": "", "deleted_at": None}
    assert individual_counts(dna, "exclude") is False
    assert individual_counts(dna, "count") is True
    assert individual_counts({**dna, "cancelled_at": "2025-01-01T00:00:00Z"}, "count") is False


async def test_unchanged_rerun_with_a_page_of_ties_and_an_arrival_on_the_mark(clinic: Clinic) -> None:
    """A page or more of records on the high-water mark are not re-read on every run (one probe a
    list), and a record that lands on the mark later is still seen."""
    clock = clinic.http.get("/clock").json()
    mark = clock["now"]
    patient = clinic.patient()
    try:
        clinic.http.post("/clock", json={"set": mark, "freeze": True}).raise_for_status()
        for day in range(12):  # more than a page (the service reads 10 per page), all on one second
            clinic.visit(patient, z(T - timedelta(days=day + 1)))
        first, got = await clinic.synced()
        assert first.counts["kind"] == "full" and got == clinic.truth()
        # The full run's marks are its start less a margin: this delta re-reads the records made in
        # that margin (all of them here), once, and the marks settle on their second.
        settle, got = await clinic.synced()
        assert settle.counts["kind"] == "incremental" and got == clinic.truth()

        with sandbox(clinic.stack) as c:
            before = c.get("/stats").json()["accounts"][clinic.key]["requests"]
        again, got = await clinic.synced()
        with sandbox(clinic.stack) as c:
            after = c.get("/stats").json()["accounts"][clinic.key]["requests"]
        # One request a list: a probe where a page of ties sits on the mark (appointments and their
        # attendees), one near-empty delta page elsewhere.
        assert again.counts["kind"] == "incremental" and after - before == again.progress.requests == 4
        assert got == clinic.truth() and set(got) == {patient}

        # A new appointment stamped exactly on the mark (the provider's clock in the same second).
        late = clinic.patient()
        clinic.http.post("/clock", json={"set": mark}).raise_for_status()
        arrived = clinic.visit(late, z(T - timedelta(days=1)))
        assert export(clinic.stack, clinic.key)["individual_appointments"][-1]["updated_at"] == mark
        third, got = await clinic.synced()
        assert third.counts["kind"] == "incremental"
        assert got == clinic.truth() and set(got) == {patient, late}
        assert got[late]["recent"] == [arrived]
    finally:
        clinic.http.post("/clock", json={"set": clock["now"], "freeze": False}).raise_for_status()
        clinic.http.post("/clock", json={"advance_seconds": 60}).raise_for_status()
