"""Webhooks: URL rules, handshake, signed deliveries, watched fields, 410, retries, expiry."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta


def create_hook(clio, h, url, fields="id,etag,name", **extra):
    body = {"data": {"url": url, "model": "contact", "fields": fields, **extra}}
    return clio.http.post(
        "/api/v4/webhooks.json",
        headers=h,
        json=body,
        params={"fields": "id,status,shared_secret,expires_at,events,model"},
    )


def wait_status(clio, h, hook_id, status, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = clio.http.get(f"/api/v4/webhooks/{hook_id}", headers=h, params={"fields": "status"}).json()
        if got["data"]["status"] == status:
            return
        time.sleep(0.02)
    raise AssertionError(f"webhook {hook_id} never became {status}")


def live_hook(clio, receiver, h, **kw):
    r = create_hook(clio, h, receiver.url, **kw)
    assert r.status_code == 201, r.text
    hook = r.json()["data"]
    wait_status(clio, h, hook["id"], "enabled")
    return hook


def test_url_rules(clio_factory):
    strict = clio_factory(allow_http_loopback_webhooks=False)
    h = strict.auth()
    r = create_hook(strict, h, "http://127.0.0.1:1/hook")
    assert r.status_code == 422 and "HTTPS" in r.json()["error"]["message"]
    relaxed = clio_factory()
    h2 = relaxed.auth()
    assert create_hook(relaxed, h2, "http://example.com/hook").status_code == 422
    assert create_hook(relaxed, h2, "https://hooks.example.com/clio").status_code == 201
    assert create_hook(relaxed, h2, "http://127.0.0.1:1/hook").status_code == 201


def test_create_validation(clio):
    h = clio.auth()
    url = "https://hooks.example.com/x"
    assert (
        clio.http.post(
            "/api/v4/webhooks", headers=h, json={"data": {"url": url, "model": "contact"}}
        ).status_code
        == 422
    )
    assert create_hook(clio, h, url, fields="id," + "name," * 300).status_code == 422
    assert create_hook(clio, h, url, fields="id,bogus").status_code == 422
    assert create_hook(clio, h, url, model="spaceship").status_code == 422
    assert create_hook(clio, h, url, events=["matter_opened"]).status_code == 422
    by_id = create_hook(clio, h, url, model=6)
    assert by_id.status_code == 201 and by_id.json()["data"]["model"] == "contact"
    hook = by_id.json()["data"]
    assert hook["status"] == "pending" and len(hook["shared_secret"]) >= 16
    assert hook["events"] == ["created", "updated", "deleted"]
    expires = datetime.fromisoformat(hook["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - datetime.now(UTC)) - timedelta(days=3)) < timedelta(minutes=1)
    too_far = (datetime.now(UTC) + timedelta(days=32)).isoformat()
    assert create_hook(clio, h, url, expires_at=too_far).status_code == 422
    ok = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    assert create_hook(clio, h, url, expires_at=ok).status_code == 201
    default = clio.http.get(f"/api/v4/webhooks/{hook['id']}", headers=h).json()["data"]
    assert set(default) == {"id", "etag"}


def test_handshake_confirms_and_signed_delivery(clio, receiver):
    h = clio.auth()
    hook = live_hook(clio, receiver, h, fields="id,etag,name,primary_email_address")
    shake = receiver.handshakes()[0]
    assert shake["headers"]["x-hook-secret"] == hook["shared_secret"]
    assert json.loads(shake["body"])["webhook_id"] == hook["id"]

    r = clio.http.post(
        "/api/v4/contacts",
        headers=h,
        params={"fields": "id"},
        json={
            "data": {
                "first_name": "Hook",
                "last_name": "Test",
                "email_addresses": [{"address": "hook@example.com"}],
            }
        },
    )
    cid = r.json()["data"]["id"]
    [delivery] = receiver.wait_for(1)
    expected = hmac.new(hook["shared_secret"].encode(), delivery["body"], hashlib.sha256).hexdigest()
    assert delivery["headers"]["x-hook-signature"] == expected
    payload = json.loads(delivery["body"])
    assert payload["meta"] == {"event": "created", "webhook_id": hook["id"]}
    assert payload["data"]["id"] == cid and payload["data"]["name"] == "Hook Test"
    assert list(payload["data"]) == ["id", "etag", "name", "primary_email_address"]

    clio.http.delete(f"/api/v4/contacts/{cid}", headers=h)
    deliveries = receiver.wait_for(2)
    assert json.loads(deliveries[1]["body"])["meta"]["event"] == "deleted"
    log = clio.wait_idle()["deliveries"]
    assert {row["kind"] for row in log} == {"handshake", "delivery"}


def test_unconfirmed_handshake_then_activate(clio, receiver):
    receiver.echo_secret = False
    h = clio.auth()
    hook = create_hook(clio, h, receiver.url).json()["data"]
    clio.wait_idle()
    assert (
        clio.http.get(f"/api/v4/webhooks/{hook['id']}", headers=h, params={"fields": "status"}).json()[
            "data"
        ]["status"]
        == "pending"
    )
    # pending hooks get nothing
    clio.http.post("/_sandbox/accounts/demo-law/contacts", json={"last_name": "Quiet"})
    clio.wait_idle()
    assert receiver.deliveries() == []
    wrong = clio.http.put(f"/api/v4/webhooks/{hook['id']}/activate", headers={**h, "X-Hook-Secret": "nope"})
    assert wrong.status_code == 403
    ok = clio.http.put(
        f"/api/v4/webhooks/{hook['id']}/activate",
        headers={**h, "X-Hook-Secret": hook["shared_secret"]},
        params={"fields": "status"},
    )
    assert ok.status_code == 200 and ok.json()["data"]["status"] == "enabled"


def test_auto_enable_switch(clio_factory, receiver):
    clio = clio_factory(webhook_auto_enable=True)
    receiver.echo_secret = False
    h = clio.auth()
    hook = create_hook(clio, h, receiver.url).json()["data"]
    wait_status(clio, h, hook["id"], "enabled")


def test_url_change_repeats_handshake(clio, receiver):
    h = clio.auth()
    hook = live_hook(clio, receiver, h)
    r = clio.http.patch(
        f"/api/v4/webhooks/{hook['id']}",
        headers=h,
        params={"fields": "status"},
        json={"data": {"url": receiver.url + "?v=2"}},
    )
    assert r.json()["data"]["status"] == "pending"
    wait_status(clio, h, hook["id"], "enabled")
    assert len(receiver.handshakes()) == 2


def test_watched_fields_rule(clio, receiver):
    h = clio.auth()
    live_hook(clio, receiver, h, fields="id,etag,name", events=["updated"])
    cid = clio.http.get("/api/v4/contacts", headers=h, params={"type": "Person", "limit": 1}).json()["data"][
        0
    ]["id"]

    def patch(data):
        clio.http.patch(f"/api/v4/contacts/{cid}", headers=h, json={"data": data})
        clio.wait_idle()

    patch({"title": "First"})  # first update seen since the hook went live: fires regardless
    assert len(receiver.deliveries()) == 1
    patch({"title": "Second"})  # title is not subscribed: no delivery
    assert len(receiver.deliveries()) == 1
    patch({"first_name": "Renamed"})  # name changes: fires
    assert len(receiver.deliveries()) == 2
    assert json.loads(receiver.deliveries()[1]["body"])["data"]["name"].startswith("Renamed")


def test_410_suspends_and_retries_back_off(clio, receiver):
    h = clio.auth()
    hook = live_hook(clio, receiver, h)
    receiver.statuses = [500, 503]
    clio.http.post("/_sandbox/accounts/demo-law/contacts", json={"last_name": "Retry"})
    rows = [r for r in clio.wait_idle()["deliveries"] if r["kind"] == "delivery"]
    assert [r["outcome"] for r in rows] == ["retrying", "retrying", "delivered"]
    assert [r["attempt"] for r in rows] == [1, 2, 3]
    assert len({r["signature"] for r in rows}) == 1  # the same bytes every time

    receiver.statuses = [410]
    clio.http.post("/_sandbox/accounts/demo-law/contacts", json={"last_name": "Gone"})
    clio.wait_idle()
    status = clio.http.get(f"/api/v4/webhooks/{hook['id']}", headers=h, params={"fields": "status"})
    assert status.json()["data"]["status"] == "suspended"
    before = len(receiver.deliveries())
    clio.http.post("/_sandbox/accounts/demo-law/contacts", json={"last_name": "After"})
    clio.wait_idle()
    assert len(receiver.deliveries()) == before


def test_gives_up_after_schedule(clio, receiver):
    h = clio.auth()
    live_hook(clio, receiver, h)
    receiver.statuses = [500] * 10
    clio.http.post("/_sandbox/accounts/demo-law/contacts", json={"last_name": "Never"})
    rows = [r for r in clio.wait_idle()["deliveries"] if r["kind"] == "delivery"]
    assert len(rows) == 4 and rows[-1]["outcome"] == "gave_up"


def test_expired_hook_skipped_and_renewed(clio, receiver):
    h = clio.auth()
    hook = live_hook(clio, receiver, h)
    clio.http.post("/_sandbox/clock/advance", json={"seconds": 3 * 86400 + 10})
    h = clio.auth()  # tokens outlive the hook, but use a fresh one anyway
    clio.http.post("/_sandbox/accounts/demo-law/contacts", json={"last_name": "Late"})
    log = clio.wait_idle()["deliveries"]
    assert any(r["outcome"] == "expired" for r in log)
    assert receiver.deliveries() == []
    now = datetime.fromisoformat(clio.http.get("/_sandbox/clock").json()["now"].replace("Z", "+00:00"))
    r = clio.http.patch(
        f"/api/v4/webhooks/{hook['id']}",
        headers=h,
        json={"data": {"expires_at": (now + timedelta(days=10)).isoformat()}},
    )
    assert r.status_code == 200
    clio.http.post("/_sandbox/accounts/demo-law/contacts", json={"last_name": "Renewed"})
    assert len(receiver.wait_for(1)) == 1


def test_webhooks_are_per_user_and_deletable(clio, receiver):
    h = clio.auth()
    hook = live_hook(clio, receiver, h)
    listed = clio.http.get("/api/v4/webhooks", headers=h, params={"fields": "id,url,status"}).json()["data"]
    assert listed == [{"id": hook["id"], "url": receiver.url, "status": "enabled"}]
    assert clio.http.delete(f"/api/v4/webhooks/{hook['id']}", headers=h).status_code == 204
    assert clio.http.get(f"/api/v4/webhooks/{hook['id']}", headers=h).status_code == 404


def test_410_delete_switch_and_if_match(clio_factory, receiver):
    clio = clio_factory(webhook_on_410="delete")
    h = clio.auth()
    hook = live_hook(clio, receiver, h)
    etag = clio.http.get(f"/api/v4/webhooks/{hook['id']}", headers=h).json()["data"]["etag"]
    r = clio.http.patch(
        f"/api/v4/webhooks/{hook['id']}", headers={**h, "IF-MATCH": '"stale"'}, json={"data": {}}
    )
    assert r.status_code == 412
    r = clio.http.patch(
        f"/api/v4/webhooks/{hook['id']}",
        headers={**h, "IF-MATCH": etag},
        json={"data": {"fields": "id,name"}},
    )
    assert r.status_code == 200
    receiver.statuses = [410]
    clio.http.post("/_sandbox/accounts/demo-law/contacts", json={"last_name": "Gone"})
    clio.wait_idle()
    assert clio.http.get(f"/api/v4/webhooks/{hook['id']}", headers=h).status_code == 404
