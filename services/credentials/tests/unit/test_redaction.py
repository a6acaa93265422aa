import pytest

from practice_sync_credentials.domain.redaction import mask


def test_long_secret_shows_last_four() -> None:
    assert mask("MS0xMjM0NTY3ODkwYWJj-au2") == "…-au2"


@pytest.mark.parametrize("secret", ["a", "abcd", "abcdefghijklmno"])
def test_short_secret_shows_nothing(secret: str) -> None:
    assert mask(secret) == "…"


def test_unset() -> None:
    assert mask("") == ""
    assert mask(None) == ""


def test_never_more_than_four_chars() -> None:
    for length in range(300):
        secret = "".join(chr(ord("a") + i % 26) for i in range(length))
        shown = mask(secret).removeprefix("…")
        assert len(shown) <= 4
        assert secret.endswith(shown)
    assert mask("abcdefghijklmnop") == "…mnop"
