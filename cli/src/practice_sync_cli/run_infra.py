"""`python -m practice_sync_cli.run_infra postgres|broker`: one embedded dependency as a foreground
process, so the supervisor can watch and restart it like any service."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from practice_sync_common.embedded.kafka import EmbeddedBroker
from practice_sync_common.embedded.postgres import EmbeddedPostgres


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["postgres", "broker"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    infra: EmbeddedPostgres | EmbeddedBroker
    if args.what == "postgres":
        infra = EmbeddedPostgres(args.dir / "pg", args.port)
    else:
        infra = EmbeddedBroker(args.port, log=args.dir / "logs" / "tansu.log")
    infra.start()
    print(f"{args.what} ready on 127.0.0.1:{args.port}", flush=True)
    proc = infra.proc
    assert proc is not None
    while not done.wait(0.5):
        if proc.poll() is not None:
            print(f"{args.what} exited with {proc.returncode}", flush=True)
            sys.exit(1)
    infra.stop()


if __name__ == "__main__":
    main()
