import pytest

from practice_sync_credentials.domain.cliniko_key import (
    InvalidApiKey,
    api_url_for,
    parse_api_key,
    validate_api_url,
)

BODY = "MS0xMjM0NTY3ODkwYWJjZGVmZ2hpamtsbW5vcA"


@pytest.mark.parametrize("shard", ["au1", "au2", "au3", "au4", "uk1", "uk2", "uk3", "eu1", "ca1", "xy42"])
def test_shard_from_suffix(shard: str) -> None:
    key = parse_api_key(f"{BODY}-{shard}")
    assert key.shard == shard and key.has_shard_suffix
    assert api_url_for(f"{BODY}-{shard}") == f"https://api.{shard}.cliniko.com/v1"


def test_suffix_is_case_insensitive_and_key_kept_whole() -> None:
    key = parse_api_key(f"{BODY}-UK2")
    assert key.shard == "uk2"
    assert key.value == f"{BODY}-UK2"


def test_no_suffix_is_old_au1_key() -> None:
    key = parse_api_key(BODY)
    assert key.shard == "au1" and not key.has_shard_suffix
    assert api_url_for(key) == "https://api.au1.cliniko.com/v1"


def test_only_final_dash_counts() -> None:
    assert parse_api_key(f"ab-cd_{BODY}-ca1").shard == "ca1"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("", "empty"),
        (f"{BODY}-au1 ", "whitespace"),
        (f" {BODY}-au1", "whitespace"),
        (f"{BODY}\n", "whitespace"),
        (f"{BODY}+/=-au1", "characters outside"),
        (f"{BODY}é-au1", "characters outside"),
        ("abc-au1", "7 characters"),
        ("a" * 201, "201 characters"),
        (f"{BODY}-", "does not end in a shard"),
        (f"{BODY}-au", "does not end in a shard"),
        (f"{BODY}-a1", "does not end in a shard"),
        (f"{BODY}-au123", "does not end in a shard"),
        (f"{BODY}-1au", "does not end in a shard"),
        (f"abc-{BODY}", "does not end in a shard"),
        ("-au1abcdef", "does not end in a shard"),
        ("-au1", "characters"),
    ],
)
def test_bad_keys(key: str, expected: str) -> None:
    with pytest.raises(InvalidApiKey, match=expected) as info:
        parse_api_key(key)
    message = str(info.value)
    assert BODY not in message and BODY[:10] not in message


@pytest.mark.parametrize("key", ["abcd-au1", "--------au1", "_______-uk2"])
def test_too_little_before_suffix(key: str) -> None:
    with pytest.raises(InvalidApiKey, match="too short before its shard suffix"):
        parse_api_key(key)


def test_error_shows_at_most_last_four_chars() -> None:
    with pytest.raises(InvalidApiKey) as info:
        parse_api_key(f"{BODY}-zzzz")
    assert "…zzzz" in str(info.value)
    assert "-zzzz" not in str(info.value)


def test_explicit_api_url_overrides_and_is_normalised() -> None:
    assert (
        api_url_for(f"{BODY}-au2", "http://127.0.0.1:8102/v1/", allow_private=True)
        == "http://127.0.0.1:8102/v1"
    )
    assert api_url_for(BODY, "https://cliniko.example/v1") == "https://cliniko.example/v1"


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:8102/v1",
        "https://localhost/v1",
        "https://169.254.169.254/latest",
        "https://10.255.255.1/v1",
        "https://192.168.1.5/v1",
        "https://[::1]/v1",
        "https://[fd00::1]/v1",
        "https://metadata.google.internal/v1",
    ],
)
def test_keys_are_not_sent_to_internal_addresses(url: str) -> None:
    with pytest.raises(InvalidApiKey, match="local or private address"):
        validate_api_url(url)
    assert validate_api_url(url, allow_private=True) == url


def test_keys_travel_over_https_only_unless_local_sandboxes_are_allowed() -> None:
    with pytest.raises(InvalidApiKey, match="must use https"):
        validate_api_url("http://api.au1.cliniko.com/v1")
    assert validate_api_url("http://127.0.0.1:8102/v1", allow_private=True) == "http://127.0.0.1:8102/v1"


def test_explicit_api_url_still_validates_key() -> None:
    with pytest.raises(InvalidApiKey):
        api_url_for("bad key", "https://cliniko.example/v1")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "empty"),
        ("ftp://api.au1.cliniko.com/v1", "http:// or https://"),
        ("api.au1.cliniko.com/v1", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("https:///v1", "no host"),
        ("https://user:pw@api.au1.cliniko.com/v1", "user name or password"),
        ("https://api.au1.cliniko.com/v1?x=1", "query string"),
        ("https://api.au1.cliniko.com:99999/v1", "not a valid URL"),
        ("https://api.au1.cliniko.com/ v1", "whitespace"),
    ],
)
def test_bad_api_urls(url: str, expected: str) -> None:
    with pytest.raises(InvalidApiKey, match=expected):
        validate_api_url(url)
