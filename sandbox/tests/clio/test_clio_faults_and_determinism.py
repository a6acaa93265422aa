"""Fault injection kinds, the control API's clock, and byte-identical data for a seed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from practice_sync_sandbox.clio.config import AccountSpec

if TYPE_CHECKING:
    from .conftest import Clio


def test_forced_429s_then_recovery(clio):
    h = clio.auth()
    clio.http.post("/_sandbox/faults", json={"force_429": 2})
    statuses = [clio.http.get("/api/v4/contacts", headers=h).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]


def test_forced_429_has_retry_after(clio):
    h = clio.auth()
    clio.http.post("/_sandbox/faults", json={"force_429": 1})
    r = clio.http.get("/api/v4/contacts", headers=h)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and "X-RateLimit-Limit" in r.headers


def test_server_error_burst_and_rate(clio):
    h = clio.auth()
    clio.http.post("/_sandbox/faults", json={"server_errors": 2, "error_statuses": [503]})
    assert [clio.http.get("/api/v4/contacts", headers=h).status_code for _ in range(3)] == [503, 503, 200]
    clio.http.post("/_sandbox/rate_limit", json={"limit": 1000})
    clio.http.post("/_sandbox/faults", json={"error_rate": 0.5, "seed": 7})
    codes = [clio.http.get("/api/v4/contacts", headers=h, params={"limit": 1}).status_code for _ in range(40)]
    assert 5 < sum(c >= 500 for c in codes) < 35
    clio.http.delete("/_sandbox/faults")
    assert clio.http.get("/api/v4/contacts", headers=h).status_code == 200


def test_latency(clio):
    h = clio.auth()
    clio.http.post("/_sandbox/faults", json={"latency_ms": 300})
    start = time.monotonic()
    clio.http.get("/api/v4/contacts", headers=h)
    assert time.monotonic() - start >= 0.3


def test_malformed_page(clio):
    h = clio.auth()
    clio.http.post("/_sandbox/faults", json={"malformed_pages": 1})
    r = clio.http.get("/api/v4/contacts", headers=h)
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    assert clio.http.get("/api/v4/contacts", headers=h).json()["data"]


def test_contact_record_fault_replaces_one_record_of_the_accounts_next_page_only(
    clio_factory: Callable[..., Clio],
) -> None:
    """What a sync must refuse rather than drop: one record of a page that is not a readable contact."""
    other = AccountSpec("other-firm", 2002, 5, "Other", "User", "user@other.example")
    clio = clio_factory(accounts=[AccountSpec(contacts=25), other])
    h, h_other = clio.auth(), clio.auth(clio.token(user="other-firm"))
    params = {"limit": 5, "fields": "id,etag,name"}
    clean = clio.http.get("/api/v4/contacts", headers=h, params=params).json()
    other_clean = clio.http.get("/api/v4/contacts", headers=h_other, params=params).json()
    r = clio.http.post(
        "/_sandbox/faults/contact_record",
        json={"account": "demo-law", "position": 2, "record": {"name": "x"}},
    )
    assert r.status_code == 200, r.text
    assert clio.http.get("/api/v4/contacts", headers=h_other, params=params).json() == other_clean
    faulty = clio.http.get("/api/v4/contacts", headers=h, params=params).json()
    assert faulty["data"][2] == {"name": "x"}
    assert faulty["data"][:2] + faulty["data"][3:] == clean["data"][:2] + clean["data"][3:]
    assert faulty["meta"] == clean["meta"]  # the walk goes on as before
    assert clio.http.get("/api/v4/contacts", headers=h, params=params).json() == clean  # spent
    # Past the page's end it is appended; null is a record like any other; DELETE /faults drops it.
    clio.http.post("/_sandbox/faults/contact_record", json={"account": 1001, "position": 99, "record": None})
    assert clio.http.get("/api/v4/contacts", headers=h, params=params).json()["data"][-1] is None
    clio.http.post("/_sandbox/faults/contact_record", json={"account": "demo-law", "record": "x"})
    clio.http.delete("/_sandbox/faults")
    assert clio.http.get("/api/v4/contacts", headers=h, params=params).json() == clean
    missing = clio.http.post("/_sandbox/faults/contact_record", json={"account": "demo-law"})
    assert missing.status_code == 422  # no record: the fault would be ambiguous
    unknown = clio.http.post("/_sandbox/faults/contact_record", json={"account": "nobody", "record": 1})
    assert unknown.status_code == 404


def test_connection_cut_mid_body(clio):
    h = clio.auth()
    clio.http.post("/_sandbox/faults", json={"cut_connections": 1})
    with pytest.raises(httpx.HTTPError), httpx.Client(base_url=clio.url) as fresh:
        fresh.get("/api/v4/contacts", headers=h)
    assert clio.http.get("/api/v4/contacts", headers=h).status_code == 200


def test_health_and_clock(clio):
    health = clio.http.get("/_sandbox/health").json()
    assert health["status"] == "ok" and health["accounts"][0]["slug"] == "demo-law"
    before = clio.http.get("/_sandbox/clock").json()["epoch"]
    after = clio.http.post("/_sandbox/clock/advance", json={"seconds": 3600}).json()["epoch"]
    assert after - before >= 3600
    r = clio.http.post("/_sandbox/clock/set", json={"at": "2030-01-01T00:00:00Z"})
    assert r.json()["now"].startswith("2030-01-01T00:00")


def _crawl(clio) -> list[bytes]:
    h = clio.auth()
    url = (
        "/api/v4/contacts.json?limit=7&fields=id,etag,name,first_name,last_name,type,created_at,updated_at,"
        "primary_email_address,email_addresses{id,etag,address,name,primary},phone_numbers{id,number},company"
    )
    bodies = []
    while url:
        r = clio.http.get(url, headers=h)
        bodies.append(r.content.replace(clio.url.encode(), b"BASE"))
        url = r.json()["meta"]["paging"].get("next")
    return bodies


def test_same_seed_byte_identical(clio_factory):
    a, b = clio_factory(seed=42), clio_factory(seed=42)
    assert _crawl(a) == _crawl(b)
    c = clio_factory(seed=43)
    assert _crawl(a) != _crawl(c)
    export_a = a.http.get("/_sandbox/accounts/demo-law/contacts/export").content
    export_b = b.http.get("/_sandbox/accounts/demo-law/contacts/export").content
    assert export_a == export_b


def test_a_restarted_sandbox_never_gives_a_new_contact_an_old_etag(clio_factory):
    """Runtime ids continue from the seeded ones in every process, so a restarted sandbox reuses
    them; the etag must still differ, or a consumer dedupes the new contact away as already seen."""
    first, restarted = clio_factory(seed=42), clio_factory(seed=42)
    made = []
    for clio, name in ((first, "Before"), (restarted, "After")):
        body = {"data": {"type": "Person", "first_name": name, "last_name": "Restart"}}
        r = clio.http.post(
            "/api/v4/contacts.json", headers=clio.auth(), json=body, params={"fields": "id,etag"}
        )
        assert r.status_code == 201, r.text
        made.append(r.json()["data"])
    assert made[0]["id"] == made[1]["id"]  # the id is reused, as it is after a restart
    assert made[0]["etag"] != made[1]["etag"]
    # An update moves the etag on, and seeded records are untouched by any of this.
    h = restarted.auth()
    r = restarted.http.patch(
        f"/api/v4/contacts/{made[1]['id']}.json",
        headers=h,
        json={"data": {"first_name": "Again"}},
        params={"fields": "etag"},
    )
    assert r.status_code == 200 and r.json()["data"]["etag"] != made[1]["etag"]
    export = "/_sandbox/accounts/demo-law/contacts/export"
    seeded = [c for c in first.http.get(export).json()["data"] if c["id"] != made[0]["id"]]
    assert seeded == [c for c in restarted.http.get(export).json()["data"] if c["id"] != made[1]["id"]]
