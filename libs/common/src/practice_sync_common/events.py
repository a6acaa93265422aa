"""The one event envelope and the payload model of every topic.

The envelope's `id` is the dedupe key consumers record; `org_id` is also the Kafka key, so one
tenant's events stay ordered on one partition.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field

from practice_sync_common import topics
from practice_sync_common.ids import uuid4

Provider = Literal["clio", "cliniko"]
ALL_ORGS = "*"
# What an org id may be, everywhere (paths, bodies, keys): 1-128 of A-Za-z0-9._-, not starting with . _ or -.
ORG_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"

D = TypeVar("D", bound=BaseModel)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel, Generic[D]):
    model_config = ConfigDict(frozen=True)

    id: UUID = Field(default_factory=uuid4)
    type: str
    schema_version: int = 1
    source: str
    org_id: str = Field(min_length=1, max_length=128)
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: UUID | None = None
    data: D

    def key(self) -> bytes:
        return self.org_id.encode()


# --- sync.requested -------------------------------------------------------------------------------
class SyncRequested(BaseModel):
    """Ask a connector to sync one org (envelope org_id) or every org it has credentials for (`*`)."""

    provider: Provider
    mode: Literal["auto", "full", "incremental"] = "auto"
    run_id: UUID | None = None  # set by the requester when it wants to follow the run
    reason: str = "manual"


# --- webhook.received -----------------------------------------------------------------------------
class WebhookReceived(BaseModel):
    provider: Provider
    webhook_id: str | None = None
    event: str | None = None
    model: str | None = None
    received_at: datetime = Field(default_factory=utcnow)
    payload: dict[str, Any]


# --- contact.synced -------------------------------------------------------------------------------
class ContactSynced(BaseModel):
    action: Literal["created", "updated", "deleted"]
    provider: Provider
    provider_id: str = Field(min_length=1)
    etag: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    normalized_name: str | None = None
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    contact_type: str | None = None
    provider_updated_at: datetime | None = None


# --- active_patients.computed ---------------------------------------------------------------------
class AppointmentSummary(BaseModel):
    id: str
    starts_at: datetime
    ends_at: datetime | None = None
    practitioner: str | None = None
    appointment_type: str | None = None
    business: str | None = None
    kind: Literal["individual", "group"] = "individual"


class ActivePatient(BaseModel):
    type: Literal["active_patient"] = "active_patient"
    run_id: UUID
    cliniko_patient_id: str = Field(min_length=1)
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    recent_appointment_count: int = Field(ge=0)
    upcoming_appointment_count: int = Field(ge=0)
    total_appointment_count: int = Field(ge=0)
    last_appointment_date: datetime | None = None
    recent_appointments: list[AppointmentSummary] = Field(default_factory=list)
    upcoming_appointments: list[AppointmentSummary] = Field(default_factory=list)
    search_date_from: date
    search_date_to: date


class SnapshotComplete(BaseModel):
    """Closes a snapshot: only now may the projector drop the org's rows the run did not contain."""

    type: Literal["snapshot_complete"] = "snapshot_complete"
    run_id: UUID
    count: int = Field(ge=0)


ActivePatientsMessage = Annotated[ActivePatient | SnapshotComplete, Field(discriminator="type")]


class ActivePatientsComputed(BaseModel):
    message: ActivePatientsMessage


# Which payload each topic carries, so producers and the DLQ tooling agree on one place.
TOPIC_PAYLOADS: dict[str, type[BaseModel]] = {
    topics.SYNC_REQUESTED: SyncRequested,
    topics.WEBHOOK_RECEIVED: WebhookReceived,
    topics.CONTACT_SYNCED: ContactSynced,
    topics.ACTIVE_PATIENTS_COMPUTED: ActivePatientsComputed,
}


def envelope(
    event_type: str,
    source: str,
    org_id: str,
    data: D,
    correlation_id: UUID | None = None,
) -> Envelope[D]:
    return Envelope[D](
        type=event_type, source=source, org_id=org_id, data=data, correlation_id=correlation_id
    )


_SCHEMA_VERSION = Envelope.model_fields["schema_version"].default


def envelope_json(
    event_type: str,
    source: str,
    org_id: str,
    data: Mapping[str, Any],
    correlation_id: UUID | None = None,
) -> bytes:
    """An envelope's wire bytes from plain data: what `envelope(...).model_dump_json()` gives for
    the same fields, by the same serializer, without building a model per event.

    For bulk producers only: building and validating the models cost a snapshot 24 µs a message,
    most of cliniko-sync's CPU while the projector writes. `data` is not validated here; each caller's
    tests hold its data to the topic's model, byte for byte.
    """
    if not 1 <= len(org_id) <= 128:
        raise ValueError(f"org_id must be 1-128 characters, got {len(org_id)}")
    return pydantic_core.to_json(
        {
            "id": uuid4(),
            "type": event_type,
            "schema_version": _SCHEMA_VERSION,
            "source": source,
            "org_id": org_id,
            "occurred_at": utcnow(),
            "correlation_id": correlation_id,
            "data": data,
        }
    )
