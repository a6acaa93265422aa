"""A local simulator of the Clio Manage API v4 (contacts, custom actions, webhooks, OAuth)."""

from practice_sync_sandbox.clio.config import AccountSpec, ClioSandboxConfig

__all__ = ["AccountSpec", "ClioSandboxConfig"]
