"""Admin: create/replace, list, validate and delete credentials. Nothing here returns a secret."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from practice_sync_common.auth import require_admin
from practice_sync_credentials.domain.providers import Provider, canonical_org_id
from practice_sync_credentials.endpoints.deps import org_path, provider_path, provider_query, services
from practice_sync_credentials.schemas.credentials import (
    CredentialList,
    CredentialOut,
    DeleteOut,
    PutCredential,
)
from practice_sync_credentials.service import credentials
from practice_sync_credentials.service.context import Services
from practice_sync_credentials.service.errors import Invalid

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/credentials")
async def list_credentials(
    org: str | None = Query(None, max_length=200),
    provider: Provider | None = Depends(provider_query),
    svc: Services = Depends(services),
    _: str = Depends(require_admin),
) -> CredentialList:
    rows = await credentials.list_metadata(svc, canonical_org_id(org) if org else None, provider)
    return CredentialList(credentials=[CredentialOut.of(r) for r in rows])


@router.get("/orgs/{org}/credentials")
async def list_org_credentials(
    org: str = Depends(org_path), svc: Services = Depends(services), _: str = Depends(require_admin)
) -> CredentialList:
    rows = await credentials.list_metadata(svc, org, None)
    return CredentialList(credentials=[CredentialOut.of(r) for r in rows])


@router.put("/orgs/{org}/credentials/{provider}")
async def put_credential(
    body: PutCredential,
    org: str = Depends(org_path),
    provider: Provider = Depends(provider_path),
    svc: Services = Depends(services),
    actor: str = Depends(require_admin),
) -> CredentialOut:
    if provider is Provider.CLIO:
        raise Invalid(
            "Clio credentials come from the OAuth flow, not from a body: "
            f"GET /oauth/clio/start?org_id={org} "
            f"(or `practice-sync credentials set --org {org} --provider clio`)"
        )
    if not body.api_key:
        raise Invalid("api_key is required for cliniko")
    row = await credentials.set_cliniko_key(svc, actor, org, body.api_key, body.api_url, body.validate_now)
    return CredentialOut.of(row)


@router.post("/orgs/{org}/credentials/{provider}/validate")
async def validate_credential(
    org: str = Depends(org_path),
    provider: Provider = Depends(provider_path),
    svc: Services = Depends(services),
    actor: str = Depends(require_admin),
) -> CredentialOut:
    return CredentialOut.of(await credentials.validate(svc, actor, org, provider))


@router.delete("/orgs/{org}/credentials/{provider}")
async def delete_credential(
    org: str = Depends(org_path),
    provider: Provider = Depends(provider_path),
    svc: Services = Depends(services),
    actor: str = Depends(require_admin),
) -> DeleteOut:
    done = await credentials.delete(svc, actor, org, provider)
    return DeleteOut(
        org_id=org, provider=provider.value, deleted=done.deleted, revoked=done.revoked, message=done.message
    )
