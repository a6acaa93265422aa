"""Refreshes Clio access tokens before they expire, so the gateway rarely meets a 401; prunes the
OAuth states of flows that were never completed (a callback deletes only its own and a few others)."""

from __future__ import annotations

from datetime import timedelta

from practice_sync_common.db import unit_of_work
from practice_sync_common.logging import get_logger
from practice_sync_common.periodic import Periodic
from practice_sync_credentials.domain.providers import Kind, Provider, Status
from practice_sync_credentials.repository import credentials as cred_repo
from practice_sync_credentials.repository import oauth_states
from practice_sync_credentials.service import clio
from practice_sync_credentials.service.context import Services
from practice_sync_credentials.service.errors import ServiceError

log = get_logger(__name__)


async def refresh_expiring(services: Services) -> dict[str, int]:
    """One sweep: refresh every Clio token set expiring within ``clio_refresh_ahead_s``."""
    horizon = services.now() + timedelta(seconds=services.settings.clio_refresh_ahead_s)
    async with unit_of_work(services.sessions) as session:
        due = await cred_repo.expiring(
            session, Provider.CLIO.value, Kind.OAUTH_TOKENS.value, horizon, Status.NEEDS_REAUTH.value
        )
    counts = {"due": len(due), "refreshed": 0, "failed": 0}
    for org_id, _ in due:
        try:
            await clio.refresh(services, "refresher", org_id, force=False)
            counts["refreshed"] += 1
        except ServiceError as exc:
            counts["failed"] += 1
            log.warning("clio refresh failed", org_id=org_id, reason=exc.message)
    return counts


async def prune_expired_states(services: Services) -> int:
    """Delete every expired OAuth state, ``OAUTH_STATE_PRUNE_BATCH_SIZE`` per transaction.

    Unexpired states stay: a pending flow is still single use and still expires when it did.
    """
    limit = services.settings.oauth_state_prune_batch_size
    total = 0
    while True:
        async with unit_of_work(services.sessions) as session:
            gone = await oauth_states.delete_expired(session, services.now(), limit)
        total += gone
        if gone < limit:
            return total


class Refresher:
    """Every `CLIO_REFRESH_INTERVAL_S` (when a Clio app is configured): Clio tokens near expiry refreshed.

    A sibling loop on the same interval prunes expired OAuth states, so neither failing holds up the other.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        settings = services.settings
        interval = settings.clio_refresh_interval_s if settings.clio_client_id else 0
        self._periodic = Periodic("clio refresh sweep", self._sweep, interval)
        self._prune = Periodic("oauth state prune", self._prune_states, interval)

    async def start(self) -> None:
        await self._periodic.start()
        await self._prune.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        await self._prune.stop()

    async def _sweep(self) -> None:
        counts = await refresh_expiring(self.services)
        if counts["due"]:
            log.info("clio refresh sweep", **counts)

    async def _prune_states(self) -> None:
        gone = await prune_expired_states(self.services)
        if gone:
            log.info("expired oauth states pruned", rows=gone)
