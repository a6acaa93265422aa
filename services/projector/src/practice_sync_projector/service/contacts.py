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

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from practice_sync_common.dead_letter import PermanentError
from practice_sync_common.events import ContactSynced, Envelope
from practice_sync_common.idempotency import claim_events
from practice_sync_projector.repository import contacts as repo
from practice_sync_projector.repository import tables
from practice_sync_projector.repository.scoped import enter_org, lock_orgs, scoped_transaction
from practice_sync_projector.service.normalize import display_name, normalize_email, normalize_name

CONSUMER = "projector.contacts"
ContactEvent = Envelope[ContactSynced]
Outcome = Literal["created", "merged", "updated", "deleted", "stale", "duplicate"]


@dataclass(frozen=True)
class ContactOutcome:
    outcome: Outcome
    contact_id: uuid.UUID | None


class ContactProjector:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def project(self, event: ContactEvent) -> ContactOutcome:
        return (await self.project_many([event]))[0]

    async def project_many(self, events: list[ContactEvent]) -> list[ContactOutcome]:
        """Apply events in delivery order, all in one transaction (a batch from the consumer).

        Per-event transactions made a backlog of a few thousand changes take tens of seconds; here a
        batch costs one lock, one claim and one row fetch per org, then one write per change.
        """
        for event in events:
            problem = unsupported(event)
            if problem:
                raise PermanentError(problem)
        outcomes: dict[int, ContactOutcome] = {}
        by_org: dict[str, list[int]] = {}
        for i, event in enumerate(events):
            by_org.setdefault(event.org_id, []).append(i)
        async with scoped_transaction(self.sessions) as session:
            await lock_orgs(session, list(by_org))
            fresh = await claim_events(session, tables.processed_events, CONSUMER, [e.id for e in events])
            for org, positions in by_org.items():
                await enter_org(session, org)
                ids = list({events[i].data.provider_id for i in positions})
                rows = await repo.by_clio_ids(session, org, ids)
                for i in positions:
                    event = events[i]
                    if event.id not in fresh:
                        outcomes[i] = ContactOutcome("duplicate", None)
                        continue
                    fresh.discard(event.id)  # the same event twice in one batch applies once
                    outcomes[i] = await self._apply(session, event, rows)
        return [outcomes[i] for i in range(len(events))]

    async def _apply(
        self, session: AsyncSession, event: ContactEvent, rows: dict[str, dict[str, Any]]
    ) -> ContactOutcome:
        """One event against `rows` (this org's rows by Clio id, kept current as events apply)."""
        org, data = event.org_id, event.data
        row = rows.get(data.provider_id)
        if row is not None and _stale(row, data):
            return ContactOutcome("stale" if row["clio_etag"] != data.etag else "duplicate", row["id"])
        if data.action == "deleted":
            when = data.provider_updated_at or event.occurred_at
            if row is None:
                contact_id = uuid.uuid4()
                fields = {**_fields(data), "deleted_at": when, "clio_match_method": "created"}
                await repo.write_clio_fields(session, org, contact_id, fields, insert=True)
                rows[data.provider_id] = {**fields, "id": contact_id}
                return ContactOutcome("deleted", contact_id)
            await repo.mark_deleted(session, org, row["id"], when, data.etag, data.provider_updated_at)
            row["deleted_at"] = when
            row["clio_etag"] = data.etag or row["clio_etag"]
            row["provider_updated_at"] = data.provider_updated_at or row["provider_updated_at"]
            return ContactOutcome("deleted", row["id"])
        fields = {**_fields(data), "deleted_at": None}
        if row is not None:
            await repo.write_clio_fields(
                session, org, row["id"], {**fields, "clio_match_method": None}, insert=False
            )
            row.update(fields)
            return ContactOutcome("updated", row["id"])
        email = fields["email"]
        matches = await repo.unlinked_by_email(session, org, email) if email else []
        if len(matches) == 1:
            await repo.write_clio_fields(
                session, org, matches[0], {**fields, "clio_match_method": "email"}, insert=False
            )
            rows[data.provider_id] = {**fields, "id": matches[0]}
            return ContactOutcome("merged", matches[0])
        contact_id = uuid.uuid4()
        await repo.write_clio_fields(
            session, org, contact_id, {**fields, "clio_match_method": "created"}, insert=True
        )
        rows[data.provider_id] = {**fields, "id": contact_id}
        return ContactOutcome("created", contact_id)


def unsupported(event: ContactEvent) -> str | None:
    """Why this event can never be projected (it goes to the DLQ alone), or None."""
    if event.data.provider != "clio":
        # Cliniko patients reach contacts through active_patients.computed, never this topic.
        return f"contact.synced from provider '{event.data.provider}' is not supported"
    return None


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
