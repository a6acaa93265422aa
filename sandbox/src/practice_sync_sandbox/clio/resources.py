"""Field catalogues of the Clio records this sandbox serves (what `fields` may ask for)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from practice_sync_sandbox._kit.clock import iso_z
from practice_sync_sandbox.clio.fields import Resource
from practice_sync_sandbox.clio.models import Contact, CustomAction, User, Webhook, make_etag
from practice_sync_sandbox.clio.store import ContactStore


def ts(epoch: int | None) -> str | None:
    return None if epoch is None else iso_z(datetime.fromtimestamp(epoch, tz=UTC))


def _primary(items: list[Any], attr: str, primary: bool) -> str | None:
    for item in items:
        if item.primary == primary:
            return str(getattr(item, attr))
    return None


def _nested_item(name: str, salt: str, kind: str, value_fields: dict[str, str]) -> Resource:
    scalars: dict[str, Any] = {
        "id": lambda r: r.id,
        "etag": lambda r: make_etag(salt, kind, r.id, r.version),
        "name": lambda r: r.name,
        "primary": lambda r: r.primary,
        "created_at": lambda r: ts(r.created_at),
        "updated_at": lambda r: ts(r.updated_at),
    }
    for out_name, attr in value_fields.items():
        scalars[out_name] = lambda r, a=attr: getattr(r, a)
    return Resource(name, scalars)


def contact_resource(salt: str, store: ContactStore) -> Resource:
    email = _nested_item("EmailAddress", salt, "email", {"address": "address"})
    phone = _nested_item("PhoneNumber", salt, "phone", {"number": "number"})
    address = _nested_item(
        "Address", salt, "address", {k: k for k in ("street", "city", "province", "postal_code", "country")}
    )
    empty = Resource("Nested", {"id": lambda r: None, "etag": lambda r: None, "name": lambda r: None})
    company_ref = Resource(
        "Contact",
        {
            "id": lambda c: c.id,
            "etag": lambda c: make_etag(salt, "contact", c.id, c.version),
            "name": lambda c: c.name,
            "type": lambda c: c.type,
        },
    )

    def company(c: Contact) -> Contact | None:
        return store.by_id.get(c.company_id) if c.company_id is not None else None

    def primary_address(c: Contact) -> Any:
        return next((a for a in c.addresses if a.primary), None)

    scalars: dict[str, Any] = {
        "id": lambda c: c.id,
        "etag": lambda c: make_etag(salt, "contact", c.id, c.version),
        "name": lambda c: c.name,
        "first_name": lambda c: c.first_name,
        "middle_name": lambda c: c.middle_name,
        "last_name": lambda c: c.last_name,
        "prefix": lambda c: c.prefix,
        "title": lambda c: c.title,
        "initials": lambda c: c.initials,
        "type": lambda c: c.type,
        "date_of_birth": lambda c: c.date_of_birth,
        "created_at": lambda c: ts(c.created_at),
        "updated_at": lambda c: ts(c.updated_at),
        "primary_email_address": lambda c: _primary(c.emails, "address", True),
        "secondary_email_address": lambda c: _primary(c.emails, "address", False),
        "primary_phone_number": lambda c: _primary(c.phones, "number", True),
        "secondary_phone_number": lambda c: _primary(c.phones, "number", False),
        "is_client": lambda c: c.is_client,
        "is_co_counsel": lambda c: c.is_co_counsel,
        "is_bill_recipient": lambda c: c.is_bill_recipient,
        "ledes_client_id": lambda c: None,
        "sales_tax_number": lambda c: None,
        "clio_connect_email": lambda c: None,
        "locked_clio_connect_email": lambda c: False,
        "has_clio_for_clients_permission": lambda c: False,
    }
    nested: dict[str, tuple[Resource, Any]] = {
        "email_addresses": (email, lambda c: c.emails),
        "phone_numbers": (phone, lambda c: c.phones),
        "addresses": (address, lambda c: c.addresses),
        "primary_address": (address, primary_address),
        "company": (company_ref, company),
        "web_sites": (empty, lambda c: []),
        "instant_messengers": (empty, lambda c: []),
        "custom_field_values": (empty, lambda c: []),
        "related_contacts": (empty, lambda c: []),
    }
    return Resource("Contact", scalars, nested)


def user_resource(salt: str) -> Resource:
    return Resource(
        "User",
        {
            "id": lambda u: u.id,
            "etag": lambda u: make_etag(salt, "user", u.id, 1),
            "name": lambda u: u.name,
            "first_name": lambda u: u.first_name,
            "last_name": lambda u: u.last_name,
            "email": lambda u: u.email,
            "enabled": lambda u: True,
            "time_zone": lambda u: "Etc/UTC",
            "created_at": lambda u: ts(u.created_at),
            "updated_at": lambda u: ts(u.created_at),
        },
    )


def custom_action_resource(salt: str) -> Resource:
    return Resource(
        "CustomAction",
        {
            "id": lambda a: a.id,
            "etag": lambda a: make_etag(salt, "custom_action", a.id, a.version),
            "label": lambda a: a.label,
            "target_url": lambda a: a.target_url,
            "ui_reference": lambda a: a.ui_reference,
            "created_at": lambda a: ts(a.created_at),
            "updated_at": lambda a: ts(a.updated_at),
        },
    )


def webhook_resource(salt: str, users: dict[int, User]) -> Resource:
    user_ref = Resource(
        "User",
        {
            "id": lambda u: u.id,
            "etag": lambda u: make_etag(salt, "user", u.id, 1),
            "name": lambda u: u.name,
        },
    )
    return Resource(
        "Webhook",
        {
            "id": lambda w: w.id,
            "etag": lambda w: make_etag(salt, "webhook", w.id, w.version),
            "url": lambda w: w.url,
            "fields": lambda w: w.fields,
            "shared_secret": lambda w: w.shared_secret,
            "model": lambda w: w.model,
            "status": lambda w: w.status,
            "events": lambda w: list(w.events),
            "expires_at": lambda w: ts(w.expires_at),
            "created_at": lambda w: ts(w.created_at),
            "updated_at": lambda w: ts(w.updated_at),
        },
        {"user": (user_ref, lambda w: users.get(w.user_id))},
    )


__all__ = [
    "CustomAction",
    "Webhook",
    "contact_resource",
    "custom_action_resource",
    "ts",
    "user_resource",
    "webhook_resource",
]
