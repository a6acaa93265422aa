"""Read API of the projector: an org's active patients and contacts (admin or org read token)."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from practice_sync_common.auth import require_admin
from practice_sync_common.org_ids import OrgPath
from practice_sync_projector.endpoints.auth import read_token, require_org_reader
from practice_sync_projector.endpoints.cursor import Cursor, decode_cursor
from practice_sync_projector.repository import read
from practice_sync_projector.repository.scoped import org_scope
from practice_sync_projector.schemas.read import (
    ActivePatient,
    ActivePatientPage,
    Contact,
    ContactPage,
    LinkedContact,
    PageMeta,
    ReadToken,
)

router = APIRouter(tags=["read models"])
PatientSort = Literal[
    "last_appointment_date",
    "total_appointment_count",
    "recent_appointment_count",
    "upcoming_appointment_count",
    "name",
    "updated_at",
]
Limit = Query(50, ge=1, le=500, description="page size (1-500)")
Offset = Query(0, ge=0, le=1_000_000, description="rows to skip; not combinable with cursor")
CursorQ = Query(None, max_length=1024, description="next_cursor of the previous page")


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


def _after(
    cursor: str | None, offset: int, listing: str, sort: str, order: str
) -> tuple[str, uuid.UUID] | None:
    if cursor is None:
        return None
    if offset:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "use either offset or cursor, not both")
    c = decode_cursor(cursor, listing, sort, order)
    return c.key, c.id


def _next(rows: list[dict[str, Any]], limit: int, listing: str, sort: str, order: str) -> str | None:
    if len(rows) < limit:
        return None
    last = rows[-1]
    return Cursor(listing, sort, order, str(last["sort_key"]), last["id"]).encode()


@router.post("/orgs/{org}/read-token", response_model=ReadToken, dependencies=[Depends(require_admin)])
async def mint_read_token(request: Request, org: OrgPath) -> ReadToken:
    """A token that reads this org's read models and nothing else (admin only)."""
    token = read_token(request.app.state.settings, org)
    if token is None:  # unreachable while the admin token (which keys them) is set; kept explicit
        raise HTTPException(503, "read tokens are disabled: set PROJECTOR_READ_TOKEN_SECRET")
    return ReadToken(org_id=org, token=token)


@router.get("/orgs/{org}/active-patients", response_model=ActivePatientPage)
async def list_active_patients(
    request: Request,
    org: str = Depends(require_org_reader),
    sort: PatientSort = Query("last_appointment_date"),
    order: Literal["asc", "desc"] = Query("desc"),
    limit: int = Limit,
    offset: int = Offset,
    cursor: str | None = CursorQ,
) -> ActivePatientPage:
    listing = f"{org}/active-patients"
    after = _after(cursor, offset, listing, sort, order)
    async with org_scope(_sessions(request), org) as session:
        rows, total = await read.active_patients(
            session, org, sort=sort, order=order, limit=limit, offset=offset, after=after
        )
    data = [
        ActivePatient.model_validate(
            {
                **r,
                "contact": LinkedContact(
                    id=r["contact_id"],
                    name=r["contact_name"],
                    email=r["contact_email"],
                    source=r["contact_source"],
                ),
            }
        )
        for r in rows
    ]
    meta = PageMeta(
        limit=limit, offset=offset, total=total, next_cursor=_next(rows, limit, listing, sort, order)
    )
    return ActivePatientPage(data=data, meta=meta)


@router.get("/orgs/{org}/contacts", response_model=ContactPage)
async def list_contacts(
    request: Request,
    org: str = Depends(require_org_reader),
    limit: int = Limit,
    offset: int = Offset,
    cursor: str | None = CursorQ,
    include_deleted: bool = Query(False, description="also list contacts deleted in the provider"),
) -> ContactPage:
    listing = f"{org}/contacts"
    after = _after(cursor, offset, listing, "created_at", "asc")
    async with org_scope(_sessions(request), org) as session:
        rows, total = await read.contacts(
            session, org, limit=limit, offset=offset, after=after, include_deleted=include_deleted
        )
    meta = PageMeta(
        limit=limit, offset=offset, total=total, next_cursor=_next(rows, limit, listing, "created_at", "asc")
    )
    return ContactPage(data=[Contact.model_validate(r) for r in rows], meta=meta)


@router.get("/orgs/{org}/contacts/{contact_id}", response_model=Contact)
async def get_contact(
    request: Request, contact_id: uuid.UUID, org: str = Depends(require_org_reader)
) -> Contact:
    async with org_scope(_sessions(request), org) as session:
        row = await read.contact(session, org, contact_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no contact {contact_id} in org '{org}'")
    return Contact.model_validate(row)
