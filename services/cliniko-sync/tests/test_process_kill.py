"""A cliniko-sync process SIGKILLed mid-run: the next process resumes the run from its checkpoint.

The in-process conformance case cancels a run's task; this one kills the whole process (no cleanup,
no `finally`), as a crash or an OOM kill would. The worker runs as a real subprocess on a broker of
its own (a second process in the session broker's consumer group would take other tests' requests),
with its own database, the session's credentials service and the session's Cliniko sandbox.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from practice_sync_cli.testing_stack import ADMIN_TOKEN, SERVICE_TOKENS, Stack
from practice_sync_cliniko_sync.testing import (
    add_account,
    comparable,
    export,
    get_run,
    ground_truth,
    published,
    register_org,
    request_sync,
    wait_run,
)
from practice_sync_common.embedded.kafka import EmbeddedBroker
from practice_sync_common.embedded.procs import free_port, spawn, stop

PER_PAGE = 10
RATE_PER_MIN = 1500  # 25 requests/s: slow enough to kill mid-run, fast enough for a short test


@dataclass
class Worker:
    """The parts of a stack the cliniko-sync test helpers use, pointed at the subprocess."""

    urls: dict[str, str]
    kafka_bootstrap: str
    env: dict[str, str] = field(default_factory=dict)

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _database(url: str) -> str:
    name = f"kill_{uuid.uuid4().hex[:10]}"
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _start(worker: Worker, log: Path) -> Any:
    proc = spawn([sys.executable, "-m", "practice_sync_cliniko_sync"], env=worker.env, log=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"cliniko-sync exited with {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{worker.urls['cliniko-sync']}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise AssertionError(f"cliniko-sync not ready in 60 s: {log.read_text()[-3000:]}")


@pytest.mark.slow
async def test_sigkilled_worker_run_is_resumed_by_the_next_process(
    stack: Stack, credentials_service: str, cliniko_sandbox: str
) -> None:
    n = uuid.uuid4().hex[:10]
    key, org = f"k{n}kill-au1", f"org-kill-{n}"
    add_account(stack, key, patients=100, appointments=1200)
    register_org(stack, org, key)
    tmp = Path(tempfile.mkdtemp(prefix="ps-kill-"))
    broker = EmbeddedBroker(free_port(), log=tmp / "broker.log")
    await asyncio.to_thread(broker.start)
    procs: list[Any] = []
    try:
        port = free_port()
        worker = Worker(
            urls={**stack.urls, "cliniko-sync": f"http://127.0.0.1:{port}"},
            kafka_bootstrap=broker.bootstrap,
        )
        worker.env = {
            **os.environ,
            "DATABASE_URL": await _database(stack.database_url),
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
            "HTTP_PORT": str(port),
            "CREDENTIALS_URL": stack.urls["credentials"],
            "PRACTICE_SYNC_ADMIN_TOKEN": ADMIN_TOKEN,
            "PRACTICE_SYNC_SERVICE_TOKEN": SERVICE_TOKENS["cliniko-sync"],
            "CLINIKO_PER_PAGE": str(PER_PAGE),
            "CLINIKO_RATE_LIMIT_PER_MIN": str(RATE_PER_MIN),
            "RUN_STALE_AFTER_S": "3",
            "RESUME_SCAN_INTERVAL_S": "1",
            "LOG_LEVEL": "INFO",
        }
        first = await asyncio.to_thread(_start, worker, tmp / "first.log")
        procs.append(first)
        run_id = await request_sync(worker, org, "full")
        deadline = time.monotonic() + 60
        while (await get_run(worker, run_id)).progress.pages < 15:
            assert time.monotonic() < deadline, "the run made no progress"
            await asyncio.sleep(0.1)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        at_kill = await get_run_from_db(worker.env["DATABASE_URL"], run_id)
        assert at_kill["status"] == "running"  # nobody was left to say otherwise
        pages_at_kill = at_kill["progress"]["pages"]

        requests_before = await _requests(stack, key)
        procs.append(await asyncio.to_thread(_start, worker, tmp / "second.log"))
        run = await wait_run(worker, run_id, wait_s=120)
        assert run.status == "succeeded", run.error
        requests_after = await _requests(stack, key)

        # Resumed, not restarted: the second process fetched only what the checkpoint had not.
        assert run.progress.pages >= pages_at_kill
        assert requests_after - requests_before <= run.progress.pages - pages_at_kill + 3
        want = ground_truth(export(stack, key), datetime.fromisoformat(run.counts["window_now"]))
        assert comparable(await published(worker, org, run_id)) == want
        assert len(want) > 0
    finally:
        for proc in procs:
            stop(proc)
        await asyncio.to_thread(broker.stop)


async def _requests(stack: Stack, key: str) -> int:
    """What the sandbox served this account so far."""
    async with httpx.AsyncClient(base_url=f"{stack.urls['cliniko-sandbox']}/_sandbox", timeout=30) as c:
        return int((await c.get("/stats")).json()["accounts"][key]["requests"])


async def get_run_from_db(url: str, run_id: uuid.UUID) -> dict[str, Any]:
    """The run's row as the dead process left it (its admin API died with it)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        text("SELECT status, progress FROM cliniko.sync_runs WHERE run_id = :r"),
                        {"r": run_id},
                    )
                )
                .mappings()
                .one()
            )
            return dict(row)
    finally:
        await engine.dispose()
