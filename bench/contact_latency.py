"""Contact change latency: a change in the Clio sandbox → its `contact.synced` event → its row in
`public.contacts`, p50/p99 over 1,000 changes.

Set-up (loopback, free ports): embedded Postgres and broker; the Clio sandbox as a subprocess with
http loopback webhooks allowed (`--allow-http-webhooks`; deliveries are sent at once), credentials,
webhook-ingest, clio-gateway (reconcile job off) and, when it starts, the projector, as subprocesses.
The org is connected by OAuth; the gateway's ensure flow (`POST /admin/clio/{org}/webhooks`) creates
the subscription (handshake answered by the ingest); a first full sync fills the read model.

Each change is a control-API `PATCH /_sandbox/accounts/demo-law/contacts/{id}` (a new last name),
sent one at a time, `GAP_S` apart. t0 = just before the PATCH is sent; t1 = when a consumer of
`contact.synced` (assigned to every partition, no group) sees the event with that last name; t2 = when
the row in `public.contacts` shows it (polled every 2 ms on a separate connection, so t2 has ~2 ms of
polling granularity). Target: p99 (t1 - t0) ≤ 300 ms, and the same for the row when the projector runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from typing import Any

import httpx

from bench.report import BenchResult

CHANGES = int(os.environ.get("BENCH_CONTACT_CHANGES", "1000"))
GAP_S = 0.02


def run() -> BenchResult:
    from practice_sync_clio_gateway.benchmarking import BenchStack, new_org

    result = BenchResult("contact_latency", params={"changes": CHANGES, "gap_s": GAP_S})
    with BenchStack("latency") as stack:
        sandbox = stack.clio_sandbox("--allow-http-webhooks", "--contacts", "300")
        stack.service("credentials")
        ingest = stack.service("webhook-ingest")
        stack.service(
            "clio-gateway", RECONCILE_INTERVAL_S="0", WEBHOOK_INGEST_PUBLIC_URL=ingest, CLIO_RATE_LIMIT="50"
        )
        projector = True
        try:
            stack.service("projector")
        except Exception as exc:  # the projector is optional here: the event latency stands alone
            projector = False
            result.params["projector"] = f"not started: {type(exc).__name__}"
        org = new_org("bench-lat")
        stack.connect_clio(org)
        with stack.admin("clio-gateway") as gw:
            hook = gw.post(f"/admin/clio/{org}/webhooks")
            assert hook.status_code == 200 and hook.json()["status"] == "enabled", hook.text
            r = gw.post("/admin/syncs", json={"org_id": org, "mode": "full"})
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]
            for _ in range(600):
                if gw.get(f"/admin/syncs/{run_id}").json()["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.1)
        ids = [
            c["id"] for c in httpx.get(f"{sandbox}/_sandbox/accounts/demo-law/contacts/export").json()["data"]
        ]
        events, rows = asyncio.run(
            _measure(stack.bootstrap, stack.database_url, sandbox, org, ids, projector)
        )
    _figures(result, "contact.synced", events, target=True)
    if projector:
        _figures(result, "public.contacts row", rows, target=True)
    return result


def _figures(result: BenchResult, what: str, values: list[float | None], target: bool) -> None:
    from practice_sync_clio_gateway.benchmarking import percentile

    seen = [v for v in values if v is not None]
    result.add(f"changes seen as {what}", len(seen), "", f">= {CHANGES}")
    if not seen:
        return
    result.add(f"change → {what} p50", round(percentile(seen, 50) * 1000, 1), "ms")
    result.add(
        f"change → {what} p99", round(percentile(seen, 99) * 1000, 1), "ms", "<= 300" if target else ""
    )
    result.add(f"change → {what} max", round(max(seen) * 1000, 1), "ms")


async def _measure(
    bootstrap: str, database_url: str, sandbox: str, org: str, ids: list[int], projector: bool
) -> tuple[list[float | None], list[float | None]]:
    import asyncpg  # type: ignore[import-untyped]

    from practice_sync_common import topics
    from practice_sync_webhook_ingest.testing import watch

    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(dsn) if projector else None
    events: list[float | None] = []
    rows: list[float | None] = []
    async with watch(bootstrap, topics.CONTACT_SYNCED) as watcher, httpx.AsyncClient(base_url=sandbox) as c:
        for i in range(CHANGES):
            cid = ids[i % len(ids)]
            name = f"Lat{uuid.uuid4().hex[:10]}"
            t0 = time.perf_counter()
            r = await c.patch(f"/_sandbox/accounts/demo-law/contacts/{cid}", json={"last_name": name})
            r.raise_for_status()
            t1 = await _event(watcher, org, name, t0)
            events.append(t1)
            rows.append(
                await _row(conn, org, str(cid), name, t0) if conn is not None and t1 is not None else None
            )
            await asyncio.sleep(GAP_S)
    if conn is not None:
        await conn.close()
    return events, rows


async def _event(watcher: Any, org: str, name: str, t0: float, timeout_s: float = 5.0) -> float | None:
    deadline = t0 + timeout_s
    while time.perf_counter() < deadline:
        for e in watcher.seen:
            if e["org_id"] == org and e["data"].get("last_name") == name:
                watcher.seen.clear()
                return time.perf_counter() - t0
        batches = await watcher._consumer.getmany(timeout_ms=5)
        for records in batches.values():
            for record in records:
                event = json.loads(record.value)
                if event["org_id"] == org and event["data"].get("last_name") == name:
                    watcher.seen.clear()
                    return time.perf_counter() - t0
    return None


async def _row(
    conn: Any, org: str, provider_id: str, name: str, t0: float, timeout_s: float = 5.0
) -> float | None:
    deadline = t0 + timeout_s
    while time.perf_counter() < deadline:
        found = await conn.fetchval(
            "SELECT 1 FROM public.contacts WHERE organization_id = $1 AND last_name = $2", org, name
        )
        if found:
            return time.perf_counter() - t0
        await asyncio.sleep(0.002)
    return None
