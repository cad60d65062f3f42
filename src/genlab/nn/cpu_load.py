"""How busy other processes keep this process's cores, from /proc/stat (Linux): the input of the default threads.

Two intra-op threads on two cores that other work also wants train slower than one thread: every parallel region
waits for its slowest thread, and a descheduled thread stalls its partner. Measured on the 2-core AMD EPYC while
about ten single-thread jobs ran (BENCHMARKS.md, "Threads on a busy machine"): the demo's U-Net trained at 14-20
images/s with 2 threads and 88-94 with 1. So the default takes only the cores that are free when the process
starts.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)     # user, nice, system, irq, softirq, steal of a /proc/stat cpu line
_IDLE_FIELDS = (3, 4)                 # idle, iowait


def cpu_ticks(stat_text: str, cpus: Iterable[int]) -> tuple[int, int]:
    """(busy, total) clock ticks of the given CPUs summed from /proc/stat's per-CPU lines."""
    wanted = {f"cpu{i}" for i in cpus}
    busy = total = 0
    for line in stat_text.splitlines():
        name, _, rest = line.partition(" ")
        if name in wanted:
            values = [int(v) for v in rest.split()]
            b = sum(values[i] for i in _BUSY_FIELDS if i < len(values))
            busy += b
            total += b + sum(values[i] for i in _IDLE_FIELDS if i < len(values))
    return busy, total


def own_ticks(self_stat_text: str) -> int:
    """utime + stime of this process (all its threads), in clock ticks, from /proc/self/stat."""
    fields = self_stat_text.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])       # fields 14 and 15 of proc(5), counted after the command name


def busy_cores_of_others(cpus: Iterable[int] | None = None, *, window: float = 0.2, proc: str | Path = "/proc",
                         sleep: Callable[[float], None] = time.sleep) -> float | None:
    """Cores' worth of work that other processes ran on `cpus` (default: this process's affinity) over `window`
    seconds; None where /proc/stat is not readable (not Linux)."""
    proc = Path(proc)
    if cpus is None:
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cpus = sorted(cpus)
    try:
        stat0, self0 = (proc / "stat").read_text(), (proc / "self" / "stat").read_text()
        sleep(window)
        stat1, self1 = (proc / "stat").read_text(), (proc / "self" / "stat").read_text()
        (busy0, total0), (busy1, total1) = cpu_ticks(stat0, cpus), cpu_ticks(stat1, cpus)
        own = own_ticks(self1) - own_ticks(self0)
    except (OSError, ValueError, IndexError):
        return None
    elapsed = total1 - total0          # ticks over all the CPUs: len(cpus) x the window
    if elapsed <= 0:
        return None
    return max(0.0, (busy1 - busy0 - own) / elapsed * len(cpus))


def free_core_threads(cores: int, busy_others: float | None, *, seen: int | None = None) -> int:
    """Threads for `cores` usable cores when others keep `busy_others` of the `seen` CPUs measured (default: the
    cores; more under a cgroup quota narrower than the affinity) busy: the free ones, rounded, 1 to `cores`."""
    if busy_others is None:
        return cores
    return max(1, min(cores, int((seen or cores) - busy_others + 0.5)))


__all__ = ["busy_cores_of_others", "cpu_ticks", "free_core_threads", "own_ticks"]
