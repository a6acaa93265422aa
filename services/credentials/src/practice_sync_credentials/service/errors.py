"""Errors the use cases raise; the app turns them into `{"error": {"type", "message"}}` responses.

Messages are shown to callers and logged, so they never carry secret material.
"""

from __future__ import annotations


class ServiceError(Exception):
    status = 400
    type = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    status = 404
    type = "not_found"


class UnknownOrg(NotFound):
    """The org registry has no such org. Its own type: a caller must not take a 404 of a route
    this service lacks (an older deployment) for an answer about the org."""

    type = "unknown_org"


class NoCredentials(NotFound):
    """The org is known but holds no credential of the provider asked about."""

    type = "no_credentials"


class Forbidden(ServiceError):
    status = 403
    type = "forbidden"


class Invalid(ServiceError):
    status = 422
    type = "invalid"


class NeedsReauth(ServiceError):
    status = 409
    type = "needs_reauth"


class NotConfigured(ServiceError):
    status = 503
    type = "not_configured"


class ProviderUnavailable(ServiceError):
    status = 502
    type = "provider_unavailable"


class SecretUnreadable(ServiceError):
    """A stored ciphertext does not open: wrong ring, or copied from another row. An integrity fault."""

    status = 500
    type = "secret_unreadable"


class StoredCredentialInvalid(ServiceError):
    """A stored row's metadata cannot be used (e.g. an unknown region): an integrity fault, not input."""

    status = 500
    type = "stored_credential_invalid"
