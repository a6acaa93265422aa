"""Settings the session's gateway runs with in tests (see cli testing_stack.clio_gateway_service)."""

from __future__ import annotations

from typing import Any


def gateway_overrides(stack: Any, port: int) -> dict[str, Any]:
    return {
        "webhook_ingest_public_url": stack.urls["webhook-ingest"],
        "gateway_public_url": f"http://127.0.0.1:{port}",
        "smart_intake_dashboard_url": "http://intake.test/dashboard",
        "reconcile_interval_s": 0,  # tests drive reconcile through the admin API
        "clio_rate_limit": 50,
    }
