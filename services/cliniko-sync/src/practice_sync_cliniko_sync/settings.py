"""Settings of the cliniko-sync service (environment variables, upper case)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from practice_sync_common.settings import CommonSettings


class Settings(CommonSettings):
    service_name: str = "cliniko-sync"
    http_port: int = 8004
    # Cliniko requires "Name (email)"; requests without it may be blocked.
    cliniko_user_agent: str = "practice-sync (ops@practice-sync.invalid)"
    # Cliniko's documented limit per API key, paced proactively (never meet a 429 in steady state).
    cliniko_rate_limit_per_min: int = Field(default=200, ge=1)
    cliniko_per_page: int = Field(default=100, ge=1, le=100)
    # A full run reads a large list as this many `links.next` chains at once (time ranges of
    # `starts_at`, or batches of classes), so a chain's latency does not cap the run's rate below
    # the budget's; the budget paces them all together. Patient details by id and per-patient
    # counts are this many requests in flight too.
    cliniko_crawl_chains: int = Field(default=4, ge=1, le=16)
    # A list is cut into time ranges of about this many pages at least: each range may end on a
    # part page, one request more than one chain would make.
    cliniko_range_min_pages: int = Field(default=50, ge=1)
    active_window_days: int = Field(default=60, ge=1, le=3650)
    # "exclude": a did-not-arrive appointment neither makes a patient active nor counts anywhere;
    # "count": it counts like an attended one.
    did_not_arrive: Literal["exclude", "count"] = "exclude"
    # How a first (full) run gets all-time totals: "auto" picks the cheaper in requests per org
    # (crawl the history before the window, or one count request per active patient).
    cliniko_totals_method: Literal["auto", "history_crawl", "per_patient_counts"] = "auto"
    # A full run's high-water marks are its start on Cliniko's clock less this much (see
    # RunExecutor._crawl_start): the first delta re-reads what changed in this span, harmlessly.
    cliniko_mark_margin_s: int = Field(default=60, ge=0, le=86_400)
    # Publishes sync.requested for every Cliniko org this often; 0 turns the scheduler off.
    schedule_interval_s: float = Field(default=0, ge=0)
    # A running run without a heartbeat this long belonged to a dead worker and is resumed.
    run_stale_after_s: float = Field(default=60, gt=0)
    resume_scan_interval_s: float = Field(default=5, gt=0)
    run_max_attempts: int = Field(default=3, ge=1, le=20)
    run_retry_backoff_s: float = Field(default=30, ge=0)
    max_concurrent_runs: int = Field(default=4, ge=1, le=64)
    provider_max_attempts: int = Field(default=6, ge=1, le=20)
    provider_backoff_base_s: float = Field(default=0.5, ge=0)
