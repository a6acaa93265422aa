"""Pure domain core of the credentials service: no I/O, no database, no logging.

Modules: ``keyring`` (key ring from ``CREDENTIALS_KEYRING``), ``sealing`` (AES-256-GCM bound to a
tenant/provider/kind context), ``legacy_fernet`` (import of the seed's Fernet rows), ``cliniko_key``,
``clio_tokens`` and ``redaction``. Every error raised here is a ``CredentialsDomainError`` and its message
never contains secret material.
"""
