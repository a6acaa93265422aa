"""The console every command prints through."""

from __future__ import annotations

import os
import sys

from rich.console import Console

# Wide enough for any row of our tables: ids, emails and timestamps in full.
PIPED_WIDTH = 400


def console() -> Console:
    """A console for command output.

    On a terminal it follows the terminal's width. Piped or redirected, rich would assume 80 columns
    and cut ids and emails short with an ellipsis, which breaks `| grep` and saved output; there the
    width is left wide instead (unless COLUMNS says otherwise).
    """
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=PIPED_WIDTH)
