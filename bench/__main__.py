"""`make bench`: run every benchmark the issues name, print the figures, write JSON to bench/results/.

`python -m bench NAME ...` runs only the named ones. A benchmark module exposes `run() -> BenchResult`.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback

from bench.report import RESULTS, BenchResult

BENCHMARKS: list[str] = [
    "projector_throughput",
    "cliniko_sync",
    "cliniko_chains",
    "webhook_ingest",
    "contact_latency",
    "clio_sync",
]  # module names under bench/, registered as they are written


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    results: list[BenchResult] = []
    for name in names:
        try:
            result: BenchResult = importlib.import_module(f"bench.{name}").run()
        except Exception as exc:
            traceback.print_exc()
            result = BenchResult(name, error=f"{type(exc).__name__}: {exc}")
        result.print()
        result.write()
        results.append(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps([r.to_json() for r in results], indent=2, default=str))
    print(f"\nresults written to {RESULTS}/")
    if not names:
        print("no benchmarks registered yet")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
