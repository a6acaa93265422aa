"""Pagination by following the provider's own next link, as both providers recommend."""

from __future__ import annotations

from typing import Any, Protocol


class Paginator(Protocol):
    def next_url(self, body: Any) -> str | None: ...


class JsonPathNext:
    """The next link sits at a fixed path in the body: ("links", "next") for Cliniko,
    ("meta", "paging", "next") for Clio. Absent or empty means the last page."""

    def __init__(self, *path: str) -> None:
        self.path = path

    def next_url(self, body: Any) -> str | None:
        node = body
        for key in self.path:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node if isinstance(node, str) and node else None
