"""The embedded stack's local state: data directory and generated secrets, kept between runs.

Postgres data outlives one `practice-sync up`, so the key ring that encrypted it must too; the file is
created 0600 and never printed.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

SERVICES_CALLING_INTERNALLY = ("webhook-ingest", "clio-gateway", "cliniko-sync", "projector")


def state_dir() -> Path:
    return Path(os.environ.get("PRACTICE_SYNC_STATE_DIR", ".state")).resolve()


@dataclass(frozen=True)
class StackSecrets:
    # Never printed whole: a repr shows which services have tokens, not the tokens.
    admin_token: str = field(repr=False)
    service_tokens: dict[str, str] = field(repr=False)
    keyring: str = field(repr=False)

    def service_tokens_env(self) -> str:
        return ",".join(f"{name}:{token}" for name, token in self.service_tokens.items())


def load_or_create_secrets(directory: Path | None = None) -> StackSecrets:
    directory = directory or state_dir()
    path = directory / "secrets.json"
    data = _read_secrets(path) if path.exists() else {}
    changed = False
    if "keyring" not in data:
        key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        data["keyring"] = f"k1:{key}"
        changed = True
    tokens = dict(data.get("service_tokens", {}))  # type: ignore[call-overload]
    for name in SERVICES_CALLING_INTERNALLY:
        if name not in tokens:
            tokens[name] = secrets.token_urlsafe(24)
            changed = True
    data["service_tokens"] = tokens
    if "admin_token" not in data:
        data["admin_token"] = secrets.token_urlsafe(24)
        changed = True
    if changed:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    # An operator's own admin token (the fixed point) wins over the generated one.
    admin = os.environ.get("PRACTICE_SYNC_ADMIN_TOKEN") or str(data["admin_token"])
    return StackSecrets(admin_token=admin, service_tokens=tokens, keyring=str(data["keyring"]))


def _read_secrets(path: Path) -> dict[str, object]:
    """The stack's secrets file, or a clear exit: never regenerated over a damaged one, since it holds
    the key ring that decrypts every stored credential (a new ring would make them all unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(
            f"{path} cannot be read ({type(exc).__name__}: {exc}); restore it from a backup or repair it."
            " Deleting it makes every stored credential unreadable (it holds their key ring)."
        ) from None
    if not isinstance(data, dict):
        raise SystemExit(f"{path} is not a JSON object; restore it from a backup or repair it")
    return data


def admin_token() -> str:
    """For CLI commands talking to a running stack."""
    env = os.environ.get("PRACTICE_SYNC_ADMIN_TOKEN")
    if env:
        return env
    path = state_dir() / "secrets.json"
    if path.exists():
        token = _read_secrets(path).get("admin_token")
        if isinstance(token, str) and token:
            return token
    raise SystemExit("no admin token: set PRACTICE_SYNC_ADMIN_TOKEN or run `practice-sync up` first")
