"""A 100,000-contact full Clio sync: requests ÷ minimum, achieved rate ÷ allowed rate, 429s, wall time.

Set-up (loopback, free ports): embedded Postgres and broker; the Clio sandbox as a subprocess with an
account `bench-firm` of 100,000 contacts; credentials and clio-gateway as subprocesses, the gateway's
budget seeded to the sandbox's limit (`CLIO_RATE_LIMIT`) and its reconcile job off; each org connected
by OAuth through credentials. Two full syncs through the gateway's admin API (`POST /admin/syncs`),
each timed until it succeeds:

1. **paced** — the per-token limit raised from Clio's documented 50 to `LIMIT` requests per 60 s
   (300 by default: the run then spans more than one window, so the window cap is really tested).
   Figures: requests ÷ minimum, achieved rate ÷ allowed rate, 429s, peak requests in any 60 s window.
2. **capacity** — the same sync for a second org with the limit at `CAPACITY_LIMIT` (3,000/min, set
   through the sandbox's control API; the gateway's budget follows from `X-RateLimit-Limit`), to
   show how far above the paced rate the gateway could go. Informational.

- minimum requests = ceil(contacts / 200) contact pages; a full sync makes no other Clio call
  (the token comes from credentials, not Clio). A ratio above 1 means retries or re-read pages.
- achieved rate = the sandbox's count of the account's requests ÷ the run's wall time (first claim to
  success); allowed rate = limit / 60 s. A run shorter than a window may pass 1.0 by its initial
  burst (allowed by a fixed window); the peak-per-window figure is the safety check.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import httpx

from bench.report import BenchResult

CONTACTS = int(os.environ.get("BENCH_CLIO_CONTACTS", "100000"))
LIMIT = int(os.environ.get("BENCH_CLIO_RATE_LIMIT", "300"))
CAPACITY_LIMIT = int(os.environ.get("BENCH_CLIO_CAPACITY_LIMIT", "3000"))
PAGE = 200
ACCOUNT = "bench-firm"


def run() -> BenchResult:
    from practice_sync_clio_gateway.benchmarking import BenchStack

    result = BenchResult(
        "clio_sync",
        params={"contacts": CONTACTS, "rate_limit_per_min": LIMIT, "capacity_limit_per_min": CAPACITY_LIMIT},
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
        run, wall, account = _sync(stack, sandbox, "bench-sync")
        requests = int(account.get("requests", run["progress"]["requests"]))
        throttled = int(account.get("throttled_429", 0))
        allowed = LIMIT / 60.0
        result.params["sandbox_stats"] = account
        result.add("contacts published", run["counts"].get("published"), "", f"== {CONTACTS}")
        result.add(
            "requests (sandbox count)", requests, "", note=f"gateway counted {run['progress']['requests']}"
        )
        result.add(
            "requests ÷ minimum", round(requests / minimum, 4), "", "<= 1.02", note=f"minimum {minimum}"
        )
        result.add("achieved rate", round(requests / wall, 2), "req/s", note=f"allowed {allowed:.2f} req/s")
        result.add("achieved ÷ allowed rate", round(requests / wall / allowed, 3), "", ">= 0.9")
        result.add(
            "429s (sandbox)", throttled, "", "== 0", note=f"gateway saw {run['progress']['throttled_429']}"
        )
        result.add("peak requests in any 60 s window", account.get("peak_in_window"), "", f"<= {LIMIT}")
        result.add("wall time", round(wall, 2), "s")

        httpx.post(
            f"{sandbox}/_sandbox/rate_limit", json={"limit": CAPACITY_LIMIT}, timeout=30
        ).raise_for_status()
        run, wall, account = _sync(stack, sandbox, "bench-capacity")
        requests = int(account.get("requests", run["progress"]["requests"]))
        result.add(
            f"capacity: achieved rate at {CAPACITY_LIMIT}/min",
            round(requests / wall, 2),
            "req/s",
            note=f"÷ allowed {requests / wall / (CAPACITY_LIMIT / 60.0):.3f}; "
            f"{CONTACTS / wall:.0f} contacts/s; 429s {account.get('throttled_429', 0)}",
        )
        result.add(f"capacity: wall time at {CAPACITY_LIMIT}/min", round(wall, 2), "s")
    return result


def _sync(stack: Any, sandbox: str, name: str) -> tuple[dict[str, Any], float, dict[str, Any]]:
    """Connect a new org to the bench account and run one full sync; (run, wall seconds, sandbox stats)."""
    from practice_sync_clio_gateway.benchmarking import new_org

    org = new_org(name)
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
    return run, _seconds(run["started_at"], run["finished_at"]), stats["accounts"].get(ACCOUNT, {})


def _seconds(start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
