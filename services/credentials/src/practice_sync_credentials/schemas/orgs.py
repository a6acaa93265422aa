from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class OrgIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=128)
    name: str | None = Field(default=None, max_length=255)
    clio_region: str | None = Field(default=None, max_length=8, description="us, eu, ca or au")


class OrgCredential(BaseModel):
    provider: str
    kind: str
    name: str
    status: str


class OrgOut(BaseModel):
    id: str
    name: str | None
    clio_region: str | None
    created_at: datetime
    credentials: list[OrgCredential] = []


class OrgList(BaseModel):
    orgs: list[OrgOut]
    next_after: str | None = Field(description="pass as ?after= for the next page; null on the last")
