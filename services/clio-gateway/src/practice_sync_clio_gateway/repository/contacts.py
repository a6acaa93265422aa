"""Which etag of each contact was last published (or that it was deleted), and the orgs'
high-water marks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from practice_sync_clio_gateway.repository.tables import SCHEMA, contact_versions, sync_state


@dataclass(frozen=True)
class KnownVersion:
    """The version of a contact last published: its etag and Clio's `updated_at` for it.

    `deleted`: a tombstone, the contact was deleted since (etag and `updated_at` are then of the
    last version known before the deletion, or of the deletion delivery's record).
    """

    etag: str | None
    updated_at: datetime | None
    deleted: bool = False

    def revived_by(self, updated_at: datetime | None) -> bool:
        """For a tombstone: whether a version Clio stamped `updated_at` is newer than the deletion.

        Clio has no undelete for contacts, so what a late delivery or a listing read before the
        deletion shows is stamped no later than the deletion; only a version stamped after it
        (Clio's clock against Clio's clock) is news. Unknown stamps are not.
        """
        return updated_at is not None and self.updated_at is not None and updated_at > self.updated_at


def _known(row: Any) -> KnownVersion:
    return KnownVersion(row.etag, row.updated_at, row.deleted_at is not None)


async def known_version(session: AsyncSession, org: str, contact_id: int) -> KnownVersion | None:
    t = contact_versions
    row = (
        await session.execute(
            select(t.c.etag, t.c.updated_at, t.c.deleted_at).where(
                t.c.org_id == org, t.c.contact_id == contact_id
            )
        )
    ).first()
    return _known(row) if row else None


async def known_versions(session: AsyncSession, org: str, ids: list[int]) -> dict[int, KnownVersion]:
    t = contact_versions
    rows = await session.execute(
        select(t.c.contact_id, t.c.etag, t.c.updated_at, t.c.deleted_at).where(
            t.c.org_id == org, t.c.contact_id.in_(ids)
        )
    )
    return {r.contact_id: _known(r) for r in rows}


async def mark_deleted(
    session: AsyncSession,
    org: str,
    contact_id: int,
    etag: str | None,
    updated_at: datetime | None,
    at: datetime,
) -> None:
    """A `deleted` delivery: the contact's row becomes (or is inserted as) a tombstone.

    Kept, not forgotten: a forgotten contact's late `updated` delivery was published as `created`.
    The tombstone's `updated_at` is the newest Clio stamp known for the contact (the deleted
    record's, when the delivery carries it), what a later version must pass to count.
    """
    t = contact_versions
    stmt = insert(t).values(
        org_id=org, contact_id=contact_id, etag=etag, updated_at=updated_at, seen_at=at, deleted_at=at
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.org_id, t.c.contact_id],
            set_={
                "etag": func.coalesce(stmt.excluded.etag, t.c.etag),
                "updated_at": func.greatest(t.c.updated_at, stmt.excluded.updated_at),  # NULLs ignored
                "deleted_at": func.coalesce(t.c.deleted_at, stmt.excluded.deleted_at),
            },
        )
    )


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
    than the page's fetch. A tombstone is replaced only by a version stamped after it: a page read
    before a deletion and committed after it must not bring the contact back.
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
            SET etag = EXCLUDED.etag, updated_at = EXCLUDED.updated_at, seen_at = EXCLUDED.seen_at,
                deleted_at = NULL
            WHERE v.deleted_at IS NULL OR EXCLUDED.updated_at > v.updated_at
            """  # noqa: S608 - the schema is a constant
        ),
        {"org": org, "ids": ids, "etags": etags, "updated": updated, "at": at},
    )


async def unseen_since(session: AsyncSession, org: str, since: datetime) -> list[tuple[int, str | None]]:
    """Known live contacts that neither a full run since `since` nor a webhook since then has seen."""
    t = contact_versions
    rows = await session.execute(
        select(t.c.contact_id, t.c.etag).where(
            t.c.org_id == org, t.c.seen_at < since, t.c.deleted_at.is_(None)
        )
    )
    return [(r.contact_id, r.etag) for r in rows]


async def mark_deleted_many(session: AsyncSession, org: str, ids: list[int], at: datetime) -> None:
    """Contacts a full walk no longer found: tombstones, like a `deleted` delivery leaves.

    Their `updated_at` stays the last version the gateway knew (Clio said nothing about when they
    went), so a late delivery of that version or an older one publishes nothing.
    """
    t = contact_versions
    for i in range(0, len(ids), 1000):
        await session.execute(
            update(t)
            .where(t.c.org_id == org, t.c.contact_id.in_(ids[i : i + 1000]), t.c.deleted_at.is_(None))
            .values(deleted_at=at)
        )
