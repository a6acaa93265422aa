"""Key ring operations: what is sealed under which key, the start-up check, and the rewrap."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from practice_sync_common.db import unit_of_work
from practice_sync_common.logging import get_logger
from practice_sync_credentials.repository import audit as audit_repo
from practice_sync_credentials.repository import credentials as cred_repo
from practice_sync_credentials.service.context import Services
from practice_sync_credentials.service.errors import SecretUnreadable
from practice_sync_credentials.service.vault import SecretRef

log = get_logger(__name__)


class KeyRingMismatch(RuntimeError):
    """The configured ring cannot open what the database holds: the process must not start."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    kid: str
    fingerprint: str
    current: bool
    rows: int


async def key_usage(services: Services) -> tuple[list[KeyInfo], dict[str, int]]:
    """Ring keys with their row counts, and row counts of kids the ring does not know."""
    async with unit_of_work(services.sessions) as session:
        counts = await cred_repo.count_by_kid(session)
    ring = services.vault.ring
    keys = [KeyInfo(k.kid, k.fingerprint, k.kid == ring.current.kid, counts.get(k.kid, 0)) for k in ring.keys]
    unknown = {kid: n for kid, n in counts.items() if ring.get(kid) is None}
    return keys, unknown


async def verify_ring(services: Services) -> None:
    """Open one row per key id in use, so a missing or wrong key stops the start, not the first read."""
    async with unit_of_work(services.sessions) as session:
        samples = await cred_repo.sample_per_kid(session)
    for row in samples:
        if services.vault.ring.get(row.key_id) is None:
            raise KeyRingMismatch(
                f"CREDENTIALS_KEYRING has no key {row.key_id!r}, but credentials are sealed with it "
                f"(ring has {list(services.vault.ring.kids)}); add the old entry back, then rewrap"
            )
        try:
            services.vault.open(SecretRef(row.org_id, row.provider, row.kind, row.name), row.ciphertext)
        except SecretUnreadable:
            raise KeyRingMismatch(
                f"CREDENTIALS_KEYRING key {row.key_id!r} does not open the credentials sealed with "
                f"{row.key_id!r} (different key material under the same id?)"
            ) from None


@dataclass
class RewrapProgress:
    state: str = "idle"  # idle | running | done | failed
    target_kid: str = ""
    total: int = 0
    rewrapped: int = 0
    skipped: int = 0
    failed: int = 0
    remaining: int = 0
    errors: list[str] = field(default_factory=list)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "target_kid": self.target_kid,
            "total": self.total,
            "rewrapped": self.rewrapped,
            "skipped": self.skipped,
            "failed": self.failed,
            "remaining": self.remaining,
            "errors": self.errors[:20],
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


class RewrapJobs:
    """At most one rewrap per process; its progress stays readable after it ends."""

    def __init__(self) -> None:
        self.progress = RewrapProgress()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, services: Services, actor: str, batch_size: int) -> asyncio.Task[None]:
        if self._task is not None and not self._task.done():
            return self._task
        self.progress = RewrapProgress(
            state="running", target_kid=services.vault.current_kid, started_at=services.now()
        )
        self._task = asyncio.create_task(self._run(services, actor, batch_size))
        return self._task

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, services: Services, actor: str, batch_size: int) -> None:
        p = self.progress
        try:
            await rewrap_all(services, p, batch_size)
            p.state = "done" if p.failed == 0 else "failed"
        except Exception as exc:
            p.state = "failed"
            p.errors.append(f"rewrap stopped: {type(exc).__name__}")
            log.error("rewrap stopped", error=type(exc).__name__)
        finally:
            p.finished_at = services.now()
            async with unit_of_work(services.sessions) as session:
                await audit_repo.record(
                    session,
                    actor=actor,
                    action="key.rewrap",
                    outcome=p.state,
                    detail=(
                        f"to {p.target_kid}: {p.rewrapped} rewrapped, {p.failed} failed, "
                        f"{p.remaining} remaining"
                    ),
                )


async def rewrap_all(services: Services, p: RewrapProgress, batch_size: int) -> None:
    """Move every row to the newest key, each row in its own short transaction.

    Rows locked by a concurrent writer are skipped (SKIP LOCKED) and picked up by the next pass; a
    writer seals with the newest key anyway. Passes repeat until a pass makes no progress.
    """
    kid = services.vault.current_kid
    async with unit_of_work(services.sessions) as session:
        p.total = await cred_repo.count_not_under(session, kid)
    broken: set[int] = set()
    while True:
        moved_this_pass = 0
        after = 0
        while True:
            async with unit_of_work(services.sessions) as session:
                ids = await cred_repo.ids_not_under(session, kid, after, batch_size)
            if not ids:
                break
            after = ids[-1]
            for row_id in ids:
                if row_id in broken:
                    continue
                outcome = await _rewrap_one(services, row_id, kid)
                if outcome == "moved":
                    p.rewrapped += 1
                    moved_this_pass += 1
                elif outcome == "busy":
                    p.skipped += 1
                elif outcome.startswith("error"):
                    broken.add(row_id)
                    p.failed += 1
                    p.errors.append(outcome[len("error: ") :])
            # Yield between batches so request handlers keep their share of the loop and the pool.
            await asyncio.sleep(0)
        async with unit_of_work(services.sessions) as session:
            p.remaining = await cred_repo.count_not_under(session, kid)
        if p.remaining <= len(broken) or moved_this_pass == 0:
            return


async def _rewrap_one(services: Services, row_id: int, kid: str) -> str:
    async with unit_of_work(services.sessions) as session:
        row = await cred_repo.lock_for_rewrap(session, row_id, kid)
        if row is None:
            return "busy"
        ref = SecretRef(row.org_id, row.provider, row.kind, row.name)
        try:
            token = services.vault.rewrap(ref, row.ciphertext)
        except SecretUnreadable as exc:
            return f"error: row {row.id}: {exc.message}"
        # touch=False: a rewrap changes no credential, so updated_at keeps meaning "last set".
        await cred_repo.update_secret(session, row.id, ciphertext=token, key_id=kid, touch=False)
    return "moved"
