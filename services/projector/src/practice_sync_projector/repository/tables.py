"""The projector's own bookkeeping tables that the code reaches through SQLAlchemy (the read models
in `public` and `snapshot_runs` are reached through SQL text; their migrations define them)."""

from __future__ import annotations

from sqlalchemy import MetaData

from practice_sync_common.idempotency import processed_events_table

SCHEMA = "projector"
metadata = MetaData()
# One ledger for both consumers: snapshots and contact changes claim their event ids here.
processed_events = processed_events_table(metadata, SCHEMA)
