"""Masking of secrets for display (API metadata, CLI output)."""

from __future__ import annotations

ELLIPSIS = "…"
VISIBLE_CHARS = 4
# Below this length the last 4 chars would be too large a share of the secret, so nothing is shown.
MIN_LENGTH_TO_REVEAL = 16


def mask(secret: str | None) -> str:
    """Return a display hint for ``secret``: ``"…abcd"`` (its last 4 chars) for secrets of 16+ chars.

    Shorter secrets give ``"…"`` (set, but nothing revealed); ``None`` or ``""`` give ``""`` (not set).
    Never reveals more than the last 4 characters.
    """
    if not secret:
        return ""
    if len(secret) < MIN_LENGTH_TO_REVEAL:
        return ELLIPSIS
    return ELLIPSIS + secret[-VISIBLE_CHARS:]
