"""One account's contacts: id-sorted storage, writes with Clio's validation rules, nested upserts."""

from __future__ import annotations

import bisect
import copy
import itertools
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

from practice_sync_sandbox.clio.datagen import IdSource
from practice_sync_sandbox.clio.errors import not_found, unprocessable
from practice_sync_sandbox.clio.models import PHONE_NAMES, Address, Contact, Email, Phone

PERSON_NAME_RULE = "At least one of first name or last name must be provided"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SCALARS = ("first_name", "middle_name", "last_name", "prefix", "title")
_FLAGS = ("is_client", "is_co_counsel", "is_bill_recipient")


RUNTIME_VERSION_FLOOR = 2**31


class ContactStore:
    """Contacts kept in a dict plus an ascending id list, so a page is a bisect and a short scan."""

    def __init__(self, contacts: list[Contact], contact_ids: IdSource, nested_ids: IdSource) -> None:
        self.by_id: dict[int, Contact] = {c.id: c for c in contacts}
        self.ids: list[int] = sorted(self.by_id)
        self.contact_ids = contact_ids
        self.nested_ids = nested_ids
        self.version = 0  # bumps on every write; keys derived caches (name order)
        # Record versions (and so etags) of runtime writes start past anything seeded, at a point
        # drawn per sandbox process: a restarted sandbox reuses runtime ids (they continue from the
        # seeded ones), and with versions counted from 1 again a different contact came back with
        # the very etag an earlier process gave the old one, so consumers deduped it away as seen.
        # Seeded records keep version 1: a seed still gives byte-identical data.
        self._written = itertools.count(RUNTIME_VERSION_FLOOR + secrets.randbelow(RUNTIME_VERSION_FLOOR))
        self._order_cache: dict[str, tuple[int, list[int]]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, contact_id: int) -> Contact:
        contact = self.by_id.get(contact_id)
        if contact is None:
            raise not_found("Contact", contact_id)
        return contact

    def iter_from(self, after_id: int | None) -> Iterator[Contact]:
        start = 0 if after_id is None else bisect.bisect_right(self.ids, after_id)
        by_id = self.by_id
        for i in range(start, len(self.ids)):
            yield by_id[self.ids[i]]

    def ordered_ids(self, key: str, descending: bool) -> list[int]:
        """Ids in a custom order, cached until the next write (offset paging re-asks per page)."""
        cache_key = f"{key}:{descending}"
        hit = self._order_cache.get(cache_key)
        if hit and hit[0] == self.version:
            return hit[1]
        if key == "id":
            ids = list(reversed(self.ids)) if descending else self.ids
        else:
            sort_key: Callable[[int], Any] = lambda i: (self.by_id[i].name.lower(), i)  # noqa: E731
            ids = sorted(self.ids, key=sort_key, reverse=descending)
        self._order_cache[cache_key] = (self.version, ids)
        return ids

    # ---- writes -------------------------------------------------------------------------------------

    def create(self, data: dict[str, Any], now: int) -> Contact:
        ctype = data.get("type", "Person")
        if ctype not in ("Person", "Company"):
            raise unprocessable("Type must be one of Person, Company")
        contact = Contact(
            id=0,
            type=ctype,
            first_name=None,
            middle_name=None,
            last_name=None,
            company_name=None,
            prefix=None,
            title=None,
            date_of_birth=None,
            is_client=False,
            is_co_counsel=False,
            is_bill_recipient=False,
            company_id=None,
            created_at=now,
            updated_at=now,
        )
        self._apply(contact, data, now, creating=True)
        contact.id = self.contact_ids.next()
        contact.version = next(self._written)
        self.by_id[contact.id] = contact
        bisect.insort(self.ids, contact.id)
        self.version += 1
        return contact

    def update(self, contact_id: int, data: dict[str, Any], now: int) -> tuple[Contact, Contact]:
        """Returns (before, after); `before` is a detached copy for the webhook watched-fields rule."""
        contact = self.get(contact_id)
        before = copy.deepcopy(contact)
        work = copy.deepcopy(contact)
        self._apply(work, data, now, creating=False)  # validate on a copy: a 422 must change nothing
        work.version = next(self._written)
        work.updated_at = now
        self.by_id[contact_id] = work
        self.version += 1
        return before, work

    def delete(self, contact_id: int) -> Contact:
        contact = self.get(contact_id)
        del self.by_id[contact_id]
        idx = bisect.bisect_left(self.ids, contact_id)
        del self.ids[idx]
        self.version += 1
        return contact

    def _apply(self, c: Contact, data: dict[str, Any], now: int, creating: bool) -> None:
        if not isinstance(data, dict):
            raise unprocessable('Request body must be {"data": {...}}')
        if "type" in data and not creating:
            if data["type"] not in ("Person", "Company"):
                raise unprocessable("Type must be one of Person, Company")
            c.type = data["type"]
        for key in _SCALARS:
            if key in data:
                setattr(c, key, _opt_str(data[key], key))
        for key in _FLAGS:
            if key in data:
                setattr(c, key, bool(data[key]))
        if "date_of_birth" in data:
            dob = _opt_str(data["date_of_birth"], "date_of_birth")
            if dob is not None and not _DATE.match(dob):
                raise unprocessable("Date of birth must be a date (YYYY-MM-DD)")
            c.date_of_birth = dob
        if "name" in data:
            name = _opt_str(data["name"], "name")
            if c.type == "Company":
                c.company_name = name
            elif name and not (data.get("first_name") or data.get("last_name")):
                # A Person may be created from a parseable full name.
                parts = name.split()
                c.first_name = parts[0]
                c.last_name = " ".join(parts[1:]) or None
        if "company" in data or "company_id" in data:
            ref = data.get("company", data.get("company_id"))
            ref_id = ref.get("id") if isinstance(ref, dict) else ref
            if ref_id is None:
                c.company_id = None
            else:
                target = self.by_id.get(_int(ref_id, "company id"))
                if target is None or target.type != "Company":
                    raise unprocessable("Company must be an existing Company contact")
                c.company_id = target.id
        if c.type == "Person" and not (c.first_name or c.last_name):
            raise unprocessable(PERSON_NAME_RULE)
        if c.type == "Company" and not c.company_name:
            raise unprocessable("Name can't be blank")
        if "email_addresses" in data:
            self._apply_emails(c, data["email_addresses"], now)
        if "phone_numbers" in data:
            self._apply_phones(c, data["phone_numbers"], now)
        if "addresses" in data:
            self._apply_addresses(c, data["addresses"], now)

    def _nested_items(self, items: Any, what: str) -> list[dict[str, Any]]:
        if isinstance(items, dict):  # form-style {"0": {...}, "1": {...}}
            items = list(items.values())
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise unprocessable(f"{what} must be a list of objects")
        return items

    def _apply_emails(self, c: Contact, items: Any, now: int) -> None:
        for item in self._nested_items(items, "email_addresses"):
            existing = _find(c.emails, item, "Email address")
            if existing is not None and _truthy(item.get("_destroy")):
                c.emails.remove(existing)
                continue
            address = item.get("address", existing.address if existing else None)
            if not isinstance(address, str) or "@" not in address:
                raise unprocessable("Email address is invalid")
            name = item.get("name", existing.name if existing else "Work")
            if not isinstance(name, str) or not name:
                raise unprocessable("Email address name can't be blank")
            primary = _truthy(item.get("default_email", item.get("primary", False)))
            if existing is None:
                existing = Email(self.nested_ids.next(), name, address, primary, now, now)
                c.emails.append(existing)
            else:
                existing.address, existing.name = address, name
                existing.primary = primary or existing.primary
                existing.updated_at, existing.version = now, existing.version + 1
            if primary:
                for other in c.emails:
                    other.primary = other is existing
        _ensure_primary(c.emails)

    def _apply_phones(self, c: Contact, items: Any, now: int) -> None:
        for item in self._nested_items(items, "phone_numbers"):
            existing = _find(c.phones, item, "Phone number")
            if existing is not None and _truthy(item.get("_destroy")):
                c.phones.remove(existing)
                continue
            number = item.get("number", existing.number if existing else None)
            if not isinstance(number, str) or not number.strip():
                raise unprocessable("Phone number can't be blank")
            name = item.get("name", existing.name if existing else "Work")
            if name not in PHONE_NAMES:
                raise unprocessable(f"Phone number name must be one of {', '.join(sorted(PHONE_NAMES))}")
            primary = _truthy(item.get("default_number", item.get("primary", False)))
            if existing is None:
                existing = Phone(self.nested_ids.next(), name, number, primary, now, now)
                c.phones.append(existing)
            else:
                existing.number, existing.name = number, name
                existing.primary = primary or existing.primary
                existing.updated_at, existing.version = now, existing.version + 1
            if primary:
                for other in c.phones:
                    other.primary = other is existing
        _ensure_primary(c.phones)

    def _apply_addresses(self, c: Contact, items: Any, now: int) -> None:
        for item in self._nested_items(items, "addresses"):
            existing = _find(c.addresses, item, "Address")
            if existing is not None and _truthy(item.get("_destroy")):
                c.addresses.remove(existing)
                continue
            values = {
                k: str(item.get(k, getattr(existing, k) if existing else "") or "")
                for k in ("name", "street", "city", "province", "postal_code", "country")
            }
            if existing is None:
                c.addresses.append(
                    Address(
                        self.nested_ids.next(),
                        values["name"] or "Work",
                        values["street"],
                        values["city"],
                        values["province"],
                        values["postal_code"],
                        values["country"],
                        _truthy(item.get("primary")),
                        now,
                        now,
                    )
                )
            else:
                for k, v in values.items():
                    setattr(existing, k, v)
                existing.updated_at, existing.version = now, existing.version + 1
        _ensure_primary(c.addresses)


def _find(items: list[Any], item: dict[str, Any], what: str) -> Any:
    if item.get("id") in (None, ""):
        return None
    wanted = _int(item["id"], f"{what} id")
    for existing in items:
        if existing.id == wanted:
            return existing
    raise unprocessable(f"{what} {wanted} does not belong to this contact")


def _ensure_primary(items: list[Any]) -> None:
    if items and not any(i.primary for i in items):
        items[0].primary = True


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise unprocessable(f"{what} must be an integer") from None


def _opt_str(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise unprocessable(f"{what} must be a string")
    text = str(value).strip()
    return text or None
