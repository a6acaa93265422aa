"""Prometheus metrics shared by every service (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_CONSUMED = Counter(
    "practice_sync_events_consumed_total", "Events handled by a consumer", ["topic", "outcome"]
)
EVENTS_PUBLISHED = Counter("practice_sync_events_published_total", "Events published", ["topic"])
HANDLER_RETRIES = Counter(
    "practice_sync_handler_retries_total", "Handler retries before success or DLQ", ["topic"]
)
DEAD_LETTERED = Counter(
    "practice_sync_dead_lettered_total", "Messages sent to a dead-letter topic", ["topic"]
)
HTTP_REQUESTS = Counter(
    "practice_sync_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram("practice_sync_http_request_seconds", "HTTP request latency", ["route"])
