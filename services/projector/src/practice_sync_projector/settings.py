"""Settings of the projector service (environment variables, upper case)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from practice_sync_common.settings import CommonSettings


class Settings(CommonSettings):
    service_name: str = "projector"
    http_port: int = 8005
    # Largest batch of active_patients.computed messages projected in one transaction.
    projector_batch_max_records: int = Field(default=1000, ge=1, le=10_000)
    # Secret behind the org-scoped read tokens (HMAC of the org id). Empty: derived from the admin
    # token, so a stack has working read tokens without configuring one more secret.
    projector_read_token_secret: SecretStr = SecretStr("")
