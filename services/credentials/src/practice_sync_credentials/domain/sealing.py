"""AES-256-GCM sealing of secrets, bound to the row they belong to.

Token format (ASCII, stored as text)::

    v1:<kid>:<base64url-no-padding(nonce[12] || ciphertext || tag[16])>

The associated data binds format version, kid, org id, provider and kind, so a token copied into another
tenant's, provider's or kind's row (or relabelled with another kid) fails to open. It is a canonical,
length-prefixed encoding (see ``associated_data``), so no two distinct contexts encode the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from practice_sync_credentials.domain.errors import CredentialsDomainError
from practice_sync_credentials.domain.keyring import KeyRing, is_valid_kid

FORMAT_VERSION = "v1"
NONCE_BYTES = 12
TAG_BYTES = 16
_AAD_DOMAIN = b"practice-sync/credentials/secret"
_BODY_RE = re.compile(r"[A-Za-z0-9_-]+")
_NAME_RE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_ORG_RE = re.compile(r"[^\s:]{1,128}")


class InvalidSecretContext(CredentialsDomainError):
    """A ``SecretContext`` field is empty or not in canonical form."""


class DecryptionError(CredentialsDomainError):
    """A token could not be opened: malformed, unknown kid, wrong context, wrong key or tampered."""


@dataclass(frozen=True, slots=True)
class SecretContext:
    """Which row a secret belongs to; becomes the AEAD associated data.

    ``org_id``: the organization id; a UUID in any spelling is canonicalised to ``str(uuid.UUID(...))`` so
    that ``ABC…``/``abc…``/``{abc…}`` cannot make a row unreadable. ``provider`` and ``kind`` are lowercase
    names such as ``"cliniko"`` / ``"api_key"``, ``"clio"`` / ``"oauth_tokens"``.
    """

    org_id: str
    provider: str
    kind: str

    def __post_init__(self) -> None:
        if not isinstance(self.org_id, str) or _ORG_RE.fullmatch(self.org_id) is None:
            raise InvalidSecretContext("org_id must be 1-128 chars without whitespace or ':'")
        try:
            canonical = str(uuid.UUID(self.org_id))
        except ValueError:
            canonical = self.org_id
        object.__setattr__(self, "org_id", canonical)
        for name in ("provider", "kind"):
            value = getattr(self, name)
            if not isinstance(value, str) or _NAME_RE.fullmatch(value) is None:
                raise InvalidSecretContext(f"{name} must match {_NAME_RE.pattern}")

    def describe(self) -> str:
        return f"org={self.org_id} provider={self.provider} kind={self.kind}"


def associated_data(ctx: SecretContext, kid: str) -> bytes:
    """Canonical AAD: domain tag, then (version, kid, org_id, provider, kind), each as u16 length + UTF-8."""
    out = bytearray(_AAD_DOMAIN)
    for part in (FORMAT_VERSION, kid, ctx.org_id, ctx.provider, ctx.kind):
        encoded = part.encode("utf-8")
        out += len(encoded).to_bytes(2, "big") + encoded
    return bytes(out)


def seal(keyring: KeyRing, plaintext: bytes, aad: SecretContext) -> str:
    """Encrypt ``plaintext`` under the ring's newest key for the row described by ``aad``."""
    key = keyring.current
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(key.material).encrypt(nonce, plaintext, associated_data(aad, key.kid))
    body = base64.urlsafe_b64encode(nonce + ciphertext).rstrip(b"=").decode("ascii")
    return f"{FORMAT_VERSION}:{key.kid}:{body}"


def open_(keyring: KeyRing, token: str, aad: SecretContext) -> bytes:
    """Decrypt a token made by ``seal`` for the same context; any failure raises ``DecryptionError``."""
    kid, blob = _parse(token, aad)
    key = keyring.get(kid)
    if key is None:
        raise _error(f"unknown key id (ring has {list(keyring.kids)})", kid, aad)
    nonce, ciphertext = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
    try:
        return AESGCM(key.material).decrypt(nonce, ciphertext, associated_data(aad, kid))
    except InvalidTag:
        raise _error(
            "authentication failed (sealed for another org/provider/kind, or tampered)", kid, aad
        ) from None


def token_kid(token: str) -> str:
    """The kid a token was sealed with (no decryption). Raises ``DecryptionError`` if malformed."""
    return _parse(token, None)[0]


def needs_rewrap(keyring: KeyRing, token: str) -> bool:
    """True when ``token`` was sealed with a key other than the ring's newest."""
    return token_kid(token) != keyring.current.kid


def rewrap(keyring: KeyRing, token: str, ctx: SecretContext) -> str:
    """``token`` re-sealed under the newest key; returned unchanged (once it opens) if already there."""
    plaintext = open_(keyring, token, ctx)
    if not needs_rewrap(keyring, token):
        return token
    return seal(keyring, plaintext, ctx)


def _error(reason: str, kid: str | None, ctx: SecretContext | None) -> DecryptionError:
    labels = ([f"kid={kid!r}"] if kid is not None else []) + ([ctx.describe()] if ctx is not None else [])
    where = f" ({', '.join(labels)})" if labels else ""
    return DecryptionError(f"cannot open secret{where}: {reason}")


def _parse(token: str, ctx: SecretContext | None) -> tuple[str, bytes]:
    # The token text is never echoed: it is not secret, but a caller may pass the wrong column by mistake.
    if not isinstance(token, str):
        raise _error("token is not a string", None, ctx)
    parts = token.split(":")
    if len(parts) != 3 or parts[0] != FORMAT_VERSION:
        raise _error(f"not a {FORMAT_VERSION}:<kid>:<data> token", None, ctx)
    _, kid, body = parts
    if not is_valid_kid(kid):
        raise _error("malformed key id", None, ctx)
    if _BODY_RE.fullmatch(body) is None:
        raise _error("data is not base64url", kid, ctx)
    try:
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise _error("data is not base64url", kid, ctx) from None
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise _error("data too short (truncated?)", kid, ctx)
    return kid, blob
