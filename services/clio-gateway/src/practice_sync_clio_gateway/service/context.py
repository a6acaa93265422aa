"""What the gateway's use cases share at run time (built once in main.create_app)."""

from __future__ import annotations

from dataclasses import dataclass

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from practice_sync_clio_gateway.clio.client import ClioSessions
from practice_sync_clio_gateway.settings import Settings
from practice_sync_common.sync_runs import SyncRunRepository


@dataclass
class Gateway:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    broker: KafkaBroker
    clio: ClioSessions
    runs: SyncRunRepository
