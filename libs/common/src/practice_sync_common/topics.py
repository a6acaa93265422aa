"""Topic names (a fixed point) and their dead-letter twins."""

from __future__ import annotations

SYNC_REQUESTED = "sync.requested"
WEBHOOK_RECEIVED = "webhook.received"
CONTACT_SYNCED = "contact.synced"
ACTIVE_PATIENTS_COMPUTED = "active_patients.computed"

TOPICS: tuple[str, ...] = (SYNC_REQUESTED, WEBHOOK_RECEIVED, CONTACT_SYNCED, ACTIVE_PATIENTS_COMPUTED)
DEFAULT_PARTITIONS = 4


def dlq(topic: str) -> str:
    return f"{topic}.dlq"


ALL_TOPICS: tuple[str, ...] = TOPICS + tuple(dlq(t) for t in TOPICS)
