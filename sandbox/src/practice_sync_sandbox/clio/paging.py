"""List parameters and paging: opaque id cursors (unlimited) and capped offset pages."""

from __future__ import annotations

import base64
import binascii
import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from fastapi import Request

from practice_sync_sandbox.clio.errors import ClioError, bad_request


class Source(Protocol):
    by_id: dict[int, Any]
    ids: list[int]

    def ordered_ids(self, key: str, descending: bool) -> list[int]: ...


class SmallSource:
    """Adapter for small collections (custom actions, webhooks) so they page like contacts."""

    def __init__(self, records: dict[int, Any]) -> None:
        self.by_id = records
        self.ids = sorted(records)

    def ordered_ids(self, key: str, descending: bool) -> list[int]:
        return list(reversed(self.ids)) if descending else self.ids


@dataclass
class ListParams:
    limit: int
    after_id: int | None
    offset: int | None
    order_key: str
    descending: bool


def encode_token(after_id: int) -> str:
    return base64.urlsafe_b64encode(f"cursor:v1:{after_id}".encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        prefix, version, value = raw.split(":")
        if prefix != "cursor" or version != "v1":
            raise ValueError(raw)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_request("Invalid page_token") from None


def parse_time(value: str, name: str) -> int:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise bad_request(f"{name} must be an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def parse_int(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f"{name} must be an integer") from None


def parse_id_list(request: Request, name: str) -> set[int] | None:
    values = request.query_params.getlist(f"{name}[]") + request.query_params.getlist(name)
    if not values:
        return None
    out: set[int] = set()
    for v in values:
        for piece in v.split(","):
            if piece.strip():
                out.add(parse_int(piece.strip(), f"{name}[]") or 0)
    return out


def parse_list_params(request: Request, allowed_orders: tuple[str, ...], max_limit: int) -> ListParams:
    q = request.query_params
    limit = parse_int(q.get("limit"), "limit")
    if limit is None:
        limit = max_limit
    if not 1 <= limit <= max_limit:
        raise bad_request(f"limit must be between 1 and {max_limit}")
    order_key, descending = "id", False
    if q.get("order"):
        raw = q["order"].strip()
        key, _, direction = raw.partition("(")
        direction = direction.rstrip(")") or "asc"
        if key not in allowed_orders or direction not in ("asc", "desc"):
            raise bad_request(f"Invalid order {raw!r}; allowed: {', '.join(allowed_orders)} with (asc|desc)")
        order_key, descending = key, direction == "desc"
    offset = parse_int(q.get("offset"), "offset")
    after_id = decode_token(q["page_token"]) if q.get("page_token") else None
    # Cursor paging is id-ascending only; any other order pages by offset (and so is capped).
    if offset is None and (order_key != "id" or descending) and after_id is None:
        offset = 0
    if offset is not None and offset < 0:
        raise bad_request("offset must not be negative")
    return ListParams(limit, after_id, offset, order_key, descending)


def select_page(
    source: Source, params: ListParams, keep: Callable[[Any], bool], offset_cap: int
) -> tuple[list[Any], str | None, int | None]:
    """Returns (records, next page_token, next offset); at most one of the two is set."""
    if params.offset is not None:
        if params.offset >= offset_cap:
            raise ClioError(
                422,
                "ArgumentError",
                f"Offset pagination is limited to {offset_cap} records; use cursor pagination "
                "(order=id(asc), follow meta.paging.next)",
            )
        ordered = source.ordered_ids(params.order_key, params.descending)
        matched = (source.by_id[i] for i in ordered if keep(source.by_id[i]))
        window = _take(matched, params.offset, params.limit + 1)
        more = len(window) > params.limit
        return window[: params.limit], None, params.offset + params.limit if more else None
    start = 0 if params.after_id is None else bisect.bisect_right(source.ids, params.after_id)
    out: list[Any] = []
    ids, by_id = source.ids, source.by_id
    for i in range(start, len(ids)):
        record = by_id[ids[i]]
        if keep(record):
            if len(out) == params.limit:
                return out, encode_token(out[-1].id), None
            out.append(record)
    return out, None, None


def _take(it: Iterator[Any], skip: int, n: int) -> list[Any]:
    out: list[Any] = []
    for idx, item in enumerate(it):
        if idx < skip:
            continue
        out.append(item)
        if len(out) >= n:
            break
    return out


def next_url(request: Request, page_token: str | None, offset: int | None) -> str | None:
    """The absolute next link, built from the request's own base URL with the original params kept."""
    url = request.url.remove_query_params(["custom_action_nonce", "page_token", "offset"])
    if page_token is not None:
        return str(url.include_query_params(page_token=page_token))
    if offset is not None:
        return str(url.include_query_params(offset=offset))
    return None
