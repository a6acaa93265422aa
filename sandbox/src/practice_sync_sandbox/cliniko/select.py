"""Evaluating a checked query over an account's columns, with the result cached per query.

A list query costs one pass over the candidate rows per filter plus one sort; the sorted row list
is then kept (keyed by filters and sort, not page) until the account changes, so paging through
500k appointments does not rescan them for every page. `=` filters on IDs and indexed references
start from the matching rows instead of the whole table.
"""

from __future__ import annotations

import re
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from .account import Account
from .query import Filter, ListQuery
from .resources import Field, Resource
from .table import NULL
from .timefmt import fmt_date

Rows = list[int]
_LAST = 2**63  # nulls sort last ascending, first descending, as in Postgres


class QueryCache:
    def __init__(self, max_entries: int = 256, max_rows: int = 20_000_000) -> None:
        self.max_entries = max_entries
        self.max_rows = max_rows
        self._items: OrderedDict[tuple[object, ...], tuple[int, array[int]]] = OrderedDict()
        self._rows = 0

    def get(self, key: tuple[object, ...], version: int) -> array[int] | None:
        hit = self._items.get(key)
        if hit is None or hit[0] != version:
            return None
        self._items.move_to_end(key)
        return hit[1]

    def put(self, key: tuple[object, ...], version: int, rows: array[int]) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._rows -= len(old[1])
        self._items[key] = (version, rows)
        self._rows += len(rows)
        while self._items and (len(self._items) > self.max_entries or self._rows > self.max_rows):
            _, (_, dropped) = self._items.popitem(last=False)
            self._rows -= len(dropped)


def compile_filter(f: Filter, spec: Field, acc: Account) -> Callable[[Iterable[int]], Rows]:
    g = spec.get
    op = f.op
    if op == "*":
        return list
    if op == "?":
        return lambda rows: [r for r in rows if g(r) not in (NULL, None)]
    if op == "!?":
        return lambda rows: [r for r in rows if g(r) in (NULL, None)]
    kind = spec.kind
    if kind in ("datetime", "date") and "*" not in f.value:
        return _compare(g, op, int(f.value))
    if kind == "date":
        pattern = re.compile("^" + re.escape(f.value).replace(r"\*", r"\d") + "$")
        return lambda rows: [r for r in rows if (d := fmt_date(g(r))) is not None and pattern.match(d)]
    if kind == "numeric":
        return _numeric(f, spec)
    if kind == "bool":
        x = 1 if f.value == "true" else 0
        if op == "=":
            return lambda rows: [r for r in rows if g(r) == x]
        return lambda rows: [r for r in rows if g(r) not in (x, NULL)]
    if kind == "array":
        assert spec.ids is not None
        member = spec.ids.row_of(int(f.value), len(acc.patients))
        return lambda rows: [r for r in rows if member in g(r)]
    return _string(g, op, f.value)


def _compare(g: Callable[[int], Any], op: str, x: int) -> Callable[[Iterable[int]], Rows]:
    if op == "=":
        return lambda rows: [r for r in rows if g(r) == x]
    if op == "!=":
        return lambda rows: [r for r in rows if (v := g(r)) != NULL and v != x]
    if op == ">":
        return lambda rows: [r for r in rows if (v := g(r)) != NULL and v > x]
    if op == ">=":
        return lambda rows: [r for r in rows if (v := g(r)) != NULL and v >= x]
    if op == "<":
        return lambda rows: [r for r in rows if (v := g(r)) != NULL and v < x]
    return lambda rows: [r for r in rows if (v := g(r)) != NULL and v <= x]


def _numeric(f: Filter, spec: Field) -> Callable[[Iterable[int]], Rows]:
    g = spec.get
    values = [int(v) for v in f.value.split(",")]
    ids = spec.ids
    if ids is None:
        if f.op == "=":
            wanted = set(values)
            return lambda rows: [r for r in rows if g(r) in wanted]
        return _compare(g, f.op, values[0])
    if f.op == "=":
        rows_wanted = {ids.floor(v) for v in values if ids.floor(v) >= 0 and ids.id_of(ids.floor(v)) == v}
        return lambda rows: [r for r in rows if g(r) in rows_wanted]
    x = values[0]
    if f.op == "!=":
        row = ids.floor(x) if ids.id_of(ids.floor(x)) == x else NULL - 1
        return lambda rows: [r for r in rows if (v := g(r)) != NULL and v != row]
    # id > x  <=>  row > floor(x);  id >= x  <=>  row > floor(x-1);  id < x  <=>  row <= floor(x-1)
    if f.op == ">":
        lo = ids.floor(x)
        return lambda rows: [r for r in rows if (v := g(r)) != NULL and v > lo]
    if f.op == ">=":
        lo = ids.floor(x - 1)
        return lambda rows: [r for r in rows if (v := g(r)) != NULL and v > lo]
    hi = ids.floor(x - 1) if f.op == "<" else ids.floor(x)
    return lambda rows: [r for r in rows if (v := g(r)) != NULL and v <= hi]


def _string(g: Callable[[int], Any], op: str, x: str) -> Callable[[Iterable[int]], Rows]:
    if op == "=":
        return lambda rows: [r for r in rows if g(r) == x]
    if op == "!=":
        return lambda rows: [r for r in rows if (v := g(r)) is not None and v != x]
    if op == "~":
        low = x.lower()
        return lambda rows: [r for r in rows if (v := g(r)) is not None and low in v.lower()]
    # `~~`: SQL LIKE with % (and _), case-insensitive like Postgres ILIKE
    pattern = re.compile(
        "^" + "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in x) + "$",
        re.IGNORECASE | re.DOTALL,
    )
    return lambda rows: [r for r in rows if (v := g(r)) is not None and pattern.match(v)]


def _candidates(resource: Resource, filters: tuple[Filter, ...]) -> Iterable[int]:
    """Rows matching the most selective `=` filter on an ID or indexed reference, else every row."""
    best: list[int] | None = None
    for f in filters:
        spec = resource.fields[f.field]
        if f.op != "=" or spec.kind != "numeric" or spec.ids is None:
            continue
        if not spec.identity and spec.postings is None:
            continue
        ids = spec.ids
        rows_wanted = {ids.floor(v) for v in map(int, f.value.split(",")) if ids.id_of(ids.floor(v)) == v}
        if spec.identity:
            # interleaved lists (bookings, attendees) have row numbers that are no record
            found = sorted(r for r in rows_wanted if resource.has_row(r))
        else:
            assert spec.postings is not None
            post = spec.postings()
            found = sorted(r for w in rows_wanted for r in post.get(w, ()))
        if best is None or len(found) < len(best):
            best = found
    return resource.rows() if best is None else best


def _sort(rows: Rows, resource: Resource, sort: tuple[tuple[str, bool], ...]) -> Rows:
    # stable sorts from the last key to the first give a multi-column order; ties keep row (ID) order
    for col, desc in reversed(sort):
        spec = resource.fields[col]
        g = spec.get
        if spec.identity:
            key: Callable[[int], Any] | None = None
        elif spec.kind == "string":

            def key(r: int, g: Callable[[int], Any] = g) -> Any:
                v = g(r)
                return (1, "") if v is None else (0, v)
        else:

            def key(r: int, g: Callable[[int], Any] = g) -> Any:
                v = g(r)
                return _LAST if v == NULL else v

        rows.sort(key=key, reverse=desc)
    return rows


def select(acc: Account, resource: Resource, query: ListQuery, lift_on_any_filter: bool) -> array[int]:
    """Every matching row in order. Caller holds `acc.lock`."""
    cache: QueryCache = acc.query_cache
    key = (*query.cache_key(resource.name), lift_on_any_filter)
    hit = cache.get(key, acc.version)
    if hit is not None:
        return hit
    filters = list(query.filters)
    for scope in resource.scopes:
        lifted = any(f.field == scope and (f.op == "*" or lift_on_any_filter) for f in query.filters)
        if not lifted:
            filters.append(Filter(scope, "!?", ""))
    rows: Iterable[int] = _candidates(resource, query.filters)
    for f in filters:
        rows = compile_filter(f, resource.fields[f.field], acc)(rows)
    ordered = _sort(rows if isinstance(rows, list) else list(rows), resource, query.sort)
    result = array("i", ordered)
    cache.put(key, acc.version, result)
    return result
