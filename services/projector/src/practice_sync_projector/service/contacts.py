"""Projecting `contact.synced` into `public.contacts`.

Keyed by (org, clio_id). Ordering rule, so an older event never overwrites a newer one:
- an event whose etag equals the row's is a duplicate (skipped);
- an event whose provider_updated_at is older than the row's is stale (skipped);
- after a delete, only an event strictly newer than the deletion brings the contact back.
A Clio contact not yet known is merged into a live contact that has its primary email and no
Clio id (typically one created from a Cliniko patient) when exactly one such contact exists
(`clio_match_method = email`); otherwise it is inserted (`created`). A delete for an unknown
contact leaves a tombstone row, so an older "created" arriving late cannot resurrect it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from practice_sync_common.dead_letter import PermanentError
from practice_sync_common.events import ContactSynced, Envelope
from practice_sync_common.idempotency import claim_event, processed_events_table
from practice_sync_projector.repository import contacts as repo
from practice_sync_projector.repository.scoped import lock_orgs, org_scope
from practice_sync_projector.service.normalize import display_name, normalize_email, normalize_name

CONSUMER = "projector.contacts"
ContactEvent = Envelope[ContactSynced]
Outcome = Literal["created", "merged", "updated", "deleted", "stale", "duplicate"]

_processed = processed_events_table(MetaData(), "projector")


@dataclass(frozen=True)
class ContactOutcome:
    outcome: Outcome
    contact_id: uuid.UUID | None


class ContactProjector:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def project(self, event: ContactEvent) -> ContactOutcome:
        data = event.data
        if data.provider != "clio":
            # Cliniko patients reach contacts through active_patients.computed, never this topic.
            raise PermanentError(f"contact.synced from provider '{data.provider}' is not supported")
        async with org_scope(self.sessions, event.org_id) as session:
            await lock_orgs(session, [event.org_id])
            if not await claim_event(session, _processed, CONSUMER, event.id):
                return ContactOutcome("duplicate", None)
            return await self._apply(session, event)

    async def _apply(self, session: AsyncSession, event: ContactEvent) -> ContactOutcome:
        org, data = event.org_id, event.data
        row = await repo.by_clio_id(session, org, data.provider_id)
        if row is not None and _stale(row, data):
            return ContactOutcome("stale" if row["clio_etag"] != data.etag else "duplicate", row["id"])
        if data.action == "deleted":
            when = data.provider_updated_at or event.occurred_at
            if row is None:
                contact_id = uuid.uuid4()
                fields = {**_fields(data), "deleted_at": when, "clio_match_method": "created"}
                await repo.write_clio_fields(session, org, contact_id, fields, insert=True)
                return ContactOutcome("deleted", contact_id)
            await repo.mark_deleted(session, org, row["id"], when, data.etag, data.provider_updated_at)
            return ContactOutcome("deleted", row["id"])
        fields = {**_fields(data), "deleted_at": None}
        if row is not None:
            await repo.write_clio_fields(
                session, org, row["id"], {**fields, "clio_match_method": None}, insert=False
            )
            return ContactOutcome("updated", row["id"])
        email = fields["email"]
        matches = await repo.unlinked_by_email(session, org, email) if email else []
        if len(matches) == 1:
            await repo.write_clio_fields(
                session, org, matches[0], {**fields, "clio_match_method": "email"}, insert=False
            )
            return ContactOutcome("merged", matches[0])
        contact_id = uuid.uuid4()
        await repo.write_clio_fields(
            session, org, contact_id, {**fields, "clio_match_method": "created"}, insert=True
        )
        return ContactOutcome("created", contact_id)


def _stale(row: dict[str, Any], data: ContactSynced) -> bool:
    if data.etag is not None and row["clio_etag"] == data.etag and data.action != "deleted":
        return True
    theirs: datetime | None = row["provider_updated_at"]
    ours = data.provider_updated_at
    if theirs is not None and ours is not None and ours < theirs:
        return True
    deleted_at: datetime | None = row["deleted_at"]
    if deleted_at is not None:
        if data.action == "deleted":
            return True  # already gone
        return ours is None or ours <= deleted_at
    return False


def _fields(data: ContactSynced) -> dict[str, Any]:
    emails = [e for e in (x.strip() for x in data.emails) if e]
    phones = [p for p in (x.strip() for x in data.phones) if p]
    return {
        "first_name": data.first_name,
        "last_name": data.last_name,
        "name": display_name(data.first_name, data.last_name, data.name),
        "normalized_name": normalize_name(data.first_name, data.last_name, data.name),
        "email": normalize_email(emails[0]) if emails else None,
        "emails": emails,
        "phone": phones[0] if phones else None,
        "phones": phones,
        "contact_type": data.contact_type,
        "clio_id": data.provider_id,
        "clio_etag": data.etag,
        "provider_updated_at": data.provider_updated_at,
    }
