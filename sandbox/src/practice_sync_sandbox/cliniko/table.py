"""Column storage for one record type: compact enough for 500k rows, cheap to scan and to index.

Rows are addressed by their position (row index); the public ID is a pure function of it, so no
ID-to-row map has to be stored. Integer columns live in `array`s with `NULL` for "no value";
text columns are plain lists.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NULL = -1


@dataclass(frozen=True)
class IdSpace:
    """IDs `base + stride * row`: 19-digit, above 2^53, increasing with row like Cliniko's sequence."""

    base: int
    stride: int

    def id_of(self, row: int) -> int:
        return self.base + self.stride * row

    def row_of(self, ident: int, size: int) -> int:
        off = ident - self.base
        if off < 0 or off % self.stride:
            return NULL
        row = off // self.stride
        return row if row < size else NULL

    def floor(self, ident: int) -> int:
        """The largest row whose ID is <= `ident` (may be negative): turns ID comparisons into row ones."""
        return (ident - self.base) // self.stride


class Table:
    def __init__(self, name: str, ids: IdSpace, columns: Mapping[str, str]) -> None:
        """`columns` maps a name to an array typecode, or "O" for a list of Python objects."""
        self.name = name
        self.ids = ids
        # Any: mypy cannot tell array columns from list columns by name
        self.cols: dict[str, Any] = {c: ([] if code == "O" else array(code)) for c, code in columns.items()}
        self._postings: dict[str, dict[int, list[int]]] = {}

    def __len__(self) -> int:
        first = next(iter(self.cols.values()))
        return len(first)

    def id_of(self, row: int) -> int:
        return self.ids.id_of(row)

    def row_of(self, ident: int) -> int:
        return self.ids.row_of(ident, len(self))

    def row_of_text(self, ident: str) -> int:
        return self.row_of(int(ident)) if ident.isdigit() else NULL

    def get(self, col: str, row: int) -> Any:
        return self.cols[col][row]

    def set(self, row: int, col: str, value: Any) -> None:
        column = self.cols[col]
        old = column[row]
        if old == value:
            return
        column[row] = value
        post = self._postings.get(col)
        if post is not None:
            post[old].remove(row)
            post.setdefault(value, []).append(row)

    def append(self, values: Mapping[str, Any]) -> int:
        row = len(self)
        for name, column in self.cols.items():
            default: Any = None if isinstance(column, list) else NULL
            column.append(values.get(name, default))
        for col, post in self._postings.items():
            post.setdefault(self.cols[col][row], []).append(row)
        return row

    def postings(self, col: str) -> dict[int, list[int]]:
        """Value -> rows holding it, built on first use and kept current by `set`/`append`.

        This is what makes "one count per patient" (`patient_id:=X&per_page=1`) cheap at 500k rows.
        """
        post = self._postings.get(col)
        if post is None:
            post = {}
            for row, value in enumerate(self.cols[col]):
                bucket = post.get(value)
                if bucket is None:
                    post[value] = [row]
                else:
                    bucket.append(row)
            self._postings[col] = post
        return post

    def rows(self) -> Iterable[int]:
        return range(len(self))
