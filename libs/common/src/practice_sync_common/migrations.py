"""Alembic wiring: each service keeps its own versions folder and migrates only its own schema.

One shared env.py (in `alembic_env/`) serves every service; the service's versions folder and schema
come in through the Config, so the services never carry copies of Alembic boilerplate.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

ENV_DIR = Path(__file__).parent / "alembic_env"


def alembic_config(versions_dir: Path, schema: str, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ENV_DIR))
    cfg.set_main_option("version_locations", str(versions_dir))
    cfg.set_main_option("path_separator", "os")
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["schema"] = schema
    return cfg


def _upgrade(conn: Connection, versions_dir: Path, schema: str) -> None:
    # Serialise migrations of the same schema when several replicas start at once.
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"migrate:{schema}"})
    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    cfg = alembic_config(versions_dir, schema)
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


async def upgrade_to_head(database_url: str, versions_dir: Path, schema: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, versions_dir, schema)
    finally:
        await engine.dispose()
