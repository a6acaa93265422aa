"""How names and emails are compared when a Cliniko patient is matched to a contact.

The projector computes these itself for both sources (it ignores a producer's own normalization),
so a Clio contact and a Cliniko patient are compared by exactly the same rule.
"""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")


def normalize_email(email: str | None) -> str | None:
    if email is None:
        return None
    cleaned = email.strip().lower()
    return cleaned or None


def normalize_name(first: str | None, last: str | None, fallback: str | None = None) -> str | None:
    """Lower case, accents and punctuation dropped, whitespace collapsed: "José  O'Neil" → "jose oneil"."""
    raw = " ".join(p for p in (first, last) if p and p.strip()) or (fallback or "")
    if raw.isascii():  # nothing to decompose; skips the per-character pass for most names
        stripped = raw
    else:
        decomposed = unicodedata.normalize("NFKD", raw)
        stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    cleaned = _SPACES.sub(" ", _NON_WORD.sub("", stripped.lower())).strip()
    return cleaned or None


def display_name(first: str | None, last: str | None, fallback: str | None = None) -> str | None:
    joined = " ".join(p.strip() for p in (first, last) if p and p.strip())
    return joined or fallback
