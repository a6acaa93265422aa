"""A Cliniko record the service cannot read fails the run at once, naming the record.

The sandbox refuses to store such records, so a small stand-in for Cliniko answers here over real
HTTP: one page of individual appointments holding one record with a `starts_at` that is no date.
Retrying cannot fix it (every attempt reads the same record): the run must not be retried.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from practice_sync_cli.testing_stack import Stack
from practice_sync_cliniko_sync.testing import request_sync, wait_run
from practice_sync_sandbox._kit.runner import ServerThread

BAD_ID = "1390726237298631770"


def _broken_cliniko() -> FastAPI:
    app = FastAPI()

    @app.get("/v1/{resource}")
    def listing(resource: str, request: Request) -> dict[str, Any]:
        records: list[dict[str, Any]] = []
        if resource == "individual_appointments":
            records = [
                {
                    "id": BAD_ID,
                    "starts_at": "sometime next week",
                    "updated_at": "2025-01-01T00:00:00Z",
                    "patient": {"links": {"self": "https://api.au1.cliniko.com/v1/patients/1"}},
                }
            ]
        return {resource: records, "total_entries": len(records), "links": {"self": str(request.url)}}

    return app


@pytest.fixture
def broken_cliniko() -> Iterator[str]:
    with ServerThread(_broken_cliniko()) as server:
        yield f"{server.url}/v1"


async def test_an_unreadable_record_fails_the_run_at_once_naming_it(
    stack: Stack, cliniko_sync_service: str, broken_cliniko: str
) -> None:
    org = f"broken-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=stack.urls["credentials"], headers=stack.admin_headers()) as c:
        assert (await c.post("/admin/orgs", json={"id": org, "name": org})).status_code == 201
        r = await c.put(
            f"/admin/orgs/{org}/credentials/cliniko",
            json={"api_key": f"k{org}-au1", "api_url": broken_cliniko, "validate": False},
        )
        assert r.is_success, r.text
    run = await wait_run(stack, await request_sync(stack, org, "full"), wait_s=60)
    assert run.status == "failed"
    assert run.attempt == 1, run.error  # not retried: the next attempt would read the same record
    assert run.error is not None
    assert "individual_appointments" in run.error and BAD_ID in run.error, run.error
    assert "sometime next week" in run.error, run.error
