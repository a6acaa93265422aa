"""Projector throughput: rows/s of the projector consuming a snapshot ÷ rows/s of a plain batched insert.

Side by side in one run, on an embedded Postgres and broker on free ports:
1. 50,000 ActivePatient events and their snapshot_complete are published to the topic first;
2. the projector runs as a subprocess (`python -m practice_sync_projector`) and consumes them: its
   time runs from its first batch's transaction start (the run's `first_seen_at`) to the moment it
   applied snapshot_complete (both read from the database clock), so process start and group join
   are out;
3. the same rows are written by `plain_batched_insert` (asyncpg executemany, 1,000 rows per
   transaction) for another org into the same tables, three times (`bench/baseline.py` says why):
   the median is the baseline, every run is reported beside it.
Target: projector ≥ 0.5 of the plain insert.

The plain insert times only the active_patients rows (their contacts are made beforehand, untimed).
On a first load the projector also makes a contact per patient, so a second plain insert, timed
with those contacts, is reported beside it for comparison (no target of its own).

It also reports where the time goes, as CPU per row: the database's (the embedded Postgres and all
its backends) on each side, and the projector process's own. The projector's side is counted from
its readiness (imports and migrations done) to the snapshot's completion, so it may include the
group join and leave out nothing of the load. The projector works one transaction at a time on one
connection, so (background processes such as autovacuum aside) the database's CPU per row is a floor
under its time per row, whatever its own code does: the two database figures show how near that
floor the target lies.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import baseline
from bench.cpu import tree_cpu_seconds
from bench.report import BenchResult

N = int(os.environ.get("BENCH_PROJECTOR_ROWS", "50000"))


def run() -> BenchResult:
    return asyncio.run(_run(N))


async def _run(n: int) -> BenchResult:
    from practice_sync_common.embedded.kafka import EmbeddedBroker
    from practice_sync_common.embedded.postgres import EmbeddedPostgres
    from practice_sync_common.embedded.procs import free_port, spawn, stop

    result = BenchResult("projector_throughput", params={"rows": n})
    with tempfile.TemporaryDirectory(prefix="bench-projector-") as tmp:
        os.chmod(tmp, 0o755)  # postgres runs as another user and must reach it
        pg = EmbeddedPostgres(Path(tmp) / "pg", free_port())
        broker = EmbeddedBroker(free_port())
        await asyncio.to_thread(pg.start)
        await asyncio.to_thread(broker.start)
        proc = None
        try:
            org, run_id = f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4()
            publish_s = await _publish(broker.bootstrap, org, run_id, n)
            port = free_port()
            env = {
                **os.environ,
                "DATABASE_URL": pg.url,
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                "HTTP_PORT": str(port),
                "LOG_LEVEL": os.environ.get("BENCH_PROJECTOR_LOG_LEVEL", "WARNING"),
            }
            proc = spawn(
                [sys.executable, "-m", "practice_sync_projector"],
                env=env,
                log=Path(os.environ.get("BENCH_PROJECTOR_LOG", str(Path(tmp) / "projector.log"))),
            )
            assert pg.proc is not None
            meters = _Meters(pg.proc.pid, proc.pid)
            projector_rps, wall = await _wait_projected(pg.url, org, run_id, n, meters)
            db_pid = pg.proc.pid
            plain = await baseline.plain_insert(pg.url, n, meter=lambda: tree_cpu_seconds(db_pid))
            both = await baseline.plain_insert(pg.url, n, with_contacts=True, runs=1)
            baseline_rps, both_rps = plain.rows_per_s, both.rows_per_s
            result.add("projector rows/s", round(projector_rps, 1), "rows/s")
            result.add("plain batched insert rows/s", round(baseline_rps, 1), "rows/s", note=plain.describe())
            fastest = f"÷ the fastest run: {projector_rps / max(plain.rates):.3f}"
            result.add(
                "projector ÷ plain insert", round(projector_rps / baseline_rps, 3), "", ">= 0.5", fastest
            )
            result.add("plain insert with the contacts, rows/s", round(both_rps, 1), "rows/s")
            result.add(
                "projector ÷ plain insert with the contacts",
                round(projector_rps / both_rps, 3),
                "",
                note="for comparison",
            )
            db_us, own_us = (1e6 * x / max(1, meters.rows) for x in (meters.db, meters.own))
            base_us = 1e6 * plain.median_metered / n
            metered = f"{meters.rows} rows metered"
            result.add("database CPU per row, projector", round(db_us, 1), "µs", note=metered)
            result.add("database CPU per row, plain insert", round(base_us, 1), "µs")
            result.add("database CPU ÷ plain insert's", round(db_us / base_us, 2), "", note="work per row")
            result.add("projector process CPU per row", round(own_us, 1), "µs")
            result.add(
                "projector wall time (start to complete)", round(wall, 2), "s", note="incl. start + join"
            )
            result.add("publish time (setup, not measured)", round(publish_s, 2), "s")
        finally:
            if proc is not None:
                stop(proc)
            await asyncio.to_thread(broker.stop)
            await asyncio.to_thread(pg.stop)
    return result


async def _publish(bootstrap: str, org: str, run_id: uuid.UUID, n: int) -> float:
    from practice_sync_common import topics
    from practice_sync_common.broker import make_broker, publish
    from practice_sync_common.settings import CommonSettings
    from practice_sync_projector.benchmarking import complete_envelope, patient_envelopes

    events = patient_envelopes(org, n, run_id)
    broker = make_broker(CommonSettings(kafka_bootstrap_servers=bootstrap, service_name="bench"))
    await broker.start()
    started = time.perf_counter()
    try:
        for i in range(0, n, 1000):
            await asyncio.gather(
                *(publish(broker, topics.ACTIVE_PATIENTS_COMPUTED, e) for e in events[i : i + 1000])
            )
        await publish(broker, topics.ACTIVE_PATIENTS_COMPUTED, complete_envelope(org, run_id, n))
    finally:
        await broker.stop()
    return time.perf_counter() - started


async def _projected(engine: Any, org: str) -> int:
    """The org's active_patients rows the projector has committed; 0 while its tables do not exist."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    try:
        async with engine.connect() as conn:  # as the owner, whom the tables' RLS does not bind
            found = await conn.execute(
                text("SELECT count(*) FROM public.active_patients WHERE organization_id = :o"), {"o": org}
            )
            return int(found.scalar_one())
    except DBAPIError:
        return 0  # its migrations have not run yet


class _Meters:
    """CPU seconds of the database and of the projector, from `start()` to `stop()`, and the rows
    projected in between (dividing by every row, as before, read about half the true cost: the
    rows projected before the meters started are not in their seconds)."""

    def __init__(self, db_pid: int, projector_pid: int) -> None:
        self.pids = (db_pid, projector_pid)
        self.db = self.own = 0.0
        self.rows = 0

    def start(self) -> None:
        self.db, self.own = (-tree_cpu_seconds(pid) for pid in self.pids)

    def stop(self) -> None:
        db, own = (tree_cpu_seconds(pid) for pid in self.pids)
        self.db += db
        self.own += own


async def _wait_projected(
    url: str, org: str, run_id: uuid.UUID, n: int, meters: _Meters
) -> tuple[float, float]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    started = time.perf_counter()
    engine = create_async_engine(url)
    try:
        # The meters start at the first batch committed, not at readiness: the consumer starts
        # before the service answers ready, and on a small snapshot it is done by then. What the
        # first batch and the start-up cost is left out, and so are that batch's rows.
        while (done_before := await _projected(engine, org)) == 0:
            if time.perf_counter() - started > 120:
                raise TimeoutError("projector projected nothing in 2 minutes")
            await asyncio.sleep(0.01)
        meters.start()
        meters.rows = n - done_before
        while True:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT status, seen_count, EXTRACT(EPOCH FROM completed_at - first_seen_at) "
                            "FROM projector.snapshot_runs WHERE organization_id = :o AND run_id = :r "
                            "AND completed_at IS NOT NULL"
                        ),
                        {"o": org, "r": run_id},
                    )
                ).first()
            if row is not None:
                meters.stop()
                if row[0] != "complete" or row[1] != n:
                    raise RuntimeError(f"projector finished with status {row[0]} and {row[1]} rows")
                return n / float(row[2]), time.perf_counter() - started
            if time.perf_counter() - started > 600:
                raise TimeoutError("projector did not finish in 10 minutes")
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
