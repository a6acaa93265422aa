"""Providers, credential kinds, health statuses, identifiers and who may read or write what.

Pure data and validation: the service layer enforces these rules, tests read them.
"""

from __future__ import annotations

import re
from enum import StrEnum

from practice_sync_common import org_ids
from practice_sync_credentials.domain.errors import CredentialsDomainError


class InvalidInput(CredentialsDomainError):
    """An identifier or name from a request is unusable; the message says which and why."""


class Provider(StrEnum):
    CLINIKO = "cliniko"
    CLIO = "clio"


class Kind(StrEnum):
    API_KEY = "api_key"
    OAUTH_TOKENS = "oauth_tokens"
    WEBHOOK_SECRET = "webhook_secret"


class Status(StrEnum):
    VALID = "valid"
    UNVALIDATED = "unvalidated"
    INVALID_KEY = "invalid_key"
    FORBIDDEN = "forbidden"
    UNREACHABLE = "unreachable"
    ERROR = "error"
    NEEDS_REAUTH = "needs_reauth"


# The credential that makes an org "connected" to a provider.
PRIMARY_KIND: dict[Provider, Kind] = {Provider.CLINIKO: Kind.API_KEY, Provider.CLIO: Kind.OAUTH_TOKENS}

# Least privilege: each plaintext goes only to the service that uses it (the admin gets none).
READERS: dict[tuple[Provider, Kind], frozenset[str]] = {
    (Provider.CLINIKO, Kind.API_KEY): frozenset({"cliniko-sync"}),
    (Provider.CLIO, Kind.OAUTH_TOKENS): frozenset({"clio-gateway"}),
    (Provider.CLIO, Kind.WEBHOOK_SECRET): frozenset({"clio-gateway", "webhook-ingest"}),
}
WRITERS: dict[tuple[Provider, Kind], frozenset[str]] = {
    (Provider.CLIO, Kind.WEBHOOK_SECRET): frozenset({"clio-gateway"}),
}

_WEBHOOK_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")


def parse_provider(raw: str) -> Provider:
    try:
        return Provider(raw.strip().lower())
    except ValueError:
        shown = raw[:32]
        raise InvalidInput(
            f"unknown provider {shown!r}; expected one of: {', '.join(p.value for p in Provider)}"
        ) from None


def canonical_org_id(raw: str) -> str:
    """Org ids are 1-128 of ``A-Za-z0-9._-``; UUIDs in any spelling become their lowercase form
    (the one rule, `practice_sync_common.org_ids`, as this service's 422)."""
    try:
        return org_ids.canonical_org_id(raw)
    except org_ids.InvalidOrgId as exc:
        raise InvalidInput(str(exc)) from None


def canonical_webhook_id(raw: str) -> str:
    # Lowercased because it becomes part of the sealing context's (lowercase) kind.
    if not isinstance(raw, str) or _WEBHOOK_ID_RE.fullmatch(raw) is None:
        raise InvalidInput("webhook id must be 1-40 characters of letters, digits, '_' or '-'")
    return raw.lower()
