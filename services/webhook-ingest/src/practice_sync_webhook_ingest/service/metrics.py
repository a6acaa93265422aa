"""What webhook-ingest counts: every delivery by provider and outcome."""

from __future__ import annotations

from prometheus_client import Counter

DELIVERIES = Counter(
    "webhook_ingest_deliveries_total",
    "Webhook requests received, by outcome "
    "(accepted, handshake, bad_signature, missing_signature, not_json, unavailable)",
    ["provider", "outcome"],
)
