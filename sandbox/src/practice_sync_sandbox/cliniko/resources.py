"""What each list endpoint exposes to `q[]` and `sort`: field types, how to read them, default scopes.

Fields read stored values (epoch seconds, date ordinals, row numbers of the referenced table);
`ids` says which ID sequence a numeric field's row numbers belong to, so filters on IDs can be
turned into comparisons on rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .account import Account
from .table import NULL, IdSpace, Table

Kind = Literal["datetime", "date", "numeric", "string", "bool", "array"]

OPERATORS: dict[Kind, tuple[str, ...]] = {
    "datetime": (">=", ">", "<=", "<", "?", "!?", "*"),
    "date": ("=", ">=", ">", "<=", "<", "?", "!?"),
    "numeric": ("=", "!=", ">=", ">", "<=", "<", "?", "!?"),
    "string": ("=", "!=", "~", "~~", "?", "!?"),
    "bool": ("=", "!="),
    "array": ("~",),
}


class Postings(Protocol):
    """Value -> rows holding it (a dict, or a view computing the rows on demand)."""

    def get(self, value: int, default: Sequence[int], /) -> Sequence[int]: ...


@dataclass(frozen=True)
class Field:
    kind: Kind
    get: Callable[[int], Any]
    ids: IdSpace | None = None  # numeric fields: the ID sequence of the rows they hold
    identity: bool = False  # the record's own `id`: the row number is the value
    postings: Callable[[], Postings] | None = None  # value -> rows, for `=` lookups


@dataclass(frozen=True)
class Resource:
    name: str
    size: Callable[[], int]
    rows: Callable[[], Iterable[int]]
    fields: dict[str, Field]
    scopes: tuple[str, ...] = ()  # rows with a value here are hidden unless the query has `field:*`
    lookup: Callable[[str], int] = field(default=lambda _: NULL)  # public ID text -> row
    # whether a row number is a record; interleaved lists (bookings, attendees) have gaps
    contains: Callable[[int], bool] | None = None

    def has_row(self, row: int) -> bool:
        return self.contains(row) if self.contains is not None else 0 <= row < self.size()


def _identity(r: int) -> int:
    return r


def _table_fields(t: Table, names: Iterable[str], kind: Kind) -> dict[str, Field]:
    return {n: Field(kind, t.cols[n].__getitem__) for n in names}


def _ref(t: Table, col: str, ids: IdSpace) -> Field:
    return Field("numeric", t.cols[col].__getitem__, ids=ids, postings=lambda: t.postings(col))


def _simple(
    name: str, t: Table, extra: dict[str, Field] | None = None, scopes: tuple[str, ...] = ()
) -> Resource:
    fields = {
        "id": Field("numeric", _identity, ids=t.ids, identity=True),
        **_table_fields(t, ("created_at", "updated_at"), "datetime"),
        **(extra or {}),
    }
    return Resource(name, t.__len__, t.rows, fields, scopes, lookup=t.row_of_text)


def build_resources(acc: Account) -> dict[str, Resource]:
    p, a, g = acc.patients, acc.appointments, acc.groups
    out: dict[str, Resource] = {}

    out["patients"] = _simple(
        "patients",
        p,
        {
            **_table_fields(p, ("archived_at",), "datetime"),
            "date_of_birth": Field("date", p.cols["date_of_birth"].__getitem__),
            **_table_fields(
                p, ("email", "first_name", "last_name", "old_reference_id", "preferred_first_name"), "string"
            ),
        },
        scopes=("archived_at",),
    )

    appt_fields = {
        **_table_fields(a, ("archived_at", "cancelled_at", "deleted_at", "ends_at", "starts_at"), "datetime"),
        "appointment_type_id": _ref(a, "appointment_type", acc.appointment_types.ids),
        "business_id": _ref(a, "business", acc.businesses.ids),
        "practitioner_id": _ref(a, "practitioner", acc.practitioners.ids),
        "patient_id": _ref(a, "patient", p.ids),
        "repeated_from_id": _ref(a, "repeated_from", a.ids),
        "did_not_arrive": Field("bool", a.cols["did_not_arrive"].__getitem__),
    }
    scoped = ("archived_at", "cancelled_at")
    out["individual_appointments"] = _simple("individual_appointments", a, appt_fields, scoped)
    out["appointments"] = _simple("appointments", a, appt_fields, scoped)

    group_patients = acc.group_patients
    out["group_appointments"] = _simple(
        "group_appointments",
        g,
        {
            **_table_fields(g, ("archived_at", "deleted_at", "ends_at", "starts_at"), "datetime"),
            "appointment_type_id": _ref(g, "appointment_type", acc.appointment_types.ids),
            "business_id": _ref(g, "business", acc.businesses.ids),
            "practitioner_id": _ref(g, "practitioner", acc.practitioners.ids),
            "repeated_from_id": _ref(g, "repeated_from", g.ids),
            "patient_ids": Field("array", group_patients, ids=p.ids),
        },
        ("archived_at",),
    )

    out["attendees"] = _attendees(acc)
    out["bookings"] = _bookings(acc)
    out["practitioners"] = _simple("practitioners", acc.practitioners)
    out["businesses"] = _simple("businesses", acc.businesses)
    out["appointment_types"] = _simple("appointment_types", acc.appointment_types)
    return out


def _bookings(acc: Account) -> Resource:
    """Individual and group appointments in one list. Booking row r is individual r//2 when r is
    even and group r//2 when odd, which is also their shared ID order."""
    a, g = acc.appointments, acc.groups

    def both(col: str, group_default: int | None = None) -> Callable[[int], Any]:
        ac = a.cols[col]
        if group_default is not None:
            return lambda r: group_default if r & 1 else ac[r >> 1]
        gc = g.cols[col]
        return lambda r: gc[r >> 1] if r & 1 else ac[r >> 1]

    def ref(col: str, ids: IdSpace) -> Field:
        return Field("numeric", both(col), ids=ids)

    def repeated(r: int) -> int:
        src = (g if r & 1 else a).cols["repeated_from"][r >> 1]
        return NULL if src == NULL else 2 * src + (r & 1)

    def patient_ids(r: int) -> list[int]:
        return acc.group_patients(r >> 1) if r & 1 else [a.cols["patient"][r >> 1]]

    def rows() -> Iterable[int]:
        # in row (ID) order, so ties in any sort keep ID order
        return sorted(itertools.chain(range(0, 2 * len(a), 2), range(1, 2 * len(g), 2)))

    def contains(r: int) -> bool:
        return _interleaved(r, len(a), len(g))

    def lookup(text: str) -> int:
        return _interleaved_lookup(text, acc.booking_ids, len(a), len(g))

    fields = {
        "id": Field("numeric", _identity, ids=acc.booking_ids, identity=True),
        **{
            c: Field("datetime", both(c))
            for c in ("archived_at", "created_at", "deleted_at", "ends_at", "starts_at", "updated_at")
        },
        "cancelled_at": Field("datetime", both("cancelled_at", NULL)),
        "did_not_arrive": Field("bool", both("did_not_arrive", 0)),
        "appointment_type_id": ref("appointment_type", acc.appointment_types.ids),
        "business_id": ref("business", acc.businesses.ids),
        "practitioner_id": ref("practitioner", acc.practitioners.ids),
        "repeated_from_id": Field("numeric", repeated, ids=acc.booking_ids),
        "patient_ids": Field("array", patient_ids, ids=acc.patients.ids),
    }
    return Resource(
        "bookings",
        lambda: len(a) + len(g),
        rows,
        fields,
        scopes=("archived_at", "cancelled_at"),
        lookup=lookup,
        contains=contains,
    )


def _interleaved(r: int, evens: int, odds: int) -> bool:
    """Row r of an interleaved list: even rows are 0..evens-1 (doubled), odd rows 0..odds-1."""
    return r >= 0 and (r >> 1) < (odds if r & 1 else evens)


def _interleaved_lookup(text: str, ids: IdSpace, evens: int, odds: int) -> int:
    if not text.isdigit():
        return NULL
    r = ids.row_of(int(text), 2 * max(evens, odds) + 1)
    return r if r != NULL and _interleaved(r, evens, odds) else NULL


@dataclass(frozen=True)
class _MergedPostings:
    """Rows of an interleaved list by value, from the two halves' postings (computed per lookup, so
    they stay current as the tables change)."""

    evens: Postings
    odds: Postings

    def get(self, value: int, default: Sequence[int], /) -> Sequence[int]:
        rows = [2 * r for r in self.evens.get(value, ())]
        rows += [2 * k + 1 for k in self.odds.get(value, ())]
        return rows or default


@dataclass(frozen=True)
class _AttendeesByBooking:
    """Attendee rows of a booking row: an individual appointment's one, or a class's."""

    acc: Account

    def get(self, value: int, default: Sequence[int], /) -> Sequence[int]:
        if value < 0:
            return default
        if value & 1:
            groups = self.acc.group_attendees
            g = value >> 1
            return [2 * k + 1 for k in groups[g]] if g < len(groups) else default
        return [value] if (value >> 1) < len(self.acc.appointments) else default


def _attendees(acc: Account) -> Resource:
    """Every booking's attendees: an individual appointment's single one (even rows, derived from the
    appointment, whose state it shares) and the stored class attendees (odd rows). Cliniko documents
    attendees for both kinds (`/individual_appointments/{id}/attendees`, attendees.md)."""
    a, att = acc.appointments, acc.attendees

    def both(col: str) -> Callable[[int], Any]:
        ac, tc = a.cols[col], att.cols[col]
        return lambda r: tc[r >> 1] if r & 1 else ac[r >> 1]

    appointment_col = att.cols["appointment"]

    def booking_row(r: int) -> int:
        # booking rows: individual i is 2i, class g is 2g+1
        return 2 * appointment_col[r >> 1] + 1 if r & 1 else r & ~1

    def rows() -> Iterable[int]:
        # in row (ID) order, so ties in any sort keep ID order
        return sorted(itertools.chain(range(0, 2 * len(a), 2), range(1, 2 * len(att), 2)))

    booking = Field("numeric", booking_row, ids=acc.booking_ids, postings=lambda: _AttendeesByBooking(acc))
    fields = {
        "id": Field("numeric", _identity, ids=acc.attendee_ids, identity=True),
        **{
            c: Field("datetime", both(c))
            for c in ("archived_at", "cancelled_at", "created_at", "deleted_at", "updated_at")
        },
        "appointment_id": booking,
        "booking_id": booking,
        "patient_id": Field(
            "numeric",
            both("patient"),
            ids=acc.patients.ids,
            postings=lambda: _MergedPostings(a.postings("patient"), att.postings("patient")),
        ),
        "patient_case_id": Field("numeric", lambda _r: NULL),
    }
    return Resource(
        "attendees",
        lambda: len(a) + len(att),
        rows,
        fields,
        scopes=("archived_at", "cancelled_at"),
        lookup=lambda text: _interleaved_lookup(text, acc.attendee_ids, len(a), len(att)),
        contains=lambda r: _interleaved(r, len(a), len(att)),
    )
