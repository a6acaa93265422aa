"""The read API over HTTP (auth, paging, sorting, bad params) and the RLS wall underneath it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from faststream.kafka import KafkaBroker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from practice_sync_cli.testing_stack import Stack
from practice_sync_projector.testing import complete, patient, send, wait_run

T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
async def org_with_patients(projector_service: str, producer: KafkaBroker, db: AsyncEngine) -> str:
    org = f"org-{uuid.uuid4().hex[:10]}"
    run = uuid.uuid4()
    rows = [
        patient(run, str(i), f"First{i}", f"Last{i:02d}", total=i % 4, last_date=T0 + timedelta(days=i))
        for i in range(7)
    ]
    await send(producer, org, *rows, complete(run, 7))
    await wait_run(db, org, run)
    return org


async def test_rls_hides_other_orgs_rows_even_without_a_where_clause(
    org_with_patients: str, db: AsyncEngine
) -> None:
    other = f"org-{uuid.uuid4().hex[:10]}"
    async with db.connect() as conn, conn.begin():
        await conn.execute(text("SET LOCAL ROLE practice_projector"))
        await conn.execute(text("SELECT set_config('app.org_id', :o, true)"), {"o": other})
        assert (await conn.execute(text("SELECT count(*) FROM public.active_patients"))).scalar_one() == 0
        assert (await conn.execute(text("SELECT count(*) FROM public.contacts"))).scalar_one() == 0
        await conn.execute(text("SELECT set_config('app.org_id', :o, true)"), {"o": org_with_patients})
        assert (await conn.execute(text("SELECT count(*) FROM public.active_patients"))).scalar_one() == 7
        # Writing a row for another org than the transaction's is refused by the policy.
        with pytest.raises(Exception, match="row-level security"):
            async with conn.begin_nested():
                await conn.execute(
                    text(
                        "INSERT INTO public.contacts (id, organization_id, source) "
                        "VALUES (gen_random_uuid(), :o, 'clio')"
                    ),
                    {"o": other},
                )
    async with db.connect() as conn, conn.begin():  # no org set: nothing visible at all
        await conn.execute(text("SET LOCAL ROLE practice_projector"))
        assert (await conn.execute(text("SELECT count(*) FROM public.active_patients"))).scalar_one() == 0


async def test_paging_sorting_and_cursor(org_with_patients: str, stack: Stack) -> None:
    base = stack.urls["projector"]
    async with httpx.AsyncClient(base_url=base, headers=stack.admin_headers()) as c:
        r = await c.get(f"/orgs/{org_with_patients}/active-patients", params={"limit": 3})
        assert r.status_code == 200
        body = r.json()
        assert body["meta"]["total"] == 7
        assert [p["cliniko_patient_id"] for p in body["data"]] == ["6", "5", "4"]  # latest first
        seen = [p["cliniko_patient_id"] for p in body["data"]]
        cursor = body["meta"]["next_cursor"]
        while cursor:
            r = await c.get(
                f"/orgs/{org_with_patients}/active-patients", params={"limit": 3, "cursor": cursor}
            )
            seen += [p["cliniko_patient_id"] for p in r.json()["data"]]
            cursor = r.json()["meta"]["next_cursor"]
        assert seen == ["6", "5", "4", "3", "2", "1", "0"]
        r = await c.get(
            f"/orgs/{org_with_patients}/active-patients",
            params={"sort": "name", "order": "asc", "limit": 2, "offset": 2},
        )
        assert [p["contact"]["name"] for p in r.json()["data"]] == ["First2 Last02", "First3 Last03"]
        r = await c.get(f"/orgs/{org_with_patients}/contacts", params={"limit": 5})
        assert len(r.json()["data"]) == 5 and r.json()["meta"]["total"] == 7
        one = r.json()["data"][0]
        r = await c.get(f"/orgs/{org_with_patients}/contacts/{one['id']}")
        assert r.status_code == 200 and r.json()["id"] == one["id"]
        r = await c.get(f"/orgs/other-org/contacts/{one['id']}")
        assert r.status_code == 404


async def test_bad_parameters_get_clear_errors(org_with_patients: str, stack: Stack) -> None:
    url = f"/orgs/{org_with_patients}/active-patients"
    async with httpx.AsyncClient(base_url=stack.urls["projector"], headers=stack.admin_headers()) as c:
        r = await c.get(url, params={"sort": "shoe_size"})
        assert r.status_code == 422 and "sort" in r.json()["error"]["message"]
        r = await c.get(url, params={"limit": 0})
        assert r.status_code == 422 and "limit" in r.json()["error"]["message"]
        r = await c.get(url, params={"cursor": "not-a-cursor"})
        assert r.status_code == 400 and "cursor" in r.json()["error"]["message"]
        first = (await c.get(url, params={"limit": 1})).json()["meta"]["next_cursor"]
        r = await c.get(url, params={"cursor": first, "sort": "name"})
        assert r.status_code == 400 and "sort=last_appointment_date" in r.json()["error"]["message"]
        r = await c.get(url, params={"cursor": first, "offset": 5})
        assert r.status_code == 400 and "either offset or cursor" in r.json()["error"]["message"]
        # A cursor belongs to its org and list: replayed elsewhere it is refused, not misread.
        r = await c.get("/orgs/another-org/active-patients", params={"cursor": first})
        assert r.status_code == 400 and "another list" in r.json()["error"]["message"]
        contacts = f"/orgs/{org_with_patients}/contacts"
        from_contacts = (await c.get(contacts, params={"limit": 1})).json()["meta"]["next_cursor"]
        r = await c.get(url, params={"cursor": from_contacts, "sort": "updated_at"})
        assert r.status_code == 400 and "another list" in r.json()["error"]["message"]
        assert (await c.get(contacts, params={"cursor": from_contacts})).status_code == 200
        r = await c.get(f"/orgs/{org_with_patients}/contacts/not-a-uuid")
        assert r.status_code == 422


async def test_org_read_tokens_read_only_their_org(org_with_patients: str, stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.urls["projector"]) as c:
        assert (await c.get(f"/orgs/{org_with_patients}/active-patients")).status_code == 401
        minted = await c.post(f"/orgs/{org_with_patients}/read-token", headers=stack.admin_headers())
        token = minted.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert (await c.get(f"/orgs/{org_with_patients}/active-patients", headers=auth)).status_code == 200
        r = await c.get("/orgs/someone-else/active-patients", headers=auth)
        assert r.status_code == 403 and "someone-else" in r.json()["error"]["message"]
        assert (await c.post(f"/orgs/{org_with_patients}/read-token", headers=auth)).status_code == 401
        bad = {"Authorization": "Bearer nope"}
        assert (await c.get(f"/orgs/{org_with_patients}/contacts", headers=bad)).status_code == 401


async def test_a_uuid_org_reads_the_same_in_any_spelling(
    projector_service: str, producer: KafkaBroker, db: AsyncEngine, stack: Stack
) -> None:
    """Rows are kept under the lowercase form of a UUID org (the credentials service's): asked for
    in upper case, or without hyphens, the org still shows them, and its read token reads them."""
    org = str(uuid.uuid4())
    run = uuid.uuid4()
    await send(producer, org, patient(run, "1", "Ada", "Lovelace"), patient(run, "2", "Alan", "Turing"))
    await send(producer, org, complete(run, 2))
    await wait_run(db, org, run)
    spellings = (org, org.upper(), org.replace("-", "").upper())
    async with httpx.AsyncClient(base_url=stack.urls["projector"], headers=stack.admin_headers()) as c:
        for spelled in spellings:
            r = await c.get(f"/orgs/{spelled}/active-patients")
            assert r.status_code == 200 and r.json()["meta"]["total"] == 2, (spelled, r.text)
            assert len((await c.get(f"/orgs/{spelled}/contacts")).json()["data"]) == 2, spelled
        minted = await c.post(f"/orgs/{org.upper()}/read-token")
        assert minted.json()["org_id"] == org
        token = {"Authorization": f"Bearer {minted.json()['token']}"}
    async with httpx.AsyncClient(base_url=stack.urls["projector"], headers=token) as c:
        for spelled in spellings:
            r = await c.get(f"/orgs/{spelled}/active-patients")
            assert r.status_code == 200 and r.json()["meta"]["total"] == 2, (spelled, r.text)
