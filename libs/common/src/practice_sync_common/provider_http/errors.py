"""What a provider call can end in, once retries are spent. Messages never carry credentials."""

from __future__ import annotations


class ProviderError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProviderAuthError(ProviderError):
    """401/403: the credential is wrong, expired or lacks permission; retrying will not help."""


class ProviderRequestError(ProviderError):
    """Another 4xx: our request is wrong."""


class ProviderUnavailable(ProviderError):
    """5xx, timeouts or 429s beyond the retry budget."""


class MalformedResponse(ProviderError):
    """A 2xx whose body is not the JSON we expect (after retries)."""
