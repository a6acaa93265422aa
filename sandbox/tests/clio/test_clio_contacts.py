"""Contacts CRUD: validation, nested upserts, derived primaries, etags and conditional requests."""

from __future__ import annotations

FIELDS = (
    "id,etag,name,first_name,last_name,type,updated_at,primary_email_address,secondary_email_address,"
    "primary_phone_number,email_addresses{id,address,primary,name},phone_numbers{id,number,primary,name}"
)


def test_contact_crud_cycle(clio):
    h = clio.auth()
    body = {
        "data": {
            "type": "Person",
            "first_name": "Zoë",
            "last_name": "Ñúñez",
            "email_addresses": [
                {"name": "Work", "address": "zoe@example.com", "default_email": True},
                {"name": "Home", "address": "z@home.example"},
            ],
            "phone_numbers": [{"name": "Mobile", "number": "+1 555 0100", "default_number": True}],
        }
    }
    r = clio.http.post("/api/v4/contacts.json", headers=h, json=body, params={"fields": FIELDS})
    assert r.status_code == 201, r.text
    c = r.json()["data"]
    assert c["name"] == "Zoë Ñúñez" and c["primary_email_address"] == "zoe@example.com"
    assert c["secondary_email_address"] == "z@home.example" and c["primary_phone_number"] == "+1 555 0100"
    cid, etag = c["id"], c["etag"]
    home = next(e for e in c["email_addresses"] if e["address"] == "z@home.example")
    work = next(e for e in c["email_addresses"] if e["address"] == "zoe@example.com")

    # nested upsert: make home primary, destroy work, add a new one
    patch = {
        "data": {
            "email_addresses": [
                {"id": home["id"], "default_email": True},
                {"id": work["id"], "_destroy": True},
                {"name": "Other", "address": "new@example.com"},
            ]
        }
    }
    r = clio.http.patch(f"/api/v4/contacts/{cid}", headers=h, json=patch, params={"fields": FIELDS})
    assert r.status_code == 200, r.text
    c2 = r.json()["data"]
    assert c2["primary_email_address"] == "z@home.example"
    assert sorted(e["address"] for e in c2["email_addresses"]) == ["new@example.com", "z@home.example"]
    assert c2["etag"] != etag and r.headers["ETag"] == c2["etag"]

    # every write changes the etag, even within the same second
    r = clio.http.patch(
        f"/api/v4/contacts/{cid}.json", headers=h, json={"data": {"title": "CEO"}}, params={"fields": "etag"}
    )
    assert r.json()["data"]["etag"] != c2["etag"]

    # If-Match mismatch → 412; If-None-Match → 304
    stale = clio.http.patch(f"/api/v4/contacts/{cid}", headers={**h, "IF-MATCH": etag}, json={"data": {}})
    assert stale.status_code == 412 and stale.json()["error"]["type"]
    current = clio.http.get(f"/api/v4/contacts/{cid}", headers=h).json()["data"]["etag"]
    ok = clio.http.patch(
        f"/api/v4/contacts/{cid}", headers={**h, "IF-MATCH": current}, json={"data": {"first_name": "Zoe"}}
    )
    assert ok.status_code == 200
    fresh = clio.http.get(f"/api/v4/contacts/{cid}", headers=h).json()["data"]["etag"]
    assert clio.http.get(f"/api/v4/contacts/{cid}", headers={**h, "IF-NONE-MATCH": fresh}).status_code == 304
    assert clio.http.get(f"/api/v4/contacts/{cid}", headers={**h, "IF-NONE-MATCH": etag}).status_code == 200

    assert clio.http.delete(f"/api/v4/contacts/{cid}", headers=h).status_code == 204
    gone = clio.http.get(f"/api/v4/contacts/{cid}", headers=h)
    assert gone.status_code == 404 and set(gone.json()["error"]) == {"type", "message"}


def test_validation_errors(clio):
    h = clio.auth()
    r = clio.http.post("/api/v4/contacts", headers=h, json={"data": {"type": "Person", "title": "Dr"}})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "At least one of first name or last name must be provided"
    assert (
        clio.http.post("/api/v4/contacts", headers=h, json={"data": {"type": "Company"}}).status_code == 422
    )
    assert clio.http.post("/api/v4/contacts", headers=h, json={"data": {"type": "Robot"}}).status_code == 422
    bad_phone = {"data": {"last_name": "X", "phone_numbers": [{"name": "Cell", "number": "1"}]}}
    assert clio.http.post("/api/v4/contacts", headers=h, json=bad_phone).status_code == 422
    # a parseable full name is enough for a Person
    r = clio.http.post(
        "/api/v4/contacts",
        headers=h,
        json={"data": {"name": "Ada Lovelace"}},
        params={"fields": "first_name,last_name"},
    )
    assert r.status_code == 201 and r.json()["data"] == {"first_name": "Ada", "last_name": "Lovelace"}
    # a failed PATCH changes nothing
    cid = (
        r.json()["data"]
        and clio.http.get("/api/v4/contacts", headers=h, params={"order": "id(desc)", "limit": 1}).json()[
            "data"
        ][0]["id"]
    )
    before = clio.http.get(f"/api/v4/contacts/{cid}", headers=h).json()["data"]["etag"]
    r = clio.http.patch(
        f"/api/v4/contacts/{cid}", headers=h, json={"data": {"first_name": None, "last_name": ""}}
    )
    assert r.status_code == 422
    assert clio.http.get(f"/api/v4/contacts/{cid}", headers=h).json()["data"]["etag"] == before
    assert clio.http.get("/api/v4/contacts/abc", headers=h).status_code == 404


def test_form_encoded_write(clio):
    r = clio.http.post(
        "/api/v4/contacts",
        headers=clio.auth(),
        params={"fields": "name"},
        data={"data[first_name]": "Form", "data[last_name]": "Posted"},
    )
    assert r.status_code == 201 and r.json()["data"]["name"] == "Form Posted"


def test_control_api_writes_and_updated_since(clio):
    h = clio.auth()
    made = clio.http.post(
        "/_sandbox/accounts/demo-law/contacts", json={"first_name": "Ctl", "last_name": "One"}
    )
    assert made.status_code == 201
    cid = made.json()["data"]["id"]
    since = made.json()["data"]["updated_at"]
    r = clio.http.get("/api/v4/contacts", headers=h, params={"updated_since": since, "fields": "id"})
    assert cid in [c["id"] for c in r.json()["data"]]
    assert clio.http.patch(f"/_sandbox/accounts/1001/contacts/{cid}", json={"title": "X"}).status_code == 200
    assert clio.http.delete(f"/_sandbox/accounts/demo-law/contacts/{cid}").status_code == 204
    assert clio.http.get(f"/api/v4/contacts/{cid}", headers=h).status_code == 404


def test_if_modified_since(clio):
    h = clio.auth()
    c = clio.http.get("/api/v4/contacts", headers=h, params={"limit": 1, "fields": "id,updated_at"}).json()[
        "data"
    ][0]
    assert (
        clio.http.get(
            f"/api/v4/contacts/{c['id']}", headers={**h, "IF-MODIFIED-SINCE": "Fri, 01 Jan 2100 00:00:00 GMT"}
        ).status_code
        == 304
    )
    assert (
        clio.http.get(
            f"/api/v4/contacts/{c['id']}", headers={**h, "IF-MODIFIED-SINCE": "Mon, 01 Jan 1990 00:00:00 GMT"}
        ).status_code
        == 200
    )
