"""Internal API bodies: these do carry plaintext, and only to the services allowed for them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ClinikoSecretOut(BaseModel):
    org_id: str
    provider: str = "cliniko"
    api_key: str
    api_url: str
    shard: str
    status: str


class ClioSecretOut(BaseModel):
    org_id: str
    provider: str = "clio"
    access_token: str
    token_type: str
    expires_at: datetime | None
    api_url: str
    region: str
    status: str


class WebhookSecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str = Field(min_length=1, max_length=512)


class WebhookSecretsOut(BaseModel):
    org_id: str
    secrets: dict[str, str]


class WebhookSecretStored(BaseModel):
    org_id: str
    webhook_id: str
    hint: str


class OrgStatus(BaseModel):
    org_id: str
    status: str


class OrgsForProvider(BaseModel):
    provider: str
    orgs: list[OrgStatus]
    next_after: str | None = Field(description="pass as ?after= for the next page; null on the last")


class OrgProviderStatus(BaseModel):
    """One org's primary credential of one provider: its status, never the secret."""

    org_id: str
    provider: str
    status: str
