"""Decoding of the previous system's credential rows (Fernet under ``CREDENTIALS_ENCRYPTION_KEY``).

A decrypted legacy payload is JSON, one of:

- an object of secret fields, e.g. ``{"api_key": "...", "api_url": "..."}`` or
  ``{"access_token": "...", "refresh_token": "..."}``;
- a string holding the JSON text of such an object (double-encoded);
- a string holding the secret itself, e.g. ``"sk_live..."``. **Choice:** that becomes ``{"api_key": value}``,
  since the only bare secrets the seed stored were provider API keys.

Anything else (not JSON, a number, a list, an empty object or string) is a ``LegacyImportError``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from practice_sync_credentials.domain.errors import CredentialsDomainError

LEGACY_ENV_VAR = "CREDENTIALS_ENCRYPTION_KEY"
BARE_STRING_FIELD = "api_key"
# version(1) + timestamp(8) + iv(16) + hmac(32), around a ciphertext of whole 16-byte AES blocks (>= 1).
_FERNET_OVERHEAD = 1 + 8 + 16 + 32
_AES_BLOCK = 16
_FERNET_VERSION = 0x80
_TOKEN_RE = re.compile(rb"[A-Za-z0-9_-]+={0,2}")


class LegacyImportError(CredentialsDomainError):
    """A legacy row cannot be imported. Messages never include the key, the token or the plaintext."""


def decode_legacy(fernet_key: str | bytes, token: str | bytes) -> dict[str, str]:
    """Decrypt one legacy row and normalise it to a dict of secret fields (see module docstring)."""
    fernet = _fernet(fernet_key)
    token_bytes = _check_token_shape(token)
    try:
        # No ttl: legacy rows are old by definition.
        plaintext = fernet.decrypt(token_bytes)
    except InvalidToken:
        raise LegacyImportError(
            f"legacy token failed authentication: wrong {LEGACY_ENV_VAR} or tampered row"
        ) from None
    return normalise_payload(plaintext)


def check_key(fernet_key: str | bytes) -> None:
    """Raise ``LegacyImportError`` unless the key is a usable Fernet key (a configuration problem)."""
    _fernet(fernet_key)


def check_token(token: str | bytes) -> None:
    """Raise ``LegacyImportError`` unless the row is shaped like a Fernet token (no key needed: input)."""
    _check_token_shape(token)


def normalise_payload(plaintext: bytes) -> dict[str, str]:
    """Turn a decrypted legacy payload into secret fields (exposed for tests and dry runs)."""
    try:
        payload: Any = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LegacyImportError("legacy payload is not JSON (expected a JSON string or object)") from None
    if isinstance(payload, str):
        inner = _json_object_in_string(payload)
        if inner is None:
            if not payload.strip():
                raise LegacyImportError("legacy payload is an empty string")
            return {BARE_STRING_FIELD: payload}
        payload = inner
    if not isinstance(payload, dict):
        raise LegacyImportError(
            f"legacy payload is a JSON {_json_type(payload)}, expected a JSON string or object"
        )
    return _secret_fields(payload)


def _fernet(fernet_key: str | bytes) -> Fernet:
    key = fernet_key.strip()
    if not key:
        raise LegacyImportError(f"{LEGACY_ENV_VAR} is missing or empty")
    try:
        return Fernet(key)
    except (ValueError, TypeError, binascii.Error):
        raise LegacyImportError(
            f"{LEGACY_ENV_VAR} is not a valid Fernet key (expected 32 bytes, URL-safe base64)"
        ) from None


def _check_token_shape(token: str | bytes) -> bytes:
    """Tell a corrupt token apart from a wrong key, which Fernet reports identically."""
    token_bytes = token.encode("ascii", "replace") if isinstance(token, str) else bytes(token)
    token_bytes = token_bytes.strip()
    if _TOKEN_RE.fullmatch(token_bytes) is None:
        raise LegacyImportError("legacy token is corrupt: not URL-safe base64")
    try:
        raw = base64.urlsafe_b64decode(token_bytes)
    except (binascii.Error, ValueError):
        raise LegacyImportError("legacy token is corrupt: not URL-safe base64") from None
    body = len(raw) - _FERNET_OVERHEAD
    if body < _AES_BLOCK or body % _AES_BLOCK or raw[0] != _FERNET_VERSION:
        raise LegacyImportError("legacy token is corrupt: not a Fernet token (bad version or length)")
    return token_bytes


def _json_object_in_string(text: str) -> dict[str, Any] | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _secret_fields(obj: dict[str, Any]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in obj.items():
        if value is None:
            continue
        if isinstance(value, str):
            fields[name] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            # e.g. expires_in / expires_at stored as numbers next to OAuth tokens.
            fields[name] = json.dumps(value)
        else:
            raise LegacyImportError(
                f"legacy payload field {name!r} is a JSON {_json_type(value)}, expected a string"
            )
    if not any(v for v in fields.values()):
        raise LegacyImportError("legacy payload has no non-empty secret fields")
    return fields


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if value is None:
        return "null"
    return "string"
