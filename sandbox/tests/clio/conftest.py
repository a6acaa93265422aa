"""Clio sandbox fixtures: the app on a real port, a token helper, and a webhook receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response

from practice_sync_sandbox._kit.runner import ServerThread
from practice_sync_sandbox.clio.app import create_app
from practice_sync_sandbox.clio.config import fast_config
from practice_sync_sandbox.clio.state import ClioSandbox


class Clio:
    def __init__(self, server: ServerThread, app: FastAPI) -> None:
        self.server = server
        self.app = app
        self.url = server.url
        self.http = httpx.Client(base_url=server.url, timeout=10)

    @property
    def sb(self) -> ClioSandbox:
        sandbox: ClioSandbox = self.app.state.sandbox
        return sandbox

    def mint(self, **body: Any) -> dict[str, Any]:
        r = self.http.post("/_sandbox/tokens", json=body)
        assert r.status_code == 200, r.text
        return dict(r.json())

    def token(self, **body: Any) -> str:
        return str(self.mint(**body)["access_token"])

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token()}"}

    def wait_idle(self, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body = self.http.get("/_sandbox/webhooks/deliveries").json()
            if body["in_flight"] == 0 or time.monotonic() > deadline:
                return dict(body)
            time.sleep(0.02)


@pytest.fixture
def clio_factory() -> Iterator[Callable[..., Clio]]:
    started: list[Clio] = []

    def start(**overrides: Any) -> Clio:
        app = create_app(fast_config(**overrides))
        server = ServerThread(app).start()
        clio = Clio(server, app)
        started.append(clio)
        return clio

    yield start
    for clio in started:
        clio.http.close()
        clio.server.stop()


@pytest.fixture
def clio(clio_factory: Callable[..., Clio]) -> Clio:
    return clio_factory()


@dataclass
class Receiver:
    """A webhook endpoint: records every request; answers handshakes and deliveries as told."""

    url: str = ""
    echo_secret: bool = True
    handshake_status: int = 200
    statuses: list[int] = field(default_factory=list)  # consumed per delivery; then 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deliveries(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if "x-hook-secret" not in r["headers"]]

    def handshakes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.requests if "x-hook-secret" in r["headers"]]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.deliveries()) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.deliveries()


def _receiver_app(rx: Receiver) -> FastAPI:
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        with rx.lock:
            rx.requests.append({"headers": headers, "body": body})
        secret = headers.get("x-hook-secret")
        if secret is not None:
            return Response(
                status_code=rx.handshake_status, headers={"X-Hook-Secret": secret} if rx.echo_secret else {}
            )
        with rx.lock:
            status = rx.statuses.pop(0) if rx.statuses else 200
        return Response(status_code=status)

    return app


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver()
    server = ServerThread(_receiver_app(rx)).start()
    rx.url = f"{server.url}/hook"
    yield rx
    server.stop()
