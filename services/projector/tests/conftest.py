"""Projector tests: the service runs for real (stack fixture); events go through the real broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from practice_sync_cli.testing_stack import Stack
from practice_sync_common.broker import make_broker
from practice_sync_common.settings import CommonSettings


@pytest.fixture(scope="session")
async def producer(kafka_bootstrap: str, database_url: str) -> AsyncIterator[KafkaBroker]:
    broker = make_broker(
        CommonSettings(
            service_name="projector-tests", kafka_bootstrap_servers=kafka_bootstrap, database_url=database_url
        )
    )
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()


@pytest.fixture(scope="session")
async def db(stack: Stack) -> AsyncIterator[AsyncEngine]:
    # The stack's services use its own database (stack.database_url), not the session's default one.
    engine = create_async_engine(stack.database_url)
    try:
        yield engine
    finally:
        await engine.dispose()
