"""The record a delta walk skips when Cliniko's page-numbered list shifts under it, and where the
next delta must start so it is read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DeltaWalk:
    """One delta walk of one list (sorted by `updated_at`, followed page by page), in this process.

    Cliniko pages by number. A record already read that changes during the walk moves to the end of
    the order, every record after its old place moves up one, and the one at the next boundary slides
    onto a page already fetched: it is never read, and the next delta, starting at the newest record
    read, would pass it for good. That record's `updated_at` is at least the newest on the page the
    changed record was first read from, so the next delta must start there: `floor`. The changed
    record comes round again at the end of the walk, which is how it shows; a change ahead of the
    cursor, or a new record, moves nothing already passed.
    """

    first_page: dict[str, int] = field(default_factory=dict)
    newest: list[str] = field(default_factory=list)  # per page read, its newest updated_at
    floor: str | None = None

    def read(self, page: Sequence[Mapping[str, Any]]) -> None:
        index = len(self.newest)
        for record in page:
            was = self.first_page.setdefault(str(record["id"]), index)
            if was != index:
                at = self.newest[was]
                self.floor = at if self.floor is None else min(self.floor, at)
        previous = self.newest[-1] if self.newest else ""
        self.newest.append(max((str(r["updated_at"]) for r in page), default=previous))
