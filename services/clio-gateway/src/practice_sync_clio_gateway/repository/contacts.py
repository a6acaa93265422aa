"""Which etag of each contact was last published, and the orgs' high-water marks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from practice_sync_clio_gateway.repository.tables import SCHEMA, contact_versions, sync_state


@dataclass(frozen=True)
class KnownVersion:
    """The version of a contact last published: its etag and Clio's `updated_at` for it."""

    etag: str | None
    updated_at: datetime | None


async def known_version(session: AsyncSession, org: str, contact_id: int) -> KnownVersion | None:
    t = contact_versions
    row = (
        await session.execute(
            select(t.c.etag, t.c.updated_at).where(t.c.org_id == org, t.c.contact_id == contact_id)
        )
    ).first()
    return KnownVersion(row.etag, row.updated_at) if row else None


async def known_etags(session: AsyncSession, org: str, ids: list[int]) -> dict[int, str | None]:
    t = contact_versions
    rows = await session.execute(
        select(t.c.contact_id, t.c.etag).where(t.c.org_id == org, t.c.contact_id.in_(ids))
    )
    return {r.contact_id: r.etag for r in rows}


async def forget(session: AsyncSession, org: str, contact_id: int) -> bool:
    t = contact_versions
    result = await session.execute(
        delete(t).where(t.c.org_id == org, t.c.contact_id == contact_id).returning(t.c.contact_id)
    )
    return result.first() is not None


async def high_water(session: AsyncSession, org: str) -> datetime | None:
    row = (await session.execute(select(sync_state.c.high_water).where(sync_state.c.org_id == org))).first()
    return row.high_water if row else None


async def set_high_water(
    session: AsyncSession, org: str, mark: datetime | None, full: bool, now: datetime
) -> None:
    t = sync_state
    values = {"org_id": org, "high_water": mark, "updated_at": now, **({"last_full_at": now} if full else {})}
    stmt = insert(t).values(**values)
    update = {k: v for k, v in values.items() if k != "org_id"}
    await session.execute(stmt.on_conflict_do_update(index_elements=[t.c.org_id], set_=update))


async def record_page(
    session: AsyncSession, org: str, versions: list[tuple[int, str | None, datetime | None]], at: datetime
) -> None:
    """Contacts' versions (a sync page's every record, changed or not, or one webhook's), and that
    they were seen at `at`.

    One statement over arrays: a page's upsert and seen-marks as 200 statements each cost more
    than the page's fetch.
    """
    if not versions:
        return
    ids, etags, updated = (list(col) for col in zip(*versions, strict=True))
    await session.execute(
        text(
            f"""
            INSERT INTO {SCHEMA}.contact_versions AS v (org_id, contact_id, etag, updated_at, seen_at)
            SELECT :org, p.id, p.etag, p.updated_at, :at
            FROM unnest(CAST(:ids AS bigint[]), CAST(:etags AS text[]), CAST(:updated AS timestamptz[]))
                AS p(id, etag, updated_at)
            ON CONFLICT (org_id, contact_id) DO UPDATE
            SET etag = EXCLUDED.etag, updated_at = EXCLUDED.updated_at, seen_at = EXCLUDED.seen_at
            """  # noqa: S608 - the schema is a constant
        ),
        {"org": org, "ids": ids, "etags": etags, "updated": updated, "at": at},
    )


async def unseen_since(session: AsyncSession, org: str, since: datetime) -> list[tuple[int, str | None]]:
    """Known contacts that neither a full run since `since` nor a webhook since then has seen."""
    t = contact_versions
    rows = await session.execute(
        select(t.c.contact_id, t.c.etag).where(t.c.org_id == org, t.c.seen_at < since)
    )
    return [(r.contact_id, r.etag) for r in rows]


async def forget_many(session: AsyncSession, org: str, ids: list[int]) -> None:
    t = contact_versions
    for i in range(0, len(ids), 1000):
        await session.execute(delete(t).where(t.c.org_id == org, t.c.contact_id.in_(ids[i : i + 1000])))
