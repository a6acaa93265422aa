"""A full Cliniko sync against a provider far away: chains side by side ÷ one chain, in one run.

Why this exists: a Cliniko list is a chain of `links.next`, so one chain makes one request per
round trip. Against the real API a round trip is the network plus Cliniko's own time; the provider
notes give no figure, so `LATENCY_MS` (150 by default: a long-haul round trip and a page of 100
records) is an assumption. The sandbox adds that delay to every answer (its `latency_ms` fault), and
its limit is `RATE_PER_MIN` (1,200: six times Cliniko's 200, to keep the run short), which a single
chain at that latency cannot reach.

Started here: an embedded Postgres and broker, the Cliniko sandbox (one account of PATIENTS patients
and APPOINTMENTS appointments), credentials, and cliniko-sync twice in turn, first with
`CLINIKO_CRAWL_CHAINS=1` (the baseline: the crawl as it was, one list at a time), then with the
service's default. Each syncs a fresh org on the same account (`mode=full`, history crawled). Figures:
each run's achieved rate ÷ the allowed rate (the sandbox's ledger: requests between the first and the
last ÷ the limit per second), its wall time and requests, and the chains' rate ÷ the one chain's.
Informational, no target: the issue's rate target is the large account's (`cliniko_sync`). Scale:
one chain carries at most 1,000 ÷ round-trip-ms requests a second, so at Cliniko's own 200/min (3.3/s)
one chain falls short once a round trip takes more than 300 ms; here both are scaled up six-fold.
On this account the window, the classes and the probes stay single chains: a few seconds of the run.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

import httpx

from bench.cliniko_sync import (
    ADMIN,
    Procs,
    _ready,
    _request,
    _wait,
    embedded_stack,
    spawn_cliniko_sync,
    spawn_credentials,
)
from bench.report import BenchResult

PATIENTS = int(os.environ.get("BENCH_CHAINS_PATIENTS", "3000"))
APPOINTMENTS = int(os.environ.get("BENCH_CHAINS_APPOINTMENTS", "30000"))
RATE_PER_MIN = int(os.environ.get("BENCH_CHAINS_RATE_PER_MIN", "1200"))
LATENCY_MS = int(os.environ.get("BENCH_CHAINS_LATENCY_MS", "150"))
KEY = "benchfarawayclinic01-au1"


def run() -> BenchResult:
    return asyncio.run(_run())


async def _run() -> BenchResult:
    result = BenchResult(
        "cliniko_chains",
        params={
            "patients": PATIENTS,
            "appointments": APPOINTMENTS,
            "rate_limit_per_min": RATE_PER_MIN,
            "latency_ms": LATENCY_MS,
        },
    )
    async with embedded_stack("bench-chains-") as (procs, pg, broker):
        await _measure(result, procs, pg.url, broker.bootstrap)
    return result


async def _measure(result: BenchResult, procs: Procs, db_url: str, bootstrap: str) -> None:
    from practice_sync_cliniko_sync.settings import Settings
    from practice_sync_common.embedded.procs import free_port, stop

    py = sys.executable
    common = {
        "DATABASE_URL": db_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "PRACTICE_SYNC_ADMIN_TOKEN": ADMIN,
        "LOG_LEVEL": "WARNING",
    }
    ports = {name: free_port() for name in ("sandbox", "credentials", "sync")}
    urls = {name: f"http://127.0.0.1:{p}" for name, p in ports.items()}
    account = ["--api-key", f"{KEY}={PATIENTS}:{APPOINTMENTS}", "--rate-limit", str(RATE_PER_MIN)]
    sandbox = procs.spawn(
        "sandbox",
        [py, "-m", "practice_sync_cli", "sandbox", "cliniko", "--port", str(ports["sandbox"]), *account],
        {},
    )
    credentials = spawn_credentials(procs, common, ports["credentials"])
    await _ready(f"{urls['sandbox']}/_sandbox/health", sandbox, "the Cliniko sandbox")
    await _ready(f"{urls['credentials']}/readyz", credentials, "credentials")
    admin = {"Authorization": f"Bearer {ADMIN}"}
    default_chains = Settings.model_fields["cliniko_crawl_chains"].default
    runs: dict[int, dict[str, Any]] = {}
    async with (
        httpx.AsyncClient(base_url=urls["credentials"], headers=admin, timeout=30) as creds,
        httpx.AsyncClient(base_url=f"{urls['sandbox']}/_sandbox", timeout=60) as sbx,
    ):
        (await sbx.post("/faults", json={"latency_ms": LATENCY_MS})).raise_for_status()
        for chains in (1, default_chains):
            org = f"bench-faraway-{chains}"
            (await creds.post("/admin/orgs", json={"id": org, "name": org})).raise_for_status()
            body = {"api_key": KEY, "api_url": f"{urls['sandbox']}/v1", "validate": False}
            (await creds.put(f"/admin/orgs/{org}/credentials/cliniko", json=body)).raise_for_status()
            sync = spawn_cliniko_sync(
                procs,
                f"cliniko-sync-{chains}",
                {**common, "CREDENTIALS_URL": urls["credentials"]},
                ports["sync"],
                CLINIKO_RATE_LIMIT_PER_MIN=str(RATE_PER_MIN),
                CLINIKO_CRAWL_CHAINS=str(chains),
                CLINIKO_TOTALS_METHOD="history_crawl",
            )
            await _ready(f"{urls['sync']}/readyz", sync, "cliniko-sync")
            await asyncio.sleep(8)  # the consumer group joins (~3 s on the embedded broker)
            (await sbx.post("/stats/reset")).raise_for_status()
            async with httpx.AsyncClient(base_url=urls["sync"], headers=admin, timeout=30) as sync_api:
                started = time.perf_counter()
                run = await _wait(sync_api, await _request(sync_api, org, "full"))
                wall = time.perf_counter() - started
            if run["status"] != "succeeded":
                raise RuntimeError(f"{org}: run ended {run['status']}: {run.get('error')}")
            stats = (await sbx.get("/stats")).json()["accounts"][KEY]
            span = max(1e-9, float(stats["last_at"]) - float(stats["first_at"]))
            runs[chains] = {"requests": int(stats["requests"]), "rate": int(stats["requests"]) / span}
            result.add(
                f"{chains} chain{'s' if chains > 1 else ''}: achieved rate ÷ allowed rate",
                round(runs[chains]["rate"] / (RATE_PER_MIN / 60), 3),
                "",
                note=f"{runs[chains]['rate']:.1f} req/s, {stats['requests']} requests, "
                f"{int(stats.get('throttled_429', 0))} 429s, wall {wall:.1f}s",
            )
            stop(sync)
    one, many = runs[1], runs[default_chains]
    result.add(
        f"{default_chains} chains ÷ 1 chain, request rate",
        round(many["rate"] / one["rate"], 3),
        "",
        note=f"{LATENCY_MS} ms a round trip; requests {many['requests']} vs {one['requests']}",
    )
