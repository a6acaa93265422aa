"""Cliniko sync of a large account, end to end, with every process real and on its own free port.

Started here (and stopped in `finally`): an embedded Postgres and broker, the Cliniko sandbox
(`python -m practice_sync_cli sandbox cliniko`, one account of BENCH_CLINIKO_PATIENTS patients and
BENCH_CLINIKO_APPOINTMENTS appointments, limit BENCH_CLINIKO_RATE_PER_MIN per minute), the credentials
service (a generated key ring; the org's key registered through its admin API), cliniko-sync (its
budget set to the sandbox's limit) and the projector. One full sync is triggered through the admin
API and watched to success while the sync process's RSS is sampled (psutil, every 50 ms).

Figures, side by side in one run:
- **requests ÷ minimum**, from the sandbox's own ledger (`/_sandbox/stats`). The minimum is the
  cheaper of the two recipes' floors at 100 rows per page, counted from the sandbox's record counts
  and per_page=1 probes (two before the ledger is reset, the class attendees' after the runs, so
  they take none of the run's rate budget):
  crawl floor = ⌈individual/100⌉ + ⌈classes/100⌉ + class-attendee pages (every list, all states:
  the `*` filters are what lets later runs see cancellations) + ⌈active/100⌉ patient-detail pages;
  per-patient floor = ⌈individual from the window's start/100⌉ + ⌈classes/100⌉ + class-attendee
  pages + one count request per active patient + ⌈active/100⌉.
  Class-attendee pages = Σ over batches of max(1, ⌈the batch's attendees/100⌉), the batches being
  the classes in id order, `CLASS_BATCH` (50) a request (`class_batches`, as the sync makes them:
  `/attendees?q[]=appointment_id:=id1,…` is the only way to ask for class attendees alone, and a
  URL holds about 50 ids, so each batch ends on a part page). `/attendees` as a whole also lists
  one attendee per individual appointment (spec §6), which the active-patient rules never use:
  ⌈all attendees/100⌉ is no floor of this data.
- **429s** received (sandbox ledger) and **achieved rate ÷ allowed rate** (requests between the first
  and the last one the sandbox saw, ÷ the limit per second; `peak_in_window` is reported too).
- **wall time** of the run (admin request to `succeeded`) and **peak RSS** of the sync process.
- **projector rows/s ÷ plain batched insert rows/s**: the same account is synced a second time for a
  second org (`BACKLOG_ORG`) with the projector stopped, so the run's whole snapshot waits in the topic
  when the projector starts again, as the plain insert's rows wait in memory: the projector's own rate
  on the real rows. Its time is the run's `snapshot_runs` row, `first_seen_at` (its first batch of
  the run) to `completed_at` (snapshot applied), read from the database clock. The baseline is
  `plain_batched_insert` from the projector's `benchmarking.py` with as many rows into the same
  Postgres, the median of three runs (`bench/baseline.py`).
- **the pipeline's figure** beside it: the first org's run, the projector consuming while
  cliniko-sync publishes, so its rate is bounded by the publish rate and the two share the cores.
- For both windows, the CPU each process spent per row (`bench.cpu.CpuTimeline`: cliniko-sync,
  projector, postgres, broker) and what that work per row allows at most with every core busy.
- **requests of an unchanged re-run** (a second `auto` run right after the first).
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen
from typing import TYPE_CHECKING, Any

import httpx
import psutil

from bench import baseline
from bench.cpu import CpuTimeline
from bench.report import BenchResult

if TYPE_CHECKING:
    from practice_sync_common.embedded.kafka import EmbeddedBroker
    from practice_sync_common.embedded.postgres import EmbeddedPostgres

PATIENTS = int(os.environ.get("BENCH_CLINIKO_PATIENTS", "50000"))
APPOINTMENTS = int(os.environ.get("BENCH_CLINIKO_APPOINTMENTS", "500000"))
RATE_PER_MIN = int(os.environ.get("BENCH_CLINIKO_RATE_PER_MIN", "6000"))
WINDOW_DAYS = 60
KEY = "benchclinicfiftyk01-au1"
ORG = "bench-clinic"
# The same account under a second org: its snapshot is published while the projector is stopped.
BACKLOG_ORG = "bench-clinic-backlog"
ADMIN = "bench-admin-token"
SYNC_TOKEN = "bench-cliniko-sync-token"
RUN_TIMEOUT_S = 1800.0
NEAR_END_PAGES = 300  # a few seconds of crawling at the bench's rate


def run() -> BenchResult:
    return asyncio.run(_run())


@dataclass
class Procs:
    tmp: Path
    started: list[Popen[bytes]] = field(default_factory=list)

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Popen[bytes]:
        from practice_sync_common.embedded.procs import spawn

        proc = spawn(argv, env={**os.environ, **env}, log=self.tmp / f"{name}.log")
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        from practice_sync_common.embedded.procs import stop

        for proc in reversed(self.started):
            stop(proc)


def spawn_cliniko_sync(
    procs: Procs, log: str, common: dict[str, str], port: int, **settings: str
) -> Popen[bytes]:
    """cliniko-sync on `port`, presenting its token to credentials, with `settings` (env names)."""
    env = {**common, "HTTP_PORT": str(port), "PRACTICE_SYNC_SERVICE_TOKEN": SYNC_TOKEN, **settings}
    return procs.spawn(log, [sys.executable, "-m", "practice_sync_cliniko_sync"], env)


async def _ready(url: str, proc: Popen[bytes], what: str, wait_s: float = 180) -> None:
    deadline = time.monotonic() + wait_s
    async with httpx.AsyncClient(timeout=5) as c:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{what} exited with code {proc.returncode} (see its log)")
            try:
                if (await c.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not ready at {url} within {wait_s:.0f}s")
            await asyncio.sleep(0.2)


async def _run() -> BenchResult:

    result = BenchResult(
        "cliniko_sync",
        params={
            "patients": PATIENTS,
            "appointments": APPOINTMENTS,
            "rate_limit_per_min": RATE_PER_MIN,
            "window_days": WINDOW_DAYS,
        },
    )
    async with embedded_stack("bench-cliniko-") as (procs, pg, broker):
        assert pg.proc is not None and broker.proc is not None
        trees = {"postgres": pg.proc.pid, "broker": broker.proc.pid}
        await _measure(result, procs, pg.url, broker.bootstrap, trees)
    return result


@asynccontextmanager
async def embedded_stack(prefix: str) -> AsyncIterator[tuple[Procs, EmbeddedPostgres, EmbeddedBroker]]:
    """A temporary directory with an embedded Postgres and broker started in it, and the `Procs`
    that spawn the rest there; everything stopped and removed when the block ends."""
    from practice_sync_common.embedded.kafka import EmbeddedBroker
    from practice_sync_common.embedded.postgres import EmbeddedPostgres
    from practice_sync_common.embedded.procs import free_port

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # postgres runs as another user and must reach it
        pg = EmbeddedPostgres(tmp / "pg", free_port())
        broker = EmbeddedBroker(free_port())
        procs = Procs(tmp)
        try:
            await asyncio.to_thread(pg.start)
            await asyncio.to_thread(broker.start)
            yield procs, pg, broker
        finally:
            procs.stop_all()
            await asyncio.to_thread(broker.stop)
            await asyncio.to_thread(pg.stop)


def spawn_credentials(procs: Procs, common: dict[str, str], port: int) -> Popen[bytes]:
    """The credentials service with a generated key ring, serving cliniko-sync's token."""
    from practice_sync_credentials.domain.keyring import generate_key_entry

    return procs.spawn(
        "credentials",
        [sys.executable, "-m", "practice_sync_credentials"],
        {
            **common,
            "HTTP_PORT": str(port),
            "CREDENTIALS_KEYRING": generate_key_entry("k1"),
            "PRACTICE_SYNC_SERVICE_TOKENS": f"cliniko-sync:{SYNC_TOKEN}",
            "CLIO_REFRESH_INTERVAL_S": "0",
            "CREDENTIALS_ALLOW_PRIVATE_URLS": "true",  # the sandbox is on loopback
        },
    )


async def _measure(
    result: BenchResult, procs: Procs, db_url: str, bootstrap: str, trees: dict[str, int]
) -> None:
    from practice_sync_common.embedded.procs import free_port, stop

    py = sys.executable
    common = {
        "DATABASE_URL": db_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "PRACTICE_SYNC_ADMIN_TOKEN": ADMIN,
        "LOG_LEVEL": "WARNING",
    }
    ports = {name: free_port() for name in ("sandbox", "credentials", "sync", "projector")}
    urls = {name: f"http://127.0.0.1:{p}" for name, p in ports.items()}

    sandbox = procs.spawn(
        "sandbox",
        [
            py,
            "-m",
            "practice_sync_cli",
            "sandbox",
            "cliniko",
            "--port",
            str(ports["sandbox"]),
            "--api-key",
            f"{KEY}={PATIENTS}:{APPOINTMENTS}",
            "--rate-limit",
            str(RATE_PER_MIN),
        ],
        {},
    )
    credentials = spawn_credentials(procs, common, ports["credentials"])
    sync_proc = spawn_cliniko_sync(
        procs,
        "cliniko-sync",
        {**common, "CREDENTIALS_URL": urls["credentials"]},
        ports["sync"],
        CLINIKO_RATE_LIMIT_PER_MIN=str(RATE_PER_MIN),
        ACTIVE_WINDOW_DAYS=str(WINDOW_DAYS),
    )

    def spawn_projector(log: str) -> Popen[bytes]:
        env = {**common, "HTTP_PORT": str(ports["projector"])}
        return procs.spawn(log, [py, "-m", "practice_sync_projector"], env)

    projector = spawn_projector("projector")
    await _ready(f"{urls['sandbox']}/_sandbox/health", sandbox, "the Cliniko sandbox")
    await _ready(f"{urls['credentials']}/readyz", credentials, "credentials")
    await _ready(f"{urls['sync']}/readyz", sync_proc, "cliniko-sync")
    await _ready(f"{urls['projector']}/readyz", projector, "projector")
    await asyncio.sleep(8)  # the consumers' group joins (~3 s each on the embedded broker)

    admin = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=urls["credentials"], headers=admin, timeout=30) as c:
        for org in (ORG, BACKLOG_ORG):
            (await c.post("/admin/orgs", json={"id": org, "name": org})).raise_for_status()
            body = {"api_key": KEY, "api_url": f"{urls['sandbox']}/v1", "validate": False}
            (await c.put(f"/admin/orgs/{org}/credentials/cliniko", json=body)).raise_for_status()

    sbx = httpx.AsyncClient(base_url=f"{urls['sandbox']}/_sandbox", timeout=60)
    api = httpx.AsyncClient(
        base_url=f"{urls['sandbox']}/v1",
        auth=httpx.BasicAuth(KEY, ""),
        headers={"Accept": "application/json", "User-Agent": "bench (bench@example.com)"},
        timeout=60,
    )
    sync_api = httpx.AsyncClient(base_url=urls["sync"], headers=admin, timeout=30)
    try:
        counts = await _record_counts(sbx)
        window_start = await _window_start(sbx)
        individual_from_window = await _total(
            api,
            "individual_appointments",
            [f"starts_at:>={window_start}", "cancelled_at:*", "archived_at:*"],
        )
        (await sbx.post("/stats/reset")).raise_for_status()

        rss = RssSampler(sync_proc.pid)
        sampler = asyncio.create_task(rss.loop())
        timeline = CpuTimeline({"cliniko-sync": sync_proc.pid, "projector": projector.pid, **trees})
        started = time.perf_counter()
        run_id = await _request(sync_api, ORG, "full")
        # Sampled from near the crawl's end on, for the pipeline's window: a pass over the process
        # table every 50 ms took a fifth of a core, which the crawl's rate would have paid for.
        # The crawl's requests are at least the two appointment lists' pages: the timeline starts when
        # the run has made all but NEAR_END_PAGES of those.
        crawl_at_least = _pages(counts["individual_appointments"]) + _pages(counts["group_appointments"])
        run = await _wait(sync_api, run_id, near_end=(timeline.start, crawl_at_least - NEAR_END_PAGES))
        wall = time.perf_counter() - started
        sampler.cancel()
        if run["status"] != "succeeded":
            raise RuntimeError(f"run {run_id} ended {run['status']}: {run.get('error')}")
        stats = (await sbx.get("/stats")).json()["accounts"][KEY]
        active = int(run["counts"]["active_patients"])

        requests = int(stats["requests"])
        span = max(1e-9, float(stats["last_at"]) - float(stats["first_at"]))
        allowed = RATE_PER_MIN / 60.0

        piped = await _projector_rate(db_url, ORG, run_id)
        timeline.stop()

        (await sbx.post("/stats/reset")).raise_for_status()
        rerun_id = await _request(sync_api, ORG, "auto")
        rerun = await _wait(sync_api, rerun_id)
        rerun_stats = (await sbx.get("/stats")).json()["accounts"].get(KEY, {"requests": 0})
        await _projector_rate(db_url, ORG, rerun_id)  # applied before the projector stops

        # The projector's own rate: the same account's snapshot for a second org, all of it waiting
        # in the topic when the projector starts, as the plain insert's rows wait in memory.
        stop(projector)
        backlog_id = await _request(sync_api, BACKLOG_ORG, "full")
        backlog = await _wait(sync_api, backlog_id)
        if backlog["status"] != "succeeded":
            raise RuntimeError(f"run {backlog_id} ended {backlog['status']}: {backlog.get('error')}")
        await _settle(db_url)
        projector = spawn_projector("projector-restarted")
        drain_timeline = CpuTimeline({"projector": projector.pid, **trees})
        drain_timeline.start()
        await _ready(f"{urls['projector']}/readyz", projector, "projector")
        drained = await _projector_rate(db_url, BACKLOG_ORG, backlog_id)
        drain_timeline.stop()

        plain = await baseline.plain_insert(db_url, drained.rows or active)
        both = await baseline.plain_insert(db_url, drained.rows or active, with_contacts=True, runs=1)
        class_attendee_pages = await _class_attendee_pages(api)
        crawl_floor = (
            _pages(counts["individual_appointments"])
            + _pages(counts["group_appointments"])
            + class_attendee_pages
            + _pages(active)
        )
        per_patient_floor = (
            _pages(individual_from_window)
            + _pages(counts["group_appointments"])
            + class_attendee_pages
            + active
            + _pages(active)
        )
        minimum = min(crawl_floor, per_patient_floor)
    finally:
        await sbx.aclose()
        await api.aclose()
        await sync_api.aclose()

    method = run["counts"].get("method", "crawl")
    result.params |= {
        "records": counts,
        "individual_from_window_start": individual_from_window,
        "class_attendee_pages": class_attendee_pages,
        "active_patients": active,
        "method": method,
        "crawl_floor": crawl_floor,
        "per_patient_floor": per_patient_floor,
        "run_progress": run["progress"],
    }
    result.add("requests issued", requests, "req")
    result.add(
        "minimum requests for the data",
        minimum,
        "req",
        note=f"crawl {crawl_floor}, per-patient {per_patient_floor}",
    )
    result.add("requests ÷ minimum", round(requests / minimum, 4), "", "<= 1.05", note=f"method {method}")
    result.add("429s received", int(stats["throttled_429"]), "", "== 0")
    result.add(
        "achieved rate ÷ allowed rate",
        round(requests / span / allowed, 3),
        "",
        ">= 0.9",
        note=f"{requests / span:.1f} req/s over {span:.1f}s; allowed {allowed:.1f}/s",
    )
    result.add("peak requests in any 60 s", int(stats["peak_in_window"]), "req", f"<= {RATE_PER_MIN}")
    result.add("wall time of the run", round(wall, 2), "s")
    result.add("peak RSS of the sync process", round(rss.peak / 2**20, 1), "MiB", "< 400")
    result.add("active patients", active, "rows")
    result.add("plain batched insert rows/s", round(plain.rows_per_s, 1), "rows/s", note=plain.describe())
    if drained.rows_per_s is None:
        result.add("projector ÷ plain insert", None, "", ">= 0.5", note=f"missing: {drained.note}")
    else:
        result.add("projector rows/s, the snapshot waiting", round(drained.rows_per_s, 1), "rows/s")
        result.add(
            "projector ÷ plain insert",
            round(drained.rows_per_s / plain.rows_per_s, 3),
            "",
            ">= 0.5",
            note=f"{drained.note}; {BACKLOG_ORG}'s run, published with the projector stopped",
        )
        with_contacts = round(drained.rows_per_s / both.rows_per_s, 3)
        result.add("projector ÷ plain insert with the contacts", with_contacts, "", note="for comparison")
        _cpu_in_window(result, drain_timeline, drained, plain.rows_per_s, "the projector draining")
    if piped.rows_per_s is None:
        result.add("pipeline: projector ÷ plain insert", None, "", note=f"missing: {piped.note}")
    else:
        result.add(
            "pipeline: projector ÷ plain insert",
            round(piped.rows_per_s / plain.rows_per_s, 3),
            "",
            note=f"{piped.rows_per_s:,.0f} rows/s, {piped.note}; consuming while cliniko-sync publishes",
        )
        _cpu_in_window(result, timeline, piped, plain.rows_per_s, "the pipeline")
    result.add(
        "requests of an unchanged re-run",
        int(rerun_stats["requests"]),
        "req",
        "<= 5",
        # The account's data is unchanged, but its clock is not: an upcoming visit that has started
        # since can make a patient active whose details the re-run must fetch (one more /patients).
        note=f"run {rerun['status']}, kind {rerun['counts'].get('kind')}, active patients "
        f"{active} → {rerun['counts'].get('active_patients')}; "
        + ", ".join(f"{e} {n}" for e, n in sorted(rerun_stats.get("by_endpoint", {}).items())),
    )


def _pages(n: int) -> int:
    return math.ceil(n / 100) if n else 0


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0

    async def loop(self) -> None:
        while True:
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            await asyncio.sleep(0.05)


async def _record_counts(sbx: httpx.AsyncClient) -> dict[str, int]:
    for account in (await sbx.get("/accounts")).json()["accounts"]:
        if account["key"] == KEY:
            return {k: int(v) for k, v in account["counts"].items()}
    raise RuntimeError(f"the sandbox has no account {KEY}")


async def _window_start(sbx: httpx.AsyncClient) -> str:
    from datetime import datetime, timedelta

    now = datetime.fromisoformat((await sbx.get("/clock")).json()["now"].replace("Z", "+00:00"))
    return (now - timedelta(days=WINDOW_DAYS)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _total(api: httpx.AsyncClient, resource: str, filters: list[str]) -> int:
    body = await _get(
        api, f"/{resource}", httpx.QueryParams([*(("q[]", f) for f in filters), ("per_page", "1")])
    )
    return int(body["total_entries"])


async def _get(api: httpx.AsyncClient, url: str, params: httpx.QueryParams | None = None) -> Any:
    """A GET that waits out the sandbox's limit (the floor's probes run after the measured runs)."""
    while True:
        r = await api.get(url, params=params)
        if r.status_code != 429:
            r.raise_for_status()
            return r.json()
        await asyncio.sleep(max(0.1, float(r.headers.get("X-RateLimit-Reset", 0)) - time.time()))


async def _class_attendee_pages(api: httpx.AsyncClient) -> int:
    """Σ over the sync's batches of classes of max(1, ⌈the batch's attendees (all states)/100⌉)."""
    from practice_sync_cliniko_sync.service.cliniko_api import ATTENDEE_STARS, class_batches

    ids: list[str] = []
    url: str | None = "/group_appointments"
    params: httpx.QueryParams | None = httpx.QueryParams([("q[]", "archived_at:*"), ("per_page", "100")])
    while url is not None:
        body = await _get(api, url, params)
        ids += [str(g["id"]) for g in body["group_appointments"]]
        url, params = body["links"].get("next"), None
    pages = 0
    for batch in class_batches(ids):
        n = await _total(api, "attendees", ["appointment_id:=" + ",".join(batch), *ATTENDEE_STARS])
        pages += max(1, math.ceil(n / 100))
    return pages


async def _request(c: httpx.AsyncClient, org: str, mode: str) -> str:
    r = await c.post("/admin/syncs", json={"org_id": org, "mode": mode})
    r.raise_for_status()
    return str(r.json()["run_id"])


async def _wait(
    c: httpx.AsyncClient, run_id: str, near_end: tuple[Callable[[], None], int] | None = None
) -> dict[str, Any]:
    """The run once finished; `near_end` = (call, requests): the call is made once, when the run has
    made that many requests (or finishes). Not from the run's pages left: `pages_total` counts only
    the lists begun, so early in the run (the window first) it was always near, and the timeline's
    pass over the process table every 50 ms took a sixth of a core for the whole crawl."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        r = await c.get(f"/admin/syncs/{run_id}")
        if r.status_code == 200:
            body: dict[str, Any] = r.json()
            progress = body.get("progress") or {}
            finished = body["status"] in ("succeeded", "failed")
            if near_end is not None and ((progress.get("requests") or 0) >= near_end[1] or finished):
                near_end[0]()
                near_end = None
            if finished:
                return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} did not finish in {RUN_TIMEOUT_S:.0f}s")
        await asyncio.sleep(0.25)


def _cpu_in_window(
    result: BenchResult, timeline: CpuTimeline, projected: Projected, plain_rps: float, label: str
) -> None:
    """Where the CPU went while the projector wrote a run's rows, and what that work per row allows at
    most: with every core busy with it and nothing else, cores ÷ (CPU per row) rows/s. In the
    pipeline cliniko-sync, still publishing the snapshot, shares the cores with the projector."""
    used = timeline.used(*projected.window)
    span = projected.window[1] - projected.window[0]
    if not used or projected.rows == 0:
        result.add(f"{label}: CPU per row", None, "µs", note="not sampled")
        return
    per_row = {name: 1e6 * secs / projected.rows for name, secs in used.items()}
    cores = os.cpu_count() or 1
    total = sum(per_row.values())
    split = ", ".join(f"{name} {us:.0f}" for name, us in per_row.items())
    busy = sum(used.values()) / span
    result.add(f"{label}: CPU per row", round(total, 1), "µs", note=split)
    result.add(f"{label}: cores busy", round(busy, 2), "", note=f"of {cores}")
    ceiling = cores / (total / 1e6) / plain_rps
    result.add(
        f"{label}: ÷ plain insert at most, with that work",
        round(ceiling, 3),
        "",
        note=f"{cores} cores fully used: {cores / (total / 1e6):,.0f} rows/s",
    )


@dataclass(frozen=True)
class Projected:
    rows_per_s: float | None
    note: str
    window: tuple[float, float] = (0.0, 0.0)  # first_seen_at, completed_at (epoch seconds)
    rows: int = 0


async def _settle(db_url: str) -> None:
    """Vacuum and analyze now what a sync's 550,000 mirrored records would have autovacuum do during
    the projector's window (seen: Postgres at twice its CPU per row), then wait for autovacuum to be
    idle, so the window holds the projector's own work, as the plain insert's does."""
    import asyncpg

    conn = await asyncpg.connect(db_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await conn.execute("VACUUM (ANALYZE)")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            busy = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
            )
            if not busy:
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def _projector_rate(db_url: str, org: str, run_id: str) -> Projected:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(db_url)
    deadline = time.monotonic() + 300
    try:
        while True:
            async with engine.connect() as conn:
                row = (
                    await conn.execute(
                        text(
                            "SELECT status, seen_count, EXTRACT(EPOCH FROM first_seen_at), "
                            "EXTRACT(EPOCH FROM completed_at) "
                            "FROM projector.snapshot_runs WHERE organization_id = :o AND run_id = :r "
                            "AND completed_at IS NOT NULL"
                        ),
                        {"o": org, "r": uuid.UUID(run_id)},
                    )
                ).first()
            if row is not None:
                status, seen, first, done = str(row[0]), int(row[1]), float(row[2]), float(row[3])
                secs = done - first
                note = f"{seen} rows in {secs:.2f}s, snapshot {status}"
                return Projected(seen / max(secs, 1e-6), note, (first, done), seen)
            if time.monotonic() > deadline:
                return Projected(None, "the projector did not complete the run's snapshot within 300 s")
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()
