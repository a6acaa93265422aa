"""`practice-sync up`: the whole platform in the foreground with a live status table."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.table import Table

from practice_sync_cli import output, port_holder
from practice_sync_cli.stack import build_components
from practice_sync_cli.state import load_or_create_secrets, state_dir
from practice_sync_cli.supervisor import PortInUse, Supervisor

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


def _log_changes(console: Console, sup: Supervisor, last_states: dict[str, str]) -> None:
    for c in sup.components:
        if last_states.get(c.name) != c.state:
            console.print(f"{c.name}: {c.state} {c.detail}".rstrip())
            last_states[c.name] = c.state


def run_up(on_all_ready: Callable[[], None] | None = None, exit_when_ready: bool = False) -> int:
    console = output.console()  # wide when piped: log lines stay whole
    state = state_dir()
    secrets = load_or_create_secrets(state)
    sup = Supervisor(build_components(state, secrets))
    try:
        sup.check_ports()
    except PortInUse as exc:
        console.print(f"[red]cannot start:[/] {exc}")
        holder = port_holder.describe(exc.port)
        if holder:
            console.print(holder)
        return 2
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    started = time.monotonic()
    note = "starting"
    ready = False
    live = (
        Live(_table(sup, started, note), console=console, refresh_per_second=4)
        if console.is_terminal
        else None
    )
    last_states: dict[str, str] = {}
    try:
        if live is not None:
            live.start()
        while not stopping:
            sup.tick()
            if live is None:  # a log line per change when not on a terminal, before what follows from it
                _log_changes(console, sup, last_states)
            if sup.all_ready() and not ready:
                ready = True
                note = f"all ready in {time.monotonic() - started:.1f}s"
                console.print(
                    f"[green]all {len(sup.components)} components ready[/] in "
                    f"{time.monotonic() - started:.1f}s (logs in {state / 'logs'})"
                )
                if on_all_ready is not None:
                    try:
                        on_all_ready()
                        console.print("[green]demo tenants ready:[/] demo-law (Clio), demo-clinic (Cliniko)")
                    except Exception as exc:  # the platform keeps running; the operator sees why
                        console.print(f"[red]demo tenant set-up failed:[/] {exc}")
                        if exit_when_ready:
                            return 1
                if exit_when_ready:
                    break
            if live is not None:
                live.update(_table(sup, started, note))
            time.sleep(0.25)
    finally:
        if live is not None:
            live.stop()
        console.print("stopping…")
        sup.stop_all()
        console.print("stopped.")
    return 0 if ready or not exit_when_ready else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_up())
