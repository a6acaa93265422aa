"""The embedded stack of `practice-sync up`: which processes, on which ports, with which settings."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from practice_sync_cli.state import StackSecrets
from practice_sync_cli.supervisor import Component
from practice_sync_common.ports import BROKER_PORT, LOOPBACK, POSTGRES_PORT, SANDBOX_PORTS, SERVICE_PORTS

MODULES = {
    "credentials": "practice_sync_credentials",
    "webhook-ingest": "practice_sync_webhook_ingest",
    "clio-gateway": "practice_sync_clio_gateway",
    "cliniko-sync": "practice_sync_cliniko_sync",
    "projector": "practice_sync_projector",
}


def service_url(name: str) -> str:
    return f"http://{LOOPBACK}:{SERVICE_PORTS[name]}"


def sandbox_url(name: str) -> str:
    return f"http://{LOOPBACK}:{SANDBOX_PORTS[name]}"


def build_components(state: Path, secrets: StackSecrets) -> list[Component]:
    logs = state / "logs"
    py = sys.executable
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "KAFKA_"))}
    components: list[Component] = []

    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        database_url = f"postgresql+asyncpg://postgres@{LOOPBACK}:{POSTGRES_PORT}/postgres"
        components.append(
            Component(
                "postgres",
                [
                    py,
                    "-m",
                    "practice_sync_cli.run_infra",
                    "postgres",
                    "--port",
                    str(POSTGRES_PORT),
                    "--dir",
                    str(state),
                ],
                POSTGRES_PORT,
                base_env,
                log=logs / "postgres-runner.log",
            )
        )
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    idempotence = os.environ.get("KAFKA_ENABLE_IDEMPOTENCE", "true" if bootstrap else "false")
    if not bootstrap:
        bootstrap = f"{LOOPBACK}:{BROKER_PORT}"
        components.append(
            Component(
                "broker",
                [
                    py,
                    "-m",
                    "practice_sync_cli.run_infra",
                    "broker",
                    "--port",
                    str(BROKER_PORT),
                    "--dir",
                    str(state),
                ],
                BROKER_PORT,
                base_env,
                log=logs / "broker-runner.log",
            )
        )

    for name, port in SANDBOX_PORTS.items():
        extra = ["--allow-http-webhooks"] if name == "clio" else []
        components.append(
            Component(
                f"{name}-sandbox",
                [py, "-m", "practice_sync_cli", "sandbox", name, "--port", str(port), *extra],
                port,
                base_env,
                ready_url=f"http://{LOOPBACK}:{port}/_sandbox/health",
                log=logs / f"{name}-sandbox.log",
                stage=1,
            )
        )

    common = {
        **base_env,
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_ENABLE_IDEMPOTENCE": idempotence,
        "PRACTICE_SYNC_ADMIN_TOKEN": secrets.admin_token,
        "CREDENTIALS_URL": service_url("credentials"),
        "WEBHOOK_INGEST_PUBLIC_URL": service_url("webhook-ingest"),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
    }
    for name, module in MODULES.items():
        env = {**common, "HTTP_PORT": str(SERVICE_PORTS[name])}
        if name == "credentials":
            env["PRACTICE_SYNC_SERVICE_TOKENS"] = secrets.service_tokens_env()
            env["CREDENTIALS_KEYRING"] = secrets.keyring
            env.setdefault("CREDENTIALS_ALLOW_PRIVATE_URLS", "true")  # the sandboxes are on loopback
            # The Clio sandbox's OAuth app, unless the operator configured a real one.
            env.setdefault("CLIO_CLIENT_ID", "sandbox-clio-client")
            env.setdefault("CLIO_CLIENT_SECRET", "sandbox-clio-secret")
            env.setdefault("CLIO_BASE_URL", sandbox_url("clio"))
        else:
            env["PRACTICE_SYNC_SERVICE_TOKEN"] = secrets.service_tokens.get(name, "")
        components.append(
            Component(
                name,
                [py, "-m", module],
                SERVICE_PORTS[name],
                env,
                ready_url=f"{service_url(name)}/readyz",
                log=logs / f"{name}.log",
                # Everything else calls credentials, so it comes up first.
                stage=1 if name == "credentials" else 2,
            )
        )
    return components
