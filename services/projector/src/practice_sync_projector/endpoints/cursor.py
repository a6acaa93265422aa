"""Opaque keyset cursors: the last row's sort key and id, bound to the list and sort they came from.

The binding gives a clear 400 instead of a silently wrong page when a cursor is replayed against
another org, another list or another sort. It is not a security wall (the org filter and RLS are):
cursors are readable, and ones issued before the binding existed carry no list and are accepted.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass

from fastapi import HTTPException, status


@dataclass(frozen=True)
class Cursor:
    listing: str  # "<org>/<list>": the collection the page belongs to
    sort: str
    order: str
    key: str
    id: uuid.UUID

    def encode(self) -> str:
        raw = json.dumps(
            {"l": self.listing, "s": self.sort, "o": self.order, "k": self.key, "i": str(self.id)}
        )
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def decode_cursor(value: str, listing: str, sort: str, order: str) -> Cursor:
    try:
        padded = value + "=" * (-len(value) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        cursor = Cursor(
            str(data.get("l", listing)),
            str(data["s"]),
            str(data["o"]),
            str(data["k"]),
            uuid.UUID(str(data["i"])),
        )
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "cursor is not one this API issued") from exc
    if cursor.listing != listing:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "cursor was issued for another list (another org, or contacts vs active patients); "
            "start without a cursor",
        )
    if (cursor.sort, cursor.order) != (sort, order):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"cursor was issued for sort={cursor.sort}&order={cursor.order}; "
            f"repeat those parameters or start without a cursor",
        )
    return cursor
