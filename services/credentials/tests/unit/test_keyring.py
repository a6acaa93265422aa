import base64
import os

import pytest

from practice_sync_credentials.domain.keyring import (
    KeyRing,
    KeyRingError,
    fingerprint,
    generate_key_entry,
)

K1 = bytes(range(32))
K2 = bytes(range(100, 132))
K1_STD = base64.b64encode(K1).decode()
K2_URL = base64.urlsafe_b64encode(K2).decode()


def test_parses_two_entries_last_is_current() -> None:
    ring = KeyRing.parse(f"old:{K1_STD},new:{K2_URL}")
    assert ring.kids == ("old", "new")
    assert ring.current.kid == "new"
    assert ring.current.material == K2
    assert ring.get("old") is not None and ring.get("old").material == K1  # type: ignore[union-attr]
    assert ring.get("missing") is None


def test_accepts_unpadded_urlsafe_and_surrounding_whitespace() -> None:
    unpadded = base64.urlsafe_b64encode(K2).decode().rstrip("=")
    ring = KeyRing.parse(f"  a:{K1_STD} ,\n b:{unpadded}\n")
    assert ring.get("b").material == K2  # type: ignore[union-attr]


def test_from_env_reads_credentials_keyring() -> None:
    ring = KeyRing.from_env({"CREDENTIALS_KEYRING": f"k:{K1_STD}"})
    assert ring.current.kid == "k"
    with pytest.raises(KeyRingError, match="CREDENTIALS_KEYRING is missing or empty"):
        KeyRing.from_env({})


def _secret_fragments() -> list[str]:
    # Every spelling of the key material a message could leak.
    out = []
    for key in (K1, K2):
        for enc in (base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()):
            out += [enc, enc.rstrip("="), enc[:12], enc[-12:].rstrip("=")]
    return out


BAD_RINGS = {
    "empty": ("", "missing or empty"),
    "blank": ("  \n", "missing or empty"),
    "no colon": (K1_STD, "not of the form kid:base64key"),
    "stray comma": (f"a:{K1_STD},", "entry 2 is empty"),
    "empty key": ("a:", "key is empty"),
    "bad kid chars": (f"a b:{K1_STD}", "key id must match"),
    "kid too long": (f"{'k' * 33}:{K1_STD}", "key id must match"),
    "key and kid swapped": (f"{K1_STD}:k1", "key id must match"),
    "short key": (f"a:{base64.b64encode(K1[:16]).decode()}", "decodes to 16 bytes, expected 32"),
    "long key": (f"a:{base64.b64encode(K1 + K2).decode()}", "decodes to 64 bytes"),
    "bad base64 chars": (f"a:{K1_STD[:-2]}!=", "not valid base64"),
    "mixed alphabets": ("a:" + "-" + K1_STD[1:].replace("A", "+"), "mixes the standard and URL-safe"),
    "bad base64 length": (f"a:{K1_STD[:-2]}", "decodes to"),
    "truncated to 1 mod 4": (f"a:{K1_STD[:41]}", "not valid base64"),
    "duplicate kid": (f"a:{K1_STD},a:{K2_URL}", "duplicate key id 'a'"),
}


@pytest.mark.parametrize("name", sorted(BAD_RINGS))
def test_parse_errors_are_clear_and_never_echo_key_material(name: str) -> None:
    text, expected = BAD_RINGS[name]
    with pytest.raises(KeyRingError) as info:
        KeyRing.parse(text)
    message = str(info.value)
    assert expected in message
    for fragment in _secret_fragments():
        assert fragment not in message, f"{name}: message leaks key material"


def test_error_is_not_chained_to_a_decoder_exception() -> None:
    with pytest.raises(KeyRingError) as info:
        KeyRing.parse(f"a:{K1_STD[:41]}")
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_repr_shows_fingerprints_not_material() -> None:
    ring = KeyRing.parse(f"old:{K1_STD},new:{K2_URL}")
    text = repr(ring) + repr(ring.current) + str(ring.keys)
    assert fingerprint(K1) in text and fingerprint(K2) in text
    for fragment in _secret_fragments():
        assert fragment not in text
    assert K1.hex() not in text and repr(K1) not in text


def test_fingerprint_is_short_stable_and_distinct() -> None:
    assert fingerprint(K1) == fingerprint(bytes(range(32)))
    assert fingerprint(K1) != fingerprint(K2)
    assert len(fingerprint(K1)) == 16


def test_generate_key_entry_round_trips_and_is_random() -> None:
    entry = generate_key_entry("2025-06")
    ring = KeyRing.parse(entry)
    assert ring.current.kid == "2025-06"
    assert len(ring.current.material) == 32
    assert generate_key_entry("x") != generate_key_entry("x")
    with pytest.raises(KeyRingError):
        generate_key_entry("bad kid")


def test_random_keys_parse_in_both_alphabets() -> None:
    for _ in range(50):
        key = os.urandom(32)
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            assert KeyRing.parse(f"k:{enc(key).decode()}").current.material == key
