"""`make test-containers`: the same suite against Apache Kafka and Postgres in containers.

Where no Docker engine answers (as on the project's build machines) it says so and fails: a run that
silently fell back to the embedded stack would claim coverage it does not have.
"""

from __future__ import annotations

import os
import subprocess
import sys


def docker_engine_available() -> tuple[bool, str]:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=5).ping()
        return True, "ok"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


def main(argv: list[str]) -> int:
    ok, why = docker_engine_available()
    if not ok:
        print(
            "make test-containers needs a running Docker engine, and none answered here "
            f"({why}).\nNothing was tested. Use `make test` for the embedded stack.",
            file=sys.stderr,
        )
        return 3
    from testcontainers.community.postgres import PostgresContainer  # type: ignore[import-untyped]
    from testcontainers.core.container import DockerContainer  # type: ignore[import-untyped]
    from testcontainers.core.waiting_utils import wait_for_logs  # type: ignore[import-untyped]

    from practice_sync_common.embedded.procs import free_port

    kafka_port = free_port()
    # Apache Kafka's own image in KRaft mode, advertising the host port the tests connect to.
    kafka = (
        DockerContainer("apache/kafka:3.9.0")
        .with_bind_ports(kafka_port, kafka_port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", f"PLAINTEXT://:{kafka_port},CONTROLLER://:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://localhost:{kafka_port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT")
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
    )
    with PostgresContainer("postgres:16", driver="asyncpg") as pg, kafka:
        wait_for_logs(kafka, "Kafka Server started", timeout=120)
        env = {
            **os.environ,
            "DATABASE_URL": pg.get_connection_url(),
            "KAFKA_BOOTSTRAP_SERVERS": f"localhost:{kafka_port}",
            "KAFKA_ENABLE_IDEMPOTENCE": "true",
        }
        args = [a for a in argv if a != "--"]
        return subprocess.call([sys.executable, "-m", "pytest", "-q", *args], env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
