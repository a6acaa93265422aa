"""The tenant registry and the audit trail, as the admin API sees them."""

from __future__ import annotations

from practice_sync_common.db import unit_of_work
from practice_sync_credentials.domain.clio_tokens import parse_region
from practice_sync_credentials.repository import audit as audit_repo
from practice_sync_credentials.repository import credentials as cred_repo
from practice_sync_credentials.repository import orgs as org_repo
from practice_sync_credentials.repository.audit import AuditRow
from practice_sync_credentials.repository.credentials import CredentialRow
from practice_sync_credentials.repository.orgs import OrgRow
from practice_sync_credentials.service.context import Services
from practice_sync_credentials.service.errors import UnknownOrg


async def create(
    services: Services, actor: str, org_id: str, name: str | None, clio_region: str | None
) -> tuple[OrgRow, bool]:
    region = parse_region(clio_region).value if clio_region else None
    async with unit_of_work(services.sessions) as session:
        created = await org_repo.upsert(session, org_id, name, region)
        await audit_repo.record(
            session,
            actor=actor,
            action="org.create" if created else "org.update",
            outcome="ok",
            org_id=org_id,
        )
        org = await org_repo.get(session, org_id)
    assert org is not None
    return org, created


async def list_with_credentials(
    services: Services, limit: int, after: str | None
) -> list[tuple[OrgRow, list[CredentialRow]]]:
    async with unit_of_work(services.sessions) as session:
        orgs = await org_repo.list_all(session, limit, after)
        out = []
        for org in orgs:
            out.append((org, await cred_repo.list_(session, org_id=org.id)))
    return out


async def get_with_credentials(services: Services, org_id: str) -> tuple[OrgRow, list[CredentialRow]]:
    """One org and its credentials' rows (the caller shows their metadata only)."""
    async with unit_of_work(services.sessions) as session:
        org = await org_repo.get(session, org_id)
        if org is None:
            raise UnknownOrg(f"org {org_id!r} is not in the registry")
        return org, await cred_repo.list_(session, org_id=org_id)


async def audit_page(
    services: Services,
    *,
    limit: int,
    before_id: int | None,
    org_id: str | None,
    provider: str | None,
    action: str | None,
) -> list[AuditRow]:
    async with unit_of_work(services.sessions) as session:
        return await audit_repo.page(
            session, limit=limit, before_id=before_id, org_id=org_id, provider=provider, action=action
        )
