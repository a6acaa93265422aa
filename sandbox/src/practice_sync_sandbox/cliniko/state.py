"""The running sandbox: its accounts (built on demand), clock, rate limiter, ledger and faults."""

from __future__ import annotations

import base64
import binascii
import threading
import time
from dataclasses import dataclass, field

from .._kit.clock import SandboxClock
from .._kit.faults import FaultInjector
from .._kit.ledger import RequestLedger
from .._kit.ratelimit import FixedWindowLimiter
from .account import Account
from .config import AccountSpec, ClinikoSandboxConfig, split_key
from .generate import build_account
from .resources import Resource, build_resources
from .select import QueryCache


class AccountSlot:
    """One API key's account; its data are generated the first time they are needed."""

    def __init__(self, spec: AccountSpec, seed: int, anchor: int, clock: SandboxClock) -> None:
        self.spec = spec
        self._seed = seed
        self._anchor = anchor
        self._clock = clock
        self._lock = threading.Lock()
        self._acc: Account | None = None
        self._resources: dict[str, Resource] = {}
        self.build_seconds: float | None = None

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def built(self) -> bool:
        return self._acc is not None

    def account(self) -> Account:
        acc = self._acc
        if acc is None:
            with self._lock:
                if self._acc is None:
                    started = time.perf_counter()
                    built = build_account(self.spec, self._seed, self._anchor, self._clock.time)
                    built.query_cache = QueryCache()
                    self._resources = build_resources(built)
                    self._acc = built
                    self.build_seconds = time.perf_counter() - started
                acc = self._acc
        assert acc is not None
        return acc

    def resources(self) -> dict[str, Resource]:
        self.account()
        return self._resources


@dataclass
class SandboxState:
    config: ClinikoSandboxConfig
    clock: SandboxClock
    limiter: FixedWindowLimiter
    ledger: RequestLedger
    faults: FaultInjector
    anchor: int
    slots: dict[str, AccountSlot] = field(default_factory=dict)  # by key without its shard suffix

    @classmethod
    def create(cls, config: ClinikoSandboxConfig) -> SandboxState:
        anchor_dt = config.anchor()
        if config.now is not None:
            clock = SandboxClock(frozen_at=anchor_dt) if config.frozen else SandboxClock()
            if not config.frozen:
                clock.set(anchor_dt)
        else:
            # data are anchored to today's midnight; changes are stamped with real time
            clock = SandboxClock()
            if config.frozen:
                clock.freeze(True)
        state = cls(
            config=config,
            clock=clock,
            limiter=FixedWindowLimiter(config.rate_limit, config.window_s),
            ledger=RequestLedger(config.window_s),
            faults=FaultInjector(),
            anchor=int(anchor_dt.timestamp()),
        )
        for spec in config.accounts():
            state.add_account(spec)
        return state

    def add_account(self, spec: AccountSpec) -> AccountSlot:
        if spec.base_key in self.slots:
            raise ValueError(f"account {spec.key!r} exists")
        slot = AccountSlot(spec, self.config.seed, self.anchor, self.clock)
        self.slots[spec.base_key] = slot
        return slot

    def find(self, key: str) -> AccountSlot | None:
        """By the full key or the key without its shard suffix."""
        slot = self.slots.get(key)
        if slot is not None:
            return slot
        base, _ = split_key(key)
        slot = self.slots.get(base)
        return slot if slot is not None and slot.key == key else None

    def authenticate(self, authorization: str | None) -> AccountSlot | None:
        """HTTP Basic with the API key as username and an empty password."""
        if not authorization:
            return None
        scheme, _, encoded = authorization.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        if not sep or password or not username:
            return None
        return self.find(username)
