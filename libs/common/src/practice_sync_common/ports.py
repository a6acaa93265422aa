"""The fixed points other tools rely on (DESIGN.md, "Fixed points"): change them only together."""

from __future__ import annotations

SERVICE_PORTS: dict[str, int] = {
    "credentials": 8001,
    "webhook-ingest": 8002,
    "clio-gateway": 8003,
    "cliniko-sync": 8004,
    "projector": 8005,
}
SANDBOX_PORTS: dict[str, int] = {"clio": 8101, "cliniko": 8102}
BROKER_PORT = 9092
POSTGRES_PORT = 5433
LOOPBACK = "127.0.0.1"
