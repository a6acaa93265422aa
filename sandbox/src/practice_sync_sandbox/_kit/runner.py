"""Run an ASGI app with uvicorn: in the foreground (CLI) or on a background thread (tests, benches)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve_forever(app: FastAPI, host: str, port: int) -> None:
    # The apps stamp `Date` from their own clock (clock.ClockDateHeader).
    if not port_is_free(host, port):
        raise SystemExit(f"port {host}:{port} is already in use; stop what holds it or pass --port")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, date_header=False)


class ServerThread:
    """A uvicorn server on its own thread, for tests that talk to a sandbox over real HTTP."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        # The apps stamp `Date` from their own clock (clock.ClockDateHeader).
        config = uvicorn.Config(
            app, host=host, port=self.port, log_level="warning", access_log=False, date_header=False
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
