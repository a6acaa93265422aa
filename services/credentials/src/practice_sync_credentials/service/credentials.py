"""Credential use cases: set and validate Cliniko keys, list, delete, hand plaintext to allowed services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from practice_sync_common.db import unit_of_work
from practice_sync_common.logging import secrets
from practice_sync_credentials.domain.cliniko_key import api_url_for, parse_api_key
from practice_sync_credentials.domain.clio_tokens import ClioTokenSet
from practice_sync_credentials.domain.providers import (
    PRIMARY_KIND,
    READERS,
    WRITERS,
    Kind,
    Provider,
    Status,
)
from practice_sync_credentials.domain.redaction import mask
from practice_sync_credentials.repository import audit as audit_repo
from practice_sync_credentials.repository import credentials as cred_repo
from practice_sync_credentials.repository import orgs as org_repo
from practice_sync_credentials.repository.credentials import CredentialRow
from practice_sync_credentials.service import clio
from practice_sync_credentials.service.audit import record_alone
from practice_sync_credentials.service.cliniko import probe
from practice_sync_credentials.service.context import Services
from practice_sync_credentials.service.errors import (
    Forbidden,
    Invalid,
    NoCredentials,
    NotFound,
    UnknownOrg,
)
from practice_sync_credentials.service.vault import SecretRef

CLINIKO = Provider.CLINIKO.value
# Hand out tokens with at least this much life left; refresh first otherwise.
_MIN_TOKEN_LIFE = timedelta(minutes=2)


async def set_cliniko_key(
    services: Services, actor: str, org_id: str, api_key: str, api_url: str | None, validate: bool
) -> CredentialRow:
    """Validate the key's shape, optionally ask Cliniko, then store it (one transaction, audited)."""
    secrets.add(api_key)
    parsed = parse_api_key(api_key)
    url = api_url_for(parsed, api_url, services.settings.credentials_allow_private_urls)
    status, message = Status.UNVALIDATED, "not validated yet"
    if validate:
        result = await probe(
            services.http,
            url,
            api_key,
            services.settings.cliniko_user_agent,
            services.settings.provider_timeout_s,
        )
        status, message = result.status, result.message
    if status in (Status.INVALID_KEY, Status.FORBIDDEN):
        # Cliniko said no: storing it would replace the org's current key (maybe a working one)
        # with one known not to work. The attempt is audited; nothing else changes.
        async with unit_of_work(services.sessions) as session:
            refused = f"api key {parsed.hint} refused, not stored: {message}"
            await _audit_validation(session, actor, org_id, status, refused)
        raise Invalid(
            f"Cliniko refused this key ({message}); it was not stored, and the org's key is unchanged"
        )
    ref = SecretRef(org_id, CLINIKO, Kind.API_KEY.value)
    meta = {"api_url": url, "shard": parsed.shard, "api_url_given": api_url is not None}
    async with unit_of_work(services.sessions) as session:
        if await org_repo.ensure(session, org_id):
            await audit_repo.record(session, actor=actor, action="org.create", outcome="ok", org_id=org_id)
        row = await cred_repo.upsert(
            session,
            org_id=org_id,
            provider=CLINIKO,
            kind=ref.kind,
            name="",
            ciphertext=services.vault.seal(ref, {"api_key": api_key}),
            key_id=services.vault.current_kid,
            status=status.value,
            status_message=message,
            hint=parsed.hint,
            meta=meta,
            expires_at=None,
            validated=validate,
        )
        await audit_repo.record(
            session,
            actor=actor,
            action="credential.write",
            outcome="ok",
            org_id=org_id,
            provider=CLINIKO,
            kind=ref.kind,
            detail=f"api key {parsed.hint} for {url}",
        )
        if validate:
            await _audit_validation(session, actor, org_id, status, message)
    return row


async def _audit_validation(
    session: AsyncSession,
    actor: str,
    org_id: str,
    status: Status,
    detail: str,
    provider: str = CLINIKO,
    kind: str = Kind.API_KEY.value,
) -> None:
    """The audit record of asking a provider whether a credential works (by default a Cliniko key)."""
    await audit_repo.record(
        session,
        actor=actor,
        action="credential.validate",
        outcome=status.value,
        org_id=org_id,
        provider=provider,
        kind=kind,
        detail=detail,
    )


async def validate(services: Services, actor: str, org_id: str, provider: Provider) -> CredentialRow:
    kind = PRIMARY_KIND[provider].value
    row = await _get(services, org_id, provider.value, kind)
    if provider is Provider.CLINIKO:
        fields = services.vault.open(SecretRef(org_id, provider.value, kind), row.ciphertext)
        result = await probe(
            services.http,
            str(row.meta["api_url"]),
            fields["api_key"],
            services.settings.cliniko_user_agent,
            services.settings.provider_timeout_s,
        )
        status, message = result.status, result.message
    else:
        status, message = await clio.check(services, actor, org_id)
    async with unit_of_work(services.sessions) as session:
        current = await cred_repo.get(session, org_id, provider.value, kind)
        if current is None:
            raise NotFound(f"org {org_id!r} has no {provider.value} credential (deleted meanwhile)")
        await cred_repo.set_status(session, current.id, status.value, message)
        await _audit_validation(session, actor, org_id, status, message, provider.value, kind)
        fresh = await cred_repo.get(session, org_id, provider.value, kind)
    assert fresh is not None
    return fresh


@dataclass(frozen=True, slots=True)
class Deleted:
    deleted: int
    revoked: bool | None
    message: str


async def delete(services: Services, actor: str, org_id: str, provider: Provider) -> Deleted:
    """Remove every credential of the provider for the org; Clio tokens are revoked at Clio first."""
    rows = await _list(services, org_id, provider.value)
    if not rows:
        raise NotFound(f"org {org_id!r} has no {provider.value} credentials")
    revoked: bool | None = None
    message = ""
    for row in rows:
        if provider is Provider.CLIO and row.kind == Kind.OAUTH_TOKENS and row.status != Status.NEEDS_REAUTH:
            tokens = ClioTokenSet.from_secret_fields(services.vault.open(clio.ref(org_id), row.ciphertext))
            revoked, message = await clio.revoke(services, row, tokens)
    async with unit_of_work(services.sessions) as session:
        count = await cred_repo.delete(session, org_id, provider.value)
        detail = f"{count} row(s)" + (f"; {message}" if message else "")
        await audit_repo.record(
            session,
            actor=actor,
            action="credential.delete",
            outcome="ok",
            org_id=org_id,
            provider=provider.value,
            detail=detail,
        )
    return Deleted(count, revoked, message)


async def list_metadata(
    services: Services, org_id: str | None, provider: Provider | None
) -> list[CredentialRow]:
    async with unit_of_work(services.sessions) as session:
        return await cred_repo.list_(session, org_id=org_id, provider=provider.value if provider else None)


async def _list(services: Services, org_id: str, provider: str) -> list[CredentialRow]:
    async with unit_of_work(services.sessions) as session:
        return await cred_repo.list_(session, org_id=org_id, provider=provider)


async def _get(services: Services, org_id: str, provider: str, kind: str, name: str = "") -> CredentialRow:
    async with unit_of_work(services.sessions) as session:
        row = await cred_repo.get(session, org_id, provider, kind, name)
    if row is None:
        what = f"{provider} {kind}" + (f" {name!r}" if name else "")
        raise NotFound(f"org {org_id!r} has no {what} credential")
    return row


async def _authorize(
    services: Services, caller: str, org_id: str, provider: Provider, kind: Kind, *, write: bool = False
) -> None:
    policy = WRITERS if write else READERS
    allowed = policy.get((provider, kind), frozenset())
    if caller in allowed:
        return
    verb = "write" if write else "read"
    await record_alone(
        services,
        actor=caller,
        action=f"credential.{verb}",
        outcome="denied",
        org_id=org_id,
        provider=provider.value,
        kind=kind.value,
        detail=f"{caller} is not allowed",
    )
    who = ", ".join(sorted(allowed)) or "no service"
    raise Forbidden(f"'{caller}' may not {verb} {provider.value} {kind.value} credentials (only {who})")


async def _audited_read(
    services: Services, caller: str, org_id: str, provider: Provider, kind: Kind, name: str = ""
) -> tuple[CredentialRow, dict[str, str]]:
    async with unit_of_work(services.sessions) as session:
        row = await cred_repo.get(session, org_id, provider.value, kind.value, name)
        if row is not None:
            await audit_repo.record(
                session,
                actor=caller,
                action="credential.read",
                outcome="ok",
                org_id=org_id,
                provider=provider.value,
                kind=kind.value,
                detail=name,
            )
    if row is None:
        what = f"{provider.value} {kind.value}" + (f" for webhook {name!r}" if name else "")
        raise NotFound(f"org {org_id!r} has no {what} credential")
    return row, services.vault.open(SecretRef(org_id, provider.value, kind.value, name), row.ciphertext)


async def read_cliniko(services: Services, caller: str, org_id: str) -> tuple[CredentialRow, str]:
    await _authorize(services, caller, org_id, Provider.CLINIKO, Kind.API_KEY)
    row, fields = await _audited_read(services, caller, org_id, Provider.CLINIKO, Kind.API_KEY)
    return row, fields["api_key"]


async def read_clio(services: Services, caller: str, org_id: str, *, refresh: bool = False) -> clio.Current:
    await _authorize(services, caller, org_id, Provider.CLIO, Kind.OAUTH_TOKENS)
    if refresh:
        cur = await clio.refresh(services, caller, org_id, force=False)
    else:
        cur = await clio.current(services, org_id, refresh_within=_MIN_TOKEN_LIFE)
    await record_alone(
        services,
        actor=caller,
        action="credential.read",
        outcome="ok",
        org_id=org_id,
        provider=Provider.CLIO.value,
        kind=Kind.OAUTH_TOKENS.value,
    )
    return cur


async def put_webhook_secret(
    services: Services, caller: str, org_id: str, webhook_id: str, secret: str
) -> CredentialRow:
    await _authorize(services, caller, org_id, Provider.CLIO, Kind.WEBHOOK_SECRET, write=True)
    secrets.add(secret)
    if not secret or len(secret) > 512:
        raise Invalid("webhook secret must be 1-512 characters")
    ref = SecretRef(org_id, Provider.CLIO.value, Kind.WEBHOOK_SECRET.value, webhook_id)
    async with unit_of_work(services.sessions) as session:
        if await org_repo.ensure(session, org_id):
            await audit_repo.record(session, actor=caller, action="org.create", outcome="ok", org_id=org_id)
        row = await cred_repo.upsert(
            session,
            org_id=org_id,
            provider=ref.provider,
            kind=ref.kind,
            name=webhook_id,
            ciphertext=services.vault.seal(ref, {"secret": secret}),
            key_id=services.vault.current_kid,
            status=Status.VALID.value,
            status_message="set by " + caller,
            hint=mask(secret),
            meta={"webhook_id": webhook_id},
            expires_at=None,
            validated=False,
        )
        await audit_repo.record(
            session,
            actor=caller,
            action="credential.write",
            outcome="ok",
            org_id=org_id,
            provider=ref.provider,
            kind=ref.kind,
            detail=f"webhook {webhook_id}",
        )
    return row


async def read_webhook_secrets(
    services: Services, caller: str, org_id: str, webhook_id: str | None
) -> dict[str, str]:
    """{webhook id: secret}: one webhook's, or all of the org's when ``webhook_id`` is None."""
    await _authorize(services, caller, org_id, Provider.CLIO, Kind.WEBHOOK_SECRET)
    if webhook_id is not None:
        _, fields = await _audited_read(
            services, caller, org_id, Provider.CLIO, Kind.WEBHOOK_SECRET, webhook_id
        )
        return {webhook_id: fields["secret"]}
    async with unit_of_work(services.sessions) as session:
        rows = await cred_repo.list_(
            session, org_id=org_id, provider=Provider.CLIO.value, kind=Kind.WEBHOOK_SECRET.value
        )
        await audit_repo.record(
            session,
            actor=caller,
            action="credential.read",
            outcome="ok",
            org_id=org_id,
            provider=Provider.CLIO.value,
            kind=Kind.WEBHOOK_SECRET.value,
            detail=f"all ({len(rows)})",
        )
    return {
        r.name: services.vault.open(SecretRef(org_id, r.provider, r.kind, r.name), r.ciphertext)["secret"]
        for r in rows
    }


async def delete_webhook_secret(services: Services, caller: str, org_id: str, webhook_id: str) -> int:
    await _authorize(services, caller, org_id, Provider.CLIO, Kind.WEBHOOK_SECRET, write=True)
    async with unit_of_work(services.sessions) as session:
        count = await cred_repo.delete(
            session, org_id, Provider.CLIO.value, Kind.WEBHOOK_SECRET.value, webhook_id
        )
        await audit_repo.record(
            session,
            actor=caller,
            action="credential.delete",
            outcome="ok" if count else "absent",
            org_id=org_id,
            provider=Provider.CLIO.value,
            kind=Kind.WEBHOOK_SECRET.value,
            detail=f"webhook {webhook_id}",
        )
    return count


async def orgs_with(
    services: Services, provider: Provider, *, limit: int | None = None, after: str | None = None
) -> list[tuple[str, str]]:
    """(org, status) of the orgs holding `provider`'s primary credential, by org id after `after`
    (at most `limit`)."""
    async with unit_of_work(services.sessions) as session:
        return await cred_repo.orgs_with(
            session, provider.value, PRIMARY_KIND[provider].value, limit=limit, after=after
        )


async def org_status(services: Services, provider: Provider, org: str) -> str:
    """The status of `org`'s primary `provider` credential: one org's row, the others not read.

    The two refusals are told apart (different error types) for whoever reads them; a sync request's
    check treats both as "no credentials of that provider".
    """
    async with unit_of_work(services.sessions) as session:
        found = await cred_repo.orgs_with(session, provider.value, PRIMARY_KIND[provider].value, org)
        if found:
            return found[0][1]
        known = await org_repo.get(session, org) is not None
    if not known:
        raise UnknownOrg(f"org {org!r} is not in the registry")
    raise NoCredentials(f"org {org!r} has no {provider.value} credentials")
