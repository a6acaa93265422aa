"""Admin-facing credential bodies: metadata only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from practice_sync_credentials.repository.credentials import CredentialRow


class PutCredential(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(default=None, max_length=512, description="Cliniko API key")
    api_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Cliniko base URL; derived from the key's shard when omitted",
    )
    validate_now: bool = Field(
        default=True, alias="validate", description="ask the provider whether the key works before storing it"
    )


class CredentialOut(BaseModel):
    org_id: str
    provider: str
    kind: str
    name: str
    status: str
    status_message: str
    key_id: str
    hint: str
    api_url: str | None
    metadata: dict[str, Any]
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_validated_at: datetime | None

    @classmethod
    def of(cls, row: CredentialRow) -> CredentialOut:
        api_url = row.meta.get("api_url")
        return cls(
            org_id=row.org_id,
            provider=row.provider,
            kind=row.kind,
            name=row.name,
            status=row.status,
            status_message=row.status_message,
            key_id=row.key_id,
            hint=row.hint,
            api_url=str(api_url) if api_url else None,
            metadata=row.meta,
            expires_at=row.expires_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            last_validated_at=row.last_validated_at,
        )


class CredentialList(BaseModel):
    credentials: list[CredentialOut]


class DeleteOut(BaseModel):
    org_id: str
    provider: str
    deleted: int
    revoked: bool | None = Field(description="Clio only: whether the grant was revoked at Clio")
    message: str
