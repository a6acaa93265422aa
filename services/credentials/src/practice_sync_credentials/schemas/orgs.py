from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from practice_sync_credentials.repository.credentials import CredentialRow
from practice_sync_credentials.repository.orgs import OrgRow


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

    @classmethod
    def of(cls, org: OrgRow, creds: list[CredentialRow]) -> OrgOut:
        # Metadata only: a row's sealed secret, hint and provider metadata stay out of the registry view.
        return cls(
            id=org.id,
            name=org.name,
            clio_region=org.clio_region,
            created_at=org.created_at,
            credentials=[
                OrgCredential(provider=c.provider, kind=c.kind, name=c.name, status=c.status) for c in creds
            ],
        )


class OrgList(BaseModel):
    orgs: list[OrgOut]
    next_after: str | None = Field(description="pass as ?after= for the next page; null on the last")
