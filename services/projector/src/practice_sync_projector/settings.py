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
    # Larger than one fetch holds (8 MiB of ~1 KB snapshot records), so a batch takes the whole fetch:
    # aiokafka fetches a partition again only once its buffer is empty, and at 5,000 a batch that left
    # the buffer not yet seen empty held the next fetch back until the batch was done (70-120 ms idle).
    projector_batch_max_records: int = Field(default=10_000, ge=1, le=10_000)
    # Bytes one fetch may bring of a partition: a snapshot's records are about 1 KB each, and the
    # client's default (1 MiB) cut every batch to about a thousand whatever the setting above.
    projector_snapshot_partition_fetch_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    # Broker-side wait of the snapshot consumer's fetches. A snapshot fills one partition (one org);
    # a long poll held open on the idle ones holds the client's one fetch slot to the broker, so the
    # busy partition's next fetch waits behind it: the default 500 ms cost a 130-200 ms stall every
    # ~700 records; 50 ms still cost up to 50 between two batches (measured). 20 is what the
    # latency-bound consumers use (`KAFKA_LIVE_FETCH_MAX_WAIT_MS`).
    projector_snapshot_fetch_max_wait_ms: int = Field(default=20, ge=1, le=5000)
    # Secret behind the org-scoped read tokens (HMAC of the org id). Empty: derived from the admin
    # token, so a stack has working read tokens without configuring one more secret.
    projector_read_token_secret: SecretStr = SecretStr("")
