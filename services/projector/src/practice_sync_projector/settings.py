"""Settings of the projector service (environment variables, upper case)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from practice_sync_common.settings import CommonSettings


class Settings(CommonSettings):
    service_name: str = "projector"
    http_port: int = 8005
    # Largest batch of active_patients.computed messages projected in one transaction.
    projector_batch_max_records: int = Field(default=1000, ge=1, le=10_000)
    # Broker-side wait of the snapshot consumer's fetches. A snapshot fills one partition (one org);
    # a long poll held open on the idle ones kept the client from refetching that partition once its
    # buffer ran dry: the default 500 ms cost a 130-200 ms stall every ~700 records (measured).
    projector_snapshot_fetch_max_wait_ms: int = Field(default=50, ge=1, le=5000)
    # Secret behind the org-scoped read tokens (HMAC of the org id). Empty: derived from the admin
    # token, so a stack has working read tokens without configuring one more secret.
    projector_read_token_secret: SecretStr = SecretStr("")
