"""Settings of one Cliniko sandbox process, and the account list they describe."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

DEMO_API_KEY = "sandboxdemoclinic0001-au1"
_SHARD_RE = re.compile(r"^[a-z]{2}\d{1,2}$", re.IGNORECASE)


def split_key(key: str) -> tuple[str, str]:
    """(key without suffix, shard). The shard is the text after the final `-`; a key without one is au1."""
    base, sep, tail = key.rpartition("-")
    if sep and base and _SHARD_RE.match(tail):
        return base, tail.lower()
    return key, "au1"


@dataclass(frozen=True)
class AccountSpec:
    key: str
    patients: int
    appointments: int

    @property
    def base_key(self) -> str:
        return split_key(self.key)[0]

    @property
    def shard(self) -> str:
        return split_key(self.key)[1]


def parse_account(entry: str, patients: int, appointments: int) -> AccountSpec:
    """`KEY` or `KEY=patients:appointments` (either number may be empty to keep the default)."""
    key, sep, sizes = entry.partition("=")
    key = key.strip()
    if not key:
        raise ValueError(f"empty API key in {entry!r}")
    if sep:
        p, _, a = sizes.partition(":")
        try:
            patients = int(p) if p.strip() else patients
            appointments = int(a) if a.strip() else appointments
        except ValueError as e:
            raise ValueError(f"bad size in {entry!r}: expected KEY=patients:appointments") from e
    if patients < 0 or appointments < 0:
        raise ValueError(f"negative size in {entry!r}")
    return AccountSpec(key=key, patients=patients, appointments=appointments)


def default_now() -> datetime:
    """Today at 00:00 UTC: runs on the same day see the same data without pinning --now."""
    today = datetime.now(UTC).date()
    return datetime(today.year, today.month, today.day, tzinfo=UTC)


@dataclass
class ClinikoSandboxConfig:
    """Everything that shapes the sandbox's data and behaviour.

    Data depend only on (`seed`, API key, sizes, `now`): the same values give byte-identical responses.
    Real time drives only the rate limiter; the sandbox clock starts at `now` and runs (or stays put
    when `frozen`), and it stamps `updated_at` on changes.
    """

    seed: int = 1
    api_keys: list[str] = field(default_factory=list)  # "KEY" or "KEY=patients:appointments"
    patients: int = 2000
    appointments: int = 10000
    now: datetime | None = None
    frozen: bool = False
    # rate limiting (per API key, fixed window)
    rate_limit: int = 200
    window_s: float = 60.0
    retry_after_header: bool = False  # Cliniko documents only X-RateLimit-Reset
    rate_limit_info_headers: bool = False  # X-RateLimit-Limit / -Remaining: undocumented
    # request rules
    require_user_agent: bool = True
    user_agent_status: int = 403
    require_accept_header: bool = False  # behaviour without Accept is unverified; off = tolerate
    # rendering and query switches
    empty_dates_as_blank: bool = False  # legacy docs show "" for empty dates
    per_page_overflow: Literal["clamp", "error"] = "clamp"
    query_error_status: int = 400
    explicit_filter_lifts_scope: bool = False  # True: `archived_at:?` alone also shows archived rows
    legacy_appointments: bool = True  # serve the undocumented-but-supported /v1/appointments
    shard_host_check: bool = True  # on an `api.{shard}.…` Host, keys of other shards get 401
    base_url: str | None = None  # links on this base instead of the request's own
    control_token: str | None = None  # when set, /_sandbox needs `Authorization: Bearer <token>`
    eager: bool = True  # build every account's data in create_app, not on first use
    max_per_page: int = 100
    default_per_page: int = 50

    def anchor(self) -> datetime:
        return (self.now or default_now()).astimezone(UTC).replace(microsecond=0)

    def accounts(self) -> list[AccountSpec]:
        entries = self.api_keys or [DEMO_API_KEY]
        specs = [parse_account(e, self.patients, self.appointments) for e in entries]
        seen: set[str] = set()
        for s in specs:
            if s.base_key in seen:
                raise ValueError(f"API key {s.key!r} given twice")
            seen.add(s.base_key)
        return specs
