"""The key ring: named AES-256 keys from the environment; the newest seals, all of them open.

``CREDENTIALS_KEYRING`` holds comma-separated ``kid:base64key`` entries, for example::

    CREDENTIALS_KEYRING=2024-01:<base64 of 32 random bytes>,2025-06:<base64 of 32 random bytes>

- ``kid`` matches ``[A-Za-z0-9_-]{1,32}``; it is written in clear into every ciphertext.
- ``base64key`` is standard or URL-safe base64 (padding optional) of exactly 32 random bytes.
- The LAST entry is the newest key: it seals every new secret. Every entry can open.
- Whitespace around entries is ignored; empty entries (a stray comma) are errors.

Make an entry with ``generate_key_entry("2025-06")``. Rotation: append a new entry, deploy, run the
rewrap until no row uses an old kid, then remove the old entries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from practice_sync_credentials.domain.errors import CredentialsDomainError

ENV_VAR = "CREDENTIALS_KEYRING"
KEY_BYTES = 32
KID_PATTERN = r"[A-Za-z0-9_-]{1,32}"
_KID_RE = re.compile(KID_PATTERN)
# A 32-byte key is at least 43 base64 chars, so it can never pass as a (<= 32 char) kid: a ring written
# the wrong way round ("key:kid") fails instead of treating key material as a printable identifier.
_B64_RE = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_FINGERPRINT_DOMAIN = b"practice-sync/credentials/keyring-fingerprint/v1\x00"


class KeyRingError(CredentialsDomainError):
    """The key ring is missing or malformed; messages name entries by position and kid, never key bytes."""


def fingerprint(material: bytes) -> str:
    """Short, display-safe identifier of a key (16 hex chars of a domain-separated SHA-256)."""
    return hashlib.sha256(_FINGERPRINT_DOMAIN + material).hexdigest()[:16]


def is_valid_kid(kid: str) -> bool:
    return _KID_RE.fullmatch(kid) is not None


@dataclass(frozen=True, slots=True)
class Key:
    kid: str
    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not is_valid_kid(self.kid):
            raise KeyRingError(f"key id must match {KID_PATTERN}")
        if len(self.material) != KEY_BYTES:
            raise KeyRingError(
                f"key {self.kid!r} is {len(self.material)} bytes, expected {KEY_BYTES} (AES-256)"
            )

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.material)

    def __repr__(self) -> str:
        return f"Key(kid={self.kid!r}, fingerprint={self.fingerprint!r})"


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Ordered keys, oldest first; ``current`` (the last) seals."""

    keys: tuple[Key, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyRingError("key ring is empty: at least one kid:base64key entry is required")
        seen: set[str] = set()
        for key in self.keys:
            if key.kid in seen:
                raise KeyRingError(f"duplicate key id {key.kid!r} in key ring")
            seen.add(key.kid)

    @classmethod
    def parse(cls, text: str | None) -> KeyRing:
        """Parse the ``CREDENTIALS_KEYRING`` format (see module docstring)."""
        if text is None or not text.strip():
            raise KeyRingError(
                f"{ENV_VAR} is missing or empty; expected comma-separated kid:base64key entries "
                "(32-byte keys), newest last"
            )
        keys: list[Key] = []
        seen: set[str] = set()
        for position, raw_entry in enumerate(text.split(","), start=1):
            key = _parse_entry(raw_entry.strip(), position)
            if key.kid in seen:
                raise KeyRingError(f"entry {position}: duplicate key id {key.kid!r}")
            seen.add(key.kid)
            keys.append(key)
        return cls(tuple(keys))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> KeyRing:
        """Parse ``CREDENTIALS_KEYRING`` from a mapping such as ``os.environ`` (passed in: no I/O here)."""
        return cls.parse(environ.get(ENV_VAR))

    @property
    def current(self) -> Key:
        return self.keys[-1]

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(key.kid for key in self.keys)

    def get(self, kid: str) -> Key | None:
        for key in self.keys:
            if key.kid == kid:
                return key
        return None

    def __repr__(self) -> str:
        entries = ", ".join(f"{k.kid}#{k.fingerprint}" for k in self.keys)
        return f"KeyRing([{entries}], current={self.current.kid!r})"


def _parse_entry(entry: str, position: int) -> Key:
    if not entry:
        raise KeyRingError(f"entry {position} is empty (stray comma?)")
    kid, sep, encoded = entry.partition(":")
    if not sep:
        raise KeyRingError(f"entry {position} is not of the form kid:base64key (no ':')")
    if not is_valid_kid(kid):
        # The text is not echoed: a malformed "kid" may well be pasted key material.
        raise KeyRingError(f"entry {position}: key id must match {KID_PATTERN}")
    where = f"entry {position} (kid {kid!r})"
    if not encoded:
        raise KeyRingError(f"{where}: key is empty")
    material = _decode_key(encoded, where)
    return Key(kid, material)


def _decode_key(encoded: str, where: str) -> bytes:
    if _B64_RE.fullmatch(encoded) is None:
        raise KeyRingError(f"{where}: key is not valid base64 (standard or URL-safe alphabet)")
    if any(c in encoded for c in "-_") and any(c in encoded for c in "+/"):
        raise KeyRingError(f"{where}: key mixes the standard and URL-safe base64 alphabets")
    standard = encoded.replace("-", "+").replace("_", "/").rstrip("=")
    standard += "=" * (-len(standard) % 4)
    try:
        material = base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        raise KeyRingError(f"{where}: key is not valid base64 (bad length or padding)") from None
    if len(material) != KEY_BYTES:
        raise KeyRingError(f"{where}: key decodes to {len(material)} bytes, expected {KEY_BYTES} (AES-256)")
    return material


def generate_key_entry(kid: str) -> str:
    """A fresh ``kid:base64url(32 random bytes)`` entry, ready to append to ``CREDENTIALS_KEYRING``."""
    if not is_valid_kid(kid):
        raise KeyRingError(f"key id must match {KID_PATTERN}")
    return f"{kid}:{base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode('ascii')}"
