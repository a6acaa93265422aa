"""Runs child processes the way a compose restart policy would: start in order, watch, restart with
backoff, stop everything on the way out."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from practice_sync_common.embedded.procs import PortTaken, port_free, spawn, stop

MAX_BACKOFF_S = 30.0


@dataclass
class Component:
    name: str
    argv: Sequence[str]
    port: int
    env: Mapping[str, str]
    ready_url: str | None = None  # None: ready when the port opens
    log: Path | None = None
    stage: int = 0  # starts once every component of a lower stage has been ready
    # filled in while running
    proc: subprocess.Popen[bytes] | None = None
    state: str = "waiting"
    restarts: int = 0
    started_at: float = 0.0
    next_start_at: float = 0.0
    backoff_s: float = 1.0
    detail: str = ""
    ready_once: bool = field(default=False)

    def uptime(self) -> str:
        if self.proc is None or self.state not in ("starting", "ready"):
            return "-"
        s = int(time.monotonic() - self.started_at)
        return f"{s // 60}m{s % 60:02d}s"


def _is_ready(c: Component) -> bool:
    if c.ready_url is None:
        from practice_sync_common.embedded.procs import port_open

        return port_open("127.0.0.1", c.port)
    try:
        return httpx.get(c.ready_url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


class PortInUse(PortTaken):
    """PortTaken that keeps the port, so `up` can say who holds it."""

    def __init__(self, what: str, host: str, port: int) -> None:
        super().__init__(what, host, port)
        self.port = port


class Supervisor:
    def __init__(self, components: Sequence[Component]) -> None:
        self.components = list(components)

    def check_ports(self) -> None:
        for c in self.components:
            if not port_free("127.0.0.1", c.port):
                raise PortInUse(c.name, "127.0.0.1", c.port)

    def start(self, c: Component) -> None:
        c.proc = spawn(c.argv, env=c.env, log=c.log)
        c.state = "starting"
        c.started_at = time.monotonic()
        c.detail = f"log: {c.log}" if c.log else ""

    def tick(self) -> None:
        """One pass: start what is due (in order), notice readiness, schedule restarts of what died."""
        now = time.monotonic()
        for c in self.components:
            if c.state == "waiting":
                if all(p.ready_once for p in self.components if p.stage < c.stage):
                    self.start(c)
                continue
            if c.state == "backoff":
                if now >= c.next_start_at:
                    c.restarts += 1
                    self.start(c)
                continue
            if c.proc is None or c.state not in ("starting", "ready"):
                continue
            if c.proc.poll() is not None:
                c.state = "backoff"
                c.next_start_at = now + c.backoff_s
                c.detail = f"exited with {c.proc.returncode}; restart in {c.backoff_s:.0f}s"
                c.backoff_s = min(MAX_BACKOFF_S, c.backoff_s * 2)
            elif c.state == "starting" and _is_ready(c):
                c.state = "ready"
                c.detail = ""
                c.backoff_s = 1.0
                c.ready_once = True

    def all_ready(self) -> bool:
        return all(c.state == "ready" for c in self.components)

    def stop_all(self) -> None:
        for c in reversed(self.components):
            if c.proc is not None:
                c.state = "stopping"
                stop(c.proc, timeout=10)
                c.state = "stopped"
