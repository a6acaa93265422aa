"""Sealing and opening of a row's secret fields under the key ring, bound to the row's identity."""

from __future__ import annotations

import json
from dataclasses import dataclass

from practice_sync_common.logging import secrets
from practice_sync_credentials.domain.keyring import KeyRing
from practice_sync_credentials.domain.sealing import (
    DecryptionError,
    SecretContext,
    open_,
    rewrap,
    seal,
    token_kid,
)
from practice_sync_credentials.service.errors import SecretUnreadable


@dataclass(frozen=True, slots=True)
class SecretRef:
    org_id: str
    provider: str
    kind: str
    # The webhook id for per-webhook secrets, else "".
    name: str = ""

    def context(self) -> SecretContext:
        # The name joins the kind in the associated data, so one webhook's secret cannot be
        # moved onto another webhook's row of the same org either.
        return SecretContext(
            self.org_id, self.provider, f"{self.kind}.{self.name}" if self.name else self.kind
        )


class Vault:
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    @property
    def current_kid(self) -> str:
        return self.ring.current.kid

    def seal(self, ref: SecretRef, fields: dict[str, str]) -> str:
        secrets.add(*fields.values())
        return seal(self.ring, json.dumps(fields, sort_keys=True).encode(), ref.context())

    def open(self, ref: SecretRef, ciphertext: str) -> dict[str, str]:
        try:
            plaintext = open_(self.ring, ciphertext, ref.context())
        except DecryptionError as exc:
            raise SecretUnreadable(str(exc)) from None
        fields = json.loads(plaintext)
        if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
            raise SecretUnreadable(f"stored secret of {ref.context().describe()} is not a field map")
        secrets.add(*fields.values())
        return fields

    def rewrap(self, ref: SecretRef, ciphertext: str) -> str:
        try:
            return rewrap(self.ring, ciphertext, ref.context())
        except DecryptionError as exc:
            raise SecretUnreadable(str(exc)) from None

    @staticmethod
    def kid_of(ciphertext: str) -> str:
        return token_kid(ciphertext)
