"""Everything a Clio sandbox run can be told: accounts, sizes, limits, switches for unverified behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

# Versions the changelog lists (4.0.11 is absent from it, so it is treated as unknown → 410).
DEFAULT_API_VERSIONS: tuple[str, ...] = (
    "4.0.4",
    "4.0.5",
    "4.0.6",
    "4.0.7",
    "4.0.8",
    "4.0.9",
    "4.0.10",
    "4.0.12",
    "4.0.13",
)
ALL_SCOPES: tuple[str, ...] = ("contacts", "custom_actions", "webhooks", "users")


@dataclass(frozen=True)
class AccountSpec:
    """One Clio user and the firm data they see; every user is a separate account."""

    slug: str = "demo-law"
    user_id: int = 1001
    contacts: int = 250
    first_name: str = "Demo"
    last_name: str = "Lawyer"
    email: str = "demo@demo-law.example"

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass
class ClioSandboxConfig:
    seed: int = 1
    accounts: list[AccountSpec] = field(default_factory=lambda: [AccountSpec()])
    # Data timestamps are laid out before this pinned instant so a seed gives byte-identical responses.
    data_now: datetime = field(default_factory=lambda: datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC))

    # OAuth application
    client_id: str = "sandbox-clio-client"
    client_secret: str = "sandbox-clio-secret"
    redirect_uris: list[str] = field(default_factory=list)
    allow_loopback_redirects: bool = True
    app_scopes: tuple[str, ...] = ALL_SCOPES
    token_ttl_s: int = 2_592_000
    auth_code_ttl_s: int = 600
    # Clio reportedly omits refresh_token from a refresh response; True echoes the same (unrotated) one.
    refresh_response_includes_refresh_token: bool = False
    decline_authorizations: bool = False

    # Versioning
    default_api_version: str = "4.0.13"
    api_versions: tuple[str, ...] = DEFAULT_API_VERSIONS

    # Rate limit per access token
    rate_limit: int = 50
    rate_window_s: float = 60.0

    # Lists
    max_limit: int = 200
    offset_cap: int = 10_000
    # `updated_since`/`created_since`: inclusive (>=) is the safe reading of an unverified rule.
    since_inclusive: bool = True

    # Custom actions
    nonce_ttl_s: int = 60

    # Webhooks
    allow_http_loopback_webhooks: bool = False
    webhook_auto_enable: bool = False
    webhook_auto_enable_delay_s: float = 0.0
    webhook_handshake_delay_s: float = 0.0
    webhook_default_ttl_s: int = 3 * 86_400
    webhook_max_ttl_s: int = 31 * 86_400
    webhook_timeout_s: float = 10.0
    webhook_retry_delays_s: tuple[float, ...] = (30.0, 60.0, 120.0, 240.0, 480.0)
    # "suspend" keeps the record with status suspended; "delete" removes it.
    webhook_on_410: str = "suspend"
    # Clio watches the subscribed fields for `updated`; id/etag/timestamps change on every write, so by
    # default they are not watched (else the rule would never suppress anything).
    webhook_watch_ignores_meta_fields: bool = True

    def account(self, key: str | int) -> AccountSpec | None:
        for spec in self.accounts:
            if str(key) in (spec.slug, str(spec.user_id)):
                return spec
        return None


FAST_RETRIES: tuple[float, ...] = (0.05, 0.1, 0.2)


def fast_config(**overrides: object) -> ClioSandboxConfig:
    """A small, fast configuration for tests: http loopback hooks allowed, quick retries."""
    cfg = ClioSandboxConfig(
        accounts=[AccountSpec(contacts=25)],
        allow_http_loopback_webhooks=True,
        webhook_retry_delays_s=FAST_RETRIES,
        webhook_timeout_s=2.0,
    )
    for key, value in overrides.items():
        if not hasattr(cfg, key):
            raise AttributeError(f"ClioSandboxConfig has no {key!r}")
        setattr(cfg, key, value)
    return cfg
