"""Org ids: the one rule every service checks, and the one spelling each org is kept under.

A UUID org id may arrive in any case (or without hyphens); the credentials service has always
stored its lowercase hyphenated form. Every other entry point (a read API path, a sync request, a
webhook URL) must turn it into that same form, or rows written under one spelling are not found
under another: an org looked empty when asked for in upper case.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import Depends, Path, Query

from practice_sync_common.events import ORG_ID_PATTERN

_ORG_RE = re.compile(ORG_ID_PATTERN)
RULE = "org id must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"


class InvalidOrgId(ValueError):
    """The id breaks the org-id rule (the message says the rule; the id is not repeated)."""


def canonical_org_id(raw: str) -> str:
    """The org's one spelling: a UUID in any spelling becomes its lowercase hyphenated form."""
    if not isinstance(raw, str) or _ORG_RE.fullmatch(raw) is None:
        raise InvalidOrgId(RULE)
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return raw


_CHECKED: dict[str, Any] = {"min_length": 1, "max_length": 128, "pattern": f"^{ORG_ID_PATTERN}$"}


def org_path(org: str = Path(description="organization id", **_CHECKED)) -> str:
    """An `{org}` path segment, canonical (FastAPI has checked the rule: a 422 names it)."""
    return canonical_org_id(org)


def org_id_query(org_id: str = Query(description="organization id", **_CHECKED)) -> str:
    """A required `?org_id=`, canonical."""
    return canonical_org_id(org_id)


def optional_org_id_query(
    org_id: str | None = Query(default=None, description="only this org's", **_CHECKED),
) -> str | None:
    """An optional `?org_id=` filter, canonical."""
    return canonical_org_id(org_id) if org_id is not None else None


# For signatures: `org: OrgPath`, `org_id: OrgIdQuery`.
OrgPath = Annotated[str, Depends(org_path)]
OrgIdQuery = Annotated[str, Depends(org_id_query)]
