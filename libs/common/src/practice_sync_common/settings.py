"""Typed settings every service shares; each service subclasses to add its own."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    """Read from the environment (names in upper case), never from code.

    The defaults are the embedded stack's loopback addresses, so a service started by hand next to
    `practice-sync up` finds its database and broker without configuration.
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    service_name: str = "practice-sync"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5433/postgres"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    # Tansu (the embedded broker) has no InitProducerId, so idempotent producers must stay off there;
    # real Kafka should turn this on.
    kafka_enable_idempotence: bool = False
    kafka_session_timeout_ms: int = 6000
    kafka_heartbeat_interval_ms: int = 1000
    # How long a consumer's fetch may wait for records. On a broker that does not wake a waiting fetch
    # when records arrive (the embedded Tansu) this bounds a hop's latency, so the gateway's
    # webhook.received consumer waits less. Only there: measured with bench/contact_latency.py on
    # Tansu, a short wait on every consumer (or on the projector's contact.synced one too) held the
    # change → contact.synced time at ~230 ms, against ~85 ms with the short wait on that hop alone.
    kafka_fetch_max_wait_ms: int = Field(default=500, ge=1, le=5000)
    kafka_live_fetch_max_wait_ms: int = Field(default=20, ge=1, le=5000)
    # Processed-event claims older than this are pruned (0 keeps them forever); see idempotency.py.
    claims_retention_h: float = Field(default=168, ge=0)
    claims_prune_interval_s: float = Field(default=3600, gt=0)
    consumer_max_retries: int = Field(default=3, ge=0, le=20)
    consumer_retry_backoff_s: float = Field(default=0.2, ge=0)
    # No default: a well-known token would open every admin API. Unset, the admin APIs refuse every
    # request (`practice-sync up` generates one into .state/secrets.json).
    admin_token: SecretStr = Field(default=SecretStr(""), alias="PRACTICE_SYNC_ADMIN_TOKEN")
    # One token per calling service, "name:token,name:token": the internal API knows who is asking.
    service_tokens: SecretStr = Field(default=SecretStr(""), alias="PRACTICE_SYNC_SERVICE_TOKENS")
    # The token this service presents when it calls another service's internal API.
    service_token: SecretStr = Field(default=SecretStr(""), alias="PRACTICE_SYNC_SERVICE_TOKEN")
    credentials_url: str = "http://127.0.0.1:8001"
    log_level: str = "INFO"
    log_json: bool = True
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, v: str) -> str:
        # Users paste plain postgres URLs; the services need the asyncpg driver.
        for prefix in ("postgresql://", "postgres://"):
            if v.startswith(prefix):
                return "postgresql+asyncpg://" + v[len(prefix) :]
        return v

    def secret_values(self) -> list[str]:
        """Every secret this service was configured with, for the log scrubber: each SecretStr field,
        and each item of the "name:value,name:value" lists (service tokens, key rings)."""
        out: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if not isinstance(value, SecretStr) or not value.get_secret_value():
                continue
            raw = value.get_secret_value()
            out.append(raw)
            out += [part.partition(":")[2].strip() for part in raw.split(",") if ":" in part]
        return [v for v in out if v]

    def service_token_map(self) -> dict[str, str]:
        """{token: service name} for the internal API's callers."""
        out: dict[str, str] = {}
        raw = self.service_tokens.get_secret_value().strip()
        for part in filter(None, (p.strip() for p in raw.split(","))):
            name, sep, token = part.partition(":")
            if not sep or not name or not token:
                raise ValueError("PRACTICE_SYNC_SERVICE_TOKENS must look like 'service:token,service:token'")
            out[token] = name
        return out
