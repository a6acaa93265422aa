"""Postgres from the pgserver wheel's binaries, on a loopback TCP port we own as a child process.

pgserver's own manager listens on a Unix socket only and daemonises; the services and tests need TCP
and a process that dies with us, so we drive its initdb/postgres binaries directly.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from practice_sync_common.embedded.procs import PortTaken, port_free, spawn, stop, wait_for_port

_PG_USER = "pgserver"  # postgres refuses to run as root


def _bin_dir() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH  # type: ignore[import-untyped]

    return Path(POSTGRES_BIN_PATH)


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(_PG_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", _PG_USER],
            check=True,
            capture_output=True,
        )
    return _PG_USER


def _chown_tree(path: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.host = host
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@{self.host}:{self.port}/postgres"

    def _initdb(self, user: str | None) -> None:
        pgdata = self.data_dir / "pgdata"
        if (pgdata / "PG_VERSION").exists():
            return
        pgdata.mkdir(parents=True, exist_ok=True)
        if user:
            _chown_tree(self.data_dir, user)
        result = subprocess.run(
            [
                str(_bin_dir() / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            capture_output=True,
            user=user,
            check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(pgdata, ignore_errors=True)
            raise RuntimeError(f"initdb failed: {result.stderr.decode(errors='replace')[-2000:]}")

    def start(self, timeout: float = 60.0) -> str:
        if not port_free(self.host, self.port):
            raise PortTaken("Postgres", self.host, self.port)
        user = _run_as()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._initdb(user)
        sock = self.data_dir / "sock"
        sock.mkdir(exist_ok=True)
        if user:
            _chown_tree(self.data_dir, user)
        (self.data_dir / "pgdata" / "postmaster.pid").unlink(missing_ok=True)
        self.proc = spawn(
            [
                str(_bin_dir() / "postgres"),
                "-D",
                str(self.data_dir / "pgdata"),
                "-p",
                str(self.port),
                "-h",
                self.host,
                "-k",
                str(sock),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
                "-c",
                "shared_buffers=128MB",
            ],
            log=self.data_dir / "postgres.log",
            user=user,
            death_signal=signal.SIGINT,  # fast shutdown
        )
        wait_for_port(self.host, self.port, timeout, self.proc, "postgres")
        self._wait_accepting(timeout)
        return self.url

    def _wait_accepting(self, timeout: float) -> None:
        import time

        deadline = time.monotonic() + timeout
        while True:
            r = subprocess.run(
                [str(_bin_dir() / "pg_isready"), "-h", self.host, "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("postgres did not accept connections in time")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, signal.SIGINT, timeout=15)
            self.proc = None
