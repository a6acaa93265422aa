"""The gateway's tables in schema `clio` (created by migrations 0002+)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, Text, func
from sqlalchemy.dialects.postgresql import UUID as PgUUID

from practice_sync_common.idempotency import processed_events_table
from practice_sync_common.sync_runs import sync_runs_table

SCHEMA = "clio"
metadata = MetaData()

processed_events = processed_events_table(metadata, SCHEMA)
sync_runs = sync_runs_table(metadata, SCHEMA)

# The last etag published per contact: dedupes overlapping sync windows and replayed webhooks.
# A deleted contact keeps its row as a tombstone (`deleted_at`, our clock; etag and `updated_at`,
# Clio's, of its last known version): a late delivery of an older version must not revive it.
contact_versions = Table(
    "contact_versions",
    metadata,
    Column("org_id", String(128), primary_key=True),
    Column("contact_id", BigInteger, primary_key=True),
    Column("etag", String(200), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=True),
    Column("seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("deleted_at", DateTime(timezone=True), nullable=True),  # added by 0003
    schema=SCHEMA,
)

# Incremental runs start from the high-water mark of the org's last successful run.
sync_state = Table(
    "sync_state",
    metadata,
    Column("org_id", String(128), primary_key=True),
    Column("high_water", DateTime(timezone=True), nullable=True),
    Column("last_full_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    schema=SCHEMA,
)

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("org_id", String(128), primary_key=True),
    Column("webhook_id", BigInteger, primary_key=True),
    Column("model", String(40), nullable=False),
    Column("url", Text, nullable=False),
    Column("fields", Text, nullable=False),
    Column("status", String(20), nullable=False),  # pending | enabled | suspended | expired | deleted
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("renewed_at", DateTime(timezone=True), nullable=True),
    Column("checked_at", DateTime(timezone=True), nullable=True),
    schema=SCHEMA,
)

# The seed's WebhookEvent log: received → processed | failed (with the error).
webhook_events = Table(
    "webhook_events",
    metadata,
    Column("event_id", PgUUID(as_uuid=True), primary_key=True),
    Column("org_id", String(128), nullable=False, index=True),
    Column("webhook_id", String(40), nullable=True),
    Column("event", String(40), nullable=True),
    Column("record_id", BigInteger, nullable=True),
    Column("status", String(20), nullable=False),
    Column("error", Text, nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=True),
    schema=SCHEMA,
)

custom_actions = Table(
    "custom_actions",
    metadata,
    Column("org_id", String(128), primary_key=True),
    Column("custom_action_id", BigInteger, primary_key=True),
    Column("clio_user_id", BigInteger, nullable=False, index=True),
    Column("label", String(200), nullable=False),
    Column("target_url", Text, nullable=False),
    Column("ui_reference", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    schema=SCHEMA,
)

custom_action_clicks = Table(
    "custom_action_clicks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("org_id", String(128), nullable=True, index=True),
    Column("custom_action_id", BigInteger, nullable=True),
    Column("clio_user_id", BigInteger, nullable=True),
    Column("contact_id", BigInteger, nullable=True),
    Column("outcome", String(20), nullable=False),  # verified | forged | unknown_action | error
    Column("clicked_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    schema=SCHEMA,
)
