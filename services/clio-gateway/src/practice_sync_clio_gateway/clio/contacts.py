"""A Clio contact record → the `contact.synced` payload (names, emails, phones normalized)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from practice_sync_common.events import ContactSynced

# What the projector needs, asked by name (Clio returns only id and etag otherwise).
CONTACT_FIELDS = (
    "id,etag,name,first_name,last_name,type,primary_email_address,primary_phone_number,"
    "email_addresses{address},phone_numbers{number},updated_at"
)
# etag and updated_at too: without them a delivery can be neither deduped nor ordered.
_REQUIRED = ("etag", "updated_at", "name", "first_name", "last_name", "email_addresses", "phone_numbers")
_SPACES = re.compile(r"\s+")
MAX_ID = 2**63 - 1  # Clio ids are int64 (clio.md §4), and so is contact_versions.contact_id


def clio_id(value: Any) -> int | None:
    """`value` when it is a Clio record id (a JSON integer, 1 to 2**63 - 1), else None.

    A bool is refused though Python counts True as 1 (it would name another contact), and so is a
    string of digits: Clio documents ids as int64 numbers, so a string is not a record as Clio
    sends it, and one rule for sync pages and webhook payloads keeps them naming the same contacts.
    """
    return value if type(value) is int and 1 <= value <= MAX_ID else None


def unreadable_field(record: dict[str, Any]) -> str | None:
    """What in a contact (its id already checked) no attempt could read, or None.

    Only what the gateway relies on: `etag` and `updated_at` dedupe and order versions, `type` is
    published as is, and the email and phone lists are walked (a string or an object there would be
    walked by character or key). A name of another type is only dropped, as an absent one is.
    """
    for name in ("etag", "type"):
        if record.get(name) is not None and not isinstance(record[name], str):
            return f"its {name} is not a string"
    if record.get("updated_at") is not None and parse_time(record["updated_at"]) is None:
        return "its updated_at is not an ISO 8601 time"
    for name in ("email_addresses", "phone_numbers"):
        if record.get(name) is not None and not isinstance(record[name], list):
            return f"its {name} is not a list"
    return None


def has_fields(record: dict[str, Any]) -> bool:
    """A webhook payload subscribed with CONTACT_FIELDS needs no fetch."""
    return all(k in record for k in _REQUIRED)


def _clean(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = _SPACES.sub(" ", value).strip()
    return text or None


def normalize_name(first: str | None, last: str | None, name: str | None) -> str | None:
    joined = " ".join(p for p in (first, last) if p) or name
    return _clean(joined.lower()) if joined else None


def _unique(values: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


def emails_of(record: dict[str, Any]) -> list[str]:
    found = [record.get("primary_email_address")]
    found += [e.get("address") for e in record.get("email_addresses") or [] if isinstance(e, dict)]
    return _unique([e.strip().lower() for e in found if isinstance(e, str) and "@" in e])


def phones_of(record: dict[str, Any]) -> list[str]:
    found = [record.get("primary_phone_number")]
    found += [p.get("number") for p in record.get("phone_numbers") or [] if isinstance(p, dict)]
    return _unique([c for c in (_clean(p) for p in found) if c])


def parse_time(value: Any) -> datetime | None:
    """A Clio timestamp (ISO 8601, `Z` or an offset), or None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def to_event(record: dict[str, Any], action: Literal["created", "updated"]) -> ContactSynced:
    first, last = _clean(record.get("first_name")), _clean(record.get("last_name"))
    name = _clean(record.get("name"))
    return ContactSynced(
        action=action,
        provider="clio",
        provider_id=str(record["id"]),
        etag=record.get("etag"),
        first_name=first,
        last_name=last,
        name=name,
        normalized_name=normalize_name(first, last, name),
        emails=emails_of(record),
        phones=phones_of(record),
        contact_type=record.get("type"),
        provider_updated_at=parse_time(record.get("updated_at")),
    )


def deleted_event(contact_id: int | str, etag: str | None) -> ContactSynced:
    return ContactSynced(action="deleted", provider="clio", provider_id=str(contact_id), etag=etag)
