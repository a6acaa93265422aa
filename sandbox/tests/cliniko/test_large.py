"""The large clinic of providers/cliniko.md §8: 50k patients, 500k appointments."""

from __future__ import annotations

import time
from typing import Any

import psutil
import pytest

from practice_sync_sandbox._kit.runner import ServerThread
from practice_sync_sandbox.cliniko.app import create_app

from .conftest import KEY, api_client, make_config


@pytest.mark.slow
def test_large_account_is_quick_small_and_pages_fast() -> None:
    started = time.perf_counter()
    app = create_app(make_config(api_keys=[f"{KEY}=50000:500000"], frozen=False))
    with ServerThread(app) as s, api_client(s.url) as c:
        first = c.get("/v1/individual_appointments", params={"per_page": 1, "q[]": "archived_at:*"})
        ready = time.perf_counter() - started
        assert first.status_code == 200
        assert ready < 60, f"large account took {ready:.1f}s"
        rss = psutil.Process().memory_info().rss
        assert rss < 1.5 * 2**30, f"RSS {rss / 2**20:.0f} MiB"

        params: dict[str, Any] = {
            "q[]": ["starts_at:>=2025-04-02T00:00:00Z", "cancelled_at:*", "archived_at:*"],
            "sort": "starts_at",
            "per_page": 100,
        }
        t0 = time.perf_counter()
        body = c.get("/v1/individual_appointments", params=params).json()
        first_page = time.perf_counter() - t0
        total = body["total_entries"]
        assert total > 20_000
        pages, t1 = 1, time.perf_counter()
        while "next" in body["links"] and pages < 60:
            body = c.get(body["links"]["next"]).json()
            pages += 1
        per_page = (time.perf_counter() - t1) / (pages - 1)
        assert first_page < 5, f"first filtered page took {first_page:.2f}s"
        assert per_page < 0.1, f"following pages took {per_page * 1000:.0f} ms each"

        pid = body["individual_appointments"][0]["patient"]["links"]["self"].rsplit("/", 1)[1]
        t2 = time.perf_counter()
        for _ in range(20):
            c.get("/v1/individual_appointments", params={"q[]": f"patient_id:={pid}", "per_page": 1})
        assert (time.perf_counter() - t2) / 20 < 0.1
        print(
            f"\nlarge account: ready {ready:.1f}s, RSS {rss / 2**20:.0f} MiB, first filtered page "
            f"{first_page * 1000:.0f} ms, next pages {per_page * 1000:.1f} ms, {total} rows in window"
        )
