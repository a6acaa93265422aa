"""The `fields` query parameter: parsing, validation (400) and projecting a record to the asked fields."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from practice_sync_sandbox.clio.errors import ClioError

Getter = Callable[[Any], Any]


@dataclass
class Resource:
    """How a record type renders: scalar getters, nested resources, and the default field list."""

    name: str
    scalars: dict[str, Getter]
    nested: dict[str, tuple[Resource, Getter]] = field(default_factory=dict)
    defaults: tuple[str, ...] = ("id", "etag")


# A parsed selection: (field name, nested selection or None for "nested defaults").
Selection = list[tuple[str, list[str] | None]]


def invalid_fields(message: str) -> ClioError:
    return ClioError(400, "InvalidFields", message)


def parse_fields(raw: str | None, resource: Resource) -> Selection:
    if raw is None or raw.strip() == "":
        return [(name, None) for name in resource.defaults]
    selection: Selection = []
    for part in _split_top(raw):
        if "{" in part:
            if not part.endswith("}"):
                raise invalid_fields(f"Malformed fields parameter near {part!r}")
            name, inner = part[: part.index("{")].strip(), part[part.index("{") + 1 : -1]
            if "{" in inner or "}" in inner:
                raise invalid_fields(f"Nested fields may only be one level deep: {part!r}")
            if name not in resource.nested:
                raise invalid_fields(f"Invalid field for {resource.name}: {name!r} has no nested fields")
            sub = resource.nested[name][0]
            names = [n.strip() for n in inner.split(",") if n.strip()]
            for n in names:
                if n not in sub.scalars:
                    raise invalid_fields(f"Invalid field for {sub.name}: {n!r}")
            selection.append((name, names or list(sub.defaults)))
        else:
            name = part.strip()
            if name not in resource.scalars and name not in resource.nested:
                raise invalid_fields(f"Invalid field for {resource.name}: {name!r}")
            selection.append((name, None))
    return selection


def _split_top(raw: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in raw:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise invalid_fields("Unbalanced braces in fields parameter")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise invalid_fields("Unbalanced braces in fields parameter")
    parts.append("".join(current))
    return [p for p in (p.strip() for p in parts) if p]


def project(record: Any, resource: Resource, selection: Selection) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, sub_names in selection:
        if name in resource.nested:
            sub, getter = resource.nested[name]
            value = getter(record)
            names = sub_names or list(sub.defaults)
            if value is None:
                out[name] = None
            elif isinstance(value, list):
                out[name] = [{n: sub.scalars[n](v) for n in names} for v in value]
            else:
                out[name] = {n: sub.scalars[n](value) for n in names}
        else:
            out[name] = resource.scalars[name](record)
    return out
