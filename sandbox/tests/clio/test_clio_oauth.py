"""OAuth authorization-code flow, refresh semantics, revocation and the 401 body."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from practice_sync_sandbox.clio.errors import INVALID_TOKEN_DESCRIPTION

CLIENT = {"client_id": "sandbox-clio-client", "client_secret": "sandbox-clio-secret"}
REDIRECT = "http://127.0.0.1:9999/callback"


def authorize(clio, **extra):
    params = {
        "response_type": "code",
        "client_id": CLIENT["client_id"],
        "redirect_uri": REDIRECT,
        "state": "xyz",
        **extra,
    }
    return clio.http.get("/oauth/authorize", params=params, follow_redirects=False)


def code_from(resp) -> str:
    assert resp.status_code == 302, resp.text
    q = parse_qs(urlsplit(resp.headers["location"]).query)
    assert q["state"] == ["xyz"]
    return q["code"][0]


def exchange(clio, code, **over):
    form = {**CLIENT, "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, **over}
    return clio.http.post("/oauth/token", data=form)


def test_code_flow_refresh_and_revoke(clio):
    r = exchange(clio, code_from(authorize(clio)))
    assert r.status_code == 200
    tok = r.json()
    assert set(tok) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert tok["token_type"] == "bearer" and tok["expires_in"] == 2592000
    me = clio.http.get("/api/v4/users/who_am_i.json", headers=clio.auth(tok["access_token"]))
    assert me.json()["data"]["id"] == 1001

    refresh = {**CLIENT, "grant_type": "refresh_token", "refresh_token": tok["refresh_token"]}
    r1 = clio.http.post("/oauth/token", data=refresh)
    assert r1.status_code == 200 and "refresh_token" not in r1.json()
    r2 = clio.http.post("/oauth/token", data=refresh)  # the old refresh token keeps working
    assert r2.status_code == 200
    new_access = r2.json()["access_token"]
    assert clio.http.get("/api/v4/contacts", headers=clio.auth(new_access)).status_code == 200

    assert clio.http.post("/oauth/deauthorize", headers=clio.auth(new_access)).status_code == 200
    assert clio.http.get("/api/v4/contacts", headers=clio.auth(new_access)).status_code == 401
    assert clio.http.get("/api/v4/contacts", headers=clio.auth(tok["access_token"])).status_code == 401
    revoked = clio.http.post("/oauth/token", data=refresh)
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"


def test_code_is_single_use_and_client_checked(clio):
    code = code_from(authorize(clio))
    bad = exchange(clio, code, client_secret="wrong")
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert exchange(clio, code).status_code == 200
    again = exchange(clio, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert exchange(clio, "nonsense").json()["error"] == "invalid_grant"
    wrong_redirect = exchange(clio, code_from(authorize(clio)), redirect_uri="http://127.0.0.1:1/other")
    assert wrong_redirect.json()["error"] == "invalid_grant"


def test_code_expires(clio):
    code = code_from(authorize(clio))
    clio.http.post("/_sandbox/clock/advance", json={"seconds": 601})
    assert exchange(clio, code).json()["error"] == "invalid_grant"


def test_authorize_user_choice_decline_and_bad_redirect(clio_factory):
    from practice_sync_sandbox.clio.config import AccountSpec

    clio = clio_factory(accounts=[AccountSpec(contacts=3), AccountSpec("other-firm", 2002, 3)])
    tok = exchange(clio, code_from(authorize(clio, login_hint="other-firm"))).json()
    me = clio.http.get("/api/v4/users/who_am_i", headers=clio.auth(tok["access_token"]))
    assert me.json()["data"]["id"] == 2002

    declined = authorize(clio, sandbox_decline="true", redirect_on_decline="true")
    assert parse_qs(urlsplit(declined.headers["location"]).query)["error"] == ["access_denied"]
    clio.http.post("/_sandbox/oauth/decline", json={"decline": True})
    assert authorize(clio).status_code == 403

    bad = clio.http.get(
        "/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": "sandbox-clio-client",
            "redirect_uri": "https://evil.example/cb",
        },
        follow_redirects=False,
    )
    assert bad.status_code == 400


def test_invalid_and_expired_token_body(clio):
    expected = {"error": "invalid_token", "error_description": INVALID_TOKEN_DESCRIPTION}
    r = clio.http.get("/api/v4/contacts.json", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json() == expected
    assert "X-RateLimit-Limit" in r.headers
    token = clio.token(ttl_s=30)
    assert clio.http.get("/api/v4/contacts", headers=clio.auth(token)).status_code == 200
    clio.http.post("/_sandbox/clock/advance", json={"seconds": 31})
    r = clio.http.get("/api/v4/contacts", headers=clio.auth(token))
    assert r.status_code == 401 and r.json() == expected


def test_short_ttl_via_control_api(clio):
    clio.http.post("/_sandbox/token_ttl", json={"seconds": 5})
    tok = exchange(clio, code_from(authorize(clio))).json()
    assert tok["expires_in"] == 5


def test_scopes_forbid_with_generic_body(clio):
    token = clio.token(scopes=["contacts:read"])
    h = clio.auth(token)
    assert clio.http.get("/api/v4/contacts", headers=h).status_code == 200
    r = clio.http.post("/api/v4/contacts", headers=h, json={"data": {"first_name": "A"}})
    assert r.status_code == 403 and set(r.json()["error"]) == {"type", "message"}
    assert clio.http.get("/api/v4/webhooks", headers=h).status_code == 403
