"""Reads and writes of the per-org mirror; every statement is scoped to one org."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table, TextClause, and_, delete, func, literal, select, text, union_all
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from practice_sync_cliniko_sync.domain.rules import PatientInfo, Visit
from practice_sync_cliniko_sync.repository.tables import (
    MIRROR,
    attendees,
    group_appointments,
    history_scope,
    individual_appointments,
    patient_bases,
    patients,
    sync_state,
)


async def upsert(session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert or update a page's records: one statement, the rows one array of the table's row type.

    Not `executemany`: a row at a time through SQLAlchemy and asyncpg was a quarter of the sync's CPU
    per page (py-spy, session 10). Not an array per column either: asyncpg checks every element of an
    array for being an array itself, with ABC `isinstance` calls that cost more than the values'
    encoding; an array of rows is checked once a row (measured, 100-row pages with BEGIN and COMMIT:
    2.7 → 2.1 ms of our CPU a page).
    """
    if not rows:
        return
    await session.execute(_upsert_statement(table), {"rows": page_rows(table, rows)})


def page_rows(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
    """A page's rows as values of the table's row type, one per record."""
    # Within one page an id can repeat only if the provider repeats it; keep the last.
    unique = list({(r["org_id"], r["id"]): r for r in rows}.values())
    row_of = itemgetter(*(c.name for c in table.columns))  # a row type's fields, in column order
    return [row_of(r) for r in unique]


@lru_cache(maxsize=16)
def upsert_sql(table: Table) -> str:
    """`upsert` as the driver's SQL, its one parameter `$1` = `page_rows(table, rows)`: for
    `SyncRunRepository.checkpoint_with`, the page and the run's checkpoint in one statement."""
    return _upsert_sql(table, "$1")


@lru_cache(maxsize=16)
def _upsert_statement(table: Table) -> TextClause:
    return text(_upsert_sql(table, ":rows"))


def _upsert_sql(table: Table, rows: str) -> str:
    # Every table is also a composite type of its columns, in their order, with their types: a
    # value longer than its varchar(n) is refused, as by a plain insert.
    columns = [c.name for c in table.columns]
    keys = [c.name for c in table.primary_key.columns]
    updates = ", ".join(f"{n} = EXCLUDED.{n}" for n in columns if n not in keys)
    on_conflict = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    name = f'"{table.schema}"."{table.name}"'
    return (
        f"INSERT INTO {name} SELECT * FROM unnest(CAST({rows} AS {name}[])) "  # noqa: S608 - our own table
        f"ON CONFLICT ({', '.join(keys)}) {on_conflict}"
    )


async def wipe(session: AsyncSession, org_id: str) -> None:
    """A full run starts from nothing, so records deleted at the provider cannot linger."""
    for table in MIRROR:
        await session.execute(delete(table).where(table.c.org_id == org_id))


async def high_waters(session: AsyncSession, org_id: str) -> dict[str, str]:
    rows = await session.execute(select(sync_state).where(sync_state.c.org_id == org_id))
    return {r.resource: r.high_water for r in rows}


async def set_high_water(session: AsyncSession, org_id: str, resource: str, value: str) -> None:
    stmt = insert(sync_state).values(org_id=org_id, resource=resource, high_water=value)
    # ISO-8601 UTC strings of one format order like the instants they name.
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["org_id", "resource"],
            set_={"high_water": func.greatest(sync_state.c.high_water, stmt.excluded.high_water)},
        )
    )


async def visits_from(session: AsyncSession, org_id: str, start: datetime) -> list[Visit]:
    """Counting appointments (individual, and classes per attendee) starting at or after `start`."""
    ind = individual_appointments
    g, a = group_appointments, attendees
    q_ind = select(
        ind.c.id,
        ind.c.patient_id,
        ind.c.starts_at,
        ind.c.ends_at,
        ind.c.practitioner_id,
        ind.c.appointment_type_id,
        ind.c.business_id,
        literal("individual").label("kind"),
    ).where(ind.c.org_id == org_id, ind.c.counts, ind.c.starts_at >= start)
    q_grp = (
        select(
            g.c.id,
            a.c.patient_id,
            g.c.starts_at,
            g.c.ends_at,
            g.c.practitioner_id,
            g.c.appointment_type_id,
            g.c.business_id,
            literal("group").label("kind"),
        )
        .select_from(a.join(g, and_(g.c.org_id == a.c.org_id, g.c.id == a.c.group_id)))
        .where(a.c.org_id == org_id, a.c.counts, g.c.counts, g.c.starts_at >= start)
        .distinct()
    )
    rows = await session.execute(union_all(q_ind, q_grp))
    return [
        Visit(
            id=r.id,
            patient_id=r.patient_id,
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            practitioner=r.practitioner_id,
            appointment_type=r.appointment_type_id,
            business=r.business_id,
            kind=r.kind,
        )
        for r in rows
    ]


async def totals(
    session: AsyncSession, org_id: str, patient_ids: Iterable[str], individual_from: datetime | None = None
) -> dict[str, int]:
    """Counting appointments per patient in the mirror: classes all, individual ones from
    `individual_from` on (an org counted per patient: older ones are in its patients' bases)."""
    ids = list(patient_ids)
    if not ids:
        return {}
    ind, g, a = individual_appointments, group_appointments, attendees
    q_ind = select(ind.c.patient_id, ind.c.id).where(
        ind.c.org_id == org_id, ind.c.counts, ind.c.patient_id.in_(ids)
    )
    if individual_from is not None:
        q_ind = q_ind.where(ind.c.starts_at >= individual_from)
    q_grp = (
        select(a.c.patient_id, g.c.id)
        .select_from(a.join(g, and_(g.c.org_id == a.c.org_id, g.c.id == a.c.group_id)))
        .where(a.c.org_id == org_id, a.c.counts, g.c.counts, a.c.patient_id.in_(ids))
        .distinct()
    )
    both = union_all(q_ind, q_grp).subquery()
    rows = await session.execute(select(both.c.patient_id, func.count()).group_by(both.c.patient_id))
    return {pid: int(n) for pid, n in rows}


async def patient_infos(session: AsyncSession, org_id: str, ids: Iterable[str]) -> dict[str, PatientInfo]:
    wanted = list(ids)
    out: dict[str, PatientInfo] = {}
    for start in range(0, len(wanted), 5000):
        rows = await session.execute(
            select(patients).where(
                patients.c.org_id == org_id, patients.c.id.in_(wanted[start : start + 5000])
            )
        )
        for r in rows:
            out[r.id] = PatientInfo(r.first_name, r.last_name, r.email, r.phone, r.archived)
    return out


async def count_at(session: AsyncSession, org_id: str, table: Table, updated_at: str) -> int:
    """How many mirrored records of `table` carry exactly this `updated_at`."""
    n = await session.scalar(
        select(func.count())
        .select_from(table)
        .where(table.c.org_id == org_id, table.c.updated_at == updated_at)
    )
    return int(n or 0)


async def history_boundary(session: AsyncSession, org_id: str) -> datetime | None:
    """The org's boundary when its totals are counted per patient; None when the history is mirrored."""
    value: datetime | None = await session.scalar(
        select(history_scope.c.boundary).where(history_scope.c.org_id == org_id)
    )
    return value


async def set_history_boundary(session: AsyncSession, org_id: str, boundary: datetime) -> None:
    stmt = insert(history_scope).values(org_id=org_id, boundary=boundary)
    await session.execute(stmt.on_conflict_do_update(index_elements=["org_id"], set_={"boundary": boundary}))


async def bases(session: AsyncSession, org_id: str, patient_ids: Iterable[str]) -> dict[str, int]:
    wanted = list(patient_ids)
    out: dict[str, int] = {}
    b = patient_bases
    for start in range(0, len(wanted), 5000):
        rows = await session.execute(
            select(b.c.patient_id, b.c.before_count).where(
                b.c.org_id == org_id, b.c.patient_id.in_(wanted[start : start + 5000])
            )
        )
        out.update({r.patient_id: int(r.before_count) for r in rows})
    return out


async def store_bases(
    session: AsyncSession, org_id: str, counts: Mapping[str, int], counted_at: datetime | None
) -> None:
    if not counts:
        return
    stmt = insert(patient_bases)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["org_id", "patient_id"],
            set_={"before_count": stmt.excluded.before_count, "counted_at": stmt.excluded.counted_at},
        ),
        [
            {"org_id": org_id, "patient_id": p, "before_count": n, "counted_at": counted_at}
            for p, n in counts.items()
        ],
    )


async def bases_counted_at(
    session: AsyncSession, org_id: str, patient_ids: Iterable[str]
) -> dict[str, datetime | None]:
    """When each of these patients' bases was counted (absent: no base; None: not known)."""
    wanted = list(set(patient_ids))
    if not wanted:
        return {}
    b = patient_bases
    rows = await session.execute(
        select(b.c.patient_id, b.c.counted_at).where(b.c.org_id == org_id, b.c.patient_id.in_(wanted))
    )
    return {r.patient_id: r.counted_at for r in rows}


async def drop_bases(session: AsyncSession, org_id: str, patient_ids: Iterable[str]) -> None:
    ids = list(set(patient_ids))
    if ids:
        b = patient_bases
        await session.execute(delete(b).where(b.c.org_id == org_id, b.c.patient_id.in_(ids)))


async def mirrored_starts(
    session: AsyncSession, org_id: str, ids: Iterable[str]
) -> dict[str, tuple[str, datetime, str]]:
    """(patient, starts_at, updated_at) of these individual appointments as the mirror has them now."""
    wanted = list(ids)
    if not wanted:
        return {}
    ind = individual_appointments
    rows = await session.execute(
        select(ind.c.id, ind.c.patient_id, ind.c.starts_at, ind.c.updated_at).where(
            ind.c.org_id == org_id, ind.c.id.in_(wanted)
        )
    )
    return {r.id: (r.patient_id, r.starts_at, r.updated_at) for r in rows}


async def class_ids(session: AsyncSession, org_id: str) -> list[str]:
    """Every mirrored class (all states) of the org: a full run asks for their attendees."""
    g = group_appointments
    return list(await session.scalars(select(g.c.id).where(g.c.org_id == org_id)))
