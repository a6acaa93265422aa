"""What the Clio-side benchmarks (`bench/webhook_ingest.py`, `bench/contact_latency.py`,
`bench/clio_sync.py`) share: an embedded Postgres and broker on free ports, services and the Clio
sandbox as subprocesses on free loopback ports (as `make up` runs them), all stopped on exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

ADMIN_TOKEN = "bench-admin-token"
SERVICE_TOKENS = {
    "webhook-ingest": "bench-wi-token-0001",
    "clio-gateway": "bench-cg-token-0001",
    "projector": "bench-pj-token-0001",
}
MODULES = {
    "credentials": "practice_sync_credentials",
    "webhook-ingest": "practice_sync_webhook_ingest",
    "clio-gateway": "practice_sync_clio_gateway",
    "projector": "practice_sync_projector",
}


class BenchStack:
    """`with BenchStack() as s:` — Postgres and broker started; `s.service(...)`, `s.clio_sandbox(...)`."""

    def __init__(self, name: str = "clio") -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix=f"bench-{name}-")
        self.dir = Path(self._tmp.name)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.urls: dict[str, str] = {}
        self.pg: Any = None
        self.broker: Any = None

    # ---- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> BenchStack:
        from practice_sync_common.embedded.kafka import EmbeddedBroker
        from practice_sync_common.embedded.postgres import EmbeddedPostgres
        from practice_sync_common.embedded.procs import free_port

        os.chmod(self.dir, 0o755)  # noqa: S103 - postgres may run as another user and must reach it
        try:
            self.pg = EmbeddedPostgres(self.dir / "pg", free_port())
            self.pg.start()
            self.broker = EmbeddedBroker(free_port(), log=self.dir / "broker.log")
            self.broker.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        from practice_sync_common.embedded.procs import stop

        for proc in reversed(self.procs):
            stop(proc)
        self.procs.clear()
        if self.broker is not None:
            self.broker.stop()
        if self.pg is not None:
            self.pg.stop()
        self._tmp.cleanup()

    @property
    def bootstrap(self) -> str:
        return str(self.broker.bootstrap)

    @property
    def database_url(self) -> str:
        return str(self.pg.url)

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        from practice_sync_common.embedded.procs import spawn

        proc = spawn(argv, env={**os.environ, **(env or {})}, log=self.dir / f"{name}.log")
        self.procs.append(proc)
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def wait_http(self, name: str, url: str, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready at {url}:\n{self.log_tail(name)}")
            time.sleep(0.2)

    # ---- pieces ---------------------------------------------------------------------------------
    def clio_sandbox(self, *args: str) -> str:
        from practice_sync_common.embedded.procs import free_port

        port = free_port()
        argv = [sys.executable, "-m", "practice_sync_cli", "sandbox", "clio", "--port", str(port), *args]
        self.spawn("clio-sandbox", argv)
        url = f"http://127.0.0.1:{port}"
        self.wait_http("clio-sandbox", f"{url}/_sandbox/health", 300)
        self.urls["clio-sandbox"] = url
        return url

    def service(self, name: str, **settings: str) -> str:
        """Start service `name` with the stack's settings plus `settings` (env names, upper case)."""
        from practice_sync_common.embedded.procs import free_port

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            "DATABASE_URL": self.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_ENABLE_IDEMPOTENCE": "false",
            "HTTP_PORT": str(port),
            "PRACTICE_SYNC_ADMIN_TOKEN": ADMIN_TOKEN,
            "CREDENTIALS_URL": self.urls.get("credentials", "http://127.0.0.1:1"),
            "LOG_LEVEL": "WARNING",
        }
        if name == "credentials":
            from practice_sync_credentials.domain.keyring import generate_key_entry

            env.update(
                PRACTICE_SYNC_SERVICE_TOKENS=",".join(f"{k}:{v}" for k, v in SERVICE_TOKENS.items()),
                CREDENTIALS_KEYRING=generate_key_entry("k1"),
                CLIO_CLIENT_ID="sandbox-clio-client",
                CLIO_CLIENT_SECRET="sandbox-clio-secret",
                CLIO_BASE_URL=self.urls.get("clio-sandbox", "http://127.0.0.1:1"),
                CLIO_REDIRECT_URI=f"{url}/oauth/clio/callback",
                CLIO_REFRESH_INTERVAL_S="0",
                CREDENTIALS_ALLOW_PRIVATE_URLS="true",  # the sandboxes are on loopback
            )
        else:
            env["PRACTICE_SYNC_SERVICE_TOKEN"] = SERVICE_TOKENS.get(name, "")
        env.update({k.upper(): v for k, v in settings.items()})
        self.spawn(name, [sys.executable, "-m", MODULES[name]], env)
        self.wait_http(name, f"{url}/readyz")
        self.urls[name] = url
        return url

    def admin(self, name: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.urls[name], headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
        )

    def connect_clio(self, org: str, user: str = "demo-law") -> None:
        """Run Clio OAuth through credentials for `org`, as the sandbox user `user`."""
        with self.admin("credentials") as c:
            r = c.post("/admin/orgs", json={"id": org, "name": org})
            assert r.status_code in (200, 201, 409), r.text
            start = c.get("/oauth/clio/start", params={"org_id": org})
            start.raise_for_status()
        with httpx.Client(follow_redirects=True, timeout=60) as browser:
            done = browser.get(
                httpx.URL(start.json()["authorize_url"]).copy_merge_params({"login_hint": user})
            )
            done.raise_for_status()
            assert done.json()["status"] == "valid", done.text

    def store_webhook_secret(self, org: str, webhook_id: str, secret: str) -> None:
        with self.admin("credentials") as c:
            r = c.post("/admin/orgs", json={"id": org, "name": org})
            assert r.status_code in (200, 201, 409), r.text
            r = c.put(
                f"/internal/credentials/{org}/clio/webhook-secrets/{webhook_id}",
                json={"secret": secret},
                headers={"Authorization": f"Bearer {SERVICE_TOKENS['clio-gateway']}"},
            )
            r.raise_for_status()


def new_org(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]
