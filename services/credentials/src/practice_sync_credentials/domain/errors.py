"""Common base for the domain's errors."""


class CredentialsDomainError(ValueError):
    """Base of every error raised by the domain core.

    Messages are written to be safe for logs and API responses: they never contain secret material
    (keys, tokens, plaintexts), at most a masked hint from ``redaction.mask``.
    """
