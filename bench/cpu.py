"""CPU seconds spent by a process and everything under it: where a benchmark's time went.

A ratio of throughputs says how far off a target is; the CPU each side burns per row says why, and
what the best any change on one side could reach.
"""

from __future__ import annotations

import contextlib
import threading
import time

import psutil


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid`, of its live descendants, and of the children it already reaped.

    The reaped part matters for Postgres: the postmaster collects every backend that exits, so a
    closed connection's work is still counted.
    """
    root = psutil.Process(pid)
    total = 0.0
    for child in root.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    times = root.cpu_times()
    return total + times.user + times.system + times.children_user + times.children_system


class CpuTimeline:
    """Each named process tree's CPU seconds, sampled every `every_s` on a thread of its own (the
    benchmark's event loop may be starved on a busy machine), to say afterwards where a window's
    CPU went: `used(start, end)`, for wall-clock times (`time.time()`)."""

    def __init__(self, roots: dict[str, int], every_s: float = 0.05) -> None:
        self.roots, self.every_s = roots, every_s
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-timeline", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        # One more now: a window that ended after the last tick (its end seen sooner than every_s
        # later) is still covered.
        self._sample()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.every_s)

    def _sample(self) -> None:
        # A process that went away mid-pass: the next sample reads the table again.
        with contextlib.suppress(psutil.Error):
            self.samples.append((time.time(), self._snapshot()))

    def _snapshot(self) -> dict[str, float]:
        # One pass over the process table for every tree: a tree walk per root read it once each.
        parent: dict[int, int] = {}
        own: dict[int, float] = {}
        for proc in psutil.process_iter(["ppid", "cpu_times"]):
            times = proc.info["cpu_times"]
            if times is None:
                continue
            parent[proc.pid] = proc.info["ppid"]
            own[proc.pid] = times.user + times.system
        snap = {}
        for name, root in self.roots.items():
            total = 0.0
            for pid, seconds in own.items():
                up = pid
                while up and up != root:
                    up = parent.get(up, 0)
                if up == root:
                    total += seconds
            try:
                times = psutil.Process(root).cpu_times()
                total += times.children_user + times.children_system  # the children it reaped
            except psutil.NoSuchProcess:
                pass
            snap[name] = total
        return snap

    def used(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds each tree spent between two wall-clock times, interpolated between the samples
        around each; {} if the samples do not cover the window."""
        if not self.samples or self.samples[0][0] > start or self.samples[-1][0] < end:
            return {}
        at_start, at_end = self._at(start), self._at(end)
        return {name: at_end[name] - at_start.get(name, 0.0) for name in at_end}

    def _at(self, when: float) -> dict[str, float]:
        for (t0, a), (t1, b) in zip(self.samples, self.samples[1:], strict=False):
            if t0 <= when <= t1:
                f = (when - t0) / (t1 - t0) if t1 > t0 else 0.0
                return {name: a.get(name, 0.0) + f * (b[name] - a.get(name, 0.0)) for name in b}
        return self.samples[-1][1]
