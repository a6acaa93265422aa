"""Response bodies of the read API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel


class PageMeta(BaseModel):
    limit: int
    offset: int
    total: int
    next_cursor: str | None


class Contact(BaseModel):
    id: uuid.UUID
    organization_id: str
    first_name: str | None
    last_name: str | None
    name: str | None
    normalized_name: str | None
    email: str | None
    emails: list[str]
    phone: str | None
    phones: list[str]
    contact_type: str | None
    source: str
    clio_id: str | None
    clio_etag: str | None
    clio_match_method: str | None
    cliniko_patient_id: str | None
    cliniko_match_method: str | None
    provider_updated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class ContactPage(BaseModel):
    data: list[Contact]
    meta: PageMeta


class LinkedContact(BaseModel):
    id: uuid.UUID
    name: str | None
    email: str | None
    source: str


class ActivePatient(BaseModel):
    id: uuid.UUID
    organization_id: str
    cliniko_patient_id: str
    contact_id: uuid.UUID
    contact: LinkedContact
    link_method: str
    recent_appointment_count: int
    upcoming_appointment_count: int
    total_appointment_count: int
    last_appointment_date: datetime | None
    recent_appointments: list[dict[str, Any]]
    upcoming_appointments: list[dict[str, Any]]
    search_date_from: date
    search_date_to: date
    run_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class ActivePatientPage(BaseModel):
    data: list[ActivePatient]
    meta: PageMeta


class ReadToken(BaseModel):
    org_id: str
    token: str
