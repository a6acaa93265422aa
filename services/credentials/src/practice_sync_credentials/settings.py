"""Settings of the credentials service (environment variables, upper case)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from practice_sync_common.settings import CommonSettings


class Settings(CommonSettings):
    service_name: str = "credentials"
    http_port: int = 8001

    # "kid:base64key,kid:base64key", newest last (see domain/keyring.py). Parsed when the app is
    # built, so a missing or malformed ring stops the process before it serves anything.
    credentials_keyring: SecretStr = SecretStr("")
    # The Cliniko seed's Fernet key; only the legacy import needs it.
    credentials_encryption_key: SecretStr = SecretStr("")

    # Cliniko blocks requests without a User-Agent naming the vendor and a contact address.
    cliniko_user_agent: str = "practice-sync (ops@example.com)"
    provider_timeout_s: float = Field(default=10.0, gt=0)
    # Explicit provider API URLs may be http and name loopback/private addresses: for the local
    # sandboxes only (`make up` and the tests turn it on). Off, keys go to public https hosts only.
    credentials_allow_private_urls: bool = False

    clio_client_id: str = ""
    clio_client_secret: SecretStr = SecretStr("")
    clio_redirect_uri: str = "http://127.0.0.1:8001/oauth/clio/callback"
    # Overrides the regional host (https://{region host}) for every org: the sandbox, or a proxy.
    clio_base_url: str | None = None
    clio_default_region: str = "US"
    oauth_state_ttl_s: int = Field(default=600, ge=30)
    # Refresh Clio access tokens this long before they expire (they last 30 days).
    clio_refresh_ahead_s: int = Field(default=86_400, ge=0)
    # How often the background refresher looks for expiring tokens; 0 turns it off.
    clio_refresh_interval_s: float = Field(default=300.0, ge=0)
    # Two gateway replicas that hit a 401 together should cause one refresh, not two.
    clio_refresh_min_interval_s: float = Field(default=5.0, ge=0)
    # Expired OAuth states (abandoned flows) are deleted by the same background loop, this many per
    # transaction, until none is left.
    oauth_state_prune_batch_size: int = Field(default=1000, ge=1, le=100_000)

    rewrap_batch_size: int = Field(default=100, ge=1, le=10_000)
