import base64
import re

import pytest

from practice_sync_credentials.domain.keyring import KeyRing, generate_key_entry
from practice_sync_credentials.domain.sealing import (
    DecryptionError,
    InvalidSecretContext,
    SecretContext,
    associated_data,
    needs_rewrap,
    open_,
    rewrap,
    seal,
    token_kid,
)

OLD = generate_key_entry("k2024")
NEW = generate_key_entry("k2025")
RING_OLD = KeyRing.parse(OLD)
RING_BOTH = KeyRing.parse(f"{OLD},{NEW}")
ORG_A = "0b7e6f3c-1d2e-4f5a-8b9c-0d1e2f3a4b5c"
ORG_B = "9f8e7d6c-5b4a-4321-8fed-cba987654321"
CTX = SecretContext(ORG_A, "cliniko", "api_key")
SECRET = b"MS0xMjM0NTY3ODkwYWJjZGVm-au2"


def test_round_trip_and_format() -> None:
    token = seal(RING_BOTH, SECRET, CTX)
    assert re.fullmatch(r"v1:k2025:[A-Za-z0-9_-]+", token)
    body = token.split(":")[2]
    assert len(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) == 12 + len(SECRET) + 16
    assert open_(RING_BOTH, token, CTX) == SECRET
    assert SECRET.decode() not in token


def test_nonce_is_random() -> None:
    assert seal(RING_BOTH, SECRET, CTX) != seal(RING_BOTH, SECRET, CTX)


def test_empty_plaintext_round_trips() -> None:
    assert open_(RING_BOTH, seal(RING_BOTH, b"", CTX), CTX) == b""


@pytest.mark.parametrize(
    "other",
    [
        SecretContext(ORG_B, "cliniko", "api_key"),
        SecretContext(ORG_A, "clio", "api_key"),
        SecretContext(ORG_A, "cliniko", "webhook_secret"),
    ],
    ids=["other-org", "other-provider", "other-kind"],
)
def test_token_copied_to_another_row_fails(other: SecretContext) -> None:
    token = seal(RING_BOTH, SECRET, CTX)
    with pytest.raises(DecryptionError) as info:
        open_(RING_BOTH, token, other)
    message = str(info.value)
    assert "authentication failed" in message
    assert "k2025" in message and other.org_id in message and other.kind in message
    assert SECRET.decode() not in message


def test_org_id_uuid_spelling_is_canonical() -> None:
    token = seal(RING_BOTH, SECRET, SecretContext(ORG_A.upper(), "cliniko", "api_key"))
    assert open_(RING_BOTH, token, SecretContext("{" + ORG_A + "}", "cliniko", "api_key")) == SECRET
    assert SecretContext(ORG_A.upper(), "cliniko", "api_key").org_id == ORG_A


def test_aad_encoding_is_unambiguous() -> None:
    # Naive concatenation would make these two contexts identical.
    a = associated_data(SecretContext("org1", "clio", "x.y"), "k")
    b = associated_data(SecretContext("org1", "clio.x", "y"), "k")
    assert a != b
    assert associated_data(CTX, "k1") != associated_data(CTX, "k2")


def test_tampering_fails() -> None:
    token = seal(RING_BOTH, SECRET, CTX)
    prefix, body = token.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    for index in (0, 12, len(raw) - 1):  # nonce, ciphertext, tag
        flipped = bytearray(raw)
        flipped[index] ^= 0x01
        forged = prefix + ":" + base64.urlsafe_b64encode(bytes(flipped)).rstrip(b"=").decode()
        with pytest.raises(DecryptionError, match="authentication failed"):
            open_(RING_BOTH, forged, CTX)


def test_relabelling_kid_fails() -> None:
    # Same key material under two kids: the kid is bound in the AAD, so relabelling is detected.
    material = RING_OLD.current.material
    encoded = base64.b64encode(material).decode()
    ring = KeyRing.parse(f"a:{encoded},b:{encoded}")
    token = seal(ring, SECRET, CTX)
    with pytest.raises(DecryptionError, match="authentication failed"):
        open_(ring, token.replace("v1:b:", "v1:a:"), CTX)


def test_unknown_kid_fails_with_kid_in_message() -> None:
    token = seal(RING_BOTH, SECRET, CTX)
    with pytest.raises(DecryptionError, match=r"kid='k2025'.*unknown key id"):
        open_(RING_OLD, token, CTX)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "v2:k2025:AAAA",
        "v1:k2025",
        "v1:bad kid:AAAA",
        "v1:k2025:AA=A",
        "v1:k2025:AAAA",
        "v1:a:b:c",
    ],
)
def test_malformed_tokens_fail(token: str) -> None:
    with pytest.raises(DecryptionError):
        open_(RING_BOTH, token, CTX)


def test_two_key_ring_reads_old_and_seals_new() -> None:
    old_token = seal(RING_OLD, SECRET, CTX)
    assert token_kid(old_token) == "k2024"
    assert open_(RING_BOTH, old_token, CTX) == SECRET
    assert token_kid(seal(RING_BOTH, SECRET, CTX)) == "k2025"


def test_rewrap_moves_to_newest_and_stays_readable() -> None:
    old_token = seal(RING_OLD, SECRET, CTX)
    assert needs_rewrap(RING_BOTH, old_token)
    new_token = rewrap(RING_BOTH, old_token, CTX)
    assert token_kid(new_token) == "k2025"
    assert not needs_rewrap(RING_BOTH, new_token)
    assert open_(RING_BOTH, new_token, CTX) == SECRET
    # After the old key is retired, the rewrapped token still opens.
    assert open_(KeyRing.parse(NEW), new_token, CTX) == SECRET
    assert rewrap(RING_BOTH, new_token, CTX) == new_token


def test_rewrap_refuses_wrong_context() -> None:
    old_token = seal(RING_OLD, SECRET, CTX)
    with pytest.raises(DecryptionError):
        rewrap(RING_BOTH, old_token, SecretContext(ORG_B, "cliniko", "api_key"))


def test_needs_rewrap_rejects_malformed() -> None:
    with pytest.raises(DecryptionError):
        needs_rewrap(RING_BOTH, "nope")


@pytest.mark.parametrize(
    ("org", "provider", "kind"),
    [("", "clio", "k"), ("a b", "clio", "k"), ("a:b", "clio", "k"), ("o", "Clio", "k"), ("o", "clio", "")],
)
def test_invalid_context(org: str, provider: str, kind: str) -> None:
    with pytest.raises(InvalidSecretContext):
        SecretContext(org, provider, kind)
