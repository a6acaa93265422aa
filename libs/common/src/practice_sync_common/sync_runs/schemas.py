"""The sync-run shapes the admin API and the CLI speak."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from practice_sync_common.events import ALL_ORGS, ORG_ID_PATTERN

RunStatus = Literal["queued", "running", "succeeded", "failed"]
SyncMode = Literal["auto", "full", "incremental"]
# The credentials service's org id rule, plus "*" (every org the connector has credentials for).
ORG_OR_ALL = rf"^(\*|{ORG_ID_PATTERN})$"


class SyncProgress(BaseModel):
    """Counters a run accumulates; connectors may add their own keys (kept, shown as they are)."""

    model_config = ConfigDict(extra="allow")

    pages: int = 0
    records: int = 0
    requests: int = 0
    throttled_429: int = 0
    retries: int = 0
    phase: str | None = None
    # The connector's estimate of pages in the whole run, when it knows it (drives progress bars).
    pages_total: int | None = None


class SyncRun(BaseModel):
    run_id: UUID
    org_id: str
    provider: str
    mode: str
    reason: str
    status: RunStatus
    attempt: int
    progress: SyncProgress
    counts: dict[str, Any]
    checkpoint: dict[str, Any] | None
    error: str | None
    requested_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    next_retry_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in ("succeeded", "failed")


class SyncRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: str = Field(pattern=ORG_OR_ALL, description='an org id, or "*" for every org with credentials')
    mode: SyncMode = "auto"


class SyncRequestAccepted(BaseModel):
    run_id: UUID
    org_id: str
    provider: str
    mode: SyncMode
    status: Literal["queued"] = "queued"
    all_orgs: bool = False


class SyncRunList(BaseModel):
    runs: list[SyncRun]


def is_all_orgs(org_id: str) -> bool:
    return org_id == ALL_ORGS
