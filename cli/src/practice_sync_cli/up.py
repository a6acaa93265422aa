"""`practice-sync up`: the whole platform in the foreground with a live status table."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.table import Table

from practice_sync_cli.stack import build_components
from practice_sync_cli.state import load_or_create_secrets, state_dir
from practice_sync_cli.supervisor import Supervisor
from practice_sync_common.embedded.procs import PortTaken

STATE_STYLE = {"ready": "green", "starting": "yellow", "backoff": "red", "waiting": "dim", "stopped": "dim"}


def _table(sup: Supervisor, started: float, note: str) -> Table:
    elapsed = time.monotonic() - started
    title = f"practice-sync — {sum(c.state == 'ready' for c in sup.components)}/{len(sup.components)} ready"
    table = Table(title=title, caption=f"{elapsed:.0f}s · {note} · Ctrl-C stops everything")
    for col in ("component", "port", "pid", "state", "restarts", "uptime", "detail"):
        table.add_column(col)
    for c in sup.components:
        style = STATE_STYLE.get(c.state, "")
        table.add_row(
            c.name,
            str(c.port),
            str(c.proc.pid if c.proc else "-"),
            f"[{style}]{c.state}[/]",
            str(c.restarts),
            c.uptime(),
            c.detail,
        )
    return table


def run_up(on_all_ready: Callable[[], None] | None = None, exit_when_ready: bool = False) -> int:
    console = Console()
    state = state_dir()
    secrets = load_or_create_secrets(state)
    sup = Supervisor(build_components(state, secrets, on_all_ready))
    try:
        sup.check_ports()
    except PortTaken as exc:
        console.print(f"[red]cannot start:[/] {exc}")
        return 2
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    started = time.monotonic()
    announced = False
    interactive = console.is_terminal
    try:
        with Live(
            _table(sup, started, "starting"),
            console=console,
            refresh_per_second=4,
            transient=False,
            auto_refresh=interactive,
        ) as live:
            last_states: dict[str, str] = {}
            while not stopping:
                sup.tick()
                note = "all ready" if sup.all_ready() else "starting"
                if interactive:
                    live.update(_table(sup, started, note))
                else:
                    for c in sup.components:  # a log line per change when not on a terminal
                        if last_states.get(c.name) != c.state:
                            console.print(f"{c.name}: {c.state} {c.detail}")
                            last_states[c.name] = c.state
                if sup.all_ready() and not announced:
                    announced = True
                    console.print(
                        f"[green]all {len(sup.components)} components ready in "
                        f"{time.monotonic() - started:.1f}s[/] (logs in {state / 'logs'})"
                    )
                    if exit_when_ready:
                        break
                time.sleep(0.25)
    finally:
        console.print("stopping…")
        sup.stop_all()
        console.print("stopped.")
    return 0 if announced or not exit_when_ready else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_up())
