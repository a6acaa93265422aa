"""What each list endpoint exposes to `q[]` and `sort`: field types, how to read them, default scopes.

Fields read stored values (epoch seconds, date ordinals, row numbers of the referenced table);
`ids` says which ID sequence a numeric field's row numbers belong to, so filters on IDs can be
turned into comparisons on rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

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


@dataclass(frozen=True)
class Field:
    kind: Kind
    get: Callable[[int], Any]
    ids: IdSpace | None = None  # numeric fields: the ID sequence of the rows they hold
    identity: bool = False  # the record's own `id`: the row number is the value
    postings: Callable[[], dict[int, list[int]]] | None = None  # value -> rows, for `=` lookups


@dataclass(frozen=True)
class Resource:
    name: str
    size: Callable[[], int]
    rows: Callable[[], Iterable[int]]
    fields: dict[str, Field]
    scopes: tuple[str, ...] = ()  # rows with a value here are hidden unless the query has `field:*`
    lookup: Callable[[str], int] = field(default=lambda _: NULL)  # public ID text -> row


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
    p, a, g, att = acc.patients, acc.appointments, acc.groups, acc.attendees
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

    out["attendees"] = _simple(
        "attendees",
        att,
        {
            **_table_fields(att, ("archived_at", "cancelled_at", "deleted_at"), "datetime"),
            "appointment_id": _ref(att, "appointment", g.ids),
            "booking_id": _ref(att, "appointment", g.ids),
            "patient_id": _ref(att, "patient", p.ids),
            "patient_case_id": Field("numeric", lambda _r: NULL),
        },
        scoped,
    )

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
        return itertools.chain(range(0, 2 * len(a), 2), range(1, 2 * len(g), 2))

    def lookup(text: str) -> int:
        if not text.isdigit():
            return NULL
        r = acc.booking_ids.row_of(int(text), 2 * max(len(a), len(g)) + 1)
        if r == NULL or r >> 1 >= (len(g) if r & 1 else len(a)):
            return NULL
        return r

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
    )
