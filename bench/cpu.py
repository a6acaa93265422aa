"""CPU seconds spent by a process and everything under it: where a benchmark's time went.

A ratio of throughputs says how far off a target is; the CPU each side burns per row says why, and
what the best any change on one side could reach.
"""

from __future__ import annotations

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
