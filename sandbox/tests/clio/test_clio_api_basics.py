"""Versioning, rate limiting, fields projection and list paging."""

from __future__ import annotations


def test_api_version_echo_and_410(clio):
    h = clio.auth()
    r = clio.http.get("/api/v4/contacts", headers=h)
    assert r.headers["X-API-VERSION"] == "4.0.13"
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    r = clio.http.get("/api/v4/contacts", headers={**h, "X-API-VERSION": "4.0.9"})
    assert r.status_code == 200 and r.headers["X-API-VERSION"] == "4.0.9"
    r = clio.http.get("/api/v4/contacts", headers={**h, "X-API-VERSION": "3.0.0"})
    assert r.status_code == 410 and set(r.json()["error"]) == {"type", "message"}


def test_rate_limit_headers_and_429(clio):
    clio.http.post("/_sandbox/rate_limit", json={"limit": 3})
    # Start just after a window boundary so the burst cannot straddle two windows.
    clio.http.post("/_sandbox/clock/set", json={"at": "2030-01-01T00:00:01Z"})
    h = clio.auth()
    remaining = []
    for _ in range(3):
        r = clio.http.get("/api/v4/contacts", headers=h, params={"limit": 1})
        assert r.status_code == 200
        assert int(r.headers["X-RateLimit-Reset"]) == 1893456060  # 2030-01-01T00:01:00Z
        remaining.append(int(r.headers["X-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    r = clio.http.get("/api/v4/contacts", headers=h)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.json()["error"]["type"] == "RateLimited" and r.json()["error"]["message"]
    assert r.headers["X-RateLimit-Remaining"] == "0"
    # Another token has its own window.
    assert clio.http.get("/api/v4/contacts", headers=clio.auth()).status_code == 200
    stats = clio.http.get("/_sandbox/stats").json()["accounts"]["demo-law"]
    assert stats["throttled_429"] == 1 and stats["peak_in_window"] >= 5
    assert stats["by_endpoint"]["GET /api/v4/contacts"] == 5
    clio.http.post("/_sandbox/stats/reset")
    assert clio.http.get("/_sandbox/stats").json()["accounts"] == {}


def test_fields_projection(clio):
    h = clio.auth()
    default = clio.http.get("/api/v4/contacts", headers=h, params={"limit": 2}).json()["data"]
    assert all(set(c) == {"id", "etag"} and c["etag"].startswith('"') for c in default)
    r = clio.http.get(
        "/api/v4/contacts.json",
        headers=h,
        params={"fields": "id,name,email_addresses{address,primary},phone_numbers", "limit": 50},
    )
    rows = r.json()["data"]
    assert all(list(c) == ["id", "name", "email_addresses", "phone_numbers"] for c in rows)
    emails = [e for c in rows for e in c["email_addresses"]]
    assert emails and all(set(e) == {"address", "primary"} for e in emails)
    phones = [p for c in rows for p in c["phone_numbers"]]
    assert phones and all(set(p) == {"id", "etag"} for p in phones)  # nested without braces → defaults
    for bad in ("id,nope", "email_addresses{address,foo}", "email_addresses{address{x}}", "id,{"):
        r = clio.http.get("/api/v4/contacts", headers=h, params={"fields": bad})
        assert r.status_code == 400, bad
        assert set(r.json()["error"]) == {"type", "message"}


def test_cursor_paging_to_the_end(clio_factory):
    from practice_sync_sandbox.clio.config import AccountSpec

    clio = clio_factory(accounts=[AccountSpec(contacts=430)])
    h = clio.auth()
    url = "/api/v4/contacts.json?fields=id,name&limit=200"
    ids: list[int] = []
    pages = 0
    while url:
        r = clio.http.get(url, headers=h)
        assert r.status_code == 200
        body = r.json()
        ids += [c["id"] for c in body["data"]]
        pages += 1
        nxt = body["meta"]["paging"].get("next")
        if nxt:
            assert nxt.startswith(clio.url + "/api/v4/contacts.json?") and "page_token=" in nxt
            assert "fields=id%2Cname" in nxt and "limit=200" in nxt
        url = nxt
    assert pages == 3 and len(ids) == 430 and ids == sorted(ids) and len(set(ids)) == 430
    no_json = clio.http.get("/api/v4/contacts", headers=h, params={"limit": 1}).json()
    assert no_json["meta"]["paging"]["next"].startswith(clio.url + "/api/v4/contacts?")


def test_limit_bounds_and_bad_token(clio):
    h = clio.auth()
    for limit in (0, 201, "x"):
        assert clio.http.get("/api/v4/contacts", headers=h, params={"limit": limit}).status_code == 400
    assert clio.http.get("/api/v4/contacts", headers=h, params={"page_token": "garbage!"}).status_code == 400


def test_offset_paging_order_and_cap(clio):
    h = clio.auth()
    r = clio.http.get(
        "/api/v4/contacts", headers=h, params={"order": "name(asc)", "fields": "id,name", "limit": 10}
    )
    body = r.json()
    names = [c["name"].lower() for c in body["data"]]
    assert names == sorted(names)
    assert "offset=10" in body["meta"]["paging"]["next"]
    desc = clio.http.get("/api/v4/contacts", headers=h, params={"order": "id(desc)", "limit": 5}).json()[
        "data"
    ]
    assert [c["id"] for c in desc] == sorted((c["id"] for c in desc), reverse=True)
    r = clio.http.get("/api/v4/contacts", headers=h, params={"offset": 10000})
    assert r.status_code == 422 and r.json()["error"]["type"] == "ArgumentError"
    assert clio.http.get("/api/v4/contacts", headers=h, params={"order": "email(asc)"}).status_code == 400


def test_filters(clio):
    h = clio.auth()
    everything = clio.http.get("/_sandbox/accounts/demo-law/contacts/export").json()["data"]
    newest = max(c["updated_at"] for c in everything)
    r = clio.http.get(
        "/api/v4/contacts", headers=h, params={"updated_since": newest, "fields": "id,updated_at"}
    )
    assert [c["id"] for c in r.json()["data"]] == [c["id"] for c in everything if c["updated_at"] >= newest]
    some = [everything[1]["id"], everything[3]["id"]]
    r = clio.http.get("/api/v4/contacts", headers=h, params=[("ids[]", some[0]), ("ids[]", some[1])])
    assert [c["id"] for c in r.json()["data"]] == some
    r = clio.http.get("/api/v4/contacts", headers=h, params={"exclude_ids[]": some[0], "limit": 3})
    assert some[0] not in [c["id"] for c in r.json()["data"]]
    companies = clio.http.get(
        "/api/v4/contacts", headers=h, params={"type": "Company", "fields": "type"}
    ).json()
    assert all(c["type"] == "Company" for c in companies["data"])
    target = next(c for c in everything if c["primary_email_address"])
    probe = target["primary_email_address"].strip().split("@")[0].lower()
    found = clio.http.get("/api/v4/contacts", headers=h, params={"query": probe}).json()["data"]
    assert target["id"] in [c["id"] for c in found]
    created = clio.http.get(
        "/api/v4/contacts", headers=h, params={"created_since": "2100-01-01T00:00:00Z"}
    ).json()["data"]
    assert created == []
    assert (
        clio.http.get("/api/v4/contacts", headers=h, params={"updated_since": "yesterday"}).status_code == 400
    )
