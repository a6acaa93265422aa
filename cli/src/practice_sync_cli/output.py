"""The consoles every command prints through: results on stdout, errors and warnings on stderr."""

from __future__ import annotations

import os
import sys
from typing import NoReturn, TextIO

import httpx
import typer
from rich.console import Console
from rich.markup import escape

# Wide enough for any row of our tables: ids, emails and timestamps in full.
PIPED_WIDTH = 400
# Where a 401 from any service sends the operator: the token is the usual suspect.
TOKEN_HINT = (
    "the admin token is PRACTICE_SYNC_ADMIN_TOKEN when set, else the one `practice-sync up` wrote to"
    " .state/secrets.json (PRACTICE_SYNC_STATE_DIR); it must be the token the services were started with"
)


def _console(stream: TextIO, stderr: bool) -> Console:
    # On a terminal rich follows its width. Piped or redirected it would assume 80 columns and cut
    # ids and emails short with an ellipsis (breaking `| grep` and saved output), so there the width
    # is left wide instead (unless COLUMNS says otherwise).
    if stream.isatty() or os.environ.get("COLUMNS"):
        return Console(stderr=stderr)
    return Console(width=PIPED_WIDTH, stderr=stderr)


def console() -> Console:
    """A console for command output (stdout)."""
    return _console(sys.stdout, stderr=False)


def error_console() -> Console:
    """A console for errors and warnings (stderr), so `--json` and piped tables stay clean."""
    return _console(sys.stderr, stderr=True)


def warn(message: str) -> None:
    error_console().print(f"[yellow]warning:[/] {escape(message)}")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: message` on stderr and exit with `code` (1 refused or failed, 2 usage/unreachable)."""
    # Escaped: messages carry the services' plain text, and rich would eat anything that looks like markup.
    error_console().print(f"[red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def service_message(r: httpx.Response) -> str:
    """What a service said: its JSON error's message, else the start of the body."""
    try:
        message = r.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return r.text[:200]
    return str(message)


def refused(r: httpx.Response, code: int = 1) -> NoReturn:
    """A service's refusal, with the token hint when it is a 401."""
    hint = f" ({TOKEN_HINT})" if r.status_code == 401 else ""
    fail(f"{r.request.method} {r.request.url.path} → {r.status_code}: {service_message(r)}{hint}", code)
