"""Settings of the clio-gateway service (environment variables, upper case)."""

from __future__ import annotations

from practice_sync_common.settings import CommonSettings


class Settings(CommonSettings):
    service_name: str = "clio-gateway"
    http_port: int = 8003
    # Where Clio must deliver webhooks: the public address of webhook-ingest.
    webhook_ingest_public_url: str = "http://127.0.0.1:8002"
