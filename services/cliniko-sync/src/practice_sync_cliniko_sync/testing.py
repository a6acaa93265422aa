"""Test helpers (for this service's tests and the benchmark): accounts and orgs
over the real APIs, run waiting, the published snapshot, and
ground truth computed from the sandbox export with none of the service's code."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from practice_sync_common import topics
from practice_sync_common.sync_runs import SyncRun


class Stack(Protocol):
    """The parts of the session stack (practice_sync_cli.testing_stack.Stack) these helpers use."""

    urls: dict[str, str]
    kafka_bootstrap: str

    def admin_headers(self) -> dict[str, str]: ...


def sandbox(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=f"{stack.urls['cliniko-sandbox']}/_sandbox", timeout=30)


def add_account(stack: Stack, key: str, patients: int, appointments: int) -> None:
    with sandbox(stack) as c:
        r = c.post("/accounts", json={"key": key, "patients": patients, "appointments": appointments})
        assert r.status_code == 201, r.text


def register_org(stack: Stack, org: str, key: str) -> None:
    with httpx.Client(base_url=stack.urls["credentials"], headers=stack.admin_headers(), timeout=30) as c:
        r = c.post("/admin/orgs", json={"id": org, "name": org})
        assert r.status_code in (200, 201, 409), r.text
        api_url = f"{stack.urls['cliniko-sandbox']}/v1"
        r = c.put(
            f"/admin/orgs/{org}/credentials/cliniko",
            json={"api_key": key, "api_url": api_url, "validate": False},
        )
        assert r.is_success, r.text


async def request_sync(stack: Stack, org: str, mode: str = "auto") -> UUID:
    async with httpx.AsyncClient(base_url=stack.urls["cliniko-sync"], headers=stack.admin_headers()) as c:
        r = await c.post("/admin/syncs", json={"org_id": org, "mode": mode})
        assert r.status_code == 202, r.text
        return UUID(r.json()["run_id"])


async def get_run(stack: Stack, run_id: UUID) -> SyncRun:
    async with httpx.AsyncClient(base_url=stack.urls["cliniko-sync"], headers=stack.admin_headers()) as c:
        r = await c.get(f"/admin/syncs/{run_id}")
        assert r.status_code == 200, r.text
        return SyncRun.model_validate(r.json())


async def wait_run(stack: Stack, run_id: UUID, wait_s: float = 90) -> SyncRun:
    deadline = time.monotonic() + wait_s
    while True:
        run = await get_run(stack, run_id)
        if run.finished or time.monotonic() > deadline:
            return run
        await asyncio.sleep(0.1)


async def org_runs(stack: Stack, org: str, settle_s: float = 60) -> list[SyncRun]:
    """The org's runs once none is queued or running (newest first).

    Other tests of the session publish `"*"` requests, and a fan-out the service consumes late starts a
    run for every Cliniko org it knows, a test's own included: a test counting an account's requests
    must count those runs' too.
    """
    deadline = time.monotonic() + settle_s
    async with httpx.AsyncClient(base_url=stack.urls["cliniko-sync"], headers=stack.admin_headers()) as c:
        while True:
            r = await c.get("/admin/syncs", params={"org_id": org, "limit": 200})
            assert r.status_code == 200, r.text
            runs = [SyncRun.model_validate(x) for x in r.json()["runs"]]
            if all(run.finished for run in runs) or time.monotonic() > deadline:
                return runs
            await asyncio.sleep(0.1)


async def sync(stack: Stack, org: str, mode: str = "auto") -> SyncRun:
    return await wait_run(stack, await request_sync(stack, org, mode))


async def published(stack: Stack, org: str, run_id: UUID, wait_s: float = 30) -> dict[str, dict[str, Any]]:
    """The run's snapshot as published (patient id → message), read until its snapshot_complete."""
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [
            TopicPartition(topics.ACTIVE_PATIENTS_COMPUTED, p)
            for p in sorted(consumer.partitions_for_topic(topics.ACTIVE_PATIENTS_COMPUTED) or {0, 1, 2, 3})
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        out: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for msgs in batch.values():
                for m in msgs:
                    event = json.loads(m.value)
                    if event["org_id"] != org or event.get("correlation_id") != str(run_id):
                        continue
                    message = event["data"]["message"]
                    if message["type"] == "snapshot_complete":
                        assert message["count"] == len(out)
                        return out
                    out[message["cliniko_patient_id"]] = message
        raise AssertionError(f"no snapshot_complete for run {run_id}")
    finally:
        await consumer.stop()


def export(stack: Stack, key: str) -> dict[str, Any]:
    with sandbox(stack) as c:
        r = c.get(f"/accounts/{key}/export")
        assert r.status_code == 200
        body: dict[str, Any] = r.json()
        return body


def _t(value: Any) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def ground_truth(
    data: dict[str, Any], now: datetime, days: int = 60, dna: str = "exclude"
) -> dict[str, dict[str, Any]]:
    """Active patients by the issue's definition, straight from the export."""
    start = now - timedelta(days=days)
    visits: dict[str, list[tuple[datetime, str]]] = {}
    for a in data["individual_appointments"]:
        if a["cancelled_at"] or a["archived_at"] or a["deleted_at"]:
            continue
        if dna == "exclude" and a["did_not_arrive"]:
            continue
        visits.setdefault(a["patient_id"], []).append((_t(a["starts_at"]), a["id"]))  # type: ignore[arg-type]
    for g in data["group_appointments"]:
        if g["archived_at"] or g["deleted_at"]:
            continue
        for att in g["attendees"]:
            if att["cancelled_at"] or att["archived_at"] or att["deleted_at"]:
                continue
            visits.setdefault(att["patient_id"], []).append((_t(g["starts_at"]), g["id"]))  # type: ignore[arg-type]
    closed = {p["id"] for p in data["patients"] if p["archived_at"] or p.get("merged_at")}
    people = {p["id"]: p for p in data["patients"]}
    out: dict[str, dict[str, Any]] = {}
    for pid, vs in visits.items():
        recent = sorted(v for v in vs if start <= v[0] <= now)
        if not recent or pid in closed:
            continue
        upcoming = sorted(v for v in vs if v[0] > now)
        out[pid] = {
            "recent": [i for _, i in recent],
            "upcoming": [i for _, i in upcoming],
            "total": len(vs),
            "last": recent[-1][0],
            "email": people[pid]["email"] or None,
            "name": (people[pid]["first_name"], people[pid]["last_name"]),
        }
    return out


def comparable(messages: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        pid: {
            "recent": [a["id"] for a in m["recent_appointments"]],
            "upcoming": [a["id"] for a in m["upcoming_appointments"]],
            "total": m["total_appointment_count"],
            "last": _t(m["last_appointment_date"]),
            "email": m["email"],
            "name": (m["first_name"], m["last_name"]),
        }
        for pid, m in messages.items()
    }


# ---- a cliniko-sync worker as a real process -------------------------------------------------------
@dataclass
class Worker:
    """A cliniko-sync subprocess on a broker and a database of its own (a second process in the
    session broker's consumer group would take other tests' requests), using the session's
    credentials service and Cliniko sandbox. Quacks like `Stack` for the helpers above."""

    urls: dict[str, str]
    kafka_bootstrap: str
    env: dict[str, str]
    admin_token: str
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def start(self, name: str) -> subprocess.Popen[bytes]:
        """Start a worker process and wait until it is ready."""
        from practice_sync_common.embedded.procs import spawn, stop

        log = self.logs / f"{name}.log"
        proc = spawn([sys.executable, "-m", "practice_sync_cliniko_sync"], env=self.env, log=log)
        self.procs.append(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"cliniko-sync exited with {proc.returncode}: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.urls['cliniko-sync']}/readyz", timeout=2).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        stop(proc)
        raise AssertionError(f"cliniko-sync not ready in 60 s: {log.read_text()[-3000:]}")


@asynccontextmanager
async def worker_process(
    stack: Stack, database_url: str, admin_token: str, service_token: str, **env: str
) -> AsyncIterator[Worker]:
    """A Worker (not started) with `env` as extra settings; every process it started is stopped after."""
    from practice_sync_common.embedded.kafka import EmbeddedBroker
    from practice_sync_common.embedded.procs import free_port, stop
    from practice_sync_common.testing.databases import create_database

    logs = Path(tempfile.mkdtemp(prefix="ps-worker-"))
    broker = EmbeddedBroker(free_port(), log=logs / "broker.log")
    await asyncio.to_thread(broker.start)
    port = free_port()
    worker = Worker(
        urls={**stack.urls, "cliniko-sync": f"http://127.0.0.1:{port}"},
        kafka_bootstrap=broker.bootstrap,
        env={
            **os.environ,
            "DATABASE_URL": await create_database(database_url, "worker"),
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "HTTP_PORT": str(port),
            "CREDENTIALS_URL": stack.urls["credentials"],
            "PRACTICE_SYNC_ADMIN_TOKEN": admin_token,
            "PRACTICE_SYNC_SERVICE_TOKEN": service_token,
            "LOG_LEVEL": "INFO",
            **env,
        },
        admin_token=admin_token,
        logs=logs,
    )
    try:
        yield worker
    finally:
        for proc in worker.procs:
            stop(proc)
        await asyncio.to_thread(broker.stop)


async def requests_served(stack: Stack, key: str) -> int:
    """What the sandbox has served this account so far."""
    async with httpx.AsyncClient(base_url=f"{stack.urls['cliniko-sandbox']}/_sandbox", timeout=30) as c:
        return int((await c.get("/stats")).json()["accounts"].get(key, {}).get("requests", 0))
