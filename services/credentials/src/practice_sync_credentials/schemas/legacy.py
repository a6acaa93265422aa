from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LegacyRowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: str = Field(max_length=128)
    provider: str = Field(max_length=32)
    ciphertext: str = Field(max_length=65_536, description="Fernet token under CREDENTIALS_ENCRYPTION_KEY")


class LegacyImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rows: list[LegacyRowIn] = Field(max_length=1000)


class LegacyImportOut(BaseModel):
    imported: int
