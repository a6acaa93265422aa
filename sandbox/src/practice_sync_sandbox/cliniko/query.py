"""Parsing a list request's `q[]`, `q`, `sort`, `order`, `page` and `per_page` into a checked query.

Unknown fields, operators a field's type does not take, and malformed values are errors (the
sandbox answers 400 by default) rather than silently ignored: a client bug should fail loudly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .resources import OPERATORS, Resource
from .timefmt import parse_date, parse_ts

# longest first, so `>=` is not read as `>` followed by "=..."
_OPS = ("!?", "!=", ">=", "<=", "~~", "?", "*", "=", ">", "<", "~")
_NO_VALUE = ("?", "!?", "*")
_DATE_PATTERN = re.compile(r"^[\d*]{4}-[\d*]{2}-[\d*]{2}$")
_BOOL = {"true": "true", "false": "false", "1": "true", "0": "false"}


class QueryError(ValueError):
    pass


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    value: str  # normalized text; the evaluator converts it


@dataclass(frozen=True)
class ListQuery:
    filters: tuple[Filter, ...]
    sort: tuple[tuple[str, bool], ...]  # (field, descending)
    page: int
    per_page: int
    raw_filters: tuple[str, ...]  # as sent, in order, for the links
    raw_sort: str | None
    raw_order: str | None

    def cache_key(self, resource: str) -> tuple[object, ...]:
        return (resource, tuple(sorted(set(self.filters), key=repr)), self.sort)


def parse_filter(text: str, resource: Resource) -> Filter:
    field, sep, rest = text.partition(":")
    field = field.strip()
    if not sep:
        raise QueryError(f"invalid filter {text!r}: expected FIELD:OPERATORVALUE")
    spec = resource.fields.get(field)
    if spec is None:
        allowed = ", ".join(sorted(resource.fields))
        raise QueryError(
            f"invalid filter {text!r}: unknown field {field!r} for {resource.name} (filterable: {allowed})"
        )
    op = next((o for o in _OPS if rest.startswith(o)), None)
    if op is None or op not in OPERATORS[spec.kind]:
        allowed = " ".join(OPERATORS[spec.kind])
        raise QueryError(f"invalid filter {text!r}: {spec.kind} field {field!r} takes operators {allowed}")
    value = rest[len(op) :]
    if op in _NO_VALUE:
        if value.strip():
            raise QueryError(f"invalid filter {text!r}: operator {op!r} takes no value")
        return Filter(field, op, "")
    return Filter(field, op, _normalize(text, spec.kind, op, value))


def _normalize(text: str, kind: str, op: str, value: str) -> str:
    bad = QueryError(f"invalid filter {text!r}: malformed {kind} value {value!r}")
    if kind == "datetime":
        try:
            return str(parse_ts(value))
        except ValueError as e:
            raise bad from e
    if kind == "date":
        v = value.strip()
        if "*" in v:
            if op != "=" or not _DATE_PATTERN.match(v):
                raise bad
            return v
        try:
            return str(parse_date(v))
        except ValueError as e:
            raise bad from e
    if kind in ("numeric", "array"):
        parts = [p.strip() for p in value.split(",")] if op == "=" else [value.strip()]
        if not parts or not all(p.isdigit() for p in parts):
            raise bad
        return ",".join(str(int(p)) for p in parts)
    if kind == "bool":
        flag = _BOOL.get(value.strip().lower())
        if flag is None:
            raise bad
        return flag
    return value  # strings are matched as sent


def parse_sort(sort: str | None, order: str | None, resource: Resource) -> tuple[tuple[str, bool], ...]:
    if order is not None and order.lower() not in ("asc", "desc"):
        raise QueryError(f"invalid order {order!r}: expected asc or desc")
    default_desc = (order or "").lower() == "desc"
    if not sort:
        return (("created_at", default_desc),)
    out: list[tuple[str, bool]] = []
    for part in sort.split(","):
        col, _, direction = part.strip().partition(":")
        spec = resource.fields.get(col)
        if spec is None or spec.kind == "array":
            raise QueryError(f"invalid sort {sort!r}: cannot sort {resource.name} by {col!r}")
        if direction and direction.lower() not in ("asc", "desc"):
            raise QueryError(f"invalid sort {sort!r}: direction must be asc or desc")
        out.append((col, direction.lower() == "desc" if direction else default_desc))
    return tuple(out)


def _int_param(name: str, value: str | None, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as e:
        raise QueryError(f"invalid {name} {value!r}: expected an integer") from e


def parse_list_query(
    params: Sequence[tuple[str, str]],
    resource: Resource,
    *,
    default_per_page: int,
    max_per_page: int,
    overflow: str,
) -> ListQuery:
    raw_filters = tuple(v for k, v in params if k in ("q[]", "q"))
    filters = tuple(parse_filter(f, resource) for f in raw_filters)
    last: dict[str, str] = dict(params)
    raw_sort, raw_order = last.get("sort"), last.get("order")
    sort = parse_sort(raw_sort, raw_order, resource)
    page = _int_param("page", last.get("page"), 1)
    per_page = _int_param("per_page", last.get("per_page"), default_per_page)
    if overflow == "error":
        if not 1 <= per_page <= max_per_page:
            raise QueryError(f"invalid per_page {per_page}: must be between 1 and {max_per_page}")
        if page < 1:
            raise QueryError(f"invalid page {page}: pages start at 1")
    per_page = min(max(per_page, 1), max_per_page)
    page = max(page, 1)
    return ListQuery(filters, sort, page, per_page, raw_filters, raw_sort, raw_order)
