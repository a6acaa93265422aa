"""What the gateway's use cases share at run time (built once in main.create_app)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from practice_sync_clio_gateway.clio.client import ClioSessions
from practice_sync_clio_gateway.service.publishing import ContactPublisher
from practice_sync_clio_gateway.settings import Settings
from practice_sync_common.sync_runs import SyncRunRepository


@dataclass
class Gateway:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    broker: KafkaBroker
    clio: ClioSessions
    runs: SyncRunRepository
    contacts_out: ContactPublisher  # `contact.synced`
    # The gateway's notion of "now" for webhook expiry (creation, renewal, expiry checks). Clio
    # judges expiry by its own clock; tests replace this to follow the sandbox's clock.
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
