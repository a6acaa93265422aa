"""Deterministic synthetic contacts: a (seed, account) pair always yields the same firm."""

from __future__ import annotations

import random
import unicodedata
from functools import lru_cache

from practice_sync_sandbox.clio.models import Address, Contact, Email, Phone

FIRST_NAMES = (
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "José",
    "María",
    "Zoë",
    "Renée",
    "François",
    "Siobhán",
    "Björn",
    "Łukasz",
    "Chloé",
    "Søren",
    "Ngozi",
    "Mei",
    "Hiroshi",
    "Aoife",
    "Ana",
    "Mohammed",
    "Fatima",
    "Priya",
    "Raj",
    "Olga",
    "Jürgen",
    "Inès",
    "Noémie",
    "Seán",
    "Dmitri",
    "Amélie",
    "Kwame",
    "Yuki",
    "Lars",
    "Elena",
)
LAST_NAMES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "García",
    "Miller",
    "Davis",
    "Rodríguez",
    "Martínez",
    "Müller",
    "O'Brien",
    "Nguyễn",
    "Kowalski",
    "Dubois",
    "Rossi",
    "Østergaard",
    "Fernández",
    "Chen",
    "Patel",
    "Taylor",
    "Wilson",
    "Martin",
    "Lefèvre",
    "Schröder",
    "Johansson",
    "Okafor",
    "Tanaka",
    "Kim",
    "Singh",
    "MacDonald",
    "van der Berg",
    "D'Angelo",
    "Łopez",
    "Ivanov",
    "Novák",
    "Papadopoulos",
    "Haddad",
    "Silva",
    "Cohen",
)
MIDDLE = ("A.", "J.", "Marie", "Lee", "Ann", "R.", "Élise")
PREFIXES = ("Mr.", "Ms.", "Mrs.", "Dr.", "Mx.")
TITLES = ("CEO", "Paralegal", "Owner", "Director", "Accountant", "Engineer", "Nurse", "Teacher")
COMPANY_WORDS = (
    "Acme",
    "Northwind",
    "Blue Harbor",
    "Café Olé",
    "Zürich Partners",
    "Maple & Oak",
    "Summit",
    "Riverside",
    "Nordlys",
    "Crème Brûlée Bakery",
    "Pinecrest",
    "Quantum",
)
COMPANY_SUFFIX = ("LLC", "Inc.", "Ltd", "LLP", "GmbH", "Holdings", "& Co.", "S.A.")
DOMAINS = ("example.com", "mail.example.org", "inbox.example.net", "firm.example", "post.example.co.uk")
STREETS = ("Main St", "Oak Ave", "Rue de la Paix", "Königstraße", "High Street", "Calle Mayor", "Elm Rd")
CITIES = (
    ("Seattle", "WA", "US"),
    ("Toronto", "ON", "CA"),
    ("Montréal", "QC", "CA"),
    ("Austin", "TX", "US"),
    ("London", "", "GB"),
    ("München", "BY", "DE"),
    ("Sydney", "NSW", "AU"),
)


# Letters NFKD cannot split into base + accent.
_FOLD = str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "Æ": "AE", "đ": "d"})


@lru_cache(maxsize=4096)
def ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD)).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


class IdSource:
    """Hands out ascending ids with gaps, like a shared database sequence that other records also use."""

    def __init__(self, start: int) -> None:
        self.current = start

    def next(self, rng: random.Random | None = None) -> int:
        self.current += 1 + (rng.randrange(3) if rng else 0)
        return self.current


def generate_contacts(
    seed: int, slug: str, count: int, data_now: int, contact_ids: IdSource, nested_ids: IdSource
) -> list[Contact]:
    rng = random.Random(f"clio:{seed}:{slug}")
    span = 5 * 365 * 86_400
    start = data_now - span
    step = span / max(count, 1)
    contacts: list[Contact] = []
    companies: list[Contact] = []
    used_emails: list[str] = []
    for i in range(count):
        created = int(start + i * step + rng.random() * step * 0.9)
        updated = created if rng.random() < 0.35 else rng.randint(created, data_now - 60)
        cid = contact_ids.next(rng)
        if rng.random() < 0.12:
            contact = _company(rng, cid, created, updated)
            companies.append(contact)
        elif contacts and rng.random() < 0.02:
            contact = _duplicate_person(rng, contacts, cid, created, updated)
        else:
            contact = _person(rng, cid, created, updated, companies)
        _fill_emails(rng, contact, nested_ids, used_emails)
        _fill_phones(rng, contact, nested_ids)
        if rng.random() < 0.45:
            city, province, country = rng.choice(CITIES)
            contact.addresses.append(
                Address(
                    id=nested_ids.next(),
                    name=rng.choice(("Work", "Home", "Billing")),
                    street=f"{rng.randint(1, 9999)} {rng.choice(STREETS)}",
                    city=city,
                    province=province,
                    postal_code=f"{rng.randint(10000, 99999)}",
                    country=country,
                    primary=True,
                    created_at=created,
                    updated_at=updated,
                )
            )
        contacts.append(contact)
    return contacts


def _person(rng: random.Random, cid: int, created: int, updated: int, companies: list[Contact]) -> Contact:
    return Contact(
        id=cid,
        type="Person",
        first_name=rng.choice(FIRST_NAMES) if rng.random() > 0.02 else None,
        middle_name=rng.choice(MIDDLE) if rng.random() < 0.15 else None,
        last_name=rng.choice(LAST_NAMES),
        company_name=None,
        prefix=rng.choice(PREFIXES) if rng.random() < 0.2 else None,
        title=rng.choice(TITLES) if rng.random() < 0.15 else None,
        date_of_birth=(
            f"{rng.randint(1940, 2005)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            if rng.random() < 0.3
            else None
        ),
        is_client=rng.random() < 0.6,
        is_co_counsel=rng.random() < 0.03,
        is_bill_recipient=rng.random() < 0.4,
        company_id=rng.choice(companies).id if companies and rng.random() < 0.2 else None,
        created_at=created,
        updated_at=updated,
    )


def _duplicate_person(
    rng: random.Random, contacts: list[Contact], cid: int, created: int, updated: int
) -> Contact:
    # Real firms hold the same person twice (re-entered by another clerk): same name, maybe same email.
    src = rng.choice(contacts)
    if src.type != "Person":
        return _person(rng, cid, created, updated, [])
    return Contact(
        id=cid,
        type="Person",
        first_name=src.first_name,
        middle_name=None,
        last_name=src.last_name,
        company_name=None,
        prefix=None,
        title=None,
        date_of_birth=src.date_of_birth,
        is_client=rng.random() < 0.5,
        is_co_counsel=False,
        is_bill_recipient=False,
        company_id=None,
        created_at=created,
        updated_at=updated,
    )


def _company(rng: random.Random, cid: int, created: int, updated: int) -> Contact:
    if rng.random() < 0.4:
        name = f"{rng.choice(LAST_NAMES)} & {rng.choice(LAST_NAMES)} {rng.choice(COMPANY_SUFFIX)}"
    else:
        name = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIX)}"
    return Contact(
        id=cid,
        type="Company",
        first_name=None,
        middle_name=None,
        last_name=None,
        company_name=name,
        prefix=None,
        title=None,
        date_of_birth=None,
        is_client=rng.random() < 0.5,
        is_co_counsel=False,
        is_bill_recipient=rng.random() < 0.5,
        company_id=None,
        created_at=created,
        updated_at=updated,
    )


def _fill_emails(rng: random.Random, contact: Contact, ids: IdSource, used: list[str]) -> None:
    roll = rng.random()
    if roll < 0.15:
        return  # no email at all
    if used and roll < 0.19:
        address = rng.choice(used[-500:])  # a shared household / office inbox
    elif contact.type == "Company":
        address = f"info@{ascii_slug(contact.company_name or 'firm')}.example"
    else:
        first = ascii_slug(contact.first_name or "") or "x"
        last = ascii_slug(contact.last_name or "") or "y"
        style = rng.randrange(3)
        local = (
            f"{first}.{last}"
            if style == 0
            else f"{first[0]}{last}"
            if style == 1
            else f"{first}{rng.randint(1, 99)}"
        )
        address = f"{local}@{rng.choice(DOMAINS)}"
        if rng.random() < 0.05:
            address = address.upper() if rng.random() < 0.5 else f" {address}"  # messy input survives imports
    used.append(address.strip().lower())
    contact.emails.append(
        Email(ids.next(), rng.choice(("Work", "Home")), address, True, contact.created_at, contact.updated_at)
    )
    if rng.random() < 0.15:
        second = f"{ascii_slug(contact.name)[:12] or 'x'}{rng.randint(1, 999)}@{rng.choice(DOMAINS)}"
        contact.emails.append(
            Email(ids.next(), "Other", second, False, contact.created_at, contact.updated_at)
        )


def _fill_phones(rng: random.Random, contact: Contact, ids: IdSource) -> None:
    if rng.random() < 0.25:
        return
    n = rng.randint(200, 999), rng.randint(0, 99), rng.randint(0, 9999)
    style = rng.randrange(3)
    number = (
        f"+1 {n[0]}-555-{n[2]:04d}"
        if style == 0
        else f"({n[0]}) 555-{n[2]:04d}"
        if style == 1
        else f"+44 20 7946 {n[2]:04d}"
    )
    contact.phones.append(
        Phone(
            ids.next(),
            rng.choice(("Work", "Mobile", "Home")),
            number,
            True,
            contact.created_at,
            contact.updated_at,
        )
    )
    if rng.random() < 0.1:
        contact.phones.append(
            Phone(
                ids.next(),
                "Fax",
                f"+1 {n[0]}-555-{(n[2] + 1) % 10000:04d}",
                False,
                contact.created_at,
                contact.updated_at,
            )
        )
