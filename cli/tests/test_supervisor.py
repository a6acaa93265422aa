"""The process supervisor behind `practice-sync up`: ordered start, restart with backoff, clean stop."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from practice_sync_cli.supervisor import Component, Supervisor
from practice_sync_common.embedded.procs import PortTaken, free_port, port_open

SERVER = (
    "import http.server,sys; "
    "http.server.test(http.server.SimpleHTTPRequestHandler, port=int(sys.argv[1]), bind='127.0.0.1')"
)


def _server(name: str, port: int, stage: int, tmp: Path) -> Component:
    return Component(
        name,
        [sys.executable, "-c", SERVER, str(port)],
        port,
        dict(os.environ),
        ready_url=f"http://127.0.0.1:{port}/",
        log=tmp / f"{name}.log",
        stage=stage,
    )


def _tick_until(sup: Supervisor, cond: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, [(c.name, c.state, c.detail) for c in sup.components]
        sup.tick()
        time.sleep(0.05)


def test_starts_in_stages_restarts_the_dead_and_stops_everything(tmp_path: Path) -> None:
    first, second = _server("first", free_port(), 0, tmp_path), _server("second", free_port(), 1, tmp_path)
    sup = Supervisor([first, second])
    sup.tick()
    assert first.state == "starting" and second.state == "waiting"  # stage 1 waits for stage 0
    _tick_until(sup, sup.all_ready)
    assert port_open("127.0.0.1", second.port)

    assert second.proc is not None
    old_pid = second.proc.pid
    second.proc.kill()
    _tick_until(sup, lambda: second.state == "backoff")
    assert "exited" in second.detail and "restart in 1s" in second.detail
    _tick_until(sup, lambda: second.state == "ready")
    assert second.restarts == 1 and second.proc.pid != old_pid

    pids = [c.proc.pid for c in sup.components if c.proc]
    sup.stop_all()
    assert all(c.state == "stopped" for c in sup.components)
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


def test_backoff_grows_while_a_component_keeps_dying(tmp_path: Path) -> None:
    dying = Component(
        "dying",
        [sys.executable, "-c", "raise SystemExit(3)"],
        free_port(),
        dict(os.environ),
        log=tmp_path / "dying.log",
    )
    sup = Supervisor([dying])
    _tick_until(sup, lambda: dying.restarts >= 2 and dying.state == "backoff", timeout=20)
    assert dying.backoff_s >= 4.0
    assert "exited with 3" in dying.detail
    sup.stop_all()


def test_a_taken_port_is_reported_before_anything_starts(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        sup = Supervisor([_server("web", port, 0, tmp_path)])
        with pytest.raises(PortTaken, match=f"127.0.0.1:{port}"):
            sup.check_ports()
    assert sup.components[0].proc is None
