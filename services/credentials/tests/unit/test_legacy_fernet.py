import base64
import json

import pytest
from cryptography.fernet import Fernet

from practice_sync_credentials.domain.legacy_fernet import LegacyImportError, decode_legacy

KEY = Fernet.generate_key().decode()
OTHER_KEY = Fernet.generate_key().decode()
API_KEY = "MS0xMjM0NTY3ODkwYWJjZGVmZ2hpams-uk2"


def legacy(payload: object, key: str = KEY) -> str:
    return Fernet(key.encode()).encrypt(json.dumps(payload).encode()).decode()


def test_json_string_payload_becomes_api_key() -> None:
    assert decode_legacy(KEY, legacy(API_KEY)) == {"api_key": API_KEY}


def test_json_object_payload() -> None:
    payload = {"api_key": API_KEY, "api_url": "https://api.uk2.cliniko.com/v1"}
    assert decode_legacy(KEY, legacy(payload)) == payload


def test_oauth_object_payload_with_numbers_and_nulls() -> None:
    payload = {"access_token": "at", "refresh_token": "rt", "expires_in": 2592000, "scope": None}
    assert decode_legacy(KEY, legacy(payload).encode()) == {
        "access_token": "at",
        "refresh_token": "rt",
        "expires_in": "2592000",
    }


def test_json_string_holding_object_text_is_unwrapped() -> None:
    inner = {"access_token": "at", "refresh_token": "rt"}
    assert decode_legacy(KEY, legacy(json.dumps(inner))) == inner


def test_wrong_key() -> None:
    with pytest.raises(LegacyImportError, match="wrong CREDENTIALS_ENCRYPTION_KEY") as info:
        decode_legacy(OTHER_KEY, legacy(API_KEY))
    assert API_KEY not in str(info.value) and OTHER_KEY not in str(info.value)


def test_invalid_fernet_key() -> None:
    with pytest.raises(LegacyImportError, match="not a valid Fernet key") as info:
        decode_legacy("short", legacy(API_KEY))
    assert "short" not in str(info.value)
    with pytest.raises(LegacyImportError, match="missing or empty"):
        decode_legacy("", legacy(API_KEY))


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "",
        base64.urlsafe_b64encode(b"\x80" + b"x" * 40).decode(),  # too short
        base64.urlsafe_b64encode(b"\x81" + b"x" * 88).decode(),  # wrong version byte
    ],
)
def test_corrupt_token(token: str) -> None:
    with pytest.raises(LegacyImportError, match="corrupt"):
        decode_legacy(KEY, token)


def test_truncated_token_is_corrupt_not_wrong_key() -> None:
    with pytest.raises(LegacyImportError, match="corrupt"):
        decode_legacy(KEY, legacy(API_KEY)[:-10])


@pytest.mark.parametrize(
    ("plaintext", "expected"),
    [
        (b"sk_live_not_json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"42", "JSON number"),
        (b'["a"]', "JSON array"),
        (b"null", "JSON null"),
        (b"{}", "no non-empty secret fields"),
        (b'""', "empty string"),
        (b'{"api_key": {"nested": "x"}}', "field 'api_key' is a JSON object"),
        (b'{"api_key": true}', "field 'api_key' is a JSON boolean"),
    ],
)
def test_payload_that_is_neither_string_nor_object(plaintext: bytes, expected: str) -> None:
    token = Fernet(KEY.encode()).encrypt(plaintext).decode()
    with pytest.raises(LegacyImportError, match=expected) as info:
        decode_legacy(KEY, token)
    assert "sk_live" not in str(info.value)
