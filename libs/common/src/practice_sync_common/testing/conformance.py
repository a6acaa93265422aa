"""The connector conformance suite: one set of behaviours every connector must show against its sandbox.

A connector's tests subclass :class:`ConnectorConformance` and provide a ``connector`` fixture that
returns its :class:`ConnectorAdapter`. The suite then checks, over the real service, broker,
Postgres and sandbox: auth failure, empty account, one page, many pages, a 429 storm, a 5xx burst,
a malformed page, resume after a kill, and an incremental run. Results are always compared with the
sandbox's own ground truth (its export), which the adapter computes without the connector's code.

```python
class TestClinikoConformance(ConnectorConformance):
    @pytest.fixture
    def connector(self, ...) -> ConnectorAdapter:
        return ClinikoAdapter(...)
```

Faults use the sandbox kit's ``FaultPlan`` keys (``force_429``, ``server_errors``,
``malformed_pages``, ...), which both sandboxes share.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest

from practice_sync_common.sync_runs.schemas import SyncRun


@dataclass
class Account:
    """One provider account wired to one org: what the adapter made, and how to find it again."""

    org_id: str
    handle: str  # the sandbox's name for it (an API key, a user slug, ...)
    secret: str  # the credential: must never show up in a run's error or progress
    extra: dict[str, Any] = field(default_factory=dict)


class ConnectorAdapter(abc.ABC):
    """What the suite needs from a connector and its sandbox; every method works over real HTTP."""

    #: records per provider page at the connector's configured page size
    page_size: int
    #: pages a kill may make the resumed run read again: the page in flight plus those fetched ahead
    reread_pages: int = 2

    @abc.abstractmethod
    async def new_account(self, pages: float) -> Account:
        """A fresh account (and org with credentials) whose sync reads about `pages` pages of records.

        0 means an empty account (no records to sync)."""

    @abc.abstractmethod
    async def run_sync(self, account: Account, mode: str = "auto") -> SyncRun:
        """Request a sync through the connector's admin API and wait for it to finish."""

    @abc.abstractmethod
    async def sync_until_killed(self, account: Account, after_pages: int) -> UUID:
        """Start a full sync and kill its worker after `after_pages` pages, leaving a running run with
        a checkpoint behind (as a crashed process would)."""

    @abc.abstractmethod
    async def resume(self, account: Account, run_id: UUID) -> SyncRun:
        """Do what a restarted process does for runs it finds unfinished; wait for `run_id` to end."""

    @abc.abstractmethod
    async def synced(self, account: Account, run: SyncRun) -> Mapping[str, Any]:
        """What the connector produced for the org as of `run` (id → comparable record)."""

    @abc.abstractmethod
    async def ground_truth(self, account: Account) -> Mapping[str, Any]:
        """The same, computed independently from the sandbox's export."""

    @abc.abstractmethod
    async def change_records(self, account: Account, count: int) -> None:
        """Change `count` records in the sandbox (so an incremental run has something to pick up)."""

    @abc.abstractmethod
    async def break_auth(self, account: Account) -> None:
        """Make the stored credential invalid at the provider."""

    @abc.abstractmethod
    async def set_faults(self, faults: Mapping[str, Any]) -> None:
        """Set the sandbox's fault plan (``{}`` clears it)."""

    @abc.abstractmethod
    async def provider_requests(self, account: Account) -> int:
        """Requests the sandbox has counted for this account so far (from its stats)."""


class ConnectorConformance:
    """Subclass in a connector's tests and provide the ``connector`` fixture."""

    @pytest.fixture
    def connector(self) -> ConnectorAdapter:
        raise NotImplementedError("a connector's conformance test class must provide the connector fixture")

    @pytest.fixture(autouse=True)
    async def _no_faults_left(self, connector: ConnectorAdapter) -> Any:
        yield
        await connector.set_faults({})

    @staticmethod
    def assert_succeeded(run: SyncRun) -> None:
        assert run.status == "succeeded", f"run {run.run_id} ended {run.status}: {run.error}"

    async def assert_matches_truth(self, connector: ConnectorAdapter, account: Account, run: SyncRun) -> None:
        got = await connector.synced(account, run)
        want = await connector.ground_truth(account)
        missing = sorted(set(want) - set(got))[:5]
        extra = sorted(set(got) - set(want))[:5]
        assert not missing and not extra, f"missing {missing}, unexpected {extra}"
        wrong = [k for k in want if got[k] != want[k]][:3]
        assert not wrong, "differ from ground truth: " + "; ".join(
            f"{k}: {got[k]} != {want[k]}" for k in wrong
        )

    async def test_auth_failure_fails_the_run_with_a_clear_error(self, connector: ConnectorAdapter) -> None:
        account = await connector.new_account(pages=1)
        await connector.break_auth(account)
        run = await connector.run_sync(account)
        assert run.status == "failed"
        assert run.error and any(w in run.error.lower() for w in ("401", "refused", "auth", "credential"))
        assert account.secret not in run.error
        assert account.secret not in run.model_dump_json()

    async def test_empty_account(self, connector: ConnectorAdapter) -> None:
        account = await connector.new_account(pages=0)
        run = await connector.run_sync(account)
        self.assert_succeeded(run)
        assert await connector.synced(account, run) == {}
        assert await connector.ground_truth(account) == {}

    async def test_one_page(self, connector: ConnectorAdapter) -> None:
        account = await connector.new_account(pages=0.5)
        run = await connector.run_sync(account)
        self.assert_succeeded(run)
        await self.assert_matches_truth(connector, account, run)

    async def test_many_pages(self, connector: ConnectorAdapter) -> None:
        account = await connector.new_account(pages=4.5)
        run = await connector.run_sync(account)
        self.assert_succeeded(run)
        assert run.progress.pages >= 5
        await self.assert_matches_truth(connector, account, run)

    async def test_429_storm_is_waited_out(self, connector: ConnectorAdapter) -> None:
        account = await connector.new_account(pages=2)
        await connector.set_faults({"force_429": 4})
        run = await connector.run_sync(account)
        self.assert_succeeded(run)
        assert run.progress.throttled_429 >= 4
        await self.assert_matches_truth(connector, account, run)

    async def test_5xx_burst_is_retried(self, connector: ConnectorAdapter) -> None:
        account = await connector.new_account(pages=2)
        await connector.set_faults({"server_errors": 3, "error_statuses": [500, 502, 503]})
        run = await connector.run_sync(account)
        self.assert_succeeded(run)
        assert run.progress.retries >= 3
        await self.assert_matches_truth(connector, account, run)

    async def test_malformed_page_is_refetched(self, connector: ConnectorAdapter) -> None:
        account = await connector.new_account(pages=2)
        await connector.set_faults({"malformed_pages": 1})
        run = await connector.run_sync(account)
        self.assert_succeeded(run)
        assert run.progress.retries >= 1
        await self.assert_matches_truth(connector, account, run)

    async def test_resume_after_kill_continues_from_the_checkpoint(self, connector: ConnectorAdapter) -> None:
        account = await connector.new_account(pages=8)
        start = await connector.provider_requests(account)
        # Killed past more pages than a resume may re-read, so a restart from scratch would show.
        run_id = await connector.sync_until_killed(account, after_pages=connector.reread_pages + 2)
        run = await connector.resume(account, run_id)
        self.assert_succeeded(run)
        assert run.run_id == run_id and run.attempt >= 2
        await self.assert_matches_truth(connector, account, run)
        killed_and_resumed = await connector.provider_requests(account) - start
        # What one uninterrupted full sync of the same, unchanged account costs.
        before = await connector.provider_requests(account)
        self.assert_succeeded(await connector.run_sync(account, mode="full"))
        full_cost = await connector.provider_requests(account) - before
        # Resuming re-reads at most the pages in flight at the kill, not the pages checkpointed.
        assert killed_and_resumed <= full_cost + connector.reread_pages

    async def test_incremental_run_sees_changes_and_costs_less(self, connector: ConnectorAdapter) -> None:
        account = await connector.new_account(pages=4)
        before = await connector.provider_requests(account)
        self.assert_succeeded(await connector.run_sync(account, mode="full"))
        full_cost = await connector.provider_requests(account) - before

        await connector.change_records(account, 5)
        before = await connector.provider_requests(account)
        run = await connector.run_sync(account, mode="incremental")
        self.assert_succeeded(run)
        assert await connector.provider_requests(account) - before < full_cost
        await self.assert_matches_truth(connector, account, run)
