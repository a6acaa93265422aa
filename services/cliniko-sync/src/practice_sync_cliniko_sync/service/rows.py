"""Cliniko records → mirror rows (the counting flag is decided by the domain rules)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from practice_sync_cliniko_sync.domain.rules import (
    DnaPolicy,
    attendee_counts,
    group_counts,
    individual_counts,
    is_set,
    link_id,
)
from practice_sync_common.dead_letter import PermanentError

RowFn = Callable[[str, dict[str, Any], DnaPolicy], dict[str, Any]]


def rows_of(
    resource: str, org_id: str, records: list[Any], row: RowFn, dna: DnaPolicy
) -> list[dict[str, Any]]:
    """A page's records as rows; one we cannot read fails the run at once (PermanentError), naming it.

    Retrying cannot fix a record (the next attempt reads the same one): as a plain KeyError or
    ValueError it used to be retried with backoff, attempt after attempt, before the run failed.
    """
    out = []
    for raw in records:
        try:
            out.append(row(org_id, raw, dna))
        except PermanentError:
            raise
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            ident = raw.get("id") if isinstance(raw, dict) else None
            raise PermanentError(f"Cliniko {resource} record {ident!r} is unreadable: {exc!r}") from exc
    return out


def ts(value: Any) -> datetime | None:
    if not is_set(value):
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _need(raw: dict[str, Any], value: Any, what: str) -> Any:
    if value is None:
        raise PermanentError(f"Cliniko record {raw.get('id')!r} has no {what}")
    return value


def _common(org_id: str, raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "id": str(raw["id"]),
        "starts_at": _need(raw, ts(raw.get("starts_at")), "starts_at"),
        "ends_at": ts(raw.get("ends_at")),
        "practitioner_id": link_id(raw, "practitioner"),
        "appointment_type_id": link_id(raw, "appointment_type"),
        "business_id": link_id(raw, "business"),
        "updated_at": str(raw.get("updated_at") or ""),
    }


def individual_row(org_id: str, raw: dict[str, Any], dna: DnaPolicy) -> dict[str, Any]:
    return {
        **_common(org_id, raw),
        "patient_id": _need(raw, link_id(raw, "patient"), "patient link"),
        "counts": individual_counts(raw, dna),
    }


def group_row(org_id: str, raw: dict[str, Any], dna: DnaPolicy) -> dict[str, Any]:
    return {**_common(org_id, raw), "counts": group_counts(raw)}


def attendee_row(org_id: str, raw: dict[str, Any], dna: DnaPolicy) -> dict[str, Any]:
    return {
        "org_id": org_id,
        "id": str(raw["id"]),
        "group_id": _need(raw, link_id(raw, "booking"), "booking link"),
        "patient_id": _need(raw, link_id(raw, "patient"), "patient link"),
        "counts": attendee_counts(raw),
        "updated_at": str(raw.get("updated_at") or ""),
    }


def patient_row(org_id: str, raw: dict[str, Any], dna: DnaPolicy) -> dict[str, Any]:
    phones = raw.get("patient_phone_numbers") or []
    phone = next((p.get("number") for p in phones if isinstance(p, dict) and p.get("number")), None)
    return {
        "org_id": org_id,
        "id": str(raw["id"]),
        "first_name": raw.get("first_name"),
        "last_name": raw.get("last_name"),
        "email": raw.get("email") or None,
        "phone": phone,
        "archived": is_set(raw.get("archived_at")) or is_set(raw.get("merged_at")),
        "updated_at": str(raw.get("updated_at") or ""),
    }
