from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    org_id: str | None
    provider: str | None
    kind: str | None
    outcome: str
    detail: str


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_before_id: int | None
