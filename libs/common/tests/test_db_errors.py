"""A failing statement's error must not carry the values it was given (they may be secrets)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from practice_sync_common.db import make_engine


async def test_a_failing_statement_does_not_print_its_parameters(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with pytest.raises(DBAPIError) as failed:
            async with engine.begin() as conn:
                # Fails in Postgres (not while binding), where the value is not part of the message.
                await conn.execute(text("SELECT CAST(:v AS text), 1 / 0"), {"v": "sk_live_abc123"})
        assert "division by zero" in str(failed.value)
        assert "sk_live_abc123" not in str(failed.value)
        assert "hidden due to hide_parameters" in str(failed.value)  # says so instead
    finally:
        await engine.dispose()
