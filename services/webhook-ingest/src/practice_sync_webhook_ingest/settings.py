"""Settings of the webhook-ingest service (environment variables, upper case)."""

from __future__ import annotations

from pydantic import Field

from practice_sync_common.settings import CommonSettings


class Settings(CommonSettings):
    service_name: str = "webhook-ingest"
    http_port: int = 8002
    # Clio deliveries are small JSON documents; anything near the limit is not one of them.
    max_body_bytes: int = Field(default=262_144, ge=1024)
    # How long fetched webhook secrets are trusted before asking credentials again.
    webhook_secret_ttl_s: float = Field(default=30.0, ge=0)
    # Past the TTL, deliveries go on with the secrets held while a fresh read runs beside them, for
    # at most this long (so a removed secret is refused at most TTL + this after its removal).
    webhook_secret_max_stale_s: float = Field(default=30.0, ge=0)
    # A signature mismatch refetches the org's secrets at most this often (a new secret works at
    # once, a flood of forged deliveries does not become a flood of credential reads).
    webhook_secret_refetch_min_s: float = Field(default=1.0, ge=0)
    # Past this, a publish counts as failed and the delivery gets 503 (the provider retries).
    publish_timeout_s: float = Field(default=5.0, gt=0)
