"""A canary secret handed to the logger in every way a service might must never be printed."""

from __future__ import annotations

import logging

import pytest

from practice_sync_common.logging import configure_logging, get_logger, secrets

CANARY = "sk_live_CANARY_7f3a9b2c4d5e6f"


def test_canary_secret_never_reaches_the_log(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test", "DEBUG", json=True)
    secrets.add(CANARY)
    log = get_logger("t")
    log.info("by key", api_key=CANARY)
    log.info("nested", payload={"headers": {"Authorization": f"Bearer {CANARY}"}, "items": [CANARY]})
    log.info(f"inside the message {CANARY}")
    log.info("as a value under a harmless key", note=f"user pasted {CANARY} here")
    log.warning("an exception object as a value", error=RuntimeError(f"token {CANARY} rejected"))
    log.info("deeply nested", a={"b": {"c": {"d": {"e": {"f": {"g": {"h": [CANARY]}}}}}}})
    try:
        raise ValueError(f"provider said no to {CANARY}")
    except ValueError:
        log.exception("with a traceback")
    logging.getLogger("aiokafka").error("stdlib logger saw %s", CANARY)
    logging.getLogger("other").warning("header was Authorization: Basic %s", "QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    out = capsys.readouterr().out
    assert out.count("\n") >= 9, out  # every line was written
    assert CANARY not in out
    assert "QWxhZGRpbjpvcGVuIHNlc2FtZQ==" not in out
    assert "[REDACTED]" in out


def test_unregistered_value_under_secret_key_is_masked(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test", "INFO", json=True)
    get_logger().info("oauth", refresh_token="never-registered-refresh-token-123", client_secret="cs-998877")
    out = capsys.readouterr().out
    assert "never-registered-refresh-token-123" not in out
    assert "cs-998877" not in out
    assert "oauth" in out


def test_configured_secrets_are_known_to_the_scrubber() -> None:
    from pydantic import SecretStr

    from practice_sync_common.settings import CommonSettings

    settings = CommonSettings(
        PRACTICE_SYNC_ADMIN_TOKEN=SecretStr("admin-token-abc123"),
        PRACTICE_SYNC_SERVICE_TOKENS=SecretStr("clio-gateway:gw-token-456,projector:pj-token-789"),
    )
    values = settings.secret_values()
    for token in ("admin-token-abc123", "gw-token-456", "pj-token-789"):
        assert token in values
    secrets.add(*values)
    assert "gw-token-456" not in secrets.scrub("caller sent gw-token-456")
