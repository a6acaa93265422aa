"""Shared sync-run bookkeeping and its admin API, on the real Postgres and broker; the admin API's
org check asks the session's real credentials service over HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import SecretStr
from sqlalchemy import MetaData, text

from practice_sync_cli.testing_stack import SERVICE_TOKENS, Stack, offline_cliniko_org
from practice_sync_common import topics
from practice_sync_common.db import driver_connection, one_connection, unit_of_work
from practice_sync_common.events import Provider
from practice_sync_common.runtime import ServiceRuntime
from practice_sync_common.settings import CommonSettings
from practice_sync_common.sync_runs import (
    CredentialsOrgCheck,
    RetryRule,
    SyncIntake,
    SyncProgress,
    SyncRunRepository,
    sync_admin_router,
    sync_runs_table,
)
from practice_sync_common.sync_runs.org_check import connected_orgs

MIGRATION = """
from practice_sync_common.migration_ops import create_sync_runs_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade(schema: str) -> None:
    create_sync_runs_v1(schema)
"""
ADMIN = {"Authorization": "Bearer sync-admin"}


@pytest.fixture
async def runtime(database_url: str, kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[ServiceRuntime]:
    (tmp_path / "0001_sync_runs.py").write_text(MIGRATION)
    schema = f"t_sync_{uuid.uuid4().hex[:8]}"
    settings = CommonSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        PRACTICE_SYNC_ADMIN_TOKEN=SecretStr("sync-admin"),
    )
    rt = ServiceRuntime(name="t-sync", settings=settings, schema=schema, versions_dir=tmp_path)
    await rt.migrate()
    await rt.require_broker().start()
    yield rt
    await rt.require_broker().stop()
    await rt.engine.dispose()


def repo_for(rt: ServiceRuntime) -> SyncRunRepository:
    return SyncRunRepository(sync_runs_table(MetaData(), rt.schema))


def admin_client(
    rt: ServiceRuntime, provider: Provider, credentials_url: str, token: str = SERVICE_TOKENS["cliniko-sync"]
) -> httpx.AsyncClient:
    """The admin API of a connector for `provider`, checking orgs with the credentials service at
    `credentials_url`, presenting `token` there."""
    intake = SyncIntake(provider, repo_for(rt), "t-sync", CredentialsOrgCheck(credentials_url, token))
    app = rt.app(routers=[sync_admin_router(intake)])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_run_goes_through_claim_checkpoint_and_success(runtime: ServiceRuntime) -> None:
    repo = repo_for(runtime)
    run_id = uuid.uuid4()
    async with unit_of_work(runtime.sessions) as s:
        created = await repo.create(s, run_id=run_id, org_id="org-a", provider="cliniko", mode="auto")
        again = await repo.create(s, run_id=run_id, org_id="other", provider="cliniko", mode="full")
    assert created.status == "queued" and again.org_id == "org-a"  # a redelivered request changes nothing

    async with unit_of_work(runtime.sessions) as s:
        claimed = await repo.claim(s, run_id, stale_after=timedelta(seconds=30))
        assert claimed is not None and claimed.status == "running" and claimed.attempt == 1
        # A second worker cannot take a run whose worker is alive.
        assert await repo.claim(s, run_id, stale_after=timedelta(seconds=30)) is None
        progress = SyncProgress(pages=2, records=150, requests=3)
        await repo.checkpoint(s, run_id, {"next": "http://x/v1/patients?page=3"}, progress)
    async with unit_of_work(runtime.sessions) as s:
        mid = await repo.get(s, run_id)
        assert mid is not None and mid.checkpoint == {"next": "http://x/v1/patients?page=3"}
        assert mid.progress.pages == 2 and mid.progress.records == 150
        await repo.succeed(s, run_id, counts={"active_patients": 7}, progress=progress)
        done = await repo.get(s, run_id)
    assert done is not None and done.status == "succeeded" and done.finished_at is not None
    assert done.counts == {"active_patients": 7}
    async with unit_of_work(runtime.sessions) as s:
        assert (
            await repo.claim(s, run_id, stale_after=timedelta(seconds=0)) is None
        )  # finished stays finished


async def test_a_statement_and_the_checkpoint_are_committed_together_or_not_at_all(
    runtime: ServiceRuntime,
) -> None:
    """`checkpoint_with`: a crawl's page and its checkpoint in one statement on the driver's
    connection. Both land; when the page is refused, neither does and the old checkpoint stays."""
    repo = repo_for(runtime)
    run_id = uuid.uuid4()
    pages = f'"{runtime.schema}"."pages"'
    async with unit_of_work(runtime.sessions) as s:
        await s.execute(text(f"CREATE TABLE {pages} (id int PRIMARY KEY, body varchar(5) NOT NULL)"))
        await repo.create(s, run_id=run_id, org_id="org-w", provider="cliniko", mode="full")
        await repo.checkpoint(s, run_id, {"next": "page=1"}, SyncProgress(pages=0))
    insert_page = f"INSERT INTO {pages} SELECT * FROM unnest($1::int[], $2::text[])"
    async with one_connection(runtime.sessions) as held, driver_connection(held) as conn:
        await repo.checkpoint_with(
            conn, insert_page, [[1, 2], ["a", "b"]], run_id, {"next": "page=2"}, SyncProgress(pages=1)
        )
        with pytest.raises(asyncpg.StringDataRightTruncationError):
            await repo.checkpoint_with(
                conn, insert_page, [[3], ["too long"]], run_id, {"next": "page=3"}, SyncProgress(pages=2)
            )
        assert not conn.is_in_transaction()  # nothing left open on the connection
        async with unit_of_work(held) as s:  # the session's work goes on on the same connection
            await repo.heartbeat(s, run_id, SyncProgress(pages=1, records=2))
    async with unit_of_work(runtime.sessions) as s:
        ids = (await s.execute(text(f"SELECT id FROM {pages} ORDER BY id"))).scalars().all()
        run = await repo.get(s, run_id)
    assert ids == [1, 2]
    assert run is not None and run.checkpoint == {"next": "page=2"}
    assert run.progress.pages == 1 and run.progress.records == 2


async def test_a_dead_workers_run_is_resumable_with_its_checkpoint(runtime: ServiceRuntime) -> None:
    repo = repo_for(runtime)
    run_id = uuid.uuid4()
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    async with unit_of_work(runtime.sessions) as s:
        await repo.create(s, run_id=run_id, org_id="org-b", provider="clio", mode="full", now=t0)
        await repo.claim(s, run_id, stale_after=timedelta(seconds=30), now=t0)
        await repo.checkpoint(s, run_id, {"cursor": "abc"}, SyncProgress(pages=1), now=t0)
    async with unit_of_work(runtime.sessions) as s:
        resumable = await repo.find_resumable(s, stale_after=timedelta(seconds=30))
        assert run_id in {r.run_id for r in resumable}
        resumed = await repo.claim(s, run_id, stale_after=timedelta(seconds=30))
    assert resumed is not None and resumed.attempt == 2 and resumed.checkpoint == {"cursor": "abc"}


async def test_failures_retry_with_backoff_then_stop_with_the_error(runtime: ServiceRuntime) -> None:
    repo = repo_for(runtime)
    rule = RetryRule(max_attempts=2, backoff_s=60)
    run_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with unit_of_work(runtime.sessions) as s:
        await repo.create(s, run_id=run_id, org_id="org-c", provider="cliniko", mode="auto")
        await repo.claim(s, run_id, stale_after=timedelta(seconds=30), now=now)
        first = await repo.fail(s, run_id, "provider answered 503 6 times", rule=rule, now=now)
    assert first.status == "queued" and first.next_retry_at == now + timedelta(seconds=60)
    async with unit_of_work(runtime.sessions) as s:
        # Not due yet: neither a claim nor the resume scan picks it up.
        assert await repo.claim(s, run_id, stale_after=timedelta(seconds=30), now=now) is None
        assert run_id not in {
            r.run_id for r in await repo.find_resumable(s, stale_after=timedelta(seconds=30), now=now)
        }
        later = now + timedelta(seconds=61)
        assert run_id in {
            r.run_id for r in await repo.find_resumable(s, stale_after=timedelta(seconds=30), now=later)
        }
        assert await repo.claim(s, run_id, stale_after=timedelta(seconds=30), now=later) is not None
        final = await repo.fail(s, run_id, "provider answered 503 6 times", rule=rule, now=later)
    assert final.status == "failed" and final.finished_at is not None
    assert final.error == "provider answered 503 6 times (after 2 attempts)"


async def test_admin_api_queues_publishes_lists_and_shows_runs(
    runtime: ServiceRuntime, stack: Stack, credentials_service: str
) -> None:
    org = await offline_cliniko_org(stack)
    async with admin_client(runtime, "cliniko", credentials_service) as c:
        assert (await c.post("/admin/syncs", json={"org_id": org})).status_code == 401
        bad = await c.post("/admin/syncs", json={"org_id": "no spaces!", "mode": "auto"}, headers=ADMIN)
        assert bad.status_code == 422 and "org_id" in bad.text
        bad_mode = await c.post("/admin/syncs", json={"org_id": org, "mode": "turbo"}, headers=ADMIN)
        assert bad_mode.status_code == 422 and "mode" in bad_mode.text

        r = await c.post("/admin/syncs", json={"org_id": org, "mode": "full"}, headers=ADMIN)
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["status"] == "queued" and body["all_orgs"] is False
        run_id = body["run_id"]

        one = await c.get(f"/admin/syncs/{run_id}", headers=ADMIN)
        assert one.status_code == 200 and one.json()["status"] == "queued" and one.json()["mode"] == "full"
        listed = await c.get("/admin/syncs", params={"org_id": org}, headers=ADMIN)
        assert [x["run_id"] for x in listed.json()["runs"]] == [run_id]
        # A filter no org can match is named, not answered with an empty list or a database error.
        for odd in ("a\x00b", "no spaces!"):
            r = await c.get("/admin/syncs", params={"org_id": odd}, headers=ADMIN)
            assert r.status_code == 422 and "org_id" in r.json()["error"]["message"], r.text
        missing = await c.get(f"/admin/syncs/{uuid.uuid4()}", headers=ADMIN)
        assert missing.status_code == 404 and missing.json()["error"]["message"].startswith("no sync run")
        all_orgs = await c.post("/admin/syncs", json={"org_id": "*"}, headers=ADMIN)
        assert all_orgs.status_code == 202 and all_orgs.json()["all_orgs"] is True

    found = await _published_request(runtime, run_id)
    assert found is not None, "sync.requested was not published"
    key, event = found
    assert key == org.encode() and event["org_id"] == org
    assert event["data"] == {"provider": "cliniko", "mode": "full", "run_id": run_id, "reason": "admin"}


async def test_admin_api_refuses_an_org_it_cannot_sync_with_nothing_queued(
    runtime: ServiceRuntime, stack: Stack, credentials_service: str
) -> None:
    cliniko = await offline_cliniko_org(stack)
    unknown = f"ghost-{uuid.uuid4().hex[:6]}"
    async with admin_client(runtime, "clio", credentials_service) as c:
        r = await c.post("/admin/syncs", json={"org_id": unknown}, headers=ADMIN)
        assert r.status_code == 404, r.text
        message = r.json()["error"]["message"]
        assert unknown in message and "Clio" in message, message
        assert f"practice-sync credentials set --org {unknown} --provider clio" in message

        r = await c.post("/admin/syncs", json={"org_id": cliniko}, headers=ADMIN)
        assert r.status_code == 409, r.text
        message = r.json()["error"]["message"]
        assert cliniko in message and "Cliniko" in message and "Clio" in message, message

        for org in (unknown, cliniko):
            assert (await c.get("/admin/syncs", params={"org_id": org}, headers=ADMIN)).json()["runs"] == []


async def test_admin_api_knows_a_uuid_org_in_any_case(
    runtime: ServiceRuntime, stack: Stack, credentials_service: str
) -> None:
    # The credentials service stores UUID org ids lowercase and reads them in any case; so does the check.
    # The run, its event and so the rows it makes go under that lowercase id, not the request's
    # spelling (else the read API, asked for the org, would find none of them).
    org = await offline_cliniko_org(stack, str(uuid.uuid4()))
    async with admin_client(runtime, "cliniko", credentials_service) as c:
        r = await c.post("/admin/syncs", json={"org_id": org.upper()}, headers=ADMIN)
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        assert r.json()["org_id"] == org
        for spelled in (org, org.upper()):
            listed = await c.get("/admin/syncs", params={"org_id": spelled}, headers=ADMIN)
            assert [(x["run_id"], x["org_id"]) for x in listed.json()["runs"]] == [(run_id, org)], spelled
    found = await _published_request(runtime, run_id)
    assert found is not None and found[0] == org.encode() and found[1]["org_id"] == org, found


async def test_admin_api_answers_503_and_queues_nothing_when_credentials_cannot_be_asked(
    runtime: ServiceRuntime, stack: Stack, credentials_service: str
) -> None:
    org = await offline_cliniko_org(stack)
    async with admin_client(runtime, "cliniko", "http://127.0.0.1:1") as c:
        r = await c.post("/admin/syncs", json={"org_id": org}, headers=ADMIN)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["message"].startswith("credentials service unavailable"), r.text
        assert "try again" in r.text
        assert (await c.get("/admin/syncs", params={"org_id": org}, headers=ADMIN)).json()["runs"] == []
        # "*" is not checked: the connector's fan-out asks credentials for its orgs when it runs.
        all_orgs = await c.post("/admin/syncs", json={"org_id": "*"}, headers=ADMIN)
        assert all_orgs.status_code == 202 and all_orgs.json()["all_orgs"] is True, all_orgs.text
    # Reachable, but without the single-org read (a CREDENTIALS_URL with a wrong path, an older
    # service): its 404 says nothing about the org, so it is a 503, not "no credentials".
    async with admin_client(runtime, "cliniko", f"{credentials_service}/elsewhere") as c:
        r = await c.post("/admin/syncs", json={"org_id": org}, headers=ADMIN)
        assert r.status_code == 503 and "answered 404" in r.text, r.text
    # Reachable, but refusing this service (a wrong service token): the same 503, the token not shown.
    async with admin_client(runtime, "cliniko", credentials_service, token="not-a-service-token") as c:
        r = await c.post("/admin/syncs", json={"org_id": org}, headers=ADMIN)
        assert r.status_code == 503 and "answered 401" in r.text, r.text
        assert "not-a-service-token" not in r.text
        assert (await c.get("/admin/syncs", params={"org_id": org}, headers=ADMIN)).json()["runs"] == []


async def test_the_fan_out_list_follows_every_page_to_the_end(stack: Stack, credentials_service: str) -> None:
    """More Cliniko orgs than one page holds: a `"*"` fan-out still reaches every one, each once."""
    new = [await offline_cliniko_org(stack) for _ in range(3)]
    token = {"Authorization": f"Bearer {SERVICE_TOKENS['cliniko-sync']}"}
    async with httpx.AsyncClient(base_url=credentials_service, headers=token) as http:
        whole = await http.get("/internal/orgs", params={"provider": "cliniko", "limit": 5000})
        listed = [o["org_id"] for o in whole.json()["orgs"] if o["status"] != "needs_reauth"]
        paged = await connected_orgs(http, "cliniko", page_size=2)
        clio = await connected_orgs(http, "clio", page_size=2)
    assert len(listed) > 2 and set(new) <= set(paged), (new, paged)
    assert paged == listed  # every org, in order, none twice
    assert not set(new) & set(clio)


async def _published_request(runtime: ServiceRuntime, run_id: str) -> tuple[bytes, dict[str, Any]] | None:
    """The `sync.requested` message (key, event) of this run, read from the topic."""
    consumer = AIOKafkaConsumer(
        topics.SYNC_REQUESTED,
        bootstrap_servers=runtime.settings.kafka_bootstrap_servers,
        group_id=f"t-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                for m in msgs:
                    event = json.loads(m.value)
                    # The topic is shared with other tests, some of which publish malformed messages.
                    data = event.get("data") if isinstance(event, dict) else None
                    if isinstance(data, dict) and data.get("run_id") == run_id:
                        return m.key, event
    finally:
        await consumer.stop()
    return None
