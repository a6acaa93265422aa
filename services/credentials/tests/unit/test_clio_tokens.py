from datetime import UTC, datetime, timedelta, timezone

import pytest

from practice_sync_credentials.domain.clio_tokens import (
    ClioRegion,
    ClioTokenError,
    ClioTokenSet,
    UnknownClioRegion,
    api_base_url,
    host_for_region,
    merge_refresh,
    needs_refresh,
    oauth_base_url,
    parse_region,
    region_of_host,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
GRANT = {"access_token": "at-1", "refresh_token": "rt-1", "token_type": "bearer", "expires_in": 2592000}


def test_from_response_computes_expiry() -> None:
    tokens = ClioTokenSet.from_response(GRANT, NOW)
    assert tokens.access_token == "at-1" and tokens.refresh_token == "rt-1"
    assert tokens.token_type == "bearer"
    assert tokens.expires_at == NOW + timedelta(days=30)


def test_from_response_requires_refresh_token_and_access_token() -> None:
    with pytest.raises(ClioTokenError, match="no refresh_token"):
        ClioTokenSet.from_response({**GRANT, "refresh_token": None}, NOW)
    with pytest.raises(ClioTokenError, match="no access_token"):
        ClioTokenSet.from_response({k: v for k, v in GRANT.items() if k != "access_token"}, NOW)


@pytest.mark.parametrize("expires_in", [0, -5, "soon", True, 1.5, "²"])
def test_bad_expires_in(expires_in: object) -> None:
    with pytest.raises(ClioTokenError, match="expires_in"):
        ClioTokenSet.from_response({**GRANT, "expires_in": expires_in}, NOW)


def test_expires_in_as_digit_string_and_missing() -> None:
    assert ClioTokenSet.from_response({**GRANT, "expires_in": "60"}, NOW).expires_at == NOW + timedelta(
        seconds=60
    )
    no_expiry = ClioTokenSet.from_response({k: v for k, v in GRANT.items() if k != "expires_in"}, NOW)
    assert no_expiry.expires_at is None
    assert not needs_refresh(no_expiry, NOW + timedelta(days=3650))


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ClioTokenError, match="timezone-aware"):
        ClioTokenSet.from_response(GRANT, datetime(2025, 3, 1, 12, 0))


def test_merge_refresh_keeps_old_refresh_token_when_absent() -> None:
    old = ClioTokenSet.from_response(GRANT, NOW)
    later = NOW + timedelta(days=29)
    merged = merge_refresh(
        old, {"access_token": "at-2", "token_type": "bearer", "expires_in": 2592000}, later
    )
    assert merged.access_token == "at-2"
    assert merged.refresh_token == "rt-1"
    assert merged.expires_at == later + timedelta(days=30)
    assert (
        merge_refresh(
            old, {"access_token": "at-2", "refresh_token": "", "expires_in": 60}, later
        ).refresh_token
        == "rt-1"
    )


def test_merge_refresh_takes_new_refresh_token_when_present() -> None:
    old = ClioTokenSet.from_response(GRANT, NOW)
    merged = merge_refresh(old, {"access_token": "at-2", "refresh_token": "rt-2", "expires_in": 60}, NOW)
    assert merged.refresh_token == "rt-2"


def test_merge_refresh_requires_new_access_token() -> None:
    old = ClioTokenSet.from_response(GRANT, NOW)
    with pytest.raises(ClioTokenError, match="no access_token"):
        merge_refresh(old, {"expires_in": 60}, NOW)


def test_needs_refresh_with_skew() -> None:
    tokens = ClioTokenSet.from_response({**GRANT, "expires_in": 3600}, NOW)
    assert not needs_refresh(tokens, NOW)
    assert not needs_refresh(tokens, NOW + timedelta(minutes=54))
    assert needs_refresh(tokens, NOW + timedelta(minutes=55))
    assert needs_refresh(tokens, NOW + timedelta(minutes=50), skew=timedelta(minutes=10))
    assert needs_refresh(tokens, NOW + timedelta(hours=2))
    # Same instant in another zone.
    assert not needs_refresh(tokens, NOW.astimezone(timezone(timedelta(hours=10))))


def test_repr_hides_tokens() -> None:
    text = repr(
        ClioTokenSet.from_response({**GRANT, "access_token": "AT-SECRET", "refresh_token": "RT-SECRET"}, NOW)
    )
    assert "AT-SECRET" not in text and "RT-SECRET" not in text


def test_secret_fields_round_trip() -> None:
    tokens = ClioTokenSet.from_response(GRANT, NOW)
    fields = tokens.to_secret_fields()
    assert fields["expires_at"] == "2025-03-31T12:00:00+00:00"
    assert ClioTokenSet.from_secret_fields(fields) == tokens


def test_from_secret_fields_legacy_without_expiry() -> None:
    tokens = ClioTokenSet.from_secret_fields({"access_token": "a", "refresh_token": "r"})
    assert tokens.expires_at is None and tokens.token_type == "bearer"
    with pytest.raises(ClioTokenError, match="refresh_token is empty"):
        ClioTokenSet.from_secret_fields({"access_token": "a"})


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("US", "app.clio.com"),
        ("eu", "eu.app.clio.com"),
        (" CA ", "ca.app.clio.com"),
        (ClioRegion.AU, "au.app.clio.com"),
    ],
)
def test_region_hosts(region: str, host: str) -> None:
    assert host_for_region(region) == host
    assert api_base_url(region) == f"https://{host}/api/v4"
    assert oauth_base_url(region) == f"https://{host}"
    assert region_of_host(host) == parse_region(region)
    assert region_of_host(host.upper() + ".") == parse_region(region)


@pytest.mark.parametrize("host", [None, "", "clio.com", "app.clio.com.evil.test", "127.0.0.1"])
def test_other_hosts_name_no_region(host: str | None) -> None:
    assert region_of_host(host) is None


@pytest.mark.parametrize("region", ["UK", "", "app.clio.com", "usa"])
def test_unknown_region(region: str) -> None:
    with pytest.raises(UnknownClioRegion, match="expected one of US, EU, CA, AU"):
        parse_region(region)
