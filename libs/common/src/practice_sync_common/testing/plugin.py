"""pytest plugin: the embedded Postgres and broker, once per test session.

Loaded from the root pytest config. `DATABASE_URL` / `KAFKA_BOOTSTRAP_SERVERS` point the suite at an
existing Postgres / Kafka instead (that is how `make test-containers` runs it).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from practice_sync_common.embedded.procs import free_port


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url.replace("postgresql://", "postgresql+asyncpg://", 1) if "+asyncpg" not in url else url
        return
    from practice_sync_common.embedded.postgres import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="ps-pg-") as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - postgres runs as another user and must reach it
        pg = EmbeddedPostgres(Path(tmp), free_port())
        pg.start()
        try:
            yield pg.url
        finally:
            pg.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:
        import asyncio

        from practice_sync_common.broker import ensure_topics

        asyncio.run(ensure_topics(bootstrap))
        yield bootstrap
        return
    from practice_sync_common.embedded.kafka import EmbeddedBroker

    broker = EmbeddedBroker(free_port())
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_idempotence() -> bool:
    # Real Kafka (testcontainers) supports idempotent producers; the embedded Tansu does not.
    return os.environ.get("KAFKA_ENABLE_IDEMPOTENCE", "false").lower() == "true"
