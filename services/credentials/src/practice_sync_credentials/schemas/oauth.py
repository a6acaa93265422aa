from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class StartOut(BaseModel):
    authorize_url: str
    state_expires_at: datetime
    region: str


class CallbackOut(BaseModel):
    org_id: str
    provider: str
    status: str
    message: str
