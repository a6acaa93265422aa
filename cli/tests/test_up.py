"""`practice-sync up` for real: every component on its fixed port, demo tenants, clean shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from practice_sync_common.embedded.procs import port_free, wait_for_port
from practice_sync_common.ports import BROKER_PORT, POSTGRES_PORT, SANDBOX_PORTS, SERVICE_PORTS

PORTS = [POSTGRES_PORT, BROKER_PORT, *SANDBOX_PORTS.values(), *SERVICE_PORTS.values()]


def _up_env() -> dict[str, str]:
    # Postgres runs as an unprivileged user, so its state must sit where that user can reach it.
    state = Path(tempfile.mkdtemp(prefix="ps-up-"))
    state.chmod(0o755)
    env = {**os.environ, "PRACTICE_SYNC_STATE_DIR": str(state)}
    env.pop("DATABASE_URL", None)
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return env


@pytest.mark.slow
def test_a_second_up_names_the_running_one_and_starts_nothing() -> None:
    busy = [p for p in PORTS if not port_free("127.0.0.1", p)]
    if busy:
        pytest.skip(f"fixed ports in use (a running `make up`?): {busy}")
    env = _up_env()
    first = subprocess.Popen(
        [sys.executable, "-m", "practice_sync_cli", "up"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", POSTGRES_PORT, 60, first, "the first `up`'s Postgres")
        second = subprocess.run(
            [sys.executable, "-m", "practice_sync_cli", "up"],
            env={**env, "PRACTICE_SYNC_STATE_DIR": tempfile.mkdtemp(prefix="ps-up-second-")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        out = second.stdout + second.stderr
        assert second.returncode == 2, out
        assert f"127.0.0.1:{POSTGRES_PORT}" in out, out
        assert f"`practice-sync up` is already running (pid {first.pid}" in out, out
        assert f"kill -INT {first.pid}" in out, out
        assert first.poll() is None  # the running one is left alone
    finally:
        first.send_signal(signal.SIGINT)
        first.wait(timeout=60)


@pytest.mark.slow
def test_up_brings_every_component_to_ready_within_60s_and_leaves_nothing_behind() -> None:
    busy = [p for p in PORTS if not port_free("127.0.0.1", p)]
    if busy:
        pytest.skip(f"fixed ports in use (a running `make up`?): {busy}")
    env = _up_env()
    before = {p.pid for p in psutil.process_iter()}
    result = subprocess.run(
        [sys.executable, "-m", "practice_sync_cli", "up", "--exit-when-ready"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "all 9 components ready" in out
    seconds = float(out.split("components ready in ")[1].split("s")[0])
    assert seconds < 60
    assert "demo tenants ready" in out
    leftovers = [
        p
        for p in psutil.process_iter(["pid", "cmdline"])
        if p.pid not in before
        and any("practice_sync" in a or "tansu" in a or "pgdata" in a for a in (p.info["cmdline"] or []))
    ]
    assert not leftovers, [p.info for p in leftovers]
    assert all(port_free("127.0.0.1", p) for p in PORTS)
