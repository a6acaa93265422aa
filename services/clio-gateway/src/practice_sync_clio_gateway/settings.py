"""Settings of the clio-gateway service (environment variables, upper case)."""

from __future__ import annotations

from pydantic import Field

from practice_sync_common.settings import CommonSettings


class Settings(CommonSettings):
    service_name: str = "clio-gateway"
    http_port: int = 8003
    # Where Clio must deliver webhooks: the public address of webhook-ingest.
    webhook_ingest_public_url: str = "http://127.0.0.1:8002"
    # This gateway's public address: the custom action's target_url is built on it.
    gateway_public_url: str = "http://127.0.0.1:8003"
    # Where a verified custom-action click lands (`?contact_id=` is appended).
    smart_intake_dashboard_url: str = "http://127.0.0.1:3000/dashboard"
    custom_action_label: str = "Open Smart Intake"
    clio_api_version: str = "4.0.12"
    # Clio's documented peak limit per access token; response headers correct it at run time.
    clio_rate_limit: int = Field(default=50, ge=1)
    clio_page_limit: int = Field(default=200, ge=1, le=200)
    clio_timeout_s: float = Field(default=30.0, gt=0)
    # Clio allows 31 days at most; renew when less than `webhook_renew_before_s` is left.
    webhook_ttl_s: int = Field(default=30 * 86400, ge=60, le=31 * 86400)
    webhook_renew_before_s: int = Field(default=7 * 86400, ge=0)
    # How far an incremental run reaches back before the high-water mark (clock skew, inclusive bounds).
    incremental_overlap_s: int = Field(default=120, ge=0)
    # A running sync whose heartbeat is older than this belonged to a dead process and is resumed.
    sync_stale_after_s: float = Field(default=60.0, gt=0)
    # The reconcile job: ensure custom actions and webhooks for every connected org, renew, resume.
    # 0 turns it off.
    reconcile_interval_s: float = Field(default=300.0, ge=0)
    # Between rounds, orgs connected since the last one are reconciled within this many seconds
    # (one credentials call per check). 0 = only at rounds.
    reconcile_new_orgs_interval_s: float = Field(default=5.0, ge=0)
