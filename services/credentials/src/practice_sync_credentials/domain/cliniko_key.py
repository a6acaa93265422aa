"""Cliniko API keys: shape validation, shard and base URL.

The shard is the text after the key's final ``-`` (``…-au2`` → ``au2``); a key without ``-`` is an old key
on ``au1``. The shard is checked against the documented shape ``[a-z]{2}\\d{1,2}`` rather than a list of
known shards, so new shards (uk3, …) work without a release. The key itself is kept whole: Cliniko accepts
it with or without the suffix as the Basic-auth username.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from practice_sync_credentials.domain.errors import CredentialsDomainError
from practice_sync_credentials.domain.redaction import mask

DEFAULT_SHARD = "au1"
MIN_KEY_LENGTH = 8
MAX_KEY_LENGTH = 200
_SHARD_RE = re.compile(r"[a-z]{2}\d{1,2}", re.IGNORECASE)
_KEY_CHARS_RE = re.compile(r"[A-Za-z0-9_-]+")
_MAX_URL_LENGTH = 2048


class InvalidApiKey(CredentialsDomainError):
    """The API key (or explicit API URL) is unusable. Messages show at most ``mask(key)``."""


@dataclass(frozen=True, slots=True)
class ClinikoApiKey:
    value: str = field(repr=False)
    shard: str
    # False for old keys without a shard suffix (implicitly au1).
    has_shard_suffix: bool

    @property
    def hint(self) -> str:
        return mask(self.value)

    @property
    def default_api_url(self) -> str:
        return f"https://api.{self.shard}.cliniko.com/v1"


def parse_api_key(key: str) -> ClinikoApiKey:
    """Validate ``key`` and derive its shard. Raises ``InvalidApiKey`` with a message safe to show."""
    if not isinstance(key, str) or key == "":
        raise InvalidApiKey("Cliniko API key is empty")
    if any(c.isspace() for c in key):
        raise InvalidApiKey(f"Cliniko API key {mask(key)} contains whitespace (copy it without spaces)")
    if _KEY_CHARS_RE.fullmatch(key) is None:
        raise InvalidApiKey(f"Cliniko API key {mask(key)} has characters outside A-Z, a-z, 0-9, '_' and '-'")
    if not MIN_KEY_LENGTH <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidApiKey(
            f"Cliniko API key is {len(key)} characters; expected {MIN_KEY_LENGTH} to {MAX_KEY_LENGTH}"
        )
    body, dash, suffix = key.rpartition("-")
    if not dash:
        return ClinikoApiKey(value=key, shard=DEFAULT_SHARD, has_shard_suffix=False)
    if _SHARD_RE.fullmatch(suffix) is None:
        # The suffix is not echoed: when malformed it may be part of the secret rather than a shard.
        raise InvalidApiKey(
            f"Cliniko API key {mask(key)} does not end in a shard like '-au1' or '-uk2' "
            "(the text after the last '-' must be two letters and one or two digits)"
        )
    if len(body) < MIN_KEY_LENGTH or not any(c.isalnum() for c in body):
        raise InvalidApiKey(f"Cliniko API key {mask(key)} is too short before its shard suffix")
    return ClinikoApiKey(value=key, shard=suffix.lower(), has_shard_suffix=True)


def validate_api_url(api_url: str, allow_private: bool = False, what: str = "Cliniko API URL") -> str:
    """Check an explicit base URL (https, a public host, no credentials); return it without trailing '/'.

    The key is sent to this URL, so by default it must be https and must not name a loopback,
    private, link-local or otherwise internal address (the service's own network is not a place to
    send keys to on an admin's say-so). `allow_private` lifts both, for the local sandboxes. A name
    that resolves to an internal address is not caught here; egress rules are the wall for that.
    """
    if not isinstance(api_url, str) or not api_url.strip():
        raise InvalidApiKey(f"{what} is empty")
    if len(api_url) > _MAX_URL_LENGTH or any(c.isspace() for c in api_url):
        raise InvalidApiKey(f"{what} is too long or contains whitespace")
    try:
        parts = urlsplit(api_url)
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        raise InvalidApiKey(f"{what} is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidApiKey(f"{what} must start with http:// or https://")
    if not parts.hostname:
        raise InvalidApiKey(f"{what} has no host")
    if parts.username is not None or parts.password is not None:
        # Credentials in a URL end up in logs; the key travels in the Authorization header instead.
        raise InvalidApiKey(f"{what} must not contain a user name or password")
    if parts.query or parts.fragment:
        raise InvalidApiKey(f"{what} must not have a query string or fragment")
    if not allow_private:
        if parts.scheme.lower() != "https":
            raise InvalidApiKey(f"{what} must use https")
        if _internal_host(parts.hostname):
            raise InvalidApiKey(
                f"{what} names a local or private address; the key is only sent to public hosts"
            )
    return api_url.rstrip("/")


def _internal_host(host: str) -> bool:
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith((".localhost", ".internal", ".local")):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # a DNS name
    return not address.is_global


def api_url_for(key: str | ClinikoApiKey, api_url: str | None = None, allow_private: bool = False) -> str:
    """``https://api.{shard}.cliniko.com/v1`` for ``key``, or the explicit ``api_url`` once validated.

    The key is validated either way, so a bad key never gets stored behind a custom URL.
    """
    parsed = key if isinstance(key, ClinikoApiKey) else parse_api_key(key)
    if api_url is not None:
        return validate_api_url(api_url, allow_private)
    return parsed.default_api_url
