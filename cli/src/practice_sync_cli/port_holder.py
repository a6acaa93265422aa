"""Who holds a port `practice-sync up` needs: so a second `up` names the first one, not just a port."""

from __future__ import annotations

import psutil

_UP_ENTRY_POINTS = ("practice-sync", "practice_sync_cli", "practice_sync_cli.main")


def listener_pid(port: int) -> int | None:
    """The process listening on `port` (any local address), when the OS lets us see it."""
    try:
        conns = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            return int(conn.pid)
    return None


def _is_up(proc: psutil.Process) -> bool:
    try:
        argv = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    # `practice-sync up …` or `python -m practice_sync_cli up …`
    return "up" in argv and any(a.endswith(_UP_ENTRY_POINTS) for a in argv[: argv.index("up")])


def _command(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())[:120] or proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "?"


def describe(port: int) -> str:
    """One sentence on who holds `port`: another `practice-sync up` (its pid, how to stop it) or
    whatever process it is; empty when that cannot be seen (another user's process, say)."""
    pid = listener_pid(port)
    if pid is None:
        return ""
    try:
        holder = psutil.Process(pid)
        lineage = [holder, *holder.parents()]
    except psutil.NoSuchProcess:
        return ""
    up = next((p for p in lineage if _is_up(p)), None)
    if up is not None:
        return (
            f"`practice-sync up` is already running (pid {up.pid}, in {_cwd(up)}); use that one, or stop"
            f" it first (Ctrl-C in its terminal, or `kill -INT {up.pid}`)"
        )
    return f"held by pid {pid}: {_command(holder)}"


def _cwd(proc: psutil.Process) -> str:
    try:
        return proc.cwd()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return "another directory"
