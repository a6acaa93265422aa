"""Walking every page with next_cursor returns each row exactly once, in the unpaged order.

Sort keys that are NULL (no last appointment, a contact without a name), that tie heavily (every
count the same) and timestamps with microseconds, in both orders and for every sort.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import httpx
import pytest
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from practice_sync_cli.testing_stack import Stack
from practice_sync_common.events import ActivePatient
from practice_sync_projector.endpoints.read_api import PatientSort
from practice_sync_projector.testing import complete, patient, send, wait_run

T0 = datetime(2025, 1, 1, 8, 0, 0, 123456, tzinfo=UTC)


def _awkward(run: uuid.UUID, i: int) -> ActivePatient:
    """Every third patient has no last appointment; every second no name; totals tie in twos."""
    named = i % 2 == 0
    row = patient(
        run,
        f"p{i:02d}",
        "Same" if named else None,
        f"Name{i % 3}" if named else None,
        total=i // 2,
        last_date=T0 + timedelta(microseconds=i % 4),  # ties on the microsecond
    )
    if i % 3 == 0:
        row = row.model_copy(update={"last_appointment_date": None})
    return row


@pytest.fixture(scope="module")
async def awkward_org(projector_service: str, producer: KafkaBroker, db: AsyncEngine) -> str:
    org = f"org-{uuid.uuid4().hex[:10]}"
    run = uuid.uuid4()
    await send(producer, org, *(_awkward(run, i) for i in range(23)), complete(run, 23))
    await wait_run(db, org, run)
    return org


async def _walk(c: httpx.AsyncClient, url: str, params: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        page = (await c.get(url, params={**params, **({"cursor": cursor} if cursor else {})})).json()
        seen += [row["id"] for row in page["data"]]
        cursor = page["meta"]["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("sort", get_args(PatientSort))
async def test_every_row_once_in_order_for_every_sort(
    awkward_org: str, stack: Stack, sort: str, order: str
) -> None:
    url = f"/orgs/{awkward_org}/active-patients"
    async with httpx.AsyncClient(base_url=stack.urls["projector"], headers=stack.admin_headers()) as c:
        whole = await _walk(c, url, {"sort": sort, "order": order, "limit": 500})
        paged = await _walk(c, url, {"sort": sort, "order": order, "limit": 4})
    assert len(whole) == 23
    assert paged == whole


async def test_contacts_every_row_once(awkward_org: str, stack: Stack) -> None:
    url = f"/orgs/{awkward_org}/contacts"
    async with httpx.AsyncClient(base_url=stack.urls["projector"], headers=stack.admin_headers()) as c:
        whole = await _walk(c, url, {"limit": 500})
        paged = await _walk(c, url, {"limit": 3})
    assert len(whole) == 23 and paged == whole
