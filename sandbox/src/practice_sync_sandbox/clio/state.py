"""The whole sandbox's state: accounts with their data, OAuth, clock, limiter, ledger and faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from practice_sync_sandbox._kit.clock import SandboxClock
from practice_sync_sandbox._kit.faults import FaultInjector
from practice_sync_sandbox._kit.ledger import RequestLedger
from practice_sync_sandbox._kit.ratelimit import FixedWindowLimiter
from practice_sync_sandbox.clio.config import AccountSpec, ClioSandboxConfig
from practice_sync_sandbox.clio.datagen import IdSource, generate_contacts
from practice_sync_sandbox.clio.fields import Resource
from practice_sync_sandbox.clio.models import CustomAction, User, Webhook
from practice_sync_sandbox.clio.oauth import OAuthState
from practice_sync_sandbox.clio.resources import contact_resource
from practice_sync_sandbox.clio.store import ContactStore

ACCOUNT_ID_STRIDE = 10_000_000


@dataclass
class Account:
    spec: AccountSpec
    user: User
    contacts: ContactStore
    contact_resource: Resource


@dataclass
class Nonce:
    value: str
    user_id: int
    custom_action_id: int
    subject_path: str
    expires_at: float
    used: bool = False


@dataclass(frozen=True)
class RecordFault:
    """One record of the account's next contacts page served as given (any JSON, malformed or not)."""

    position: int
    record: Any

    def apply(self, items: list[Any]) -> list[Any]:
        # Standing in for a real contact is what makes a dropped record look deleted to a full sync.
        out = list(items)
        if self.position < len(out):
            out[self.position] = self.record
        else:
            out.append(self.record)
        return out


@dataclass
class ClioSandbox:
    config: ClioSandboxConfig
    clock: SandboxClock
    limiter: FixedWindowLimiter
    ledger: RequestLedger
    faults: FaultInjector
    oauth: OAuthState
    salt: str
    accounts: dict[int, Account] = field(default_factory=dict)  # by user id
    custom_actions: dict[int, CustomAction] = field(default_factory=dict)
    webhooks: dict[int, Webhook] = field(default_factory=dict)
    nonces: dict[str, Nonce] = field(default_factory=dict)
    record_faults: dict[int, RecordFault] = field(default_factory=dict)  # by user id, spent when served
    next_custom_action_id: IdSource = field(default_factory=lambda: IdSource(500))
    next_webhook_id: IdSource = field(default_factory=lambda: IdSource(9000))

    @classmethod
    def build(cls, config: ClioSandboxConfig) -> ClioSandbox:
        clock = SandboxClock()
        sandbox = cls(
            config=config,
            clock=clock,
            limiter=FixedWindowLimiter(config.rate_limit, config.rate_window_s),
            ledger=RequestLedger(config.rate_window_s),
            faults=FaultInjector(),
            oauth=OAuthState(config, clock),
            salt=f"clio-sandbox:{config.seed}",
        )
        data_now = int(config.data_now.timestamp())
        seen: set[int] = set()
        for index, spec in enumerate(config.accounts):
            if spec.user_id in seen:
                raise ValueError(f"duplicate Clio user id {spec.user_id}")
            seen.add(spec.user_id)
            base = (index + 1) * ACCOUNT_ID_STRIDE
            contact_ids, nested_ids = IdSource(base), IdSource(base + ACCOUNT_ID_STRIDE // 2)
            contacts = generate_contacts(
                config.seed, spec.slug, spec.contacts, data_now, contact_ids, nested_ids
            )
            store = ContactStore(contacts, contact_ids, nested_ids)
            user = User(
                spec.user_id, spec.first_name, spec.last_name, spec.email, data_now - 6 * 365 * 86_400
            )
            sandbox.accounts[spec.user_id] = Account(spec, user, store, contact_resource(sandbox.salt, store))
        return sandbox

    def now(self) -> int:
        return int(self.clock.time())

    def account(self, key: str | int) -> Account | None:
        for account in self.accounts.values():
            if str(key) in (account.spec.slug, str(account.user.id)):
                return account
        return None

    @property
    def users(self) -> dict[int, User]:
        return {uid: a.user for uid, a in self.accounts.items()}
