from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class KeyOut(BaseModel):
    kid: str
    fingerprint: str
    current: bool
    rows: int


class KeysOut(BaseModel):
    current_kid: str
    keys: list[KeyOut]
    # Rows sealed under kids the ring no longer has (should be empty; else they cannot be read).
    unknown_kids: dict[str, int]


class RewrapOut(BaseModel):
    state: str
    target_kid: str
    total: int
    rewrapped: int
    skipped: int
    failed: int
    remaining: int
    errors: list[str]
    started_at: datetime | None
    finished_at: datetime | None
