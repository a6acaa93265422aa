"""Internal API: plaintext for one org and provider, to the services allowed for it (every read audited)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query

from practice_sync_common.auth import require_service
from practice_sync_credentials.domain.providers import canonical_webhook_id, parse_provider
from practice_sync_credentials.endpoints.deps import org_path, services
from practice_sync_credentials.schemas.internal import (
    ClinikoSecretOut,
    ClioSecretOut,
    OrgProviderStatus,
    OrgsForProvider,
    OrgStatus,
    WebhookSecretIn,
    WebhookSecretsOut,
    WebhookSecretStored,
)
from practice_sync_credentials.service import clio, credentials
from practice_sync_credentials.service.context import Services

router = APIRouter(prefix="/internal", tags=["internal"])
# Any known service (or the admin) passes here; the per-provider rules are checked by the use case,
# which also audits the refusals.
any_service = require_service()


def webhook_path(webhook_id: str = Path(max_length=64)) -> str:
    return canonical_webhook_id(webhook_id)


# Large enough that a small install's callers see one page, as before paging, and that a fan-out
# over thousands of orgs takes a few requests, each a bounded answer.
ORG_PAGE = 1000
ORG_PAGE_MAX = 5000


@router.get("/orgs")
async def orgs_with(
    provider: str = Query(max_length=64),
    limit: int = Query(ORG_PAGE, ge=1, le=ORG_PAGE_MAX),
    after: str | None = Query(None, max_length=128),
    svc: Services = Depends(services),
    _: str = Depends(any_service),
) -> OrgsForProvider:
    p = parse_provider(provider)
    found = await credentials.orgs_with(svc, p, limit=limit, after=after)
    return OrgsForProvider(
        provider=p.value,
        orgs=[OrgStatus(org_id=o, status=s) for o, s in found],
        # A full page may have a successor; the caller learns it is the last by an empty page then.
        next_after=found[-1][0] if len(found) == limit else None,
    )


@router.get("/orgs/{org}")
async def org_status(
    org: str = Depends(org_path),
    provider: str = Query(max_length=64),
    svc: Services = Depends(services),
    _: str = Depends(any_service),
) -> OrgProviderStatus:
    p = parse_provider(provider)
    return OrgProviderStatus(org_id=org, provider=p.value, status=await credentials.org_status(svc, p, org))


@router.get("/credentials/{org}/cliniko")
async def cliniko(
    org: str = Depends(org_path), svc: Services = Depends(services), caller: str = Depends(any_service)
) -> ClinikoSecretOut:
    row, api_key = await credentials.read_cliniko(svc, caller, org)
    return ClinikoSecretOut(
        org_id=org,
        api_key=api_key,
        api_url=str(row.meta["api_url"]),
        shard=str(row.meta["shard"]),
        status=row.status,
    )


def _clio_out(org: str, cur: clio.Current) -> ClioSecretOut:
    # Never an empty api_url: `cur.meta` fills one missing from the row (an import from before the
    # import wrote it) from the row's region, the host its tokens are refreshed at.
    meta = cur.meta
    return ClioSecretOut(
        org_id=org,
        access_token=cur.tokens.access_token,
        token_type=cur.tokens.token_type,
        expires_at=cur.tokens.expires_at,
        api_url=meta["api_url"],
        region=meta["region"],
        status=cur.row.status,
    )


@router.get("/credentials/{org}/clio")
async def clio_tokens(
    org: str = Depends(org_path), svc: Services = Depends(services), caller: str = Depends(any_service)
) -> ClioSecretOut:
    return _clio_out(org, await credentials.read_clio(svc, caller, org))


@router.post("/credentials/{org}/clio/refresh")
async def clio_refresh(
    org: str = Depends(org_path), svc: Services = Depends(services), caller: str = Depends(any_service)
) -> ClioSecretOut:
    return _clio_out(org, await credentials.read_clio(svc, caller, org, refresh=True))


@router.get("/credentials/{org}/clio/webhook-secrets")
async def webhook_secrets(
    org: str = Depends(org_path), svc: Services = Depends(services), caller: str = Depends(any_service)
) -> WebhookSecretsOut:
    return WebhookSecretsOut(
        org_id=org, secrets=await credentials.read_webhook_secrets(svc, caller, org, None)
    )


@router.get("/credentials/{org}/clio/webhook-secrets/{webhook_id}")
async def webhook_secret(
    org: str = Depends(org_path),
    webhook_id: str = Depends(webhook_path),
    svc: Services = Depends(services),
    caller: str = Depends(any_service),
) -> WebhookSecretsOut:
    found = await credentials.read_webhook_secrets(svc, caller, org, webhook_id)
    return WebhookSecretsOut(org_id=org, secrets=found)


@router.put("/credentials/{org}/clio/webhook-secrets/{webhook_id}")
async def put_webhook_secret(
    body: WebhookSecretIn,
    org: str = Depends(org_path),
    webhook_id: str = Depends(webhook_path),
    svc: Services = Depends(services),
    caller: str = Depends(any_service),
) -> WebhookSecretStored:
    row = await credentials.put_webhook_secret(svc, caller, org, webhook_id, body.secret)
    return WebhookSecretStored(org_id=org, webhook_id=webhook_id, hint=row.hint)


@router.delete("/credentials/{org}/clio/webhook-secrets/{webhook_id}", status_code=204)
async def delete_webhook_secret(
    org: str = Depends(org_path),
    webhook_id: str = Depends(webhook_path),
    svc: Services = Depends(services),
    caller: str = Depends(any_service),
) -> None:
    await credentials.delete_webhook_secret(svc, caller, org, webhook_id)
