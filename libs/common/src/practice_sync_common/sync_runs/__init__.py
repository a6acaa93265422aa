"""Sync-run bookkeeping shared by every connector: table, repository, schemas, admin router.

A connector service:
- creates its table in a migration: ``create_sync_runs(schema)``;
- builds ``SyncRunRepository(sync_runs_table(metadata, SCHEMA))``;
- mounts ``sync_admin_router(provider=..., repository=repo, source=...)`` (API documented there);
- in its consumer: ``create`` (idempotent) → ``claim`` → ``checkpoint`` after every page →
  ``succeed`` or ``fail(rule=RetryRule(...))``; at start and periodically ``find_resumable`` and
  claim those (killed runs, due retries).
"""

from practice_sync_common.sync_runs.repository import RetryRule, SyncRunRepository
from practice_sync_common.sync_runs.router import sync_admin_router
from practice_sync_common.sync_runs.schemas import (
    RunStatus,
    SyncMode,
    SyncProgress,
    SyncRequestAccepted,
    SyncRequestIn,
    SyncRun,
    SyncRunList,
)
from practice_sync_common.sync_runs.table import create_sync_runs, drop_sync_runs, sync_runs_table

__all__ = [
    "RetryRule",
    "RunStatus",
    "SyncMode",
    "SyncProgress",
    "SyncRequestAccepted",
    "SyncRequestIn",
    "SyncRun",
    "SyncRunList",
    "SyncRunRepository",
    "create_sync_runs",
    "drop_sync_runs",
    "sync_admin_router",
    "sync_runs_table",
]
