"""Sync-run bookkeeping shared by every connector: table, repository, schemas, admin router.

A connector service:
- creates its table in a migration: ``migration_ops.create_sync_runs_v1(schema)`` (frozen steps);
- builds ``SyncRunRepository(sync_runs_table(metadata, SCHEMA))``;
- builds its intake ``SyncIntake(provider=..., repository=repo, source=...,
  org_check=CredentialsOrgCheck.from_settings(settings))`` (a request for an org it cannot sync is
  refused before anything is queued) and mounts ``sync_admin_router(intake)`` (API documented
  there); any other route that queues syncs goes through ``intake.submit`` too;
- in its consumer: ``create`` (idempotent) → ``claim`` → ``checkpoint`` after every page →
  ``succeed`` or ``fail(rule=RetryRule(...))``; at start and periodically ``find_resumable`` and
  claim those (killed runs, due retries).
"""

from practice_sync_common.sync_runs.intake import SyncIntake
from practice_sync_common.sync_runs.org_check import CredentialsOrgCheck, OrgCheck, OrgRefused
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
from practice_sync_common.sync_runs.table import sync_runs_table

__all__ = [
    "CredentialsOrgCheck",
    "OrgCheck",
    "OrgRefused",
    "RetryRule",
    "RunStatus",
    "SyncIntake",
    "SyncMode",
    "SyncProgress",
    "SyncRequestAccepted",
    "SyncRequestIn",
    "SyncRun",
    "SyncRunList",
    "SyncRunRepository",
    "sync_admin_router",
    "sync_runs_table",
]
