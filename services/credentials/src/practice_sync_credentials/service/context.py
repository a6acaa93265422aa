"""What every use case needs, built once per process and kept on `app.state.services`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from practice_sync_credentials.service.vault import Vault
from practice_sync_credentials.settings import Settings

if TYPE_CHECKING:
    from practice_sync_credentials.service.rotation import RewrapJobs


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    vault: Vault
    http: httpx.AsyncClient
    clock: Callable[[], datetime] = utcnow
    rewrap_jobs: RewrapJobs | None = field(default=None)

    def now(self) -> datetime:
        return self.clock()
