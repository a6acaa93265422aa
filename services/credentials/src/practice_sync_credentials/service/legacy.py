"""Import of the Cliniko seed's rows: Fernet under CREDENTIALS_ENCRYPTION_KEY, re-sealed under the ring."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from practice_sync_common.db import unit_of_work
from practice_sync_common.logging import secrets
from practice_sync_credentials.domain.cliniko_key import api_url_for, parse_api_key, validate_api_url
from practice_sync_credentials.domain.clio_tokens import (
    ClioRegion,
    ClioTokenSet,
    parse_region,
    region_of_host,
)
from practice_sync_credentials.domain.errors import CredentialsDomainError
from practice_sync_credentials.domain.legacy_fernet import (
    LEGACY_ENV_VAR,
    LegacyImportError,
    check_key,
    check_token,
    decode_legacy,
)
from practice_sync_credentials.domain.providers import (
    Kind,
    Provider,
    Status,
    canonical_org_id,
    parse_provider,
)
from practice_sync_credentials.domain.redaction import mask
from practice_sync_credentials.repository import audit as audit_repo
from practice_sync_credentials.repository import credentials as cred_repo
from practice_sync_credentials.repository import orgs as org_repo
from practice_sync_credentials.service import clio
from practice_sync_credentials.service.context import Services
from practice_sync_credentials.service.errors import Invalid, NotConfigured
from practice_sync_credentials.service.vault import SecretRef

# The seed's Clio rows carry no region unless they say so; the previous system ran on Clio's US host.
LEGACY_CLIO_REGION = ClioRegion.US


@dataclass(frozen=True, slots=True)
class LegacyRow:
    org_id: str
    provider: str
    ciphertext: str


@dataclass(frozen=True, slots=True)
class _Checked:
    """A row whose input is well formed: known provider, canonical org id, a Fernet token's shape."""

    where: str
    org_id: str
    provider: Provider
    ciphertext: str


@dataclass(frozen=True, slots=True)
class _Prepared:
    ref: SecretRef
    fields: dict[str, str]
    hint: str
    meta: dict[str, Any]
    expires_at: datetime | None


def _check(index: int, row: LegacyRow) -> _Checked:
    """What can be judged without the key; the message names the row and what is wrong with it."""
    where = f"row {index}"
    try:
        org_id = canonical_org_id(row.org_id)
        where = f"row {index} (org {org_id!r}, provider {row.provider[:32]!r})"
        provider = parse_provider(row.provider)
        check_token(row.ciphertext)
    except CredentialsDomainError as exc:
        raise Invalid(f"{where}: {exc}; nothing was imported") from None
    return _Checked(where, org_id, provider, row.ciphertext)


def _prepare(row: _Checked, fernet_key: str, services: Services) -> _Prepared:
    """Decrypt and check the secret itself (needs the key)."""
    org_id, provider = row.org_id, row.provider
    allow_private = services.settings.credentials_allow_private_urls
    try:
        fields = decode_legacy(fernet_key, row.ciphertext)
        secrets.add(*fields.values())
        if provider is Provider.CLINIKO:
            if "api_key" not in fields:
                raise Invalid("payload has no api_key field")
            parsed = parse_api_key(fields["api_key"])
            url = api_url_for(parsed, fields.get("api_url") or None, allow_private)
            return _Prepared(
                SecretRef(org_id, provider.value, Kind.API_KEY.value),
                {"api_key": parsed.value},
                parsed.hint,
                {
                    "api_url": url,
                    "shard": parsed.shard,
                    "api_url_given": "api_url" in fields,
                    "imported": True,
                },
                None,
            )
        tokens = ClioTokenSet.from_secret_fields(_clio_fields(fields))
        region, api_url = _clio_place(fields, allow_private)
        return _Prepared(
            SecretRef(org_id, provider.value, Kind.OAUTH_TOKENS.value),
            tokens.to_secret_fields(),
            mask(tokens.access_token),
            # The same meta as a credential made by the OAuth callback, so the gateway gets an api_url.
            {**clio.credential_meta(services, region, api_url), "imported": True},
            tokens.expires_at,
        )
    except Invalid as exc:
        raise Invalid(f"{row.where}: {exc.message}; nothing was imported") from None
    except CredentialsDomainError as exc:
        raise Invalid(f"{row.where}: {exc}; nothing was imported") from None


def _clio_place(fields: dict[str, str], allow_private: bool) -> tuple[ClioRegion, str | None]:
    """The region and explicit API URL of a Clio payload.

    The region is the payload's ``region``, else the region whose host its ``api_url`` names, else US.
    An explicit ``api_url`` is validated and kept; one on another region's host than the payload's
    ``region`` is refused, since tokens only work in the region that issued them.
    """
    api_url = None
    if "api_url" in fields:
        api_url = validate_api_url(fields["api_url"], allow_private, "Clio API URL")
    named = parse_region(fields["region"]) if "region" in fields else None
    by_host = region_of_host(urlsplit(api_url).hostname) if api_url else None
    if named is not None and by_host is not None and named is not by_host:
        raise Invalid(f"payload region {named.value} does not match its api_url, a {by_host.value} host")
    return named or by_host or LEGACY_CLIO_REGION, api_url


def _clio_fields(fields: dict[str, str]) -> dict[str, str]:
    out = dict(fields)
    raw = out.get("expires_at")
    # The seed stored expiry as epoch seconds (a number); the domain wants ISO-8601.
    if raw and raw.replace(".", "", 1).isdigit():
        out["expires_at"] = datetime.fromtimestamp(float(raw), UTC).isoformat()
    return out


async def import_rows(services: Services, actor: str, rows: list[LegacyRow]) -> int:
    """All or nothing: every row is decoded and checked before one transaction writes them all.

    The input is judged first (a 422 naming the row), the configuration only for valid input (a 503).
    """
    if not rows:
        raise Invalid("no rows to import")
    checked = [_check(i, row) for i, row in enumerate(rows)]
    seen: set[tuple[str, Provider]] = set()
    for i, c in enumerate(checked):
        slot = (c.org_id, c.provider)
        if slot in seen:
            raise Invalid(
                f"row {i}: a second {c.provider.value} credential for org {c.org_id!r}; nothing was imported"
            )
        seen.add(slot)
    key = services.settings.credentials_encryption_key.get_secret_value()
    if not key:
        raise NotConfigured(f"{LEGACY_ENV_VAR} is not set: the legacy rows cannot be decrypted")
    try:
        check_key(key)
    except LegacyImportError as exc:
        # Names the variable and what a key looks like, never the value.
        raise NotConfigured(f"{exc}: the legacy rows cannot be decrypted") from None
    prepared = [_prepare(c, key, services) for c in checked]
    async with unit_of_work(services.sessions) as session:
        for p in prepared:
            if p.ref.provider == Provider.CLIO:
                # As the OAuth callback does: the org is in the region its tokens belong to.
                await clio.settle_org(session, actor, p.ref.org_id, p.meta["region"], "the legacy import")
            else:
                await org_repo.ensure(session, p.ref.org_id)
            await cred_repo.upsert(
                session,
                org_id=p.ref.org_id,
                provider=p.ref.provider,
                kind=p.ref.kind,
                name="",
                ciphertext=services.vault.seal(p.ref, p.fields),
                key_id=services.vault.current_kid,
                status=Status.UNVALIDATED.value,
                status_message="imported from the legacy store; not validated yet",
                hint=p.hint,
                meta=p.meta,
                expires_at=p.expires_at,
                validated=False,
            )
            await audit_repo.record(
                session,
                actor=actor,
                action="legacy.import",
                outcome="ok",
                org_id=p.ref.org_id,
                provider=p.ref.provider,
                kind=p.ref.kind,
            )
    return len(prepared)
