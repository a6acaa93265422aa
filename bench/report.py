"""How every benchmark reports: one JSON document per benchmark and a printed table of figures."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


@dataclass
class Figure:
    name: str
    value: float | int | None
    unit: str = ""
    target: str = ""  # e.g. "<= 1.05"; empty when there is none
    met: bool | None = None
    note: str = ""


@dataclass
class BenchResult:
    benchmark: str
    figures: list[Figure] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    error: str | None = None

    def add(
        self, name: str, value: float | int | None, unit: str = "", target: str = "", note: str = ""
    ) -> None:
        self.figures.append(Figure(name, value, unit, target, _meets(value, target), note))

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "started_at": self.started_at,
            "host": {"python": platform.python_version(), "machine": platform.machine(), "cpus": _cpus()},
            "params": self.params,
            "figures": [f.__dict__ for f in self.figures],
            "error": self.error,
        }

    def write(self) -> Path:
        RESULTS.mkdir(parents=True, exist_ok=True)
        path = RESULTS / f"{self.benchmark}.json"
        path.write_text(json.dumps(self.to_json(), indent=2, default=str))
        return path

    def print(self) -> None:
        print(f"\n== {self.benchmark} ==")
        if self.error:
            print(f"  FAILED: {self.error}")
        for f in self.figures:
            value = f"{f.value:.3f}" if isinstance(f.value, float) else str(f.value)
            mark = "" if f.met is None else ("  ok" if f.met else "  MISS")
            target = f"  (target {f.target})" if f.target else ""
            print(f"  {f.name:<48} {value:>12} {f.unit:<8}{target}{mark}  {f.note}")


def _meets(value: float | int | None, target: str) -> bool | None:
    if value is None or not target:
        return None
    op, _, bound = target.partition(" ")
    b = float(bound)
    return {"<=": value <= b, ">=": value >= b, "<": value < b, ">": value > b, "==": value == b}.get(op)


def _cpus() -> int:
    import os

    return os.cpu_count() or 0
