"""A 100,000-contact full Clio sync: requests ÷ minimum, achieved rate ÷ allowed rate, 429s, wall time.

Set-up (loopback, free ports): embedded Postgres and broker; the Clio sandbox as a subprocess with an
account `bench-firm` of 100,000 contacts and its per-token limit raised to `LIMIT` requests per 60 s;
credentials and clio-gateway as subprocesses, the gateway's budget seeded to the same limit
(`CLIO_RATE_LIMIT`) and its reconcile job off; the org connected by OAuth through credentials.
Then one full sync through the gateway's admin API (`POST /admin/syncs`), timed until it succeeds.

- minimum requests = ceil(100,000 / 200) = 500 contact pages; a full sync makes no other Clio call
  (the token comes from credentials, not Clio), so the fixed calls are 0. A ratio above 1 means
  retries or re-read pages.
- achieved rate = the sandbox's count of the account's requests ÷ the run's wall time (first claim to
  success); allowed rate = LIMIT / 60 s. The ratio says how much of the allowance the sync used.
- 429s: what the sandbox answered 429 to this account during the run (its stats), and the sandbox's
  peak requests in any 60 s window (must stay ≤ LIMIT).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import httpx

from bench.report import BenchResult

CONTACTS = int(os.environ.get("BENCH_CLIO_CONTACTS", "100000"))
LIMIT = int(os.environ.get("BENCH_CLIO_RATE_LIMIT", "3000"))
PAGE = 200
ACCOUNT = "bench-firm"


def run() -> BenchResult:
    from practice_sync_clio_gateway.benchmarking import BenchStack, new_org

    result = BenchResult(
        "clio_sync", params={"contacts": CONTACTS, "rate_limit_per_min": LIMIT, "page": PAGE}
    )
    minimum = math.ceil(CONTACTS / PAGE)
    with BenchStack("clio-sync") as stack:
        started = time.perf_counter()
        sandbox = stack.clio_sandbox(
            "--account", f"{ACCOUNT}:2001:{CONTACTS}", "--rate-limit", str(LIMIT), "--seed", "7"
        )
        result.add("sandbox start (setup)", round(time.perf_counter() - started, 1), "s")
        stack.service("credentials")
        stack.service(
            "clio-gateway",
            CLIO_RATE_LIMIT=str(LIMIT),
            RECONCILE_INTERVAL_S="0",
            WEBHOOK_INGEST_PUBLIC_URL="http://127.0.0.1:9",
        )
        org = new_org("bench-sync")
        stack.connect_clio(org, ACCOUNT)
        httpx.post(f"{sandbox}/_sandbox/stats/reset", timeout=30).raise_for_status()
        with stack.admin("clio-gateway") as gw:
            r = gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]
            t0 = time.perf_counter()
            while True:
                run: dict[str, Any] = gw.get(f"/admin/syncs/{run_id}").json()
                if run["status"] in ("succeeded", "failed"):
                    break
                if time.perf_counter() - t0 > 900:
                    raise TimeoutError(f"sync not finished after 15 minutes: {run['progress']}")
                time.sleep(0.2)
        if run["status"] != "succeeded":
            raise RuntimeError(f"sync failed: {run['error']}")
        stats = httpx.get(f"{sandbox}/_sandbox/stats", timeout=30).json()
    wall = _seconds(run["started_at"], run["finished_at"])
    account = stats["accounts"].get(ACCOUNT, {})
    requests = int(account.get("requests", run["progress"]["requests"]))
    throttled = int(account.get("throttled_429", 0))
    allowed = LIMIT / 60.0
    result.params["sandbox_stats"] = account
    result.add("contacts published", run["counts"].get("published"), "", f"== {CONTACTS}")
    result.add(
        "requests (sandbox count)", requests, "", note=f"gateway counted {run['progress']['requests']}"
    )
    result.add("requests ÷ minimum", round(requests / minimum, 4), "", "<= 1.02", note=f"minimum {minimum}")
    result.add("achieved rate", round(requests / wall, 2), "req/s", note=f"allowed {allowed:.1f} req/s")
    result.add("achieved ÷ allowed rate", round(requests / wall / allowed, 3), "", ">= 0.9")
    result.add(
        "429s (sandbox)", throttled, "", "== 0", note=f"gateway saw {run['progress']['throttled_429']}"
    )
    result.add("peak requests in any 60 s window", account.get("peak_in_window"), "", f"<= {LIMIT}")
    result.add("wall time", round(wall, 2), "s")
    return result


def _seconds(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
