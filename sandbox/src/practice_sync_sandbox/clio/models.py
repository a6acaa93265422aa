"""In-memory records of one Clio account; slotted so 100,000 contacts stay small."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

PHONE_NAMES: frozenset[str] = frozenset({"Work", "Home", "Mobile", "Fax", "Pager", "Skype", "Other"})


def make_etag(salt: str, kind: str, ident: int, version: int) -> str:
    digest = hashlib.md5(f"{salt}:{kind}:{ident}:{version}".encode(), usedforsecurity=False).hexdigest()
    return f'"{digest}"'


@dataclass(slots=True)
class Email:
    id: int
    name: str
    address: str
    primary: bool
    created_at: int
    updated_at: int
    version: int = 1


@dataclass(slots=True)
class Phone:
    id: int
    name: str
    number: str
    primary: bool
    created_at: int
    updated_at: int
    version: int = 1


@dataclass(slots=True)
class Address:
    id: int
    name: str
    street: str
    city: str
    province: str
    postal_code: str
    country: str
    primary: bool
    created_at: int
    updated_at: int
    version: int = 1


@dataclass(slots=True)
class Contact:
    id: int
    type: str  # "Person" | "Company"
    first_name: str | None
    middle_name: str | None
    last_name: str | None
    company_name: str | None  # `name` of a Company
    prefix: str | None
    title: str | None
    date_of_birth: str | None
    is_client: bool
    is_co_counsel: bool
    is_bill_recipient: bool
    company_id: int | None
    created_at: int
    updated_at: int
    version: int = 1
    emails: list[Email] = field(default_factory=list)
    phones: list[Phone] = field(default_factory=list)
    addresses: list[Address] = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.type == "Company":
            return self.company_name or ""
        return " ".join(p for p in (self.first_name, self.middle_name, self.last_name) if p)

    @property
    def initials(self) -> str:
        if self.type == "Company":
            return "".join(w[0] for w in (self.company_name or "").split()[:2]).upper()
        return "".join(p[0] for p in (self.first_name, self.last_name) if p).upper()

    def search_text(self) -> str:
        parts = [self.name]
        parts += [e.address for e in self.emails]
        parts += [p.number for p in self.phones]
        parts += [f"{a.street} {a.city} {a.province} {a.postal_code}" for a in self.addresses]
        return " ".join(parts).lower()


@dataclass(slots=True)
class User:
    id: int
    first_name: str
    last_name: str
    email: str
    created_at: int

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(slots=True)
class CustomAction:
    id: int
    user_id: int
    client_id: str
    label: str
    target_url: str
    ui_reference: str
    created_at: int
    updated_at: int
    version: int = 1


@dataclass(slots=True)
class Webhook:
    id: int
    user_id: int
    client_id: str
    url: str
    fields: str
    model: str
    events: list[str]
    shared_secret: str
    status: str  # pending | enabled | suspended
    expires_at: int
    created_at: int
    updated_at: int
    version: int = 1
    went_live_at: int | None = None
    # Contacts whose first update since the hook went live has been delivered (the watched-fields exception).
    seen_updates: set[int] = field(default_factory=set)
