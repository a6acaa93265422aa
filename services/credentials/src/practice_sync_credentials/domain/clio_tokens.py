"""Clio OAuth tokens and regions.

Clio access tokens last ``expires_in`` seconds (30 days at the time of writing, but that is not hard-coded).
Refresh tokens are long-lived and reusable, and a refresh response may carry no new ``refresh_token``:
``merge_refresh`` then keeps the old one. A token is only valid in the region that issued it, so the region
is stored next to the tokens by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from practice_sync_credentials.domain.errors import CredentialsDomainError

DEFAULT_REFRESH_SKEW = timedelta(minutes=5)
DEFAULT_TOKEN_TYPE = "bearer"


class ClioTokenError(CredentialsDomainError):
    """A token response or stored token set is unusable. Messages name fields, never token values."""


class UnknownClioRegion(CredentialsDomainError):
    """A region name that is not one of Clio's regions."""


class ClioRegion(StrEnum):
    US = "US"
    EU = "EU"
    CA = "CA"
    AU = "AU"


CLIO_REGION_HOSTS: Mapping[ClioRegion, str] = {
    ClioRegion.US: "app.clio.com",
    ClioRegion.EU: "eu.app.clio.com",
    ClioRegion.CA: "ca.app.clio.com",
    ClioRegion.AU: "au.app.clio.com",
}


def parse_region(region: str | ClioRegion) -> ClioRegion:
    """Case-insensitive: ``"eu"`` → ``ClioRegion.EU``."""
    if isinstance(region, ClioRegion):
        return region
    if isinstance(region, str):
        try:
            return ClioRegion(region.strip().upper())
        except ValueError:
            pass
    shown = repr(region)[:20]
    raise UnknownClioRegion(
        f"unknown Clio region {shown}; expected one of {', '.join(r.value for r in ClioRegion)}"
    )


def host_for_region(region: str | ClioRegion) -> str:
    return CLIO_REGION_HOSTS[parse_region(region)]


def region_of_host(host: str | None) -> ClioRegion | None:
    """The region whose Clio host this is (``eu.app.clio.com`` → EU); None for any other host."""
    if not host:
        return None
    wanted = host.strip().lower().rstrip(".")
    return next((region for region, known in CLIO_REGION_HOSTS.items() if known == wanted), None)


def api_base_url(region: str | ClioRegion) -> str:
    """``https://{host}/api/v4``, the default API base for a region (a credential may override it)."""
    return f"https://{host_for_region(region)}/api/v4"


def oauth_base_url(region: str | ClioRegion) -> str:
    """``https://{host}``: ``/oauth/authorize`` and ``/oauth/token`` live here, outside ``/api/v4``."""
    return f"https://{host_for_region(region)}"


@dataclass(frozen=True, slots=True)
class ClioTokenSet:
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_type: str
    # None when the server gave no expires_in: refresh then happens reactively, on a 401.
    expires_at: datetime | None

    def __post_init__(self) -> None:
        if not self.access_token:
            raise ClioTokenError("access_token is empty")
        if not self.refresh_token:
            raise ClioTokenError("refresh_token is empty")
        if self.expires_at is not None:
            _require_aware(self.expires_at, "expires_at")

    @classmethod
    def from_response(cls, response: Mapping[str, object], now: datetime) -> ClioTokenSet:
        """Build from the JSON of an ``authorization_code`` grant, which must include a refresh token."""
        refresh_token = _optional_str(response, "refresh_token")
        if refresh_token is None:
            raise ClioTokenError("token response has no refresh_token")
        return cls(
            access_token=_required_str(response, "access_token"),
            refresh_token=refresh_token,
            token_type=_optional_str(response, "token_type") or DEFAULT_TOKEN_TYPE,
            expires_at=_expires_at(response, now),
        )

    def to_secret_fields(self) -> dict[str, str]:
        """Flat string fields, the shape sealed into the database (and used by legacy imports)."""
        fields = {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": self.token_type,
        }
        if self.expires_at is not None:
            fields["expires_at"] = self.expires_at.astimezone(UTC).isoformat()
        return fields

    @classmethod
    def from_secret_fields(cls, fields: Mapping[str, str]) -> ClioTokenSet:
        expires_at = fields.get("expires_at")
        try:
            parsed = datetime.fromisoformat(expires_at) if expires_at else None
        except ValueError:
            raise ClioTokenError("stored expires_at is not an ISO-8601 timestamp") from None
        return cls(
            access_token=fields.get("access_token", ""),
            refresh_token=fields.get("refresh_token", ""),
            token_type=fields.get("token_type") or DEFAULT_TOKEN_TYPE,
            expires_at=parsed,
        )


def merge_refresh(old: ClioTokenSet, response: Mapping[str, object], now: datetime) -> ClioTokenSet:
    """Apply a ``refresh_token`` grant response to ``old``, keeping the old refresh token if none is sent."""
    return replace(
        old,
        access_token=_required_str(response, "access_token"),
        refresh_token=_optional_str(response, "refresh_token") or old.refresh_token,
        token_type=_optional_str(response, "token_type") or old.token_type,
        expires_at=_expires_at(response, now),
    )


def needs_refresh(tokens: ClioTokenSet, now: datetime, skew: timedelta = DEFAULT_REFRESH_SKEW) -> bool:
    """True when the access token expires within ``skew`` of ``now`` (or already has)."""
    _require_aware(now, "now")
    if tokens.expires_at is None:
        return False
    return now + skew >= tokens.expires_at


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ClioTokenError(f"{name} must be a timezone-aware datetime")


def _required_str(response: Mapping[str, object], name: str) -> str:
    value = _optional_str(response, name)
    if value is None:
        raise ClioTokenError(f"token response has no {name}")
    return value


def _optional_str(response: Mapping[str, object], name: str) -> str | None:
    value = response.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ClioTokenError(f"token response field {name} is not a string")
    return value


def _expires_at(response: Mapping[str, object], now: datetime) -> datetime | None:
    _require_aware(now, "now")
    raw = response.get("expires_in")
    if raw is None:
        return None
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool) or raw <= 0:
        raise ClioTokenError("token response field expires_in is not a positive whole number of seconds")
    return now + timedelta(seconds=raw)
