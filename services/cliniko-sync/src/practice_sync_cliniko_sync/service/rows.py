"""Cliniko records → mirror rows (the counting flag is decided by the domain rules)."""

from __future__ import annotations

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
