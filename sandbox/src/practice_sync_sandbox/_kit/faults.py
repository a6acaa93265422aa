"""Faults the control API can inject, consumed one request at a time."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["none", "throttle", "server_error", "malformed", "cut"]


@dataclass
class FaultPlan:
    """What the next requests should suffer.

    Counted faults (`force_429`, `malformed_pages`, `cut_connections`) are spent one per request;
    `error_rate` draws from a seeded generator so a run is repeatable. `unreadable_records` is spent
    only by a list response that has a record to spoil (the simulator says which responses those are,
    through `spend_unreadable_record`), so an empty page or a single record leaves it for a later one.
    """

    force_429: int = 0
    error_rate: float = 0.0
    error_statuses: list[int] = field(default_factory=lambda: [500, 502, 503])
    server_errors: int = 0  # a burst: the next N requests fail with 5xx
    latency_ms: int = 0
    malformed_pages: int = 0
    cut_connections: int = 0
    seed: int = 0
    unreadable_records: int = 0  # the next N list pages carry one record with a field no client can read


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    status: int = 200
    latency_ms: int = 0


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.plan = FaultPlan()
        self._rng = random.Random(0)

    def set(self, plan: FaultPlan) -> None:
        with self._lock:
            self.plan = plan
            self._rng = random.Random(plan.seed)

    def clear(self) -> None:
        self.set(FaultPlan())

    def next(self) -> Fault:
        with self._lock:
            p = self.plan
            latency = p.latency_ms
            if p.force_429 > 0:
                p.force_429 -= 1
                return Fault("throttle", 429, latency)
            if p.server_errors > 0:
                p.server_errors -= 1
                return Fault(
                    "server_error", p.error_statuses[p.server_errors % len(p.error_statuses)], latency
                )
            if p.error_rate > 0 and self._rng.random() < p.error_rate:
                return Fault("server_error", self._rng.choice(p.error_statuses), latency)
            if p.cut_connections > 0:
                p.cut_connections -= 1
                return Fault("cut", 200, latency)
            if p.malformed_pages > 0:
                p.malformed_pages -= 1
                return Fault("malformed", 200, latency)
            return Fault("none", 200, latency)

    def spend_unreadable_record(self) -> bool:
        with self._lock:
            if self.plan.unreadable_records > 0:
                self.plan.unreadable_records -= 1
                return True
            return False
