"""The three connections the snapshot consumer works its batches on, held from batch to batch.

- `writer` holds each batch's transaction (`begin` / `commit` / `rollback`), as the RLS role;
- `reader` loads match candidates, statement by statement;
- `contacts` makes new contacts, statement by statement, each committed at once.

Reader and contacts run as the RLS role for the whole time they are held (`SET ROLE`; the org with
`scoped.enter_org_raw`), so a statement costs them one round trip: on a bulk load
every extra round trip was a wait behind the parsing that overlaps them. Checked out per batch,
with the pool's ping and the session set-up each time, they cost a tenth of a 4,000-record batch
(measured). `close` gives them back to the pool as they came (or discards one it cannot reset),
after a failed batch too, so a broken connection is never kept.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from practice_sync_common.logging import get_logger
from practice_sync_projector.repository.scoped import ROLE

log = get_logger(__name__)


class Lane:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._stack: AsyncExitStack | None = None
        self._pooled: list[AsyncConnection] = []
        self.writer: Any = None
        self.reader: Any = None
        self.contacts: Any = None

    @property
    def open(self) -> bool:
        return self._stack is not None

    async def start(self) -> None:
        stack = AsyncExitStack()
        try:
            for name in ("writer", "reader", "contacts"):
                pooled = await stack.enter_async_context(self.engine.connect())
                self._pooled.append(pooled)
                setattr(self, name, (await pooled.get_raw_connection()).driver_connection)
            await self.reader.execute(f"SET ROLE {ROLE}; SET enable_seqscan = off")
            await self.contacts.execute(f"SET ROLE {ROLE}")
        except BaseException:
            self._pooled.clear()
            await stack.aclose()
            raise
        self._stack = stack

    async def begin(self) -> None:
        # One round trip: the batch's transaction, as the RLS role, with generic plans allowed
        # (`active_patients.prefer_generic_plans` says why).
        await self.writer.execute(f"BEGIN; SET LOCAL ROLE {ROLE}; SET LOCAL plan_cache_mode = auto")

    async def commit(self) -> None:
        await self.writer.execute("COMMIT")

    async def close(self) -> None:
        if self._stack is None:
            return
        stack, self._stack = self._stack, None
        pooled, self._pooled = self._pooled, []
        for conn, session in zip((self.writer, self.reader, self.contacts), pooled, strict=True):
            try:
                if conn.is_in_transaction():
                    await conn.execute("ROLLBACK")
                await conn.execute("RESET ROLE; RESET enable_seqscan; RESET app.org_id")
            except Exception as exc:  # broken or busy: not fit to go back to the pool
                log.warning("snapshot connection discarded", error=type(exc).__name__)
                await session.invalidate()
        self.writer = self.reader = self.contacts = None
        await stack.aclose()
