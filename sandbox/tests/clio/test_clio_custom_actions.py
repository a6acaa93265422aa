"""Custom actions: validation, per-user scoping, and the click → nonce → verify flow."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from practice_sync_sandbox.clio.config import AccountSpec

ACTION = {
    "label": "Open Smart Intake",
    "target_url": "https://intake.example/ca",
    "ui_reference": "contacts/show",
}


@pytest.fixture
def two_users(clio_factory):
    return clio_factory(accounts=[AccountSpec(contacts=5), AccountSpec("second-firm", 2002, 5)])


def test_crud_validation_and_scoping(two_users):
    clio = two_users
    a, b = clio.auth(clio.token(user=1001)), clio.auth(clio.token(user=2002))
    r = clio.http.post(
        "/api/v4/custom_actions.json",
        headers=a,
        json={"data": ACTION},
        params={"fields": "id,etag,label,target_url,ui_reference,created_at,updated_at"},
    )
    assert r.status_code == 201
    action = r.json()["data"]
    assert action["ui_reference"] == "contacts/show"
    dup = clio.http.post("/api/v4/custom_actions", headers=a, json={"data": ACTION})
    assert dup.status_code == 422
    # another user may create the same label: scope is per user
    assert clio.http.post("/api/v4/custom_actions", headers=b, json={"data": ACTION}).status_code == 201
    assert [x["id"] for x in clio.http.get("/api/v4/custom_actions", headers=a).json()["data"]] == [
        action["id"]
    ]
    assert clio.http.get(f"/api/v4/custom_actions/{action['id']}", headers=b).status_code == 404
    bad = clio.http.post(
        "/api/v4/custom_actions", headers=a, json={"data": {**ACTION, "ui_reference": "x/show"}}
    )
    assert bad.status_code == 422
    for missing in ("label", "target_url"):
        body = {k: v for k, v in ACTION.items() if k != missing}
        assert clio.http.post("/api/v4/custom_actions", headers=a, json={"data": body}).status_code == 422
    r = clio.http.patch(
        f"/api/v4/custom_actions/{action['id']}",
        headers=a,
        json={"data": {"label": "Renamed"}},
        params={"fields": "label,etag"},
    )
    assert r.json()["data"]["label"] == "Renamed" and r.json()["data"]["etag"] != action["etag"]
    stale = clio.http.patch(
        f"/api/v4/custom_actions/{action['id']}",
        headers={**a, "IF-MATCH": action["etag"]},
        json={"data": {"label": "Again"}},
    )
    assert stale.status_code == 412
    assert clio.http.delete(f"/api/v4/custom_actions/{action['id']}", headers=a).status_code == 204


def test_click_nonce_flow(two_users):
    clio = two_users
    a, b = clio.auth(clio.token(user=1001)), clio.auth(clio.token(user=2002))
    action = clio.http.post("/api/v4/custom_actions", headers=a, json={"data": ACTION}).json()["data"]
    contact_id = clio.http.get("/api/v4/contacts", headers=a, params={"limit": 1}).json()["data"][0]["id"]

    def click() -> dict[str, list[str]]:
        r = clio.http.post(f"/_sandbox/custom_actions/{action['id']}/click", json={"subject_id": contact_id})
        assert r.status_code == 200
        url = r.json()["url"]
        assert url.startswith("https://intake.example/ca?")
        return parse_qs(urlsplit(url).query)

    q = click()
    assert q["custom_action_id"] == [str(action["id"])] and q["user_id"] == ["1001"]
    assert q["subject_url"] == [f"/api/v4/contacts/{contact_id}"]
    nonce = q["custom_action_nonce"][0]
    verify = clio.http.get(q["subject_url"][0], headers=a, params={"custom_action_nonce": nonce})
    assert verify.status_code == 200 and verify.json()["data"]["id"] == contact_id
    replay = clio.http.get(q["subject_url"][0], headers=a, params={"custom_action_nonce": nonce})
    assert replay.status_code == 403

    other = click()["custom_action_nonce"][0]
    r = clio.http.get(f"/api/v4/contacts/{contact_id}", headers=b, params={"custom_action_nonce": other})
    assert r.status_code == 403
    assert (
        clio.http.get(
            f"/api/v4/contacts/{contact_id}", headers=a, params={"custom_action_nonce": "forged"}
        ).status_code
        == 403
    )

    late = click()["custom_action_nonce"][0]
    clio.http.post("/_sandbox/clock/advance", json={"seconds": 61})
    assert (
        clio.http.get(
            f"/api/v4/contacts/{contact_id}",
            headers=clio.auth(clio.token(user=1001)),
            params={"custom_action_nonce": late},
        ).status_code
        == 403
    )
