"""Row access for `contact.synced` and the read API (always inside `org_scope`, always by org)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

CONTACT_COLUMNS = """
    id, organization_id, first_name, last_name, name, normalized_name, email, emails, phone, phones,
    contact_type, source, clio_id, clio_etag, clio_match_method, cliniko_patient_id,
    cliniko_match_method, provider_updated_at, created_at, updated_at, deleted_at
"""


async def by_clio_ids(session: AsyncSession, org: str, clio_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The org's rows for these Clio ids, locked for the rest of the transaction."""
    if not clio_ids:
        return {}
    rows = await session.execute(
        text(
            f"SELECT {CONTACT_COLUMNS} FROM public.contacts "  # noqa: S608 - a constant column list
            "WHERE organization_id = :org AND clio_id = ANY(:ids) FOR UPDATE"
        ),
        {"org": org, "ids": clio_ids},
    )
    return {row["clio_id"]: dict(row) for row in rows.mappings().all()}


async def unlinked_by_email(session: AsyncSession, org: str, email: str) -> list[uuid.UUID]:
    """Live contacts with this primary email that no Clio contact owns yet (merge candidates)."""
    rows = await session.execute(
        text(
            "SELECT id FROM public.contacts WHERE organization_id = :org AND email = :email "
            "AND clio_id IS NULL AND deleted_at IS NULL ORDER BY created_at, id FOR UPDATE"
        ),
        {"org": org, "email": email},
    )
    return [r[0] for r in rows.all()]


async def write_clio_fields(
    session: AsyncSession,
    org: str,
    contact_id: uuid.UUID,
    fields: dict[str, Any],
    *,
    insert: bool,
) -> None:
    """Insert a Clio contact, or overwrite an existing row's fields with Clio's (Clio owns them)."""
    params = {
        **fields,
        "emails": json.dumps(fields["emails"]),
        "phones": json.dumps(fields["phones"]),
        "org": org,
        "id": contact_id,
    }
    if insert:
        sql = """
            INSERT INTO public.contacts (id, organization_id, first_name, last_name, name,
                normalized_name, email, emails, phone, phones, contact_type, source, clio_id,
                clio_etag, clio_match_method, provider_updated_at, deleted_at)
            VALUES (:id, :org, :first_name, :last_name, :name, :normalized_name, :email,
                CAST(:emails AS jsonb), :phone, CAST(:phones AS jsonb), :contact_type, 'clio', :clio_id,
                :clio_etag, :clio_match_method, :provider_updated_at, :deleted_at)
        """
    else:
        sql = """
            UPDATE public.contacts SET first_name = :first_name, last_name = :last_name, name = :name,
                normalized_name = :normalized_name, email = :email, emails = CAST(:emails AS jsonb),
                phone = :phone, phones = CAST(:phones AS jsonb), contact_type = :contact_type,
                clio_id = :clio_id, clio_etag = :clio_etag,
                clio_match_method = COALESCE(clio_match_method, :clio_match_method),
                provider_updated_at = :provider_updated_at, deleted_at = :deleted_at, updated_at = now()
            WHERE organization_id = :org AND id = :id
        """
    await session.execute(text(sql), params)


async def mark_deleted(
    session: AsyncSession,
    org: str,
    contact_id: uuid.UUID,
    deleted_at: datetime,
    etag: str | None,
    provider_updated_at: datetime | None,
) -> None:
    await session.execute(
        text(
            """
            UPDATE public.contacts SET deleted_at = :deleted_at, clio_etag = COALESCE(:etag, clio_etag),
                provider_updated_at = COALESCE(:updated, provider_updated_at), updated_at = now()
            WHERE organization_id = :org AND id = :id
            """
        ),
        {
            "org": org,
            "id": contact_id,
            "deleted_at": deleted_at,
            "etag": etag,
            "updated": provider_updated_at,
        },
    )
