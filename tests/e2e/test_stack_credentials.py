"""The stack fixtures themselves: the credentials service over HTTP, a Cliniko tenant registered."""

from __future__ import annotations

import httpx

from practice_sync_cli.testing_stack import CLINIKO_KEYS, SERVICE_TOKENS, Stack


async def test_cliniko_tenant_registers_and_is_served_to_cliniko_sync(
    stack: Stack, credentials_service: str, cliniko_sandbox: str
) -> None:
    async with httpx.AsyncClient(base_url=credentials_service, timeout=10) as c:
        put = await c.put(
            "/admin/orgs/e2e-clinic/credentials/cliniko",
            json={"api_key": CLINIKO_KEYS[0], "api_url": cliniko_sandbox},
            headers=stack.admin_headers(),
        )
        assert put.status_code == 200, put.text
        assert put.json()["status"] == "valid"
        internal = await c.get(
            "/internal/credentials/e2e-clinic/cliniko",
            headers={"Authorization": f"Bearer {SERVICE_TOKENS['cliniko-sync']}"},
        )
        assert internal.json()["api_key"] == CLINIKO_KEYS[0]
        ready = await c.get("/readyz")
        assert ready.status_code == 200
