"""Read queries of the API: one org (RLS + explicit filter), keyset or offset paging.

The SQL pieces formatted into queries come only from constants here (sort expressions chosen from
PATIENT_SORTS by a validated name, directions from a two-value Literal); every value is bound.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from practice_sync_projector.repository.contacts import CONTACT_COLUMNS

# sort name -> (SQL expression of the key, SQL type the cursor's key text is cast back to)
PATIENT_SORTS: dict[str, tuple[str, str]] = {
    "last_appointment_date": ("COALESCE(a.last_appointment_date, '-infinity'::timestamptz)", "timestamptz"),
    "total_appointment_count": ("a.total_appointment_count", "integer"),
    "recent_appointment_count": ("a.recent_appointment_count", "integer"),
    "upcoming_appointment_count": ("a.upcoming_appointment_count", "integer"),
    "name": ("COALESCE(c.normalized_name, '')", "text"),
    "updated_at": ("a.updated_at", "timestamptz"),
}


def _page_clause(
    key_sql: str, key_type: str, id_sql: str, order: str, after: tuple[str, uuid.UUID] | None
) -> tuple[str, str, dict[str, Any]]:
    direction = "DESC" if order == "desc" else "ASC"
    order_by = f"ORDER BY {key_sql} {direction}, {id_sql} {direction}"
    if after is None:
        return "", order_by, {}
    op = "<" if order == "desc" else ">"
    # The key travels as text (cursor) and is cast back to the sort column's type in SQL.
    after_key = f"CAST(CAST(:after_key AS text) AS {key_type})"
    where = f"AND ({key_sql}, {id_sql}) {op} ({after_key}, CAST(:after_id AS uuid))"
    return where, order_by, {"after_key": after[0], "after_id": after[1]}


async def active_patients(
    session: AsyncSession,
    org: str,
    *,
    sort: str,
    order: str,
    limit: int,
    offset: int,
    after: tuple[str, uuid.UUID] | None,
) -> tuple[list[dict[str, Any]], int]:
    key_sql, key_type = PATIENT_SORTS[sort]
    where, order_by, params = _page_clause(key_sql, key_type, "a.id", order, after)
    rows = await session.execute(
        text(
            f"""
            SELECT a.*, ({key_sql})::text AS sort_key,
                   c.name AS contact_name, c.email AS contact_email, c.source AS contact_source
            FROM public.active_patients a JOIN public.contacts c ON c.id = a.contact_id
            WHERE a.organization_id = :org {where}
            {order_by} LIMIT :limit OFFSET :offset
            """  # noqa: S608 - constant fragments only, see the module doc
        ),
        {"org": org, "limit": limit, "offset": offset, **params},
    )
    total = await session.execute(
        text("SELECT count(*) FROM public.active_patients WHERE organization_id = :org"), {"org": org}
    )
    return [dict(r) for r in rows.mappings().all()], int(total.scalar_one())


async def contacts(
    session: AsyncSession,
    org: str,
    *,
    limit: int,
    offset: int,
    after: tuple[str, uuid.UUID] | None,
    include_deleted: bool,
) -> tuple[list[dict[str, Any]], int]:
    where, order_by, params = _page_clause("created_at", "timestamptz", "id", "asc", after)
    live = "" if include_deleted else "AND deleted_at IS NULL"
    rows = await session.execute(
        text(
            f"""
            SELECT {CONTACT_COLUMNS}, created_at::text AS sort_key FROM public.contacts
            WHERE organization_id = :org {live} {where}
            {order_by} LIMIT :limit OFFSET :offset
            """  # noqa: S608 - constant fragments only, see the module doc
        ),
        {"org": org, "limit": limit, "offset": offset, **params},
    )
    total = await session.execute(
        text(f"SELECT count(*) FROM public.contacts WHERE organization_id = :org {live}"),  # noqa: S608
        {"org": org},
    )
    return [dict(r) for r in rows.mappings().all()], int(total.scalar_one())


async def contact(session: AsyncSession, org: str, contact_id: uuid.UUID) -> dict[str, Any] | None:
    row = (
        (
            await session.execute(
                text(
                    f"SELECT {CONTACT_COLUMNS} FROM public.contacts"  # noqa: S608 - constant column list
                    " WHERE organization_id = :org AND id = :id"
                ),
                {"org": org, "id": contact_id},
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None
