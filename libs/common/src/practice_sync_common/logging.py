"""structlog JSON logs with secret redaction.

Redaction works two ways because either alone leaks: keys that name a secret are masked wherever they
appear, and values registered as secrets at runtime (API keys, tokens once decrypted) are scrubbed
out of every string, including exception text.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "[REDACTED]"
_SECRET_KEY = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|authorization|cookie|credential|private[_-]?key|signature"
    r"|ciphertext|nonce|keyring|encryption[_-]?key)",
    re.IGNORECASE,
)
# Bearer/Basic credentials inside free text, e.g. a logged header line.
_AUTH_IN_TEXT = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{6,}", re.IGNORECASE)


class SecretRegistry:
    """Values that must never be printed, registered by whoever handles them in plaintext."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: str | None) -> None:
        with self._lock:
            for v in values:
                if v and len(v) >= 6:
                    self._values.add(v)
            self._pattern = (
                re.compile("|".join(re.escape(v) for v in sorted(self._values, key=len, reverse=True)))
                if self._values
                else None
            )

    def scrub(self, text: str) -> str:
        text = _AUTH_IN_TEXT.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern else text


secrets = SecretRegistry()


def _redact(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str) or depth > 6:
        # Anything deeper, and any other object, is printed as text: scrubbed like the rest. The
        # renderer would otherwise print an exception's repr (with whatever it holds) untouched.
        return secrets.scrub(value if isinstance(value, str) else repr(value))
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else _redact(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set):
        return [_redact(v, depth + 1) for v in value]
    return secrets.scrub(repr(value))


def redact_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if _SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(event_dict[key])
    return event_dict


def _scrub_rendered(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # Exceptions are rendered to text by format_exc_info; scrub the text they produced too.
    if "exception" in event_dict and isinstance(event_dict["exception"], str):
        event_dict["exception"] = secrets.scrub(event_dict["exception"])
    return event_dict


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_processor,
        structlog.processors.format_exc_info,
        _scrub_rendered,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(),  # current sys.stdout at each write
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)
    # Route stdlib logging (uvicorn, aiokafka, faststream) through the same redaction.
    handler = _StdoutHandler()
    handler.setFormatter(_RedactingFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request's full URL at INFO: noise, and query strings can carry nonces.
    for noisy in ("aiokafka", "kafka", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel("WARNING")


class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stdout is now (it is swapped by test capture and daemon runners)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


class _RedactingFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        import json as _json

        msg = secrets.scrub(record.getMessage())
        out: dict[str, Any] = {
            "service": self.service,
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": msg,
        }
        if record.exc_info:
            out["exception"] = secrets.scrub(self.formatException(record.exc_info))
        return _json.dumps(out)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
