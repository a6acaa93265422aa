"""`make up` a second time: Postgres kept its state in `.state`, but the Clio sandbox starts empty.

The restart of the sandbox is played on the session's sandbox through its own API, as a fresh one
would look to us: the webhook and a contact made in the last session are gone (without a delivery),
and our OAuth grant is unknown to it. Then `make up`'s demo set-up runs again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from practice_sync_cli.demo import DEMO_CLINIKO_KEY, DEMO_LAW, DemoUrls, set_up_demo
from practice_sync_cli.testing_stack import ADMIN_TOKEN, SERVICE_TOKENS, Stack


def _eventually(check: Callable[[], Any], what: str, timeout_s: float = 45) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s:.0f}s"
        time.sleep(0.2)


class Clio:
    """The Clio sandbox as its user sees it: control API, and the API with a token of the user's."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=30)
        minted = self.http.post("/_sandbox/tokens", json={"user": "demo-law"})
        assert minted.status_code == 200, minted.text
        self.api = {"Authorization": f"Bearer {minted.json()['access_token']}"}

    def demo_law_hooks(self) -> list[dict[str, Any]]:
        hooks: list[dict[str, Any]] = self.http.get("/_sandbox/webhooks").json()
        return [h for h in hooks if h["url"].endswith(f"/webhooks/clio/{DEMO_LAW}")]

    def create_contact(self, first: str, last: str) -> str:
        made = self.http.post(
            "/_sandbox/accounts/demo-law/contacts", json={"first_name": first, "last_name": last}
        )
        assert made.status_code == 201, made.text
        return str(made.json()["data"]["id"])

    def forget(self, stack: Stack, contact_id: str) -> None:
        """What a restarted sandbox no longer has: our webhook, the contact, our grant."""
        for hook in self.demo_law_hooks():  # first, so the contact's deletion is delivered nowhere
            gone = self.http.delete(f"/api/v4/webhooks/{hook['id']}", headers=self.api)
            assert gone.status_code == 204, gone.text
        gone = self.http.delete(f"/api/v4/contacts/{contact_id}", headers=self.api)
        assert gone.status_code == 204, gone.text
        internal = httpx.get(
            f"{stack.urls['credentials']}/internal/credentials/{DEMO_LAW}/clio",
            headers={"Authorization": f"Bearer {SERVICE_TOKENS['clio-gateway']}"},
        )
        assert internal.status_code == 200, internal.text
        token = internal.json()["access_token"]
        revoked = self.http.post("/oauth/deauthorize", headers={"Authorization": f"Bearer {token}"})
        assert revoked.status_code == 200, revoked.text


def _contact(projector: httpx.Client, clio_id: str) -> dict[str, Any] | None:
    page = projector.get(f"/orgs/{DEMO_LAW}/contacts", params={"limit": 500}).json()
    return next((c for c in page["data"] if c["clio_id"] == clio_id), None)


def _live(projector: httpx.Client, clio_id: str) -> bool:
    row = _contact(projector, clio_id)
    return row is not None and row["deleted_at"] is None


def test_demo_law_syncs_and_hears_clio_again_after_make_up_restarts_with_kept_state(
    stack: Stack,
    credentials_service: str,
    clio_gateway_service: str,
    webhook_ingest_service: str,
    cliniko_sync_service: str,
    projector_service: str,
) -> None:
    added = httpx.post(
        f"{stack.urls['cliniko-sandbox']}/_sandbox/accounts",
        json={"key": DEMO_CLINIKO_KEY, "patients": 20, "appointments": 100},
    )
    assert added.status_code in (201, 409), added.text
    urls = DemoUrls(
        credentials=credentials_service,
        clio_gateway=clio_gateway_service,
        cliniko_sync=cliniko_sync_service,
        cliniko_api=f"{stack.urls['cliniko-sandbox']}/v1",
    )
    clio = Clio(stack.urls["clio-sandbox"])
    headers = stack.admin_headers()
    with (
        httpx.Client(base_url=clio_gateway_service, headers=headers, timeout=30) as gateway,
        httpx.Client(base_url=projector_service, headers=headers, timeout=30) as projector,
    ):
        # The first `make up`. Its gateway sets a newly connected org up by itself (the reconcile
        # job, off in the test stack): that is this call.
        set_up_demo(ADMIN_TOKEN, urls)
        assert gateway.post(f"/admin/clio/{DEMO_LAW}/reconcile").status_code == 200
        _eventually(clio.demo_law_hooks, "the first webhook")
        last_session = clio.create_contact("Last", f"Session{uuid.uuid4().hex[:6]}")
        _eventually(lambda: _live(projector, last_session), "the last session's contact by webhook")

        clio.forget(stack, last_session)
        # The second `make up`, against the emptied sandbox.
        set_up_demo(ADMIN_TOKEN, urls)

        hooks = _eventually(clio.demo_law_hooks, "a webhook at the restarted sandbox", timeout_s=20)
        assert hooks[0]["status"] == "enabled", hooks
        this_session = clio.create_contact("This", f"Session{uuid.uuid4().hex[:6]}")
        _eventually(lambda: _live(projector, this_session), "a new contact by webhook")
        # The read model follows the sandbox: what only the last one had is gone.
        _eventually(lambda: not _live(projector, last_session), "the last session's contact gone")
