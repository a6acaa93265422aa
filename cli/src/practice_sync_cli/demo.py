"""The demo tenants of `practice-sync up`: `demo-clinic` on the Cliniko sandbox, `demo-law` on Clio's."""

from __future__ import annotations

import httpx

from practice_sync_cli.credentials_cmd import (
    CredentialsError,
    admin_client,
    complete_clio_by_redirects,
    default_url,
    set_cliniko,
    start_clio,
)
from practice_sync_cli.stack import sandbox_url, service_url

DEMO_CLINIC = "demo-clinic"
DEMO_LAW = "demo-law"
# The Cliniko sandbox's default account (practice_sync_sandbox.cliniko.config.DEMO_API_KEY).
DEMO_CLINIKO_KEY = "sandboxdemoclinic0001-au1"


def register_demo_tenants(
    admin_token: str, base_url: str | None = None, cliniko_api_url: str | None = None
) -> None:
    """Register both demo orgs' credentials; safe to call on every start.

    demo-clinic's key is (re)stored and validated. demo-law keeps its tokens when they still work;
    the sandbox forgets its grants when it restarts while Postgres keeps ours, so otherwise the
    OAuth flow runs again. Raises ``CredentialsError`` with the service's message on failure.
    """
    cliniko_url = cliniko_api_url or f"{sandbox_url('cliniko')}/v1"
    with admin_client(base_url or default_url(), admin_token) as client:
        _check(client.post("/admin/orgs", json={"id": DEMO_CLINIC, "name": "Demo Clinic"}))
        _check(client.post("/admin/orgs", json={"id": DEMO_LAW, "name": "Demo Law", "clio_region": "us"}))
        cred = set_cliniko(client, DEMO_CLINIC, DEMO_CLINIKO_KEY, cliniko_url, validate=True)
        if cred["status"] != "valid":
            raise CredentialsError(
                f"{DEMO_CLINIC}: the Cliniko sandbox refused the demo key: {cred['status_message']}"
            )
        if _clio_still_works(client):
            return
        done = complete_clio_by_redirects(start_clio(client, DEMO_LAW))
        if done.get("status") != "valid":
            raise CredentialsError(f"{DEMO_LAW}: the Clio OAuth flow did not complete: {done}")


def _clio_still_works(client: httpx.Client) -> bool:
    listed = client.get(f"/admin/orgs/{DEMO_LAW}/credentials")
    if not listed.is_success or not any(c["kind"] == "oauth_tokens" for c in listed.json()["credentials"]):
        return False
    checked = client.post(f"/admin/orgs/{DEMO_LAW}/credentials/clio/validate")
    return checked.is_success and checked.json().get("status") == "valid"


def _check(r: httpx.Response) -> None:
    if not r.is_success:
        raise CredentialsError(f"{r.request.method} {r.request.url.path} → {r.status_code}: {r.text[:200]}")


def start_demo_syncs(admin_token: str) -> None:
    """Once the tenants are registered: sync them now rather than at the next scheduled run."""
    request_demo_clinic_sync(admin_token)


def request_demo_clinic_sync(admin_token: str) -> None:
    """So `make up` shows demo-clinic's active patients without waiting for a scheduled run."""
    r = httpx.post(
        f"{service_url('cliniko-sync')}/admin/syncs",
        json={"org_id": DEMO_CLINIC, "mode": "auto"},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=15,
    )
    _check(r)
