"""Settings of the projector service (environment variables, upper case)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from practice_sync_common.settings import CommonSettings


class Settings(CommonSettings):
    service_name: str = "projector"
    http_port: int = 8005
    # Largest batch of active_patients.computed messages projected in one transaction. A batch's
    # first chunk is parsed and its last one written with nothing to overlap them: the larger the
    # batch, the smaller that share (1,000: 0.44 of the plain insert in-process; 5,000: 0.55).
    projector_batch_max_records: int = Field(default=5000, ge=1, le=10_000)
    # Bytes one fetch may bring of a partition: a snapshot's records are about 1 KB each, and the
    # client's default (1 MiB) cut every batch to about a thousand whatever the setting above.
    projector_snapshot_partition_fetch_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Broker-side wait of the snapshot consumer's fetches. A snapshot fills one partition (one org);
    # a long poll held open on the idle ones kept the client from refetching that partition once its
    # buffer ran dry: the default 500 ms cost a 130-200 ms stall every ~700 records (measured).
    projector_snapshot_fetch_max_wait_ms: int = Field(default=50, ge=1, le=5000)
    # Secret behind the org-scoped read tokens (HMAC of the org id). Empty: derived from the admin
    # token, so a stack has working read tokens without configuring one more secret.
    projector_read_token_secret: SecretStr = SecretStr("")
