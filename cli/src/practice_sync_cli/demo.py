"""The demo tenants of `practice-sync up`: `demo-clinic` on the Cliniko sandbox, `demo-law` on Clio's."""

from __future__ import annotations

from dataclasses import dataclass, field

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
) -> bool:
    """Register both demo orgs' credentials; safe to call on every start.

    demo-clinic's key is (re)stored and validated. demo-law keeps its tokens when they still work;
    the sandbox forgets its grants when it restarts while Postgres keeps ours, so otherwise the
    OAuth flow runs again. Returns True when it did so for a demo-law that was connected before (a
    Clio sandbox that has forgotten it). Raises ``CredentialsError`` with the service's message on
    failure.
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
        connected_before = _has_clio_tokens(client)
        if connected_before and _clio_still_works(client):
            return False
        done = complete_clio_by_redirects(start_clio(client, DEMO_LAW))
        if done.get("status") != "valid":
            raise CredentialsError(f"{DEMO_LAW}: the Clio OAuth flow did not complete: {done}")
        return connected_before


def _has_clio_tokens(client: httpx.Client) -> bool:
    listed = client.get(f"/admin/orgs/{DEMO_LAW}/credentials")
    return listed.is_success and any(c["kind"] == "oauth_tokens" for c in listed.json()["credentials"])


def _clio_still_works(client: httpx.Client) -> bool:
    checked = client.post(f"/admin/orgs/{DEMO_LAW}/credentials/clio/validate")
    return checked.is_success and checked.json().get("status") == "valid"


def _check(r: httpx.Response) -> None:
    if not r.is_success:
        raise CredentialsError(f"{r.request.method} {r.request.url.path} → {r.status_code}: {r.text[:200]}")


@dataclass(frozen=True)
class DemoUrls:
    """Where `set_up_demo` finds the services: the fixed loopback ports unless told otherwise."""

    credentials: str = field(default_factory=lambda: service_url("credentials"))
    clio_gateway: str = field(default_factory=lambda: service_url("clio-gateway"))
    cliniko_sync: str = field(default_factory=lambda: service_url("cliniko-sync"))
    cliniko_api: str = field(default_factory=lambda: f"{sandbox_url('cliniko')}/v1")


def set_up_demo(admin_token: str, urls: DemoUrls | None = None) -> None:
    """What `practice-sync up` does once every component is ready: the demo tenants, synced."""
    urls = urls or DemoUrls()
    reconnected = register_demo_tenants(admin_token, urls.credentials, cliniko_api_url=urls.cliniko_api)
    request_demo_clinic_sync(admin_token, urls.cliniko_sync)
    if reconnected:
        refresh_demo_law(admin_token, urls.clio_gateway)


def request_demo_clinic_sync(admin_token: str, cliniko_sync_url: str) -> None:
    """So `make up` shows demo-clinic's active patients without waiting for a scheduled run."""
    r = httpx.post(
        f"{cliniko_sync_url}/admin/syncs",
        json={"org_id": DEMO_CLINIC, "mode": "auto"},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=15,
    )
    _check(r)


def refresh_demo_law(admin_token: str, clio_gateway_url: str) -> None:
    """demo-law against a Clio sandbox that started empty while our Postgres kept the last run's state.

    The gateway's records still name the old sandbox's webhook and custom action, and its reconcile
    job tried (with the old, refused tokens) before the OAuth flow ran again, so on its own it would
    only set them up again at its next full round, minutes later: until then no change in Clio
    arrives. A reconcile now recreates both (the webhook is looked up at Clio, not in our records).
    The read model still holds the old sandbox's contacts, which an incremental run never revisits
    (contacts made or changed there, and nothing says they are gone), so a full run realigns it.
    """
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=clio_gateway_url, headers=headers, timeout=60) as gateway:
        _check(gateway.post(f"/admin/clio/{DEMO_LAW}/reconcile"))
        _check(gateway.post("/admin/syncs", json={"org_id": DEMO_LAW, "mode": "full"}))
